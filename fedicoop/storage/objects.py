"""Repository of objects (notes, questions, rides…), activities and tombstones.

`raw` holds the exact text of the document as received or first served, never a
re-serialised JSON column, so a document moves and is served byte for byte.
"""

import json
from dataclasses import dataclass, fields, replace
from typing import Any

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor, Row


@dataclass(frozen=True)
class ObjectRecord:
    """One stored object, local or remote."""

    uri: str
    type: str
    actor_id: int
    raw: str
    published: str
    local: bool = False
    in_reply_to: str | None = None
    visibility: str = "public"
    content: str = ""
    summary: str = ""
    sensitive: bool = False
    language: str | None = None
    url: str | None = None
    audience: str | None = None
    addressed: tuple[str, ...] = ()
    edited_at: str | None = None
    deleted_at: str | None = None
    id: int = 0
    created_at: str = ""


@dataclass(frozen=True)
class ActivityRecord:
    """One stored activity (sent or received)."""

    uri: str
    type: str
    actor_uri: str
    raw: str
    object_uri: str | None = None
    local: bool = False
    id: int = 0
    created_at: str = ""


_OBJECT_COLUMNS = [f.name for f in fields(ObjectRecord)]
_ACTIVITY_COLUMNS = [f.name for f in fields(ActivityRecord)]


def _placeholders(count: int) -> str:
    return ", ".join(f"${i}" for i in range(1, count + 1))


def _object_values(record: ObjectRecord) -> list[Any]:
    values: list[Any] = []
    for name in _OBJECT_COLUMNS:
        value = getattr(record, name)
        if name in ("local", "sensitive"):
            value = int(value)
        elif name == "addressed":
            value = json.dumps(list(value))
        values.append(value)
    return values


def _object_from_row(row: Row) -> ObjectRecord:
    values = dict(row)
    values["local"] = bool(values["local"])
    values["sensitive"] = bool(values["sensitive"])
    values["addressed"] = tuple(json.loads(values["addressed"] or "[]"))
    return ObjectRecord(**values)


def _activity_from_row(row: Row) -> ActivityRecord:
    values = dict(row)
    values["local"] = bool(values["local"])
    return ActivityRecord(**values)


