"""Process persisted inbox activities: parse, dispatch to the registered handler, settle.

Activities are settled in batches, in arrival order, each batch in one transaction (one
commit for up to `together` activities). An activity whose handler needs the network (an
unknown or stale actor, a reply's missing parent) or fails ends its batch: the activities
before it are committed (rolled back and done again first, when the failed one had already
written something), and it is then handled alone, outside any transaction, exactly as
without batches.

Inside a batch, every statement a handler sends joins the batch's transaction and a fetch
raises `FetchDeferred` (see `Database.unit_of_work` and `resolver.offline`); both hold for
the handler's own task only, so handlers must not hand database work to other tasks.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fedicoop import clock
from fedicoop.activitypub.as2 import Activity, InvalidActivity, parse_activity
from fedicoop.activitypub.resolver import offline
from fedicoop.errors import FedicoopError, Unavailable
from fedicoop.instance import Instance
from fedicoop.streaming import StreamBus, Subscription

if TYPE_CHECKING:
    from fedicoop.activitypub.runtime import Federation

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
TOGETHER = 100
# A batch holds SQLite's only write lock: bound it, so intake's group commits wait little.
# PostgreSQL lets intake commit meanwhile; there a batch is bounded so that live events
# (sent after the commit) are not held back long.
# Object types that win when an object has several (see Inbound.object_type).
SPECIFIC_OBJECT_TYPES = frozenset({"Proposal"})
TOGETHER_SECONDS = {"sqlite": 0.05, "postgresql": 0.25}

_SETTLE = (
    "UPDATE inbox SET state = $1, attempts = attempts + 1, error = $2, processed_at = $3, "
    "claimed_until = NULL WHERE id = $4"
)
# How long a worker keeps the batch it claimed: one that dies frees it when the lease ends.
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Inbound:
    """One received activity as handlers see it: parsed, and the raw document beside it."""

    activity: Activity
    document: dict[str, Any]
    raw: str
    sender: str  # the verified signer's actor id (or our own actor for local delivery)
    # What a prefetcher looked up for a run of activities like this one (see add_prefetch).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def object_type(self) -> str | None:
        """Return the type of the embedded object, when one is embedded."""
        embedded = self.document.get("object")
        if not isinstance(embedded, dict):
            return None
        kind = embedded.get("type")
        if isinstance(kind, str):
            return kind
        if isinstance(kind, list):
            # Several types: the most specific one we know decides ("Note" + "Proposal" is a
            # ride that Mastodon can still show as a post).
            names = [k for k in kind if isinstance(k, str)]
            return next(
                (k for k in names if k in SPECIFIC_OBJECT_TYPES), names[0] if names else None
            )
        return None


Handler = Callable[["Federation", Inbound], Awaitable[None]]
Prefetch = Callable[["Federation", list[Inbound]], Awaitable[None]]


class HandlerRegistry:
    """Handlers per (activity type, embedded object type); domain packages plug in here.

    Several packages may register for the same key (an `Accept` of an `Offer` may concern a
    partnership or a ride booking): each is called and ignores what is not its own.
    """

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = {}
        self._prefetch: dict[tuple[str, str | None], Prefetch] = {}

    def add(self, activity_type: str, handler: Handler, object_type: str | None = None) -> None:
        """Register a handler; handlers for a specific object type take precedence."""
        self._handlers.setdefault((activity_type, object_type), []).append(handler)

    def find(self, activity_type: str, object_type: str | None) -> list[Handler]:
        """Return the handlers for an activity, preferring the object-specific ones."""
        return self._handlers.get((activity_type, object_type)) or self._handlers.get(
            (activity_type, None), []
        )

    def add_prefetch(
        self, activity_type: str, prefetch: Prefetch, object_type: str | None = None
    ) -> None:
        """Register a look-up made once for a run of consecutive activities of one kind.

        The prefetch fills the run's shared `Inbound.memo` with what each handler would
        otherwise query one activity at a time. Only the handlers of that same kind run
        while the memo is in use, so it may hold only what they do not change (or what each
        activity changes for itself alone, taken out of the memo when used).
        """
        self._prefetch[(activity_type, object_type)] = prefetch

    def prefetch_for(self, activity_type: str, object_type: str | None) -> Prefetch | None:
        """Return the prefetch for an activity's kind, if one is registered."""
        return self._prefetch.get((activity_type, object_type)) or self._prefetch.get(
            (activity_type, None)
        )


