"""The federation runtime of one instance: fetcher, resolver, inbox, processor, delivery."""

import asyncio
import copy
import logging
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fedicoop import __version__, clock
from fedicoop.activitypub.as2 import as_list, id_of
from fedicoop.activitypub.delivery import Deliverer
from fedicoop.activitypub.documents import PUBLIC, dumps
from fedicoop.activitypub.fetch import SafeFetcher
from fedicoop.activitypub.inbox import InboxReceiver, InboxWriter
from fedicoop.activitypub.processing import HandlerRegistry, InboxProcessor
from fedicoop.activitypub.resolver import Resolver
from fedicoop.activitypub.signatures import load_private_key, sign_request
from fedicoop.errors import FedicoopError
from fedicoop.ids import new_id
from fedicoop.instance import Instance
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.objects import ActivityRecord, ObjectRepository
from fedicoop.storage.signals import DELIVERY, INBOX, Signals
from fedicoop.streaming import LocalStreamBus, StreamBus
from fedicoop.streaming_relay import RelayedStreamBus

log = logging.getLogger(__name__)

PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})
# How often a worker that is not the maintenance leader checks whether the leader is gone.
LEADER_RETRY_SECONDS = 15.0


class Role(StrEnum):
    """What one process of an instance does."""

    ALL = "all"  # the one process of an instance: web requests, inbox, delivery, maintenance
    WEB = "web"  # one of several: web requests only
    WORKER = "worker"  # one of several: inbox processing, delivery, maintenance (one leads)


@dataclass(frozen=True)
class Outgoing:
    """An activity we send, with where it goes worked out (see `Federation.prepare`)."""

    activity: dict[str, Any]
    signer: ActorRecord
    body: str
    remote_inboxes: set[str]
    local: bool  # local recipients too: handed to our own inbox

    @property
    def uri(self) -> str:
        """Return the activity's id."""
        return str(self.activity["id"])


