"""Runs carry `stop_requested`: a worker pool shutting down asks the processes of the runs it holds,
through the database, to checkpoint and give their runs back (a Ray task may be on another machine,
where no signal reaches it). False for every existing run.

Revision ID: e5b71c2d8a40
Revises: a7d3c9e15b62
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e5b71c2d8a40"
down_revision = "a7d3c9e15b62"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stop_requested", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("stop_requested")