class HeldEvents(StreamBus):
    """Live events held back until the transaction that wrote their rows has committed."""

    def __init__(self, bus: StreamBus) -> None:
        self.bus = bus
        self._held: list[tuple[str, str, str]] = []
        self._mark = 0

    async def publish(self, stream: str, event: str, payload: str) -> None:
        self._held.append((stream, event, payload))

    def subscribe(self) -> Subscription:
        return self.bus.subscribe()

    async def close(self) -> None:
        await self.bus.close()

    def keep(self) -> None:
        """Keep what was published since the last keep (its activity was handled)."""
        self._mark = len(self._held)

    def drop(self) -> None:
        """Forget what was published since the last keep (its activity is handled again)."""
        del self._held[self._mark :]

    async def release(self) -> None:
        """Publish every kept event (after the commit)."""
        held, self._held, self._mark = self._held, [], 0
        for stream, event, payload in held:
            await self.bus.publish(stream, event, payload)


class InboxProcessor:
    """Drain the inbox table in arrival order; each activity is handled once."""

    def __init__(
        self,
        federation: "Federation",
        *,
        batch: int = 200,
        poll: float = 0.5,
        together: int = TOGETHER,
    ) -> None:
        self.federation = federation
        self.instance: Instance = federation.instance
        self.batch = batch
        self.poll = poll
        self.together = together
        self.wakeup = asyncio.Event()

    async def run(self) -> None:
        """Process until cancelled; a database outage pauses it, never ends it."""
        while True:
            try:
                handled = await self.process_pending()
            except Unavailable as outage:
                log.warning("inbox processing paused", extra={"error": outage.message})
                handled = 0
            if handled < self.batch:
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.poll)
                except TimeoutError:
                    pass

    async def process_pending(self) -> int:
        """Handle one batch of pending activities; return how many."""
        rows = await self.claim()
        parsed = [_parsed(row) for row in rows]
        position, alone_at = 0, -1
        while position < len(rows):
            if position == alone_at:
                await self._process(rows[position], parsed[position])
                position += 1
                continue
            end = min(len(rows), alone_at if alone_at > position else len(rows))
            settled, stopped_at = await self._process_together(
                rows[position:end], parsed[position:end]
            )
            if stopped_at is None:
                position += settled
            elif settled == stopped_at:  # committed what came before the one that stopped it
                position += settled
                alone_at = position
            else:  # rolled back: do the ones before it again, then it alone
                alone_at = position + stopped_at
            await asyncio.sleep(0)  # let requests in between batches
        return len(rows)

    async def release_claims(self) -> int:
        """Free every claim (at start, when this is the instance's only process)."""
        return await self.instance.db.execute(
            "UPDATE inbox SET claimed_until = NULL "
            "WHERE state = 'pending' AND claimed_until IS NOT NULL"
        )

    async def claim(self) -> list[dict[str, Any]]:
        """Claim the oldest pending activities no other worker holds, for one lease."""
        now = clock.now()
        db = self.instance.db
        # SKIP LOCKED: several PostgreSQL workers claim disjoint batches without waiting on
        # each other; SQLite has one writer, so the claim is atomic anyway.
        lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
        rows = await db.fetch(
            "UPDATE inbox SET claimed_until = $1 WHERE id IN (SELECT id FROM inbox "
            "WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2) "
            f"ORDER BY id LIMIT $3{lock}) "
            "RETURNING id, activity_uri, actor_uri, raw, attempts",
            clock.to_text(now + LEASE),
            clock.to_text(now),
            self.batch,
        )
        return sorted(rows, key=lambda row: int(row["id"]))

    async def _process_together(
        self, rows: list[dict[str, Any]], parsed: list[Inbound | None]
    ) -> tuple[int, int | None]:
        """Settle leading rows in one transaction.

        Return how many were settled, and the position of the row that stopped the batch
        (None if none did). When that row had changed something before failing, the whole
        batch is rolled back and 0 is returned: the rows before it are done again.
        """
        wanted = parsed[: self.together] if self.together > 1 else []
        inbounds: list[Inbound] = []
        for inbound in wanted:
            if inbound is None:
                break
            inbounds.append(replace(inbound, memo={}))  # what a batch looks up is its own
        if not inbounds:
            return 0, 0
        events = HeldEvents(self.federation.streams)
        federation = self.federation.with_streams(events)
        done: list[int] = []
        # A row that cannot be parsed stops the batch too: _process records why it failed.
        stopped_at: int | None = len(inbounds) if len(inbounds) < len(wanted) else None
        deadline = time.monotonic() + TOGETHER_SECONDS.get(self.instance.db.dialect, 0.05)
        try:
            async with self.instance.db.unit_of_work() as tx:
                with offline() as scope:
                    await self._prefetch(federation, inbounds)
                    for position, inbound in enumerate(inbounds):
                        changes = tx.changes
                        try:
                            await self._dispatch(federation, inbound, rows[position])
                            failed = scope.wanted is not None  # a refused fetch, swallowed
                        except Exception:
                            failed = True
                        if failed:
                            if tx.changes != changes:
                                raise _RollBack(position)
                            # It changed nothing: the rows before it stand.
                            events.drop()
                            stopped_at = position
                            break
                        events.keep()
                        done.append(rows[position]["id"])
                        if time.monotonic() > deadline:
                            stopped_at = None
                            break
                if done:
                    # Settled by the same commit as their effects: one moment for all.
                    moment = clock.now_text()
                    await tx.executemany(_SETTLE, [("done", None, moment, id_) for id_ in done])
        except _RollBack as rollback:
            return 0, rollback.position
        except Exception:
            # The batch itself failed (its commit, say): handle its first row alone.
            log.exception("inbox batch failed; processing one by one")
            return 0, 0
        await events.release()
        return len(done), stopped_at

    async def _prefetch(self, federation: "Federation", inbounds: list[Inbound]) -> None:
        """Run each prefetch once for every run of consecutive activities of its kind."""
        # Made for every batch: between batches, other work may change what was looked up.
        handlers = self.federation.handlers
        start = 0
        while start < len(inbounds):
            kind = _kind(inbounds[start])
            end = start + 1
            while end < len(inbounds) and _kind(inbounds[end]) == kind:
                end += 1
            prefetch = handlers.prefetch_for(*kind)
            if prefetch is not None and end - start > 1:
                memo: dict[Any, Any] = {}
                for position in range(start, end):
                    inbounds[position] = replace(inbounds[position], memo=memo)
                await prefetch(federation, inbounds[start:end])
            start = end

    async def _dispatch(
        self, federation: "Federation", inbound: Inbound, row: dict[str, Any]
    ) -> None:
        """Run every handler registered for an activity."""
        handlers = self.federation.handlers.find(inbound.activity.type, inbound.object_type)
        if not handlers:
            log.info("no handler", extra={"type": inbound.activity.type, "id": row["activity_uri"]})
        for handler in handlers:
            await handler(federation, inbound)

    async def _process(self, row: dict[str, Any], parsed: Inbound | None = None) -> None:
        error: str | None = None
        try:
            inbound = _inbound(row) if parsed is None else replace(parsed, memo={})
            await self._dispatch(self.federation, inbound, row)
        except (InvalidActivity, FedicoopError, ValueError) as failure:
            # Bad input will not get better with retries.
            error = f"{type(failure).__name__}: {failure}"
            state = "failed"
        except Exception as failure:  # a bug or an outage: retry a few times, then park it
            log.exception("inbox handler crashed", extra={"id": row["activity_uri"]})
            error = f"{type(failure).__name__}: {failure}"
            state = "failed" if row["attempts"] + 1 >= MAX_ATTEMPTS else "pending"
        else:
            state = "done"
        await self.instance.db.execute(_SETTLE, state, error, clock.now_text(), row["id"])


class _RollBack(Exception):
    """Leave a batch's transaction without committing: the row at `position` failed."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


def _inbound(row: dict[str, Any]) -> Inbound:
    document = json.loads(row["raw"])
    return Inbound(
        activity=parse_activity(document),
        document=document,
        raw=row["raw"],
        sender=row["actor_uri"],
    )


def _parsed(row: dict[str, Any]) -> Inbound | None:
    """Parse a row, or return None (its handling alone will record why it cannot be)."""
    try:
        return _inbound(row)
    except (InvalidActivity, ValueError):
        return None


def _kind(inbound: Inbound) -> tuple[str, str | None]:
    return inbound.activity.type, inbound.object_type
