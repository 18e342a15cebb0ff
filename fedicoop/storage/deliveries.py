"""Repository of the durable delivery queue: one row per (activity, inbox), and host health."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Database, Row


@dataclass(frozen=True)
class DeliveryRecord:
    """One activity on its way to one inbox."""

    id: int
    activity_uri: str
    inbox: str
    host: str
    signer_id: int
    body: str
    state: str
    attempts: int
    next_attempt_at: str
    claimed_until: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    updated_at: str


def _marks(count: int, start: int = 1) -> str:
    """Return `$start, …` placeholders for an IN list."""
    return ", ".join(f"${i}" for i in range(start, start + count))


def _from_row(row: Row) -> DeliveryRecord:
    return DeliveryRecord(**row)


class DeliveryRepository:
    """Enqueue, claim and settle deliveries."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self, activity_uri: str, body: str, signer_id: int, inboxes: Iterable[tuple[str, str]]
    ) -> int:
        """Queue an activity for each (inbox, host); an (activity, inbox) pair is queued once."""
        stamp = clock.now_text()
        rows = [
            (new_id(), activity_uri, inbox, host, signer_id, body, stamp, stamp, stamp)
            for inbox, host in inboxes
        ]
        if rows:
            await self.db.executemany(
                "INSERT INTO deliveries (id, activity_uri, inbox, host, signer_id, body, "
                "next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                "$8, $9) ON CONFLICT (activity_uri, inbox) DO NOTHING",
                rows,
            )
        return len(rows)

    async def claim_due(self, limit: int, lease: timedelta) -> list[DeliveryRecord]:
        """Claim due deliveries for this worker until the lease ends (a crash frees them)."""
        moment = clock.now()
        now_text = clock.to_text(moment)
        until = clock.to_text(moment + lease)
        async with self.db.transaction() as tx:
            # SKIP LOCKED: several PostgreSQL workers claim disjoint rows without waiting on
            # each other; SQLite has one writer, so its transaction already serialises claims.
            lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
            rows = await tx.fetch(
                "SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1 "
                "AND (claimed_until IS NULL OR claimed_until < $1) "
                f"ORDER BY next_attempt_at LIMIT $2{lock}",
                now_text,
                limit,
            )
            ids = [int(row["id"]) for row in rows]
            if not ids:
                return []
            await tx.execute(
                f"UPDATE deliveries SET claimed_until = $1 WHERE id IN ({_marks(len(ids), 2)})",
                until,
                *ids,
            )
            claimed = await tx.fetch(
                f"SELECT * FROM deliveries WHERE id IN ({_marks(len(ids))})", *ids
            )
        return [_from_row(row) for row in claimed]

    async def release_claims(self) -> int:
        """Free every claim (at start, when this is the instance's only process)."""
        return await self.db.execute(
            "UPDATE deliveries SET claimed_until = NULL "
            "WHERE state = 'pending' AND claimed_until IS NOT NULL"
        )

    async def settle(
        self,
        delivery_id: int,
        *,
        state: str,
        status: int | None,
        error: str | None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record an attempt's outcome and release the claim."""
        stamp = clock.now_text()
        await self.db.execute(
            "UPDATE deliveries SET state = $1, attempts = attempts + 1, last_status = $2, "
            "last_error = $3, next_attempt_at = COALESCE($4, next_attempt_at), "
            "claimed_until = NULL, updated_at = $5 WHERE id = $6",
            state,
            status,
            error,
            clock.to_text(next_attempt_at) if next_attempt_at else None,
            stamp,
            delivery_id,
        )

    async def postpone_host(self, host: str, until: datetime) -> None:
        """Push every pending delivery to a host to a later time (host unavailable)."""
        await self.db.execute(
            "UPDATE deliveries SET next_attempt_at = $1 WHERE host = $2 AND state = 'pending' "
            "AND next_attempt_at < $1",
            clock.to_text(until),
            host,
        )

    async def counts(self) -> dict[str, int]:
        """Return how many deliveries are in each state."""
        rows = await self.db.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
        return {str(row["state"]): int(row["n"]) for row in rows}

    async def next_due_at(self) -> str | None:
        """Return when the next pending delivery is due."""
        value = await self.db.fetchval(
            "SELECT min(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )
        return str(value) if value else None

    async def host_failed(self, host: str, error: str, unavailable_after: timedelta) -> bool:
        """Record a failure for a host; return whether it is now marked unavailable."""
        stamp = clock.now_text()
        await self.db.execute(
            "INSERT INTO hosts (host, failing_since, last_error) VALUES ($1, $2, $3) "
            "ON CONFLICT (host) DO UPDATE SET last_error = excluded.last_error, "
            "failing_since = COALESCE(hosts.failing_since, excluded.failing_since)",
            host,
            stamp,
            error,
        )
        since = await self.db.fetchval("SELECT failing_since FROM hosts WHERE host = $1", host)
        if since and clock.from_text(str(since)) + unavailable_after < clock.now():
            await self.db.execute("UPDATE hosts SET unavailable = 1 WHERE host = $1", host)
            return True
        return False

    async def host_succeeded(self, host: str) -> None:
        """Record that a host answered: it is available again."""
        await self.db.execute(
            "INSERT INTO hosts (host, last_success_at) VALUES ($1, $2) ON CONFLICT (host) "
            "DO UPDATE SET failing_since = NULL, unavailable = 0, "
            "last_success_at = excluded.last_success_at, last_error = NULL",
            host,
            clock.now_text(),
        )

    async def unavailable_hosts(self) -> set[str]:
        """Return hosts marked unavailable."""
        rows = await self.db.fetch("SELECT host FROM hosts WHERE unavailable = 1")
        return {str(row["host"]) for row in rows}
