"""Servers the co-op's admins blocked: nothing from them reaches the inbox."""

from dataclasses import dataclass

from fedicoop import clock
from fedicoop.storage.database import Executor


@dataclass(frozen=True)
class DomainBlock:
    """One blocked domain (its subdomains are blocked too) and why."""

    domain: str
    reason: str
    created_at: str


class DomainBlockRepository:
    """The `domain_blocks` table the inbox checks every sender against."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def list(self) -> list[DomainBlock]:
        """Return every block, by domain."""
        rows = await self.db.fetch(
            "SELECT domain, reason, created_at FROM domain_blocks ORDER BY domain"
        )
        return [DomainBlock(str(r["domain"]), str(r["reason"]), str(r["created_at"])) for r in rows]

    async def add(self, domain: str, reason: str) -> None:
        """Block a domain (blocking it again updates the reason)."""
        await self.db.execute(
            "INSERT INTO domain_blocks (domain, reason, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (domain) DO UPDATE SET reason = excluded.reason",
            domain,
            reason,
            clock.now_text(),
        )

    async def remove(self, domain: str) -> bool:
        """Unblock a domain; False when it was not blocked."""
        return await self.db.execute("DELETE FROM domain_blocks WHERE domain = $1", domain) > 0
