"""Repository of the migration map: old object ids (on another server) → their local copies."""

from dataclasses import dataclass

from fedicoop import clock
from fedicoop.storage.database import Executor


@dataclass(frozen=True)
class MigrationEntry:
    """One imported object: where it was, where its copy is, and what it is."""

    old_uri: str
    new_uri: str
    kind: str  # note, ride
    actor_id: int | None
    imported_at: str


class MigrationMapRepository:
    """Records and looks up imported objects."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(self, old_uri: str, new_uri: str, kind: str, actor_id: int | None) -> bool:
        """Record a copy; return False when the old id was already imported."""
        changed = await self.db.execute(
            "INSERT INTO migration_map (old_uri, new_uri, kind, actor_id, imported_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (old_uri) DO NOTHING",
            old_uri,
            new_uri,
            kind,
            actor_id,
            clock.now_text(),
        )
        return changed > 0

    async def new_uri(self, old_uri: str) -> str | None:
        """Return the local copy of an imported object, if there is one."""
        value = await self.db.fetchval(
            "SELECT new_uri FROM migration_map WHERE old_uri = $1", old_uri
        )
        return None if value is None else str(value)

    async def for_actor(self, actor_id: int) -> list[MigrationEntry]:
        """Return everything a member imported, oldest import first."""
        rows = await self.db.fetch(
            "SELECT old_uri, new_uri, kind, actor_id, imported_at FROM migration_map "
            "WHERE actor_id = $1 ORDER BY imported_at, old_uri",
            actor_id,
        )
        return [MigrationEntry(**row) for row in rows]

    async def old_uris(self, new_uri: str) -> list[str]:
        """Return the ids an object had before it moved here (oldest first)."""
        rows = await self.db.fetch(
            "SELECT old_uri FROM migration_map WHERE new_uri = $1 ORDER BY imported_at, old_uri",
            new_uri,
        )
        return [str(row["old_uri"]) for row in rows]

    async def page(self, after: str | None, limit: int) -> list[MigrationEntry]:
        """Return the map in id order, `limit` entries after the old id `after`."""
        rows = await self.db.fetch(
            "SELECT old_uri, new_uri, kind, actor_id, imported_at FROM migration_map "
            "WHERE old_uri > $1 ORDER BY old_uri LIMIT $2",
            after or "",
            limit,
        )
        return [MigrationEntry(**row) for row in rows]

    async def count(self) -> int:
        """Return how many ids are mapped."""
        return int(await self.db.fetchval("SELECT count(*) FROM migration_map"))
