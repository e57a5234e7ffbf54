"""Runs carry an optional group: `group_key`, the run an imported row was measured on when rows are
checkpoints of runs, so a loss fit's bootstrap resamples checkpoints of one run together.

Revision ID: 8e3c5a1f0b27
Revises: 5d2b8e0a7c31
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8e3c5a1f0b27"
down_revision = "5d2b8e0a7c31"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_key", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("group_key")
