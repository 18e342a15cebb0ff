"""Repository of notifications for local accounts, and of likes, boosts, blocks and reports."""

import builtins
import json
from collections.abc import Collection
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


@dataclass(frozen=True)
class BoostRecord:
    """A boost (an announces row); its id is the status id the boost has in timelines."""

    id: int
    actor_id: int
    object_uri: str
    uri: str
    created_at: str


_NOTIFICATION_COLUMNS = "id, account_id, type, from_actor_id, object_uri, created_at"


class NotificationRepository:
    """Writes, lists and dismisses notifications (a dismissed one is never listed again)."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(
        self, account_id: int, kind: str, from_actor_id: int | None, object_uri: str | None
    ) -> int:
        """Record a notification (follow, follow_request, mention, favourite, reblog…)."""
        notification_id = new_id()
        await self.db.execute(
            "INSERT INTO notifications (id, account_id, type, from_actor_id, object_uri, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            notification_id,
            account_id,
            kind,
            from_actor_id,
            object_uri,
            clock.now_text(),
        )
        return notification_id

    async def for_account(self, account_id: int, limit: int = 40) -> list[NotificationRecord]:
        """Return a member's newest notifications."""
        return await self.list(account_id, limit=limit)

    async def list(
        self,
        account_id: int,
        *,
        types: Collection[str] = (),
        exclude_types: Collection[str] = (),
        from_actor_id: int | None = None,
        max_id: int = 2**63 - 1,
        since_id: int = 0,
        min_id: int | None = None,
        limit: int = 40,
    ) -> list[NotificationRecord]:
        """Return a member's notifications newest first, filtered and within a page window.

        `min_id` asks for the oldest ones just above it (still returned newest first).
        """
        args: list[object] = [account_id, max_id, max(since_id, min_id or 0)]
        sql = (
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications "
            "WHERE account_id = $1 AND dismissed = 0 AND id < $2 AND id > $3"
        )
        for column, values, negate in (("type", types, False), ("type", exclude_types, True)):
            if values:
                marks = ", ".join(f"${len(args) + i}" for i in range(1, len(values) + 1))
                args.extend(sorted(values))
                sql += f" AND {column} {'NOT IN' if negate else 'IN'} ({marks})"
        if from_actor_id is not None:
            args.append(from_actor_id)
            sql += f" AND from_actor_id = ${len(args)}"
        args.append(limit)
        order = "ASC" if min_id is not None else "DESC"
        rows = await self.db.fetch(sql + f" ORDER BY id {order} LIMIT ${len(args)}", *args)
        if min_id is not None:
            rows.reverse()
        return [NotificationRecord(**row) for row in rows]

    async def get(self, account_id: int, notification_id: int) -> NotificationRecord | None:
        """Return one of a member's notifications, unless dismissed."""
        row = await self.db.fetchrow(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications "
            "WHERE id = $1 AND account_id = $2 AND dismissed = 0",
            notification_id,
            account_id,
        )
        return NotificationRecord(**row) if row else None

    async def dismiss(self, account_id: int, notification_id: int) -> bool:
        """Dismiss one notification; return whether the member had it."""
        changed = await self.db.execute(
            "UPDATE notifications SET dismissed = 1 "
            "WHERE id = $1 AND account_id = $2 AND dismissed = 0",
            notification_id,
            account_id,
        )
        return changed > 0

    async def clear(self, account_id: int) -> int:
        """Dismiss every notification of a member; return how many."""
        return await self.db.execute(
            "UPDATE notifications SET dismissed = 1 WHERE account_id = $1 AND dismissed = 0",
            account_id,
        )


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

    async def boosts(self, boost_ids: Collection[int]) -> dict[int, BoostRecord]:
        """Return boosts by row id (to show timeline entries that are boosts)."""
        wanted = sorted(set(boost_ids))
        if not wanted:
            return {}
        marks = ", ".join(f"${i}" for i in range(1, len(wanted) + 1))
        rows = await self.db.fetch(
            "SELECT id, actor_id, object_uri, uri, created_at FROM announces "
            f"WHERE id IN ({marks})",
            *wanted,
        )
        return {int(row["id"]): BoostRecord(**row) for row in rows}

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


@dataclass(frozen=True)
class StoredReport:
    """The row a report got: its id and when it was made."""

    id: int
    created_at: str


@dataclass(frozen=True)
class ReceivedReport:
    """A report as admins see it: who reported what, and whether it is dealt with."""

    id: int
    reporter_uri: str
    targets: tuple[str, ...]
    content: str
    created_at: str
    resolved_at: str | None


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

    async def received(self, *, limit: int = 100) -> builtins.list[ReceivedReport]:
        """Return the latest reports for the admins' page: open ones first, then newest."""
        rows = await self.db.fetch(
            "SELECT id, reporter_uri, targets, content, created_at, resolved_at FROM reports "
            "ORDER BY resolved_at IS NOT NULL, id DESC LIMIT $1",
            limit,
        )
        return [
            ReceivedReport(
                id=int(row["id"]),
                reporter_uri=str(row["reporter_uri"]),
                targets=tuple(json.loads(row["targets"])),
                content=str(row["content"]),
                created_at=str(row["created_at"]),
                resolved_at=row["resolved_at"],
            )
            for row in rows
        ]

    async def resolve(self, report_id: int) -> bool:
        """Mark a report as dealt with; False when there is no such open report."""
        changed = await self.db.execute(
            "UPDATE reports SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL",
            report_id,
            clock.now_text(),
        )
        return changed > 0

    async def by_activity(self, activity_uri: str) -> StoredReport | None:
        """Return the stored report a Flag activity (or a member's report) made."""
        row = await self.db.fetchrow(
            "SELECT id, created_at FROM reports WHERE activity_uri = $1", activity_uri
        )
        return StoredReport(id=int(row["id"]), created_at=str(row["created_at"])) if row else None
