"""Fits record when their computation started and how many times it was attempted, so a fit
whose process died (`queued` or `running` forever) is recomputed by another process.

Revision ID: 3f0a9c1d7e42
Revises: 61c11b2cde5c
Create Date: 2026-11-25 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3f0a9c1d7e42"
down_revision = "61c11b2cde5c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("fits", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("started_at")
