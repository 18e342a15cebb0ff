"""Client API: OAuth apps, codes and tokens; media; polls; timelines; bookmarks, mutes, pins.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger
TEXT = sa.Text
INT = sa.Integer


def upgrade() -> None:
    op.create_table(
        "oauth_apps",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("client_id", TEXT, nullable=False, unique=True),
        sa.Column("client_secret", TEXT, nullable=False),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("website", TEXT),
        sa.Column("redirect_uris", TEXT, nullable=False),
        sa.Column("scopes", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", TEXT, primary_key=True),
        sa.Column("app_id", ID, sa.ForeignKey("oauth_apps.id"), nullable=False),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("scopes", TEXT, nullable=False),
        sa.Column("redirect_uri", TEXT, nullable=False),
        sa.Column("code_challenge", TEXT),
        sa.Column("code_challenge_method", TEXT),
        sa.Column("expires_at", TEXT, nullable=False),
        sa.Column("used", INT, nullable=False, server_default="0"),
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("token_hash", TEXT, nullable=False, unique=True),
        sa.Column("refresh_hash", TEXT, unique=True),
        sa.Column("app_id", ID, sa.ForeignKey("oauth_apps.id"), nullable=False),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id")),
        sa.Column("scopes", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("revoked_at", TEXT),
    )
    op.create_table(
        "media",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id")),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("object_id", ID, sa.ForeignKey("objects.id")),
        sa.Column("kind", TEXT, nullable=False, server_default="image"),
        sa.Column("content_type", TEXT, nullable=False),
        sa.Column("file_name", TEXT),
        sa.Column("remote_url", TEXT),
        sa.Column("description", TEXT, nullable=False, server_default=""),
        sa.Column("focus", TEXT),
        sa.Column("width", INT),
        sa.Column("height", INT),
        sa.Column("size", INT),
        sa.Column("position", INT, nullable=False, server_default="0"),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_index("media_object", "media", ["object_id", "position"])
    op.create_table(
        "polls",
        sa.Column("object_id", ID, sa.ForeignKey("objects.id"), primary_key=True),
        sa.Column("options", TEXT, nullable=False),
        sa.Column("multiple", INT, nullable=False, server_default="0"),
        sa.Column("expires_at", TEXT),
        sa.Column("voters_count", INT),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_table(
        "poll_votes",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("object_id", ID, sa.ForeignKey("objects.id"), nullable=False),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("choice", INT, nullable=False),
        sa.Column("uri", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
        sa.UniqueConstraint("object_id", "actor_id", "choice", name="poll_votes_once"),
    )
    op.create_table(
        "timeline",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("object_id", ID, sa.ForeignKey("objects.id"), nullable=False),
        sa.Column("reblog_id", ID),
        sa.PrimaryKeyConstraint("account_id", "id"),
    )
    op.create_index("timeline_object", "timeline", ["object_id"])
    for table, target in (
        ("bookmarks", "object_id"),
        ("pins", "object_id"),
        ("mutes", "target_id"),
    ):
        op.create_table(
            table,
            sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
            sa.Column(
                target,
                ID,
                sa.ForeignKey("objects.id" if target == "object_id" else "actors.id"),
                nullable=False,
            ),
            sa.Column("created_at", TEXT, nullable=False),
            sa.PrimaryKeyConstraint("account_id", target),
        )
    op.create_table(
        "markers",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("timeline", TEXT, nullable=False),
        sa.Column("last_read_id", TEXT, nullable=False),
        sa.Column("version", INT, nullable=False, server_default="0"),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "timeline"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("key", TEXT, nullable=False),
        sa.Column("object_id", ID, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key"),
    )
    op.add_column("actors", sa.Column("avatar_url", TEXT))
    op.add_column("actors", sa.Column("header_url", TEXT))
    op.add_column("actors", sa.Column("fields", TEXT, nullable=False, server_default="[]"))
    op.create_index("objects_public", "objects", ["visibility", "local", "id"])
    op.create_index("mentions_actor", "mentions", ["actor_id", "object_id"])


def downgrade() -> None:
    op.drop_index("mentions_actor", "mentions")
    op.drop_index("objects_public", "objects")
    with op.batch_alter_table("actors") as batch:
        batch.drop_column("fields")
        batch.drop_column("header_url")
        batch.drop_column("avatar_url")
    for table in (
        "idempotency_keys",
        "markers",
        "mutes",
        "pins",
        "bookmarks",
        "timeline",
        "poll_votes",
        "polls",
        "media",
        "oauth_tokens",
        "oauth_codes",
        "oauth_apps",
    ):
        op.drop_table(table)
