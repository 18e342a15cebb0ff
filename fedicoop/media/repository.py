"""Rows of the media table: attachments uploaded by members (and remote ones seen in posts)."""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor, Row


@dataclass(frozen=True)
class MediaRecord:
    """One attachment; `object_id` is set once a status carries it."""

    actor_id: int
    content_type: str
    account_id: int | None = None
    object_id: int | None = None
    kind: str = "image"
    file_name: str | None = None
    remote_url: str | None = None
    description: str = ""
    focus: str | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None
    position: int = 0
    id: int = 0
    created_at: str = ""

    def row(self) -> Row:
        """Return the record as a row (what the entity presenter reads)."""
        return asdict(self)


_COLUMNS = [f.name for f in fields(MediaRecord)]


class MediaRepository:
    """Reads and writes media rows."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, record: MediaRecord) -> MediaRecord:
        """Store a new attachment."""
        stored = replace(record, id=record.id or new_id(), created_at=clock.now_text())
        values: list[Any] = [getattr(stored, name) for name in _COLUMNS]
        await self.db.execute(
            f"INSERT INTO media ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))})",
            *values,
        )
        return stored

    async def get(self, media_id: int) -> MediaRecord | None:
        """Return an attachment by id."""
        row = await self.db.fetchrow(
            f"SELECT {', '.join(_COLUMNS)} FROM media WHERE id = $1", media_id
        )
        return MediaRecord(**row) if row else None

    async def describe(self, media_id: int, description: str, focus: str | None) -> bool:
        """Change the alt text and focal point of an attachment no status carries yet."""
        changed = await self.db.execute(
            "UPDATE media SET description = $1, focus = $2 WHERE id = $3 AND object_id IS NULL",
            description,
            focus,
            media_id,
        )
        return changed > 0

    async def delete_unattached(self, media_id: int) -> bool:
        """Remove an attachment no status carries; return whether it was removed."""
        changed = await self.db.execute(
            "DELETE FROM media WHERE id = $1 AND object_id IS NULL", media_id
        )
        return changed > 0
