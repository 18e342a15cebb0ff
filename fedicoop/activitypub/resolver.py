"""Find remote actors and objects: from the database, or fetched through the safe fetcher."""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fedicoop import clock
from fedicoop.activitypub.as2 import Actor, InvalidActivity, parse_actor, same_origin
from fedicoop.activitypub.fetch import FetchedDocument, FetchError, SafeFetcher
from fedicoop.activitypub.sanitize import sanitize_html
from fedicoop.errors import Invalid, NotFound
from fedicoop.instance import Instance
from fedicoop.storage.actors import ActorRecord, ActorRepository

log = logging.getLogger(__name__)

# A forged signature must not make us hammer the key's server: one refetch per key per window.
KEY_REFETCH_INTERVAL = 300.0
KEY_CACHE_SIZE = 10_000
KEY_CACHE_SECONDS = 600.0
# A cached remote actor is refreshed when older than this.
ACTOR_MAX_AGE = 24 * 3600


class FetchDeferred(Exception):
    """A fetch was needed where the network must not be used (inside a batch transaction)."""


@dataclass
class OfflineScope:
    """A block of one task that must not touch the network; records whether it tried to."""

    task: "asyncio.Task[Any] | None"
    wanted: str | None = None


# Inbox processing settles many activities in one transaction; SQLite has one writer, so a
# fetch inside it would make every other writer wait for a remote server.
_OFFLINE: ContextVar[OfflineScope | None] = ContextVar("fedicoop_offline", default=None)


@contextmanager
def offline() -> Iterator[OfflineScope]:
    """Forbid fetches in the current task (not in tasks it starts) until the block ends."""
    scope = OfflineScope(asyncio.current_task())
    token = _OFFLINE.set(scope)
    try:
        yield scope
    finally:
        _OFFLINE.reset(token)


def before_fetch(url: str) -> None:
    """Raise FetchDeferred when the current task is inside an `offline()` block."""
    scope = _OFFLINE.get()
    if scope is not None and scope.task is asyncio.current_task():
        # Recorded too, in case a caller swallows the exception and carries on without it.
        scope.wanted = url
        raise FetchDeferred(url)


