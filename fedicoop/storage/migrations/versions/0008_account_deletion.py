"""Accounts: a member's deletion, and when their data is erased.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("deleted_at", sa.Text))
    op.add_column("accounts", sa.Column("erase_after", sa.Text))


def downgrade() -> None:
    op.drop_column("accounts", "erase_after")
    op.drop_column("accounts", "deleted_at")
