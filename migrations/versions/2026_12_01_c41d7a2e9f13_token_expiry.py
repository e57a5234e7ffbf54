"""API tokens may expire: `expires_at`, set when a token is created (`hyperlaw token create
--expires-in 30d`); a token without it lives until revoked, as every token did before.

Revision ID: c41d7a2e9f13
Revises: 9b4e2f6a1c08
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c41d7a2e9f13"
down_revision = "9b4e2f6a1c08"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
