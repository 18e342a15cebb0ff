"""The inbox pipeline: content type → size → signature → origin → blocks → persist → 202.

Everything after persisting (the handlers) runs later in `processing.py`, so a slow handler
never slows a sender down, and a crash after the 202 loses nothing.
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import id_of, origin_of
from fedicoop.activitypub.as2_values import check_no_lone_surrogates
from fedicoop.activitypub.resolver import Resolver
from fedicoop.activitypub.signatures import (
    SignatureError,
    check_policy,
    load_public_key,
    parse_signature,
    verify_signature,
)
from fedicoop.errors import Forbidden, Invalid, NotAuthorized, NotFound
from fedicoop.ids import new_id
from fedicoop.instance import Instance
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.deliveries import DeliveryRepository

log = logging.getLogger(__name__)

ACTIVITY_MEDIA_TYPES = frozenset({"application/activity+json", "application/ld+json"})
MAX_DEPTH = 24
VERDICTS_KEPT = 10_000  # hosts whose block verdict is remembered (the cache starts over)


class UnsupportedMediaType(Invalid):
    """The body is not an ActivityStreams document (415)."""

    status = 415


class PayloadTooLarge(Invalid):
    """The body exceeds the inbox size limit (413)."""

    status = 413


@dataclass(frozen=True)
class InboundRequest:
    """The parts of an HTTP request the pipeline needs, free of any web framework."""

    method: str
    target: str
    headers: Any  # a case-insensitive mapping (multidict) of every header line
    body: bytes
    content_type: str
    scheme: str


def check_media_type(content_type: str) -> None:
    """Refuse anything that is not activity+json or ld+json."""
    if content_type.split(";", 1)[0].strip().lower() not in ACTIVITY_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"content type {content_type or 'missing'} is not application/activity+json"
        )


def decode_activity(body: bytes | str) -> dict[str, Any]:
    """Parse the body as one JSON object with the fields every activity has."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        # ValueError, not only JSONDecodeError: an integer literal past Python's 4,300-digit
        # limit raises a bare ValueError, which was an unauthenticated 500 (tests/security).
        raise Invalid(f"body is not JSON: {error}") from error
    except RecursionError as error:
        # "[[[[…" nested 100,000 deep fits in the size limit and would crash the parser.
        raise Invalid("the activity is nested too deeply") from error
    if not isinstance(document, dict):
        raise Invalid("an activity must be a JSON object")
    try:
        check_no_lone_surrogates(body, document)
    except ValueError as error:
        raise Invalid(str(error)) from error
    # Each level of nesting opens a bracket, so a body with few brackets (strings included)
    # cannot nest deeply: counting them in C spares walking the document (most bodies).
    brackets = body.count("{") + body.count("[") if isinstance(body, str) else _brackets(body)
    if brackets > MAX_DEPTH and _depth(document) > MAX_DEPTH:
        raise Invalid("the activity is nested too deeply")
    if not isinstance(document.get("type"), str) or not id_of(document.get("actor")):
        raise Invalid("an activity needs a type and an actor")
    if not isinstance(document.get("id"), str):
        raise Invalid("an activity needs an id")
    return document


def _brackets(body: bytes) -> int:
    return body.count(b"{") + body.count(b"[")


def _depth(value: Any, level: int = 0) -> int:
    """Return how deeply a JSON value nests (iteratively bounded by MAX_DEPTH)."""
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


@lru_cache(maxsize=4096)
def _origin(url: str) -> str:
    """Return the origin of an actor id (the same few thousand senders post again and again)."""
    return origin_of(url)


def _on_origin(url: Any, origin: str) -> bool:
    """Return whether `url` is on `origin` (a canonical origin, as origin_of returns it)."""
    if not isinstance(url, str) or not origin:
        return False
    # A URL that starts with the canonical origin and a slash has exactly that scheme and
    # host[:port] (the authority ends at the first "/"): no need to parse it. Any other
    # spelling (case, default port, IDN, trailing dot) takes the full comparison.
    if url.startswith(origin) and url[len(origin) : len(origin) + 1] == "/":
        return True
    return origin_of(url) == origin


def check_origins(activity: dict[str, Any], signer: ActorRecord) -> None:
    """Refuse activities that speak for another server."""
    actor_id = str(id_of(activity["actor"]))
    # The key that signed must belong to the activity's actor: otherwise any server's actor could
    # sign activities "from" anyone.
    if actor_id != signer.uri:
        raise NotAuthorized(f"signed by {signer.uri} but claims actor {actor_id}")
    origin = _origin(actor_id)
    # An activity id on another origin would let the sender overwrite someone else's activity.
    if not _on_origin(activity["id"], origin):
        raise Forbidden("the activity id is not on the actor's origin")
    embedded = activity.get("object")
    if isinstance(embedded, dict) and activity["type"] in ("Create", "Update"):
        # CVE-2024-23832 family: an embedded object must come from the sender's origin; Announce
        # is exempt because its object is always refetched from its own origin.
        object_id = embedded.get("id")
        if isinstance(object_id, str) and not _on_origin(object_id, origin):
            raise Forbidden("the embedded object's id is not on the actor's origin")
        attributed = id_of(embedded.get("attributedTo"))
        if attributed and embedded.get("type") not in ("Person", "Group", "Service", "Application"):
            if attributed != actor_id and not _on_origin(attributed, origin):
                raise Forbidden("the embedded object is attributed to someone else")