class Resolver:
    """Look up actors by id, key id or handle; fetch what we do not have."""

    def __init__(self, instance: Instance, fetcher: SafeFetcher) -> None:
        self.instance = instance
        self.fetcher = fetcher
        self._key_refetched: dict[str, float] = {}
        # Every signed POST names a key; most come from the same few hundred servers' actors.
        self._keys: OrderedDict[str, tuple[float, ActorRecord]] = OrderedDict()

    async def actor(self, uri: str, *, refresh: bool = False) -> ActorRecord:
        """Return an actor, fetching (and storing) it when unknown, stale or asked to."""
        stored = await ActorRepository(self.instance.db).by_uri(uri)
        if stored and (stored.local or not (refresh or _stale(stored))):
            return stored
        before_fetch(uri)
        try:
            document = await self.fetcher.get_activity(uri)
        except FetchError as error:
            if stored:
                return stored
            raise NotFound(f"cannot fetch actor {uri}: {error.reason}") from error
        return await self.store_actor(document)

    async def store_actor(self, document: FetchedDocument) -> ActorRecord:
        """Parse a fetched actor document and store it."""
        try:
            parsed = parse_actor(document.data)
        except InvalidActivity as error:
            raise Invalid(f"not an actor: {error}") from error
        return await ActorRepository(self.instance.db).upsert_remote(
            actor_record(parsed, document.body.decode("utf-8", "replace"))
        )

    async def actor_for_key(self, key_id: str, *, refresh: bool = False) -> ActorRecord:
        """Return the actor owning a key id; refetch once per interval when asked to."""
        if not refresh:
            cached = self._keys.get(key_id)
            if cached and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
                self._keys.move_to_end(key_id)
                return cached[1]
        actors = ActorRepository(self.instance.db)
        stored = await actors.by_key_id(key_id)
        if stored and not refresh:
            self._remember_key(key_id, stored)
            return stored
        owner_uri = key_id.split("#", 1)[0]
        if stored and refresh:
            last = self._key_refetched.get(key_id)
            if last is not None and time.monotonic() - last < KEY_REFETCH_INTERVAL:
                return stored
            before_fetch(owner_uri)  # before the refetch counts against the interval
            self._key_refetched[key_id] = time.monotonic()
        before_fetch(owner_uri)
        try:
            document = await self.fetcher.get_activity(owner_uri)
        except FetchError as error:
            raise NotFound(f"cannot fetch key {key_id}: {error.reason}") from error
        data = document.data
        if data.get("type") in ("Key", "CryptographicKey") and isinstance(data.get("owner"), str):
            # GoToSocial-style key documents: the owner holds the key; fetch the owner.
            if not same_origin(data["owner"], key_id):
                raise Invalid(f"key {key_id} claims an owner on another origin")
            actor = await self.actor(data["owner"], refresh=True)
        else:
            actor = await self.store_actor(document)
        if actor.key_id != key_id:
            raise NotFound(f"actor {actor.uri} does not publish key {key_id}")
        self._remember_key(key_id, actor)
        return actor

    def _remember_key(self, key_id: str, actor: ActorRecord) -> None:
        self._keys[key_id] = (time.monotonic(), actor)
        self._keys.move_to_end(key_id)
        while len(self._keys) > KEY_CACHE_SIZE:
            self._keys.popitem(last=False)

    async def webfinger(self, acct: str) -> str:
        """Resolve user@host to an actor id through WebFinger."""
        handle = acct.removeprefix("acct:").lstrip("@")
        username, _, host = handle.partition("@")
        if not username or not host:
            raise Invalid(f"not a handle: {acct!r} (expected user@host)", field="acct")
        local = await ActorRepository(self.instance.db).by_handle(username, host)
        if local and (local.local or not _stale(local)):
            return local.uri
        scheme = "http" if self.instance.config.dev else "https"
        url = f"{scheme}://{host}/.well-known/webfinger?resource={quote('acct:' + handle)}"
        before_fetch(url)
        try:
            document = await self.fetcher.get_json(
                url, accept="application/jrd+json, application/json"
            )
        except FetchError as error:
            raise NotFound(f"cannot find {handle}: {error.reason}") from error
        for link in document.data.get("links", []):
            if (
                isinstance(link, dict)
                and link.get("rel") == "self"
                and isinstance(link.get("href"), str)
                and (link.get("type") or "").startswith(
                    ("application/activity+json", "application/ld+json")
                )
            ):
                return str(link["href"])
        raise NotFound(f"{handle} has no ActivityPub actor")

    async def actor_by_handle(self, acct: str) -> ActorRecord:
        """Resolve and fetch the actor behind user@host."""
        return await self.actor(await self.webfinger(acct))


def _stale(actor: ActorRecord) -> bool:
    if actor.local or not actor.fetched_at:
        return False
    return (clock.now() - clock.from_text(actor.fetched_at)).total_seconds() > ACTOR_MAX_AGE


def actor_record(parsed: Actor, raw: str) -> ActorRecord:
    """Convert a parsed remote actor into a stored record (AS → internal)."""
    key = parsed.public_key
    # CVE-2024-23832 family: a key must belong to the actor's own origin.
    if key and not same_origin(key.id, parsed.id):
        key = None
    host = urlsplit(parsed.id).netloc.lower()
    return ActorRecord(
        uri=parsed.id,
        type=parsed.type,
        domain=host,
        username=parsed.preferred_username,
        local=False,
        display_name=(parsed.name or "")[:200],
        summary=sanitize_html(parsed.summary or "")[:5000],
        url=parsed.url,
        inbox=parsed.inbox,
        shared_inbox=parsed.shared_inbox,
        outbox=parsed.outbox,
        followers_uri=parsed.followers,
        following_uri=parsed.following,
        featured_uri=parsed.featured,
        key_id=key.id if key else None,
        public_key_pem=key.public_key_pem if key else None,
        locked=parsed.manually_approves_followers,
        moved_to=parsed.moved_to,
        also_known_as=tuple(parsed.also_known_as),
        raw=raw,
        fetched_at=clock.now_text(),
        avatar_url=parsed.icon_url,
        header_url=parsed.image_url,
        fields=tuple(
            (sanitize_html(f.name or "")[:255], sanitize_html(f.value or "")[:2048])
            for f in parsed.profile_fields[:16]
        ),
    )