class Federation:
    """Everything that talks ActivityPub for one instance, and the tasks that keep it moving."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.fetcher = SafeFetcher(
            dev=instance.config.dev,
            user_agent=f"fedicoop/{__version__} (+{instance.config.base_url}/)",
            signer=self._sign_fetch,
        )
        self.resolver = Resolver(instance, self.fetcher)
        self.deliverer = Deliverer(instance, self.fetcher)
        self.writer = InboxWriter(instance)
        self.receiver = InboxReceiver(instance, self.resolver, self.writer)
        self.receiver.unavailable_hosts = self.deliverer.unavailable_hosts
        self.handlers = HandlerRegistry()
        self.processor = InboxProcessor(self)
        # Live events for streaming clients; a LISTEN/NOTIFY bus replaces it for several processes.
        self.streams: StreamBus = LocalStreamBus()
        self.role = Role.ALL
        self.signals = Signals(instance.db, enabled=False)
        self._instance_actor: ActorRecord | None = None
        self._group_actor: ActorRecord | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Domain services that live as long as the runtime (the rides match index…), by type.
        self.components: dict[type, Any] = {}
        # Started with the inbox and delivery loops: (name, coroutine function).
        self.background: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self.startup: list[Callable[[], Awaitable[None]]] = []
        # Loops every process runs, whatever its role (keeping its own caches current).
        self.per_process: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []

    def as_one_of_several(self, role: Role) -> None:
        """Make this runtime one process among several sharing one PostgreSQL database."""
        if self.instance.db.dialect != "postgresql":
            raise FedicoopError("several processes need PostgreSQL (SQLite has one writer)")
        self.role = role
        self.signals = Signals(self.instance.db, enabled=True)
        self.deliverer.signals = self.signals
        self.streams = RelayedStreamBus(self.signals)

    async def start(self) -> None:
        """Load the instance actor and start the loops this process's role runs."""
        await self.instance_actor()
        await self.receiver.refresh_unavailable_hosts()
        if self.instance.db.dialect == "sqlite" and self.role is Role.ALL:
            # The only process of this instance: what it had claimed before a crash (kill -9,
            # power loss) is free again now, not when the lease would end minutes from now.
            await self.processor.release_claims()
            await self.deliverer.queue.release_claims()
        for prepare in self.startup:
            await prepare()
        tasks = [asyncio.create_task(self._wake_processor(), name="inbox-wakeup")]
        if self.signals.enabled:
            if isinstance(self.streams, RelayedStreamBus):
                await self.streams.start()
            tasks.append(asyncio.create_task(self.signals.watch(), name="signals"))
        if self.role is not Role.WEB:
            await self.signals.listen(INBOX, lambda _: self.processor.wakeup.set())
            await self.signals.listen(DELIVERY, lambda _: self.deliverer.wakeup.set())
            tasks += [
                # One worker at a time processes the inbox: two would hold locks on the same
                # hot rows (an author's account_stats, kept by triggers) until their batches
                # commit, and together went six times slower than one (docs/performance.md).
                # Deliveries have no such rows: every worker sends.
                asyncio.create_task(
                    self._led("inbox-processor", self.processor.run), name="inbox-processor"
                ),
                asyncio.create_task(self.deliverer.run(), name="delivery"),
                *(
                    asyncio.create_task(self._led(name, loop), name=name)
                    for name, loop in self.background
                ),
            ]
        tasks += [asyncio.create_task(loop(), name=name) for name, loop in self.per_process]
        self._tasks = tasks

    async def _led(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a maintenance loop in one process only: the one that leads `name`."""
        key = zlib.crc32(f"fedicoop:{name}".encode())
        while True:
            if await self.signals.lead(key):
                await loop()
                return
            # Polled, not awaited on an event: the leader is another process.
            await asyncio.sleep(LEADER_RETRY_SECONDS)

    async def stop(self) -> None:
        """Cancel the loops (claimed work is released by its lease) and close the client."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.signals.close()
        await self.fetcher.close()

    def with_streams(self, streams: StreamBus) -> "Federation":
        """Return this runtime with live events going to `streams` (everything else shared)."""
        view = copy.copy(self)
        view.streams = streams
        return view

    async def _wake_processor(self) -> None:
        while True:
            await self.writer.stored.wait()
            self.writer.stored.clear()
            self.processor.wakeup.set()
            await self.signals.notify(INBOX)  # workers in other processes, if any

    async def instance_actor(self) -> ActorRecord:
        """Return the Application actor that signs our fetches."""
        if self._instance_actor is None:
            actors = await ActorRepository(self.instance.db).local_by_type("Application")
            if not actors:
                raise FedicoopError("this instance has no instance actor; re-run fedicoop init")
            self._instance_actor = actors[0]
        return self._instance_actor

    async def group_actor(self) -> ActorRecord:
        """Return the co-op's Group actor (its id, URLs and keys never change while running)."""
        if self._group_actor is None:
            actor = await ActorRepository(self.instance.db).by_handle(
                self.instance.config.handle, self.instance.domain
            )
            if actor is None:
                raise FedicoopError("this instance has no co-op Group")
            self._group_actor = actor
        return self._group_actor

    def _sign_fetch(self, method: str, url: str, body: bytes | None) -> Mapping[str, str]:
        """Sign a GET with the instance actor's key (authorized fetch)."""
        actor = self._instance_actor
        if actor is None or actor.private_key_pem is None or actor.key_id is None:
            return {}
        headers = sign_request(
            method, url, key_id=actor.key_id, private_key=load_private_key(actor.private_key_pem)
        )
        headers.pop("Host", None)  # aiohttp sets Host itself, to the same value
        return headers

    def new_activity_uri(self) -> str:
        """Return a fresh id for an activity we send."""
        return self.instance.urls.activity(new_id())

    async def publish(
        self,
        activity: dict[str, Any],
        signer: ActorRecord,
        *,
        extra_recipients: Iterable[ActorRecord] = (),
        store: bool = True,
    ) -> str:
        """Store an activity we send and queue it for every addressed inbox (local ones too)."""
        outgoing = await self.prepare(activity, signer, extra_recipients=extra_recipients)
        async with self.instance.db.unit_of_work():
            await self.send_prepared(outgoing, store=store)
        self.wake_senders()
        return outgoing.uri

    async def prepare(
        self,
        activity: dict[str, Any],
        signer: ActorRecord,
        *,
        extra_recipients: Iterable[ActorRecord] = (),
    ) -> "Outgoing":
        """Work out where an activity goes (this may fetch recipients: do it outside writes)."""
        remote_inboxes, local_actor_ids = await self.recipients(activity, signer)
        for actor in extra_recipients:
            if actor.local:
                local_actor_ids.add(actor.id)
            elif actor.delivery_inbox:
                remote_inboxes.add(actor.delivery_inbox)
        local = bool(local_actor_ids - {signer.id}) or self._addresses_local_followers(
            activity, signer
        )
        return Outgoing(activity, signer, dumps(activity), remote_inboxes, local)

    async def send_prepared(self, outgoing: "Outgoing", *, store: bool = True) -> None:
        """Store and queue a prepared activity: database writes only, so that the caller can
        make them one transaction with the change the activity tells of (a crash between a
        post and its deliveries would leave a post nobody else ever sees)."""
        activity, signer = outgoing.activity, outgoing.signer
        if store:
            await ObjectRepository(self.instance.db).insert_activity(
                ActivityRecord(
                    uri=activity["id"],
                    type=activity["type"],
                    actor_uri=signer.uri,
                    object_uri=id_of(activity.get("object")),
                    local=True,
                    raw=outgoing.body,
                )
            )
        await self.deliverer.enqueue(outgoing.uri, outgoing.body, signer, outgoing.remote_inboxes)
        if outgoing.local:
            await self.deliver_locally(outgoing.uri, signer.uri, outgoing.body)

    def wake_senders(self) -> None:
        """Wake the delivery and inbox loops (after a commit that queued work for them)."""
        self.deliverer.wakeup.set()
        self.processor.wakeup.set()

    def _addresses_local_followers(self, activity: dict[str, Any], signer: ActorRecord) -> bool:
        targets = {*as_list(activity.get("to")), *as_list(activity.get("cc"))}
        return signer.followers_uri in targets

    async def deliver_locally(self, activity_uri: str, actor_uri: str, body: str) -> None:
        """Hand an activity to our own inbox pipeline, past the checks (we made it)."""
        await self.instance.db.execute(
            "INSERT INTO inbox (id, activity_uri, actor_uri, raw, received_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (activity_uri) DO NOTHING",
            new_id(),
            activity_uri,
            actor_uri,
            body,
            clock.now_text(),
        )
        self.processor.wakeup.set()

    async def recipients(
        self, activity: dict[str, Any], signer: ActorRecord
    ) -> tuple[set[str], set[int]]:
        """Expand to/cc/bto/bcc/audience into remote inboxes and local actor ids."""
        addresses: set[str] = set()
        for field in ("to", "cc", "bto", "bcc", "audience"):
            addresses.update(str(a) for a in as_list(activity.get(field)) if isinstance(a, str))
        embedded = activity.get("object")
        if isinstance(embedded, dict):
            for field in ("to", "cc", "audience"):
                addresses.update(str(a) for a in as_list(embedded.get(field)) if isinstance(a, str))
        inboxes: set[str] = set()
        local_ids: set[int] = set()
        follows = FollowRepository(self.instance.db)
        for address in addresses - PUBLIC_ALIASES:
            if address == signer.followers_uri:
                inboxes.update(await follows.remote_follower_inboxes(signer.id))
                local_ids.update(await follows.local_follower_ids(signer.id))
                continue
            if address.endswith("/followers"):
                continue  # someone else's followers: their server delivers to them
            try:
                actor = await self.resolver.actor(address)
            except FedicoopError:
                log.info("unresolvable recipient", extra={"address": address})
                continue
            if actor.local:
                local_ids.add(actor.id)
            elif actor.delivery_inbox:
                inboxes.add(actor.delivery_inbox)
        return inboxes, local_ids
