"""Outgoing delivery: a durable queue drained by a worker that signs, posts and retries.

The lifecycle is data (DELIVERY_TRANSITIONS); the retry schedule is a pure function
(`retry_delay`), so both can be read and tested without a network.
"""

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from fedicoop import clock
from fedicoop.activitypub.documents import ACTIVITY_JSON
from fedicoop.activitypub.fetch import FetchError, SafeFetcher
from fedicoop.activitypub.signatures import load_private_key, sign_request
from fedicoop.errors import Conflict, Unavailable
from fedicoop.instance import Instance
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.deliveries import DeliveryRecord, DeliveryRepository
from fedicoop.storage.signals import DELIVERY, Signals

log = logging.getLogger(__name__)


class DeliveryState(StrEnum):
    """Where one (activity, inbox) delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset(
        {DeliveryState.PENDING, DeliveryState.DELIVERED, DeliveryState.FAILED}
    ),
    DeliveryState.DELIVERED: frozenset(),
    DeliveryState.FAILED: frozenset(),
}

BASE_DELAY = 30.0
# Long enough that a peer down for a two-day weekend gets everything when it is back.
GIVE_UP_AFTER = timedelta(days=4)
HOST_UNAVAILABLE_AFTER = timedelta(days=3)
LEASE = timedelta(minutes=2)
UNAVAILABLE_PROBE = timedelta(hours=6)
SHUTDOWN_GRACE = 5.0
# 401 (key not yet known), 408 (timeout) and 429 (slow down) are worth retrying; other 4xx
# mean the receiver will never take this activity.
RETRYABLE_4XX = frozenset({401, 408, 429})


def check_transition(current: DeliveryState, target: DeliveryState) -> None:
    """Raise Conflict on an illegal delivery state change."""
    if target not in DELIVERY_TRANSITIONS[current]:
        raise Conflict(f"a delivery that is {current} cannot become {target}")


def retry_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Return seconds until the next try: jittered exponential backoff, or what the peer asked."""
    exponential: float = BASE_DELAY * 2.0 ** min(attempt, 16)
    jittered = exponential * (0.75 + rng.random() / 2)
    if retry_after is not None:
        return float(max(retry_after, BASE_DELAY / 2))
    return min(jittered, 12 * 3600)


def outcome_of(status: int | None) -> DeliveryState:
    """Map an HTTP status (None: network failure) to the next state before give-up rules."""
    if status is not None and 200 <= status < 300:
        return DeliveryState.DELIVERED
    if status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
        return DeliveryState.FAILED
    return DeliveryState.PENDING


def host_of(url: str) -> str:
    """Return host[:port] of a URL, the unit of per-host concurrency and health."""
    return urlsplit(url).netloc.lower()


