"""Signals between the processes of one instance, over PostgreSQL `LISTEN`/`NOTIFY`.

A co-op that outgrows one process runs several web processes and several workers against
one PostgreSQL (`fedicoop serve --workers N`, `fedicoop worker`). What one process writes,
another must hear of at once: an activity stored by a web process wakes a worker's inbox
processor, a delivery queued anywhere wakes the deliverers, a live event reaches the web
process that holds the streaming client, a ride stored by a worker enters every web
process's match index. The database stays the truth: a lost signal only delays work until
the next poll. `lead` elects the one process that runs periodic maintenance (a session
advisory lock: freed when its holder dies, taken over on the next try).

On SQLite an instance is one process: `Signals` is inert there.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from fedicoop.storage.database import Database

log = logging.getLogger(__name__)

INBOX = "fedicoop_inbox"
DELIVERY = "fedicoop_delivery"
STREAM = "fedicoop_stream"
RIDES = "fedicoop_rides"
# Maximum NOTIFY payload is 8000 bytes; ours carry ids and stream references.
MAX_PAYLOAD = 7900
Listener = Callable[[str], None]


class Signals:
    """Notify other processes, listen to them, and elect a maintenance leader."""

    def __init__(self, db: Database, *, enabled: bool) -> None:
        self.db = db
        self.enabled = enabled and db.dialect == "postgresql"
        self._listeners: dict[str, list[Listener]] = {}
        self._connection: Any = None
        self._leading: set[int] = set()
        self._lock = asyncio.Lock()

    async def notify(self, channel: str, payload: str = "") -> None:
        """Tell every listening process (after the current transaction commits, if any)."""
        if not self.enabled:
            return
        if len(payload.encode()) > MAX_PAYLOAD:
            raise ValueError(f"signal payload too large for {channel}")
        await self.db.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, listener: Listener) -> None:
        """Call `listener(payload)` for every signal on `channel` from any process."""
        if not self.enabled:
            return
        async with self._lock:
            connection = await self._ensure_connection()
            first = channel not in self._listeners
            self._listeners.setdefault(channel, []).append(listener)
            if first:
                await connection.add_listener(channel, self._dispatch)

    async def lead(self, role: int) -> bool:
        """Return whether this process holds the leadership of `role` (tries to take it)."""
        if not self.enabled:
            return True
        if role in self._leading:
            return True
        try:
            async with self._lock:
                connection = await self._ensure_connection()
                if await connection.fetchval("SELECT pg_try_advisory_lock($1)", role):
                    self._leading.add(role)
                    return True
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            log.warning("cannot reach PostgreSQL to elect a leader", extra={"error": str(error)})
        return False

    async def watch(self, every: float = 5.0) -> None:
        """Reconnect a lost listening connection (runs for the life of the process)."""
        while True:
            await asyncio.sleep(every)
            if self._listeners and (self._connection is None or self._connection.is_closed()):
                try:
                    async with self._lock:
                        await self._ensure_connection()
                    log.info("signals connection restored")
                except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                    log.warning("signals connection still down", extra={"error": str(error)})

    async def close(self) -> None:
        """Stop listening (and give up any leadership)."""
        connection, self._connection = self._connection, None
        self._leading.clear()
        if connection is not None:
            await connection.close()

    async def _ensure_connection(self) -> Any:
        if self._connection is None or self._connection.is_closed():
            self._leading.clear()
            self._connection = await asyncpg.connect(self.db.url, timeout=10)
            self._connection.add_termination_listener(self._lost)
            for channel in self._listeners:
                await self._connection.add_listener(channel, self._dispatch)
        return self._connection

    def _lost(self, connection: Any) -> None:
        # Polling carries on meanwhile; the next listen or lead reconnects.
        log.warning("signals connection lost; relying on polling until it is back")
        self._leading.clear()

    def _dispatch(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        for listener in self._listeners.get(channel, ()):
            try:
                listener(payload)
            except Exception:
                log.exception("signal listener failed", extra={"channel": channel})