class InboxWriter:
    """Persist received activities in batches: many requests share one commit (group commit)."""

    def __init__(self, instance: Instance, *, max_batch: int = 256) -> None:
        self.instance = instance
        self.max_batch = max_batch
        self._pending: list[tuple[str, str, str, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.stored = asyncio.Event()

    async def put(self, activity_uri: str, actor_uri: str, raw: str) -> None:
        """Return once the activity is durably stored (or was already)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((activity_uri, actor_uri, raw, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            received_at = clock.now_text()  # one commit, one moment
            try:
                await self.instance.db.executemany(
                    "INSERT INTO inbox (id, activity_uri, actor_uri, raw, received_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (activity_uri) DO NOTHING",
                    [(new_id(), uri, actor, raw, received_at) for uri, actor, raw, _ in batch],
                )
            except Exception as error:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)
            self.stored.set()


class InboxReceiver:
    """Check an incoming POST and persist it; raise the error that explains a refusal."""

    def __init__(self, instance: Instance, resolver: Resolver, writer: InboxWriter) -> None:
        self.instance = instance
        self.resolver = resolver
        self.writer = writer
        self._domain_blocks: set[str] | None = None
        self._verdicts: dict[str, bool] = {}  # host → blocked, under the current blocks
        self.unavailable_hosts: set[str] = set()

    def invalidate_blocks(self) -> None:
        """Forget the cached domain blocks (after an admin changed them)."""
        self._domain_blocks = None
        self._verdicts = {}

    async def receive(self, request: InboundRequest) -> None:
        """Run the pipeline; return normally when the activity is stored (answer 202)."""
        check_media_type(request.content_type)
        if len(request.body) > self.instance.config.max_body_bytes:
            raise PayloadTooLarge(f"body over {self.instance.config.max_body_bytes} bytes")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Invalid(f"body is not JSON: {error}") from error
        activity = decode_activity(text)
        await self._check_domain(str(id_of(activity["actor"])))
        signer = await self._verify(request, activity)
        check_origins(activity, signer)
        await self.writer.put(activity["id"], signer.uri, text)
        await self._mark_host_alive(signer.domain)

    async def _mark_host_alive(self, host: str) -> None:
        """A host that sends us signed activities is up again: resume delivering to it."""
        if host in self.unavailable_hosts:
            self.unavailable_hosts.discard(host)
            await DeliveryRepository(self.instance.db).host_succeeded(host)
            await self.instance.db.execute(
                "UPDATE deliveries SET next_attempt_at = $1 WHERE host = $2 AND state = 'pending'",
                clock.now_text(),
                host,
            )

    async def refresh_unavailable_hosts(self) -> None:
        """Reload which hosts delivery has given up on for now."""
        self.unavailable_hosts.update(
            await DeliveryRepository(self.instance.db).unavailable_hosts()
        )

    async def _check_domain(self, actor_uri: str) -> None:
        host = _origin(actor_uri).split("://", 1)[-1]
        if await self.is_blocked(host):
            raise Forbidden(f"{host} is blocked by this co-op")

    async def is_blocked(self, host: str) -> bool:
        """Return whether a host or any domain above it is blocked (sub.evil.example too)."""
        if self._domain_blocks is None:
            rows = await self.instance.db.fetch("SELECT domain FROM domain_blocks")
            self._domain_blocks = {str(row["domain"]).lower() for row in rows}
            self._verdicts = {}
        verdict = self._verdicts.get(host)
        if verdict is None:
            name = host.lower().split(":")[0]
            labels = name.split(".")
            candidates = {host.lower()} | {".".join(labels[i:]) for i in range(len(labels))}
            verdict = bool(candidates & self._domain_blocks)
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    async def _verify(self, request: InboundRequest, activity: dict[str, Any]) -> ActorRecord:
        parsed = parse_signature(
            request.method, request.target, request.headers, request.body, scheme=request.scheme
        )
        check_policy(
            parsed,
            method=request.method,
            headers=request.headers,
            body=request.body,
            now=clock.now(),
        )
        try:
            signer = await self.resolver.actor_for_key(parsed.key_id)
        except (NotFound, Invalid) as error:
            if activity["type"] == "Delete" and id_of(activity.get("object")) == id_of(
                activity["actor"]
            ):
                # A deleted account's key is gone with it; accept and forget (as Mastodon does)
                # rather than hammering its server for a key that will never come back.
                raise AcceptedAndIgnored() from error
            raise NotAuthorized(f"cannot verify signature: {error.message}") from error
        if self._valid(parsed, signer):
            return signer
        # The key may have rotated: refetch it once (rate-limited inside the resolver).
        try:
            refreshed = await self.resolver.actor_for_key(parsed.key_id, refresh=True)
        except (NotFound, Invalid) as error:
            raise SignatureError("signature does not verify") from error
        if refreshed.public_key_pem != signer.public_key_pem and self._valid(parsed, refreshed):
            return refreshed
        raise SignatureError("signature does not verify")

    @staticmethod
    def _valid(parsed: Any, signer: ActorRecord) -> bool:
        if not signer.public_key_pem:
            return False
        try:
            return verify_signature(parsed, load_public_key(signer.public_key_pem))
        except (ValueError, TypeError):
            return False


class AcceptedAndIgnored(Exception):
    """Answer 202 but store nothing (e.g. the Delete of an actor we never knew)."""
