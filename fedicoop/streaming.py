"""Live events for streaming clients: services publish, interfaces subscribe.

A stream names an audience: `user:<account id>`, `public`, `public:local`, `public:remote`,
`hashtag:<tag>`, `hashtag:local:<tag>`. An event carries a *reference* (a status, boost or
notification id), never a rendered entity: each subscriber renders it for its own viewer
(favourited and bookmarked flags differ per person), the domain never imports the API layer,
and a reference fits a PostgreSQL NOTIFY payload (8000 bytes) when a LISTEN/NOTIFY backend
replaces `LocalStreamBus` for several processes.

Delivery is best effort, as on Mastodon: a client that falls behind loses events (and
refreshes its timeline), it never makes the publisher wait.
"""

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from types import TracebackType

log = logging.getLogger(__name__)

PUBLIC = "public"
PUBLIC_LOCAL = "public:local"
PUBLIC_REMOTE = "public:remote"
# Events a slow client may fall behind by before new ones are dropped for it.
QUEUE_SIZE = 1000


def user_stream(account_id: int) -> str:
    """Return the stream of one member: home timeline updates and notifications."""
    return f"user:{account_id}"


def hashtag_stream(tag: str, *, local: bool = False) -> str:
    """Return the stream of public posts with a hashtag (only this server's, when local)."""
    return f"hashtag:local:{tag.lower()}" if local else f"hashtag:{tag.lower()}"


@dataclass(frozen=True)
class StreamEvent:
    """One published event: `update`, `status.update`, `delete` or `notification`."""

    stream: str
    event: str
    payload: str


class Subscription(ABC):
    """One listener's view of the bus: the streams it follows and the events waiting for it."""

    @property
    @abstractmethod
    def streams(self) -> frozenset[str]:
        """Return the streams this subscription receives."""

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Return whether the subscription ended (listener left, or the bus shut down)."""

    @abstractmethod
    def add(self, stream: str) -> None:
        """Start receiving a stream."""

    @abstractmethod
    def discard(self, stream: str) -> None:
        """Stop receiving a stream."""

    @abstractmethod
    async def next(self, within: float) -> StreamEvent | None:
        """Return the next event, or None after `within` seconds or once closed."""

    @abstractmethod
    async def close(self) -> None:
        """Leave every stream; a waiting `next` returns None."""

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()


class StreamBus(ABC):
    """Where services announce events; one per instance."""

    @abstractmethod
    async def publish(self, stream: str, event: str, payload: str) -> None:
        """Hand an event to everyone subscribed to `stream` right now."""

    @abstractmethod
    def subscribe(self) -> Subscription:
        """Return a new subscription to no stream yet (use it as an async context manager)."""

    @abstractmethod
    async def close(self) -> None:
        """End every subscription (at shutdown, so streaming handlers return)."""


class LocalSubscription(Subscription):
    """A subscription to the in-process bus: an asyncio queue of bounded size."""

    def __init__(self, bus: "LocalStreamBus", queue_size: int) -> None:
        self._bus = bus
        self._streams: set[str] = set()
        self._queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(queue_size)
        self._closed = False
        self.dropped = 0

    @property
    def streams(self) -> frozenset[str]:
        return frozenset(self._streams)

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, stream: str) -> None:
        if not self._closed:
            self._streams.add(stream)
            self._bus._listeners[stream].add(self)

    def discard(self, stream: str) -> None:
        self._streams.discard(stream)
        self._bus._forget(stream, self)

    def deliver(self, event: StreamEvent) -> None:
        """Queue an event without waiting; drop it when the listener is too far behind."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("streaming client too slow: dropping events")

    async def next(self, within: float) -> StreamEvent | None:
        if self._closed and self._queue.empty():
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), within)
        except TimeoutError:
            return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stream in tuple(self._streams):
            self.discard(stream)
        self._bus._subscriptions.discard(self)
        # Wake a listener blocked in next(); a full queue is drained by the check above.
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            pass


class LocalStreamBus(StreamBus):
    """The bus of a single process: publishing puts events straight into listeners' queues."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._listeners: defaultdict[str, set[LocalSubscription]] = defaultdict(set)
        self._subscriptions: set[LocalSubscription] = set()

    async def publish(self, stream: str, event: str, payload: str) -> None:
        self.publish_now(stream, event, payload)

    def publish_now(self, stream: str, event: str, payload: str) -> None:
        """Put an event in its listeners' queues (never waits: callable from a callback)."""
        listeners = self._listeners.get(stream)
        if not listeners:
            return
        published = StreamEvent(stream, event, payload)
        for subscription in tuple(listeners):
            subscription.deliver(published)

    def subscribe(self) -> LocalSubscription:
        subscription = LocalSubscription(self, self._queue_size)
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            await subscription.close()

    def listener_count(self, stream: str | None = None) -> int:
        """Return how many subscriptions receive a stream (or exist at all)."""
        if stream is None:
            return len(self._subscriptions)
        return len(self._listeners.get(stream, ()))

    def _forget(self, stream: str, subscription: LocalSubscription) -> None:
        listeners = self._listeners.get(stream)
        if listeners is not None:
            listeners.discard(subscription)
            if not listeners:
                del self._listeners[stream]
