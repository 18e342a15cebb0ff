"""Process persisted inbox activities: parse, dispatch to the registered handler, settle."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fedicoop import clock
from fedicoop.activitypub.as2 import Activity, InvalidActivity, parse_activity
from fedicoop.errors import FedicoopError
from fedicoop.instance import Instance

if TYPE_CHECKING:
    from fedicoop.activitypub.runtime import Federation

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Inbound:
    """One received activity as handlers see it: parsed, and the raw document beside it."""

    activity: Activity
    document: dict[str, Any]
    raw: str
    sender: str  # the verified signer's actor id (or our own actor for local delivery)

    @property
    def object_type(self) -> str | None:
        """Return the type of the embedded object, when one is embedded."""
        embedded = self.document.get("object")
        if isinstance(embedded, dict) and isinstance(embedded.get("type"), str):
            return str(embedded["type"])
        return None


Handler = Callable[["Federation", Inbound], Awaitable[None]]


class HandlerRegistry:
    """Handlers per (activity type, embedded object type); domain packages plug in here.

    Several packages may register for the same key (an `Accept` of an `Offer` may concern a
    partnership or a ride booking): each is called and ignores what is not its own.
    """

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = {}

    def add(self, activity_type: str, handler: Handler, object_type: str | None = None) -> None:
        """Register a handler; handlers for a specific object type take precedence."""
        self._handlers.setdefault((activity_type, object_type), []).append(handler)

    def find(self, activity_type: str, object_type: str | None) -> list[Handler]:
        """Return the handlers for an activity, preferring the object-specific ones."""
        return self._handlers.get((activity_type, object_type)) or self._handlers.get(
            (activity_type, None), []
        )


class InboxProcessor:
    """Drain the inbox table in arrival order; each activity is handled once."""

    def __init__(self, federation: "Federation", *, batch: int = 200, poll: float = 0.5) -> None:
        self.federation = federation
        self.instance: Instance = federation.instance
        self.batch = batch
        self.poll = poll
        self.wakeup = asyncio.Event()

    async def run(self) -> None:
        """Process until cancelled."""
        while True:
            handled = await self.process_pending()
            if handled < self.batch:
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.poll)
                except TimeoutError:
                    pass

    async def process_pending(self) -> int:
        """Handle one batch of pending activities; return how many."""
        rows = await self.instance.db.fetch(
            "SELECT id, activity_uri, actor_uri, raw, attempts FROM inbox "
            "WHERE state = 'pending' ORDER BY id LIMIT $1",
            self.batch,
        )
        for row in rows:
            await self._process(row)
        return len(rows)

    async def _process(self, row: dict[str, Any]) -> None:
        error: str | None = None
        try:
            document = json.loads(row["raw"])
            inbound = Inbound(
                activity=parse_activity(document),
                document=document,
                raw=row["raw"],
                sender=row["actor_uri"],
            )
            handlers = self.federation.handlers.find(inbound.activity.type, inbound.object_type)
            if not handlers:
                log.info(
                    "no handler", extra={"type": inbound.activity.type, "id": row["activity_uri"]}
                )
            for handler in handlers:
                await handler(self.federation, inbound)
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
        await self.instance.db.execute(
            "UPDATE inbox SET state = $1, attempts = attempts + 1, error = $2, processed_at = $3 "
            "WHERE id = $4",
            state,
            error,
            clock.now_text(),
            row["id"],
        )
