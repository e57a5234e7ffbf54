"""Fits are jobs of the same queue as runs: a fit is claimed by a worker id and held by its
heartbeat, so a fit whose process died is requeued once its heartbeat is stale (not after a fixed
half hour), and a long fit is never computed twice. Every stored result names its kind
("loss", "optimum", "critical_batch", "frontier"), so restoring it reads one key.

Revision ID: 9b4e2f6a1c08
Revises: 3f0a9c1d7e42
Create Date: 2026-11-29 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9b4e2f6a1c08"
down_revision = "3f0a9c1d7e42"
branch_labels = None
depends_on = None

# Results written before they named their kind: the kind follows from the law (an optimum law's
# result is an OptimumFit; loss laws' results are Fits; the other two already carried "kind").
_OPTIMUM_LAWS = ("lr_opt", "batch_opt")


def _name_kinds() -> None:
    fits = sa.table(
        "fits", sa.column("id", sa.Integer), sa.column("law", sa.String), sa.column("result", sa.JSON)
    )
    connection = op.get_bind()
    for fit_id, law, result in connection.execute(sa.select(fits.c.id, fits.c.law, fits.c.result)).all():
        if not isinstance(result, dict) or "kind" in result:
            continue
        kind = "optimum" if law in _OPTIMUM_LAWS else "loss"
        connection.execute(sa.update(fits).where(fits.c.id == fit_id).values(result={**result, "kind": kind}))


def upgrade() -> None:
    with op.batch_alter_table("fits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    _name_kinds()


def downgrade() -> None:
    with op.batch_alter_table("fits", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("worker_id")
