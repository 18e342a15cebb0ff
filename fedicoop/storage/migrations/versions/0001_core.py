"""Core schema: accounts, actors, objects, activities, inbox, follows, deliveries, partners.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger
TEXT = sa.Text
INT = sa.Integer


def _pk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", ID, primary_key=True, autoincrement=False)


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", TEXT, primary_key=True),
        sa.Column("value", TEXT, nullable=False),
    )
    op.create_table(
        "actors",
        _pk(),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("local", INT, nullable=False, server_default="0"),
        sa.Column("username", TEXT),
        sa.Column("domain", TEXT, nullable=False),
        sa.Column("display_name", TEXT, nullable=False, server_default=""),
        sa.Column("summary", TEXT, nullable=False, server_default=""),
        sa.Column("url", TEXT),
        sa.Column("inbox", TEXT),
        sa.Column("shared_inbox", TEXT),
        sa.Column("outbox", TEXT),
        sa.Column("followers_uri", TEXT),
        sa.Column("following_uri", TEXT),
        sa.Column("featured_uri", TEXT),
        sa.Column("key_id", TEXT),
        sa.Column("public_key_pem", TEXT),
        sa.Column("private_key_pem", TEXT),
        sa.Column("locked", INT, nullable=False, server_default="0"),
        sa.Column("moved_to", TEXT),
        sa.Column("also_known_as", TEXT, nullable=False, server_default="[]"),
        sa.Column("raw", TEXT),
        sa.Column("fetched_at", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_index("actors_username_domain", "actors", ["username", "domain"], unique=True)
    op.create_index("actors_key_id", "actors", ["key_id"])
    op.create_table(
        "accounts",
        _pk(),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False, unique=True),
        sa.Column("username", TEXT, nullable=False, unique=True),
        sa.Column("email", TEXT, unique=True),
        sa.Column("password_hash", TEXT, nullable=False),
        sa.Column("role", TEXT, nullable=False, server_default="member"),
        sa.Column("status", TEXT, nullable=False, server_default="active"),
        sa.Column("locale", TEXT, nullable=False, server_default="en"),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_table(
        "objects",
        _pk(),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("local", INT, nullable=False, server_default="0"),
        sa.Column("in_reply_to", TEXT),
        sa.Column("visibility", TEXT, nullable=False, server_default="public"),
        sa.Column("content", TEXT, nullable=False, server_default=""),
        sa.Column("summary", TEXT, nullable=False, server_default=""),
        sa.Column("sensitive", INT, nullable=False, server_default="0"),
        sa.Column("language", TEXT),
        sa.Column("url", TEXT),
        sa.Column("audience", TEXT),
        sa.Column("addressed", TEXT, nullable=False, server_default="[]"),
        sa.Column("published", TEXT, nullable=False),
        sa.Column("edited_at", TEXT),
        sa.Column("deleted_at", TEXT),
        sa.Column("raw", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_index("objects_actor", "objects", ["actor_id", "id"])
    op.create_index("objects_reply", "objects", ["in_reply_to"])
    op.create_table(
        "activities",
        _pk(),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("actor_uri", TEXT, nullable=False),
        sa.Column("object_uri", TEXT),
        sa.Column("local", INT, nullable=False, server_default="0"),
        sa.Column("raw", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_index("activities_actor", "activities", ["actor_uri", "id"])
    op.create_table(
        "inbox",
        _pk(),
        sa.Column("activity_uri", TEXT, nullable=False, unique=True),
        sa.Column("actor_uri", TEXT, nullable=False),
        sa.Column("raw", TEXT, nullable=False),
        sa.Column("state", TEXT, nullable=False, server_default="pending"),
        sa.Column("attempts", INT, nullable=False, server_default="0"),
        sa.Column("error", TEXT),
        sa.Column("received_at", TEXT, nullable=False),
        sa.Column("processed_at", TEXT),
    )
    op.create_index("inbox_state", "inbox", ["state", "id"])
    op.create_table(
        "tombstones",
        sa.Column("uri", TEXT, primary_key=True),
        sa.Column("actor_uri", TEXT, nullable=False),
        sa.Column("deleted_at", TEXT, nullable=False),
    )
    op.create_table(
        "follows",
        _pk(),
        sa.Column("follower_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("followee_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("uri", TEXT, nullable=False),
        sa.Column("state", TEXT, nullable=False, server_default="pending"),
        sa.Column("created_at", TEXT, nullable=False),
        sa.UniqueConstraint("follower_id", "followee_id", name="follows_pair"),
    )
    op.create_index("follows_followee", "follows", ["followee_id", "state"])
    for table in ("likes", "announces"):
        op.create_table(
            table,
            _pk(),
            sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
            sa.Column("object_uri", TEXT, nullable=False),
            sa.Column("uri", TEXT, nullable=False, unique=True),
            sa.Column("created_at", TEXT, nullable=False),
            sa.UniqueConstraint("actor_id", "object_uri", name=f"{table}_pair"),
        )
        op.create_index(f"{table}_object", table, ["object_uri"])
    op.create_table(
        "blocks",
        _pk(),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("target_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("uri", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.UniqueConstraint("actor_id", "target_id", name="blocks_pair"),
    )
    op.create_table(
        "domain_blocks",
        sa.Column("domain", TEXT, primary_key=True),
        sa.Column("reason", TEXT, nullable=False, server_default=""),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "mentions",
        sa.Column("object_id", ID, sa.ForeignKey("objects.id"), nullable=False),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.PrimaryKeyConstraint("object_id", "actor_id"),
    )
    op.create_table(
        "hashtags",
        sa.Column("object_id", ID, sa.ForeignKey("objects.id"), nullable=False),
        sa.Column("name", TEXT, nullable=False),
        sa.PrimaryKeyConstraint("object_id", "name"),
    )
    op.create_index("hashtags_name", "hashtags", ["name", "object_id"])
    op.create_table(
        "deliveries",
        _pk(),
        sa.Column("activity_uri", TEXT, nullable=False),
        sa.Column("inbox", TEXT, nullable=False),
        sa.Column("host", TEXT, nullable=False),
        sa.Column("signer_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("body", TEXT, nullable=False),
        sa.Column("state", TEXT, nullable=False, server_default="pending"),
        sa.Column("attempts", INT, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TEXT, nullable=False),
        sa.Column("claimed_until", TEXT),
        sa.Column("last_status", INT),
        sa.Column("last_error", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.UniqueConstraint("activity_uri", "inbox", name="deliveries_pair"),
    )
    op.create_index("deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "hosts",
        sa.Column("host", TEXT, primary_key=True),
        sa.Column("failing_since", TEXT),
        sa.Column("last_success_at", TEXT),
        sa.Column("unavailable", INT, nullable=False, server_default="0"),
        sa.Column("last_error", TEXT),
    )
    op.create_table(
        "partnerships",
        _pk(),
        sa.Column("group_id", ID, sa.ForeignKey("actors.id"), nullable=False, unique=True),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("offer_uri", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_table(
        "reports",
        _pk(),
        sa.Column("activity_uri", TEXT, nullable=False, unique=True),
        sa.Column("reporter_uri", TEXT, nullable=False),
        sa.Column("targets", TEXT, nullable=False),
        sa.Column("content", TEXT, nullable=False, server_default=""),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("resolved_at", TEXT),
    )
    op.create_table(
        "notifications",
        _pk(),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("from_actor_id", ID, sa.ForeignKey("actors.id")),
        sa.Column("object_uri", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("dismissed", INT, nullable=False, server_default="0"),
    )
    op.create_index("notifications_account", "notifications", ["account_id", "id"])


def downgrade() -> None:
    for table in (
        "notifications",
        "reports",
        "partnerships",
        "hosts",
        "deliveries",
        "hashtags",
        "mentions",
        "domain_blocks",
        "blocks",
        "announces",
        "likes",
        "follows",
        "tombstones",
        "inbox",
        "activities",
        "objects",
        "accounts",
        "actors",
        "settings",
    ):
        op.drop_table(table)
