"""Studies record their parametrization: `parametrization` ("sp", the default for every existing
study, or "mup") and `base_d_model`, the width a mup study's learning rate is tuned at. A study
whose defaults already named them takes them from there.

Revision ID: a7d3c9e15b62
Revises: 8e3c5a1f0b27
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "a7d3c9e15b62"
down_revision = "8e3c5a1f0b27"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parametrization", sa.String(length=10), server_default="sp", nullable=False)
        )
        batch_op.add_column(sa.Column("base_d_model", sa.Integer(), nullable=True))
    studies = sa.table(
        "studies",
        sa.column("id", sa.Integer),
        sa.column("defaults", sa.JSON),
        sa.column("parametrization", sa.String),
        sa.column("base_d_model", sa.Integer),
    )
    connection = op.get_bind()
    for study_id, defaults in connection.execute(sa.select(studies.c.id, studies.c.defaults)).all():
        if isinstance(defaults, str):  # a JSON column read back as text by an older driver
            defaults = json.loads(defaults)
        if not isinstance(defaults, dict) or defaults.get("parametrization") != "mup":
            continue
        base = defaults.get("base_d_model")
        connection.execute(
            studies.update()
            .where(studies.c.id == study_id)
            .values(
                parametrization="mup",
                base_d_model=base if isinstance(base, int) and not isinstance(base, bool) else None,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("base_d_model")
        batch_op.drop_column("parametrization")
