"""Indexes for rendering timelines: an author's live statuses, and whom an actor follows.

Every page of statuses renders each author's Account, whose statuses_count and
last_status_at aggregate all of that author's live objects, and whose following_count counts
the author's accepted follows. Without these indexes each aggregated row was a table lookup
(`deleted_at` and `state` live in the table): about 170 ms per home timeline page for busy
authors on a million statuses (bench/home_timeline.py). With them, both are index-only.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "objects_actor_live",
        "objects",
        ["actor_id", "published"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index("follows_follower", "follows", ["follower_id", "state"])


def downgrade() -> None:
    op.drop_index("follows_follower", "follows")
    op.drop_index("objects_actor_live", "objects")
