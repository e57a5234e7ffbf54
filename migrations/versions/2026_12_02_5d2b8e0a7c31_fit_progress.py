"""Fits report their progress: `replicates_done`, the bootstrap replicates computed so far (0 while
queued; `bootstrap` once done), written by the process computing the fit between batches.

Revision ID: 5d2b8e0a7c31
Revises: c41d7a2e9f13
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5d2b8e0a7c31"
down_revision = "c41d7a2e9f13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replicates_done", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("fits", schema=None) as batch_op:
        batch_op.drop_column("replicates_done")