class Deliverer:
    """Puts activities in the queue and drains it."""

    def __init__(
        self,
        instance: Instance,
        fetcher: SafeFetcher,
        *,
        concurrency: int = 32,
        per_host: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        self.instance = instance
        self.fetcher = fetcher
        self.queue = DeliveryRepository(instance.db)
        self.concurrency = concurrency
        self.per_host = per_host
        self.poll_interval = poll_interval
        self.wakeup = asyncio.Event()
        self._host_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.per_host)
        )
        self._rng = random.Random()
        self._signers: dict[int, ActorRecord] = {}
        # Hosts given up on for now; shared with the inbox, which revives a host that writes to us.
        self.unavailable_hosts: set[str] = set()
        self.signals = Signals(instance.db, enabled=False)

    async def enqueue(
        self, activity_uri: str, body: str, signer: ActorRecord, inboxes: Iterable[str]
    ) -> int:
        """Queue an activity for every distinct remote inbox (shared inboxes already collapsed)."""
        own = self.instance.config.base_url
        targets = sorted({inbox for inbox in inboxes if inbox and not inbox.startswith(own + "/")})
        count = await self.queue.enqueue(
            activity_uri, body, signer.id, [(inbox, host_of(inbox)) for inbox in targets]
        )
        if count:
            self.wakeup.set()
            # Deliverers in other processes (`fedicoop worker`) hear of it at once.
            await self.signals.notify(DELIVERY)
        return count

    async def run(self) -> None:
        """Drain the queue until cancelled; wake early when something is enqueued."""
        running: set[asyncio.Task[None]] = set()
        try:
            await self._loop(running)
        finally:
            # On shutdown, let attempts in flight settle (a POST that succeeded must not be
            # sent again after a restart); what does not finish in time is released by its lease.
            if running:
                _, pending = await asyncio.wait(running, timeout=SHUTDOWN_GRACE)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _loop(self, running: set[asyncio.Task[None]]) -> None:
        while True:
            free = self.concurrency - len(running)
            try:
                batch = await self.queue.claim_due(free, LEASE) if free > 0 else []
            except Unavailable as outage:
                # The database is away: nothing is lost (the queue is in it); try again soon.
                log.warning("delivery paused", extra={"error": outage.message})
                batch = []
            for delivery in batch:
                task = asyncio.create_task(self._attempt(delivery))
                running.add(task)
                task.add_done_callback(running.discard)
            if len(batch) < free:
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.poll_interval)
                except TimeoutError:
                    pass
            elif running:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    async def drain_once(self) -> int:
        """Attempt every due delivery once (for commands and tests); return how many."""
        batch = await self.queue.claim_due(10_000, LEASE)
        await asyncio.gather(*(self._attempt(delivery) for delivery in batch))
        return len(batch)

    async def _signer(self, signer_id: int) -> ActorRecord | None:
        if signer_id not in self._signers:
            actor = await ActorRepository(self.instance.db).get(signer_id)
            if actor is None or not actor.private_key_pem:
                return None
            self._signers[signer_id] = actor
        return self._signers[signer_id]

    async def _attempt(self, delivery: DeliveryRecord) -> None:
        signer = await self._signer(delivery.signer_id)
        if signer is None or signer.private_key_pem is None or signer.key_id is None:
            await self._settle(delivery, DeliveryState.FAILED, None, "signer has no key")
            return
        body = delivery.body.encode()
        status: int | None = None
        retry_after: float | None = None
        error: str | None = None
        async with self._host_slots[delivery.host]:
            headers = sign_request(
                "POST",
                delivery.inbox,
                key_id=signer.key_id,
                private_key=load_private_key(signer.private_key_pem),
                body=body,
                content_type=ACTIVITY_JSON,
            )
            try:
                result = await self.fetcher.post(delivery.inbox, body, headers)
                status, retry_after = result.status, result.retry_after
                if status >= 300:
                    error = result.body[:200].decode("utf-8", "replace")
            except FetchError as failure:
                error = failure.reason
        state = outcome_of(status)
        if state is DeliveryState.DELIVERED:
            await self.queue.host_succeeded(delivery.host)
        elif status is None or status >= 500:
            unavailable = await self.queue.host_failed(
                delivery.host, error or str(status), HOST_UNAVAILABLE_AFTER
            )
            if unavailable:
                # Days of failure: stop hammering it; one probe every few hours, and any
                # activity it sends us marks it available again (see InboxReceiver).
                log.warning("host marked unavailable", extra={"host": delivery.host})
                self.unavailable_hosts.add(delivery.host)
                await self.queue.postpone_host(delivery.host, clock.now() + UNAVAILABLE_PROBE)
        await self._settle(delivery, state, status, error, retry_after)

    async def _settle(
        self,
        delivery: DeliveryRecord,
        state: DeliveryState,
        status: int | None,
        error: str | None,
        retry_after: float | None = None,
    ) -> None:
        check_transition(DeliveryState(delivery.state), state)
        next_at = None
        if state is DeliveryState.PENDING:
            age = clock.now() - clock.from_text(delivery.created_at)
            if age > GIVE_UP_AFTER:
                state = DeliveryState.FAILED
                error = f"gave up after {delivery.attempts + 1} attempts: {error}"
            else:
                delay = retry_delay(delivery.attempts, retry_after, self._rng)
                next_at = clock.now() + timedelta(seconds=delay)
        await self.queue.settle(
            delivery.id, state=state, status=status, error=error, next_attempt_at=next_at
        )
        log.info(
            "delivery",
            extra={
                "inbox": delivery.inbox,
                "activity": delivery.activity_uri,
                "state": str(state),
                "status": status,
                "error": error,
            },
        )
