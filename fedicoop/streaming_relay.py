"""Live events across processes: every process's listeners hear what any process publishes.

With several web processes and workers, the process that stores a post (a worker handling an
inbound Create, say) is rarely the one holding the member's streaming connection. Each event
goes out as one PostgreSQL `NOTIFY` (its payload a reference: ids, never rendered entities),
and every process, itself included, hands what it hears to its own `LocalStreamBus`.
"""

import json
import logging

from fedicoop.storage.signals import MAX_PAYLOAD, STREAM, Signals
from fedicoop.streaming import LocalStreamBus, StreamBus, Subscription

log = logging.getLogger(__name__)


class RelayedStreamBus(StreamBus):
    """A stream bus shared by the processes of one instance over LISTEN/NOTIFY."""

    def __init__(self, signals: Signals, local: LocalStreamBus | None = None) -> None:
        self.signals = signals
        self.local = local or LocalStreamBus()

    async def start(self) -> None:
        """Start hearing other processes' events."""
        await self.signals.listen(STREAM, self._heard)

    async def publish(self, stream: str, event: str, payload: str) -> None:
        message = json.dumps([stream, event, payload], separators=(",", ":"))
        if len(message.encode()) > MAX_PAYLOAD:
            # Too big to relay (never for references): this process's listeners still get it.
            log.warning("stream event too large to relay", extra={"stream": stream})
            await self.local.publish(stream, event, payload)
            return
        await self.signals.notify(STREAM, message)

    def subscribe(self) -> Subscription:
        return self.local.subscribe()

    async def close(self) -> None:
        await self.local.close()

    def _heard(self, message: str) -> None:
        try:
            stream, event, payload = json.loads(message)
        except (ValueError, TypeError):
            log.warning("unreadable stream signal")
            return
        self.local.publish_now(str(stream), str(event), str(payload))
