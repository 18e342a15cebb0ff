"""Repository of read markers: where a member stopped reading each timeline."""

from collections.abc import Sequence
from dataclasses import dataclass

from fedicoop import clock
from fedicoop.storage.database import Executor


@dataclass(frozen=True)
class MarkerRecord:
    """The last item a member read in one timeline; `version` counts the saves."""

    timeline: str
    last_read_id: str
    version: int
    updated_at: str


class MarkerRepository:
    """Reads and saves read markers."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def get(self, account_id: int, timelines: Sequence[str]) -> list[MarkerRecord]:
        """Return a member's markers for some timelines (those never saved are left out)."""
        if not timelines:
            return []
        marks = ", ".join(f"${i}" for i in range(2, len(timelines) + 2))
        rows = await self.db.fetch(
            "SELECT timeline, last_read_id, version, updated_at FROM markers "
            f"WHERE account_id = $1 AND timeline IN ({marks})",
            account_id,
            *timelines,
        )
        return [
            MarkerRecord(
                timeline=str(row["timeline"]),
                last_read_id=str(row["last_read_id"]),
                version=int(row["version"]),
                updated_at=str(row["updated_at"]),
            )
            for row in rows
        ]

    async def save(self, account_id: int, timeline: str, last_read_id: str) -> None:
        """Move a marker, counting one more save in its version."""
        # The version counts saves, so a client can tell its marker is stale.
        await self.db.execute(
            "INSERT INTO markers (account_id, timeline, last_read_id, version, updated_at) "
            "VALUES ($1, $2, $3, 0, $4) ON CONFLICT (account_id, timeline) DO UPDATE SET "
            "last_read_id = excluded.last_read_id, version = markers.version + 1, "
            "updated_at = excluded.updated_at",
            account_id,
            timeline,
            last_read_id,
            clock.now_text(),
        )
