"""Inbox: a lease on the activities a worker process is handling.

Several worker processes (`fedicoop worker`, `fedicoop serve --workers N`) drain one inbox:
each claims a batch until its lease ends (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so no
activity is handled twice, and a worker that dies frees its batch when the lease runs out.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox", sa.Column("claimed_until", sa.Text))


def downgrade() -> None:
    op.drop_column("inbox", "claimed_until")
