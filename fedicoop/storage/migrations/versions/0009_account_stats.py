"""Per-actor counters kept by the database: statuses, followers, following, last post.

Every Account the client API renders carried three aggregates over that actor's posts and
follows, on every page (bench/home_timeline.py: most of a home timeline page's SQL time). As
Mastodon's `account_stats`, the counts are now kept up to date on write, by triggers on
`objects` and `follows` — so no write path can forget them — and read with one indexed lookup.
`last_status_at` is the newest post ever counted (a deleted newest post leaves it as it was).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO account_stats (actor_id, statuses_count, followers_count, following_count,
                           last_status_at)
SELECT a.id,
       (SELECT count(*) FROM objects o WHERE o.actor_id = a.id AND o.deleted_at IS NULL),
       (SELECT count(*) FROM follows f WHERE f.followee_id = a.id AND f.state = 'accepted'),
       (SELECT count(*) FROM follows f WHERE f.follower_id = a.id AND f.state = 'accepted'),
       (SELECT max(o.published) FROM objects o WHERE o.actor_id = a.id AND o.deleted_at IS NULL)
FROM actors a
"""

# (name, event, condition, statements with :delta placeholders resolved below)
_BUMP_STATUSES = (
    "INSERT INTO account_stats (actor_id, statuses_count, last_status_at) "
    "VALUES ({row}.actor_id, {delta}, {published}) ON CONFLICT (actor_id) DO UPDATE SET "
    "statuses_count = account_stats.statuses_count + {delta}{last}"
)
_BUMP_FOLLOW = (
    "INSERT INTO account_stats (actor_id, {column}) VALUES ({row}.{key}, {delta}) "
    "ON CONFLICT (actor_id) DO UPDATE SET {column} = account_stats.{column} + {delta}"
)


def _statuses(row: str, delta: int, greatest: str) -> str:
    published = f"{row}.published" if delta > 0 else "NULL"
    last = (
        f", last_status_at = {greatest}(COALESCE(account_stats.last_status_at, ''), "
        "excluded.last_status_at)"
        if delta > 0
        else ""
    )
    return _BUMP_STATUSES.format(row=row, delta=delta, published=published, last=last)


def _follows(row: str, delta: int) -> list[str]:
    return [
        _BUMP_FOLLOW.format(row=row, key="followee_id", column="followers_count", delta=delta),
        _BUMP_FOLLOW.format(row=row, key="follower_id", column="following_count", delta=delta),
    ]


def _triggers(greatest: str) -> list[tuple[str, str, str, str | None, list[str]]]:
    """Return (name, table, event, condition, statements) for every trigger."""
    live_new = "NEW.deleted_at IS NULL"
    return [
        ("stats_objects_insert", "objects", "INSERT", live_new, [_statuses("NEW", 1, greatest)]),
        (
            "stats_objects_deleted",
            "objects",
            "UPDATE OF deleted_at",
            "OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL",
            [_statuses("NEW", -1, greatest)],
        ),
        (
            "stats_objects_undeleted",
            "objects",
            "UPDATE OF deleted_at",
            "OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL",
            [_statuses("NEW", 1, greatest)],
        ),
        (
            "stats_objects_delete",
            "objects",
            "DELETE",
            "OLD.deleted_at IS NULL",
            [_statuses("OLD", -1, greatest)],
        ),
        (
            "stats_follows_insert",
            "follows",
            "INSERT",
            "NEW.state = 'accepted'",
            _follows("NEW", 1),
        ),
        (
            "stats_follows_accepted",
            "follows",
            "UPDATE OF state",
            "OLD.state <> 'accepted' AND NEW.state = 'accepted'",
            _follows("NEW", 1),
        ),
        (
            "stats_follows_unaccepted",
            "follows",
            "UPDATE OF state",
            "OLD.state = 'accepted' AND NEW.state <> 'accepted'",
            _follows("OLD", -1),
        ),
        (
            "stats_follows_delete",
            "follows",
            "DELETE",
            "OLD.state = 'accepted'",
            _follows("OLD", -1),
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "account_stats",
        sa.Column("actor_id", sa.BigInteger, sa.ForeignKey("actors.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("statuses_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("followers_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("following_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_at", sa.Text),
    )  # fmt: skip
    op.execute(BACKFILL)
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, event, condition, statements in _triggers("GREATEST" if postgres else "max"):
        if postgres:
            body = ";\n".join(statements)
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN\n"
                f"{body};\nRETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                f"WHEN ({condition}) EXECUTE FUNCTION {name}()"
            )
        else:
            body = ";\n".join(statements)
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                f"WHEN {condition} BEGIN\n{body};\nEND"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, *_ in _triggers("GREATEST" if postgres else "max"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("account_stats")