class ObjectRepository:
    """Reads and writes objects, activities and tombstones."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, record: ObjectRecord) -> ObjectRecord:
        """Store a new object (Conflict if its uri exists)."""
        stored = replace(record, id=record.id or new_id(), created_at=clock.now_text())
        await self.db.execute(
            f"INSERT INTO objects ({', '.join(_OBJECT_COLUMNS)}) "
            f"VALUES ({_placeholders(len(_OBJECT_COLUMNS))})",
            *_object_values(stored),
        )
        return stored

    async def replace_content(self, record: ObjectRecord) -> None:
        """Store an edit of an object: its text, addressing and raw document."""
        await self.db.execute(
            "UPDATE objects SET content = $1, summary = $2, sensitive = $3, language = $4, "
            "raw = $5, edited_at = $6, addressed = $7 WHERE uri = $8",
            record.content,
            record.summary,
            int(record.sensitive),
            record.language,
            record.raw,
            record.edited_at or clock.now_text(),
            json.dumps(list(record.addressed)),
            record.uri,
        )

    async def get(self, object_id: int) -> ObjectRecord | None:
        """Return an object by row id."""
        row = await self.db.fetchrow("SELECT * FROM objects WHERE id = $1", object_id)
        return _object_from_row(row) if row else None

    async def by_uri(self, uri: str) -> ObjectRecord | None:
        """Return an object by its ActivityPub id."""
        row = await self.db.fetchrow("SELECT * FROM objects WHERE uri = $1", uri)
        return _object_from_row(row) if row else None

    async def by_actor(
        self, actor_id: int, *, limit: int = 20, max_id: int | None = None, public_only: bool = True
    ) -> list[ObjectRecord]:
        """Return an actor's newest objects, newest first, below `max_id`."""
        visibility = "AND visibility IN ('public', 'unlisted') " if public_only else ""
        rows = await self.db.fetch(
            "SELECT * FROM objects WHERE actor_id = $1 AND deleted_at IS NULL AND id < $2 "
            f"{visibility}ORDER BY id DESC LIMIT $3",
            actor_id,
            max_id if max_id is not None else 2**63 - 1,
            limit,
        )
        return [_object_from_row(row) for row in rows]

    async def count_by_actor(self, actor_id: int, *, public_only: bool = True) -> int:
        """Return how many live objects an actor has."""
        visibility = " AND visibility IN ('public', 'unlisted')" if public_only else ""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM objects WHERE actor_id = $1 AND deleted_at IS NULL"
                + visibility,
                actor_id,
            )
        )

    async def replies(self, uri: str) -> list[ObjectRecord]:
        """Return live replies to an object, oldest first."""
        rows = await self.db.fetch(
            "SELECT * FROM objects WHERE in_reply_to = $1 AND deleted_at IS NULL ORDER BY id",
            uri,
        )
        return [_object_from_row(row) for row in rows]

    async def mark_deleted(self, uri: str, tombstone_raw: str | None = None) -> bool:
        """Turn an object into a tombstone; return whether it existed."""
        changed = await self.db.execute(
            "UPDATE objects SET deleted_at = $1, content = '', summary = '', "
            "raw = COALESCE($2, raw) WHERE uri = $3 AND deleted_at IS NULL",
            clock.now_text(),
            tombstone_raw,
            uri,
        )
        return changed > 0

    async def with_hashtag(self, name: str, *, limit: int = 20) -> list[ObjectRecord]:
        """Return recent live public posts carrying a hashtag."""
        rows = await self.db.fetch(
            "SELECT o.* FROM hashtags h JOIN objects o ON o.id = h.object_id "
            "WHERE h.name = $1 AND o.deleted_at IS NULL AND o.visibility = 'public' "
            "ORDER BY o.id DESC LIMIT $2",
            name,
            limit,
        )
        return [_object_from_row(row) for row in rows]

    async def count_local(self) -> int:
        """Return how many live local objects exist (NodeInfo's localPosts)."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM objects WHERE local = 1 AND deleted_at IS NULL"
            )
        )

    async def add_tombstone(self, uri: str, actor_uri: str) -> None:
        """Remember that an object was deleted, so a late Create cannot revive it."""
        await self.db.execute(
            "INSERT INTO tombstones (uri, actor_uri, deleted_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (uri) DO NOTHING",
            uri,
            actor_uri,
            clock.now_text(),
        )

    async def is_tombstoned(self, uri: str) -> bool:
        """Return whether a Delete for this uri was seen."""
        return await self.db.fetchval("SELECT 1 FROM tombstones WHERE uri = $1", uri) is not None

    async def insert_activity(self, record: ActivityRecord) -> ActivityRecord:
        """Store an activity; an existing uri is kept as it is."""
        stored = replace(record, id=record.id or new_id(), created_at=clock.now_text())
        values = [getattr(stored, name) for name in _ACTIVITY_COLUMNS]
        values[_ACTIVITY_COLUMNS.index("local")] = int(stored.local)
        await self.db.execute(
            f"INSERT INTO activities ({', '.join(_ACTIVITY_COLUMNS)}) "
            f"VALUES ({_placeholders(len(_ACTIVITY_COLUMNS))}) ON CONFLICT (uri) DO NOTHING",
            *values,
        )
        return stored

    async def activity_by_uri(self, uri: str) -> ActivityRecord | None:
        """Return an activity by its id."""
        row = await self.db.fetchrow("SELECT * FROM activities WHERE uri = $1", uri)
        return _activity_from_row(row) if row else None

    async def outbox(
        self, actor_uri: str, *, limit: int = 20, max_id: int | None = None
    ) -> list[ActivityRecord]:
        """Return an actor's public Create/Announce activities, newest first."""
        rows = await self.db.fetch(
            "SELECT a.* FROM activities a JOIN objects o ON o.uri = a.object_uri "
            "WHERE a.actor_uri = $1 AND a.type = 'Create' AND a.id < $2 "
            "AND o.deleted_at IS NULL AND o.visibility IN ('public', 'unlisted') "
            "ORDER BY a.id DESC LIMIT $3",
            actor_uri,
            max_id if max_id is not None else 2**63 - 1,
            limit,
        )
        return [_activity_from_row(row) for row in rows]


object_from_row = _object_from_row
