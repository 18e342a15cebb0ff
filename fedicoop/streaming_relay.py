"""Live events across processes: every process's listeners hear what any process publishes.

With several web processes and workers, the process that stores a post (a worker handling an
inbound Create, say) is rarely the one holding the member's streaming connection. Each event
goes out as one PostgreSQL `NOTIFY` (its payload a reference: ids, never rendered entities),
and every process, itself included, hands what it hears to its own `LocalStreamBus`.
"""

import asyncio
import json
import logging

from fedicoop.errors import FedicoopError
from fedicoop.storage.signals import MAX_PAYLOAD, STREAM, Signals
from fedicoop.streaming import LocalStreamBus, StreamBus, Subscription

log = logging.getLogger(__name__)


class RelayedStreamBus(StreamBus):
    """A stream bus shared by the processes of one instance over LISTEN/NOTIFY.

    Events published in the same moment (a processed batch of activities releases dozens)
    travel together, as one `NOTIFY` carrying a JSON array: a round trip per event would
    cost more than handling the activity did.
    """

    def __init__(self, signals: Signals, local: LocalStreamBus | None = None) -> None:
        self.signals = signals
        self.local = local or LocalStreamBus()
        self._pending: list[list[str]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start hearing other processes' events."""
        await self.signals.listen(STREAM, self._heard)

    async def publish(self, stream: str, event: str, payload: str) -> None:
        self._pending.append([stream, event, payload])
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the rest of this moment's events join
        while self._pending:
            batch, size = [], 2
            while self._pending:
                encoded = len(json.dumps(self._pending[0], separators=(",", ":")).encode()) + 1
                if encoded + 2 > MAX_PAYLOAD:
                    # Too big to relay (never for references): this process still gets it.
                    stream, event, payload = self._pending.pop(0)
                    log.warning("stream event too large to relay", extra={"stream": stream})
                    self.local.publish_now(stream, event, payload)
                    continue
                if size + encoded > MAX_PAYLOAD:
                    break
                batch.append(self._pending.pop(0))
                size += encoded
            if batch:
                try:
                    await self.signals.notify(STREAM, json.dumps(batch, separators=(",", ":")))
                except FedicoopError as error:
                    # Live events are best effort; clients refresh their timelines.
                    log.warning("stream events not relayed", extra={"error": error.message})

    def subscribe(self) -> Subscription:
        return self.local.subscribe()

    async def close(self) -> None:
        await self.local.close()

    def _heard(self, message: str) -> None:
        try:
            events = json.loads(message)
        except ValueError:
            log.warning("unreadable stream signal")
            return
        for item in events if isinstance(events, list) else []:
            if isinstance(item, list) and len(item) == 3:
                stream, event, payload = item
                self.local.publish_now(str(stream), str(event), str(payload))
