"""Repository of notifications for local accounts, and of likes, boosts, blocks and reports."""

import json
from dataclasses import dataclass

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor


@dataclass(frozen=True)
class NotificationRecord:
    """Something happened that a member should hear about."""

    id: int
    account_id: int
    type: str
    from_actor_id: int | None
    object_uri: str | None
    created_at: str


class NotificationRepository:
    """Writes and lists notifications."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(
        self, account_id: int, kind: str, from_actor_id: int | None, object_uri: str | None
    ) -> None:
        """Record a notification (follow, follow_request, mention, favourite, reblog…)."""
        await self.db.execute(
            "INSERT INTO notifications (id, account_id, type, from_actor_id, object_uri, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            new_id(),
            account_id,
            kind,
            from_actor_id,
            object_uri,
            clock.now_text(),
        )

    async def for_account(self, account_id: int, limit: int = 40) -> list[NotificationRecord]:
        """Return a member's newest notifications."""
        rows = await self.db.fetch(
            "SELECT id, account_id, type, from_actor_id, object_uri, created_at "
            "FROM notifications WHERE account_id = $1 AND dismissed = 0 "
            "ORDER BY id DESC LIMIT $2",
            account_id,
            limit,
        )
        return [NotificationRecord(**row) for row in rows]


class ReactionRepository:
    """Likes and boosts (announces) of objects, keyed by the activity that made them."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(self, table: str, actor_id: int, object_uri: str, activity_uri: str) -> bool:
        """Record a like or boost; return whether it is new."""
        assert table in ("likes", "announces")
        changed = await self.db.execute(
            f"INSERT INTO {table} (id, actor_id, object_uri, uri, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            new_id(),
            actor_id,
            object_uri,
            activity_uri,
            clock.now_text(),
        )
        return changed > 0

    async def remove(self, table: str, actor_id: int, object_uri: str) -> bool:
        """Remove a like or boost; return whether it existed."""
        assert table in ("likes", "announces")
        changed = await self.db.execute(
            f"DELETE FROM {table} WHERE actor_id = $1 AND object_uri = $2", actor_id, object_uri
        )
        return changed > 0

    async def by_activity(self, table: str, activity_uri: str) -> tuple[int, str] | None:
        """Return (actor_id, object_uri) of the like or boost an activity made."""
        assert table in ("likes", "announces")
        row = await self.db.fetchrow(
            f"SELECT actor_id, object_uri FROM {table} WHERE uri = $1", activity_uri
        )
        return (int(row["actor_id"]), str(row["object_uri"])) if row else None

    async def activity_uri(self, table: str, actor_id: int, object_uri: str) -> str | None:
        """Return the id of the Like/Announce an actor sent for an object."""
        assert table in ("likes", "announces")
        value = await self.db.fetchval(
            f"SELECT uri FROM {table} WHERE actor_id = $1 AND object_uri = $2",
            actor_id,
            object_uri,
        )
        return str(value) if value else None

    async def row_id(self, table: str, activity_uri: str) -> int | None:
        """Return the row id of a like or boost (a boost's id is its timeline/status id)."""
        assert table in ("likes", "announces")
        value = await self.db.fetchval(f"SELECT id FROM {table} WHERE uri = $1", activity_uri)
        return int(value) if value is not None else None

    async def count(self, table: str, object_uri: str) -> int:
        """Return how many likes or boosts an object has."""
        assert table in ("likes", "announces")
        return int(
            await self.db.fetchval(
                f"SELECT count(*) FROM {table} WHERE object_uri = $1", object_uri
            )
        )

    async def block(self, actor_id: int, target_id: int, activity_uri: str) -> None:
        """Record that an actor blocks another."""
        await self.db.execute(
            "INSERT INTO blocks (id, actor_id, target_id, uri, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            new_id(),
            actor_id,
            target_id,
            activity_uri,
            clock.now_text(),
        )

    async def unblock(self, actor_id: int, target_id: int) -> None:
        """Forget a block."""
        await self.db.execute(
            "DELETE FROM blocks WHERE actor_id = $1 AND target_id = $2", actor_id, target_id
        )

    async def is_blocked(self, actor_id: int, target_id: int) -> bool:
        """Return whether actor blocks target."""
        value = await self.db.fetchval(
            "SELECT 1 FROM blocks WHERE actor_id = $1 AND target_id = $2", actor_id, target_id
        )
        return value is not None


class ReportRepository:
    """Reports received through Flag."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(self, activity_uri: str, reporter: str, targets: list[str], content: str) -> None:
        """Store a report (once per Flag activity)."""
        await self.db.execute(
            "INSERT INTO reports (id, activity_uri, reporter_uri, targets, content, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (activity_uri) DO NOTHING",
            new_id(),
            activity_uri,
            reporter,
            json.dumps(targets),
            content,
            clock.now_text(),
        )

    async def list(self) -> list[dict[str, object]]:
        """Return every report, newest first."""
        rows = await self.db.fetch(
            "SELECT reporter_uri, targets, content, created_at FROM reports ORDER BY id DESC"
        )
        return [{**row, "targets": json.loads(row["targets"])} for row in rows]
