"""Mastodon streaming API: server-sent events per stream and one multiplexed WebSocket.

Both listen to the instance's stream bus (`Federation.streams`) and render each event for
the member watching, so flags like `favourited` are theirs.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from fedicoop.api.auth import bearer_of, optional_auth
from fedicoop.api.entities import Presenter
from fedicoop.api.notifications_routes import render_notifications
from fedicoop.api.routing import route
from fedicoop.api.timelines_routes import render_entries, viewer_of
from fedicoop.errors import FedicoopError, Forbidden, Invalid, NotAuthorized, NotFound
from fedicoop.instance import Instance
from fedicoop.oauth import scopes as scope_rules
from fedicoop.oauth.service import Auth, authenticate
from fedicoop.social import timelines
from fedicoop.social.timelines import Entry
from fedicoop.storage.notifications import NotificationRepository
from fedicoop.streaming import (
    PUBLIC,
    PUBLIC_LOCAL,
    PUBLIC_REMOTE,
    StreamEvent,
    Subscription,
    hashtag_stream,
    user_stream,
)
from fedicoop.web.keys import FEDERATION, INSTANCE

# Mastodon's clients expect a sign of life at least this often.
HEARTBEAT_SECONDS = 30.0
STATUS_EVENTS = frozenset({"update", "status.update", "delete"})
PUBLIC_STREAMS = {"public": PUBLIC, "public:local": PUBLIC_LOCAL, "public:remote": PUBLIC_REMOTE}


@dataclass(frozen=True)
class Topic:
    """One Mastodon stream a client watches, and the bus stream that feeds it."""

    name: tuple[str, ...]  # the frame's `stream`: ("user",), ("hashtag", "cats")…
    bus_stream: str
    events: frozenset[str]
    only_media: bool = False


@dataclass(frozen=True)
class Frame:
    """One event as a client receives it."""

    stream: tuple[str, ...]
    event: str
    payload: str

    def sse(self) -> bytes:
        """Return the frame as a server-sent event."""
        return f"event: {self.event}\ndata: {self.payload}\n\n".encode()

    def websocket(self) -> str:
        """Return the frame as a WebSocket message (the payload stays a string)."""
        message = {"stream": list(self.stream), "event": self.event, "payload": self.payload}
        return json.dumps(message)


def topic_for(auth: Auth, name: str, *, tag: str | None = None, only_media: bool = False) -> Topic:
    """Return the topic a stream name (and tag) asks for; check the token may watch it."""
    account, _ = auth.user()
    if name in ("user", "user:notification"):
        notifications = scope_rules.covers(auth.scopes, "read:notifications")
        if name == "user:notification":
            auth.require("read:notifications")
            return Topic((name,), user_stream(account.id), frozenset({"notification"}))
        auth.require("read:statuses")
        events = STATUS_EVENTS | ({"notification"} if notifications else set())
        return Topic((name,), user_stream(account.id), frozenset(events))
    auth.require("read:statuses")
    base = name.removesuffix(":media")
    media = only_media or name != base
    if base in PUBLIC_STREAMS:
        shown = f"{base}:media" if media else base
        return Topic((shown,), PUBLIC_STREAMS[base], STATUS_EVENTS, media)
    if base in ("hashtag", "hashtag:local") and name == base:
        cleaned = (tag or "").strip().lstrip("#").lower()
        if not cleaned:
            raise Invalid("Missing tag name parameter", field="tag")
        bus = hashtag_stream(cleaned, local=base == "hashtag:local")
        return Topic((base, cleaned), bus, STATUS_EVENTS)
    raise Invalid("Unknown stream type", field="stream")


@dataclass(frozen=True)
class _Rendered:
    payload: str
    has_media: bool = False


class Listener:
    """One client's topics over one bus subscription; renders events for its viewer."""

    def __init__(self, instance: Instance, auth: Auth, subscription: Subscription) -> None:
        self.instance = instance
        self.viewer = viewer_of(auth)
        self.subscription = subscription
        self.topics: dict[tuple[str, ...], Topic] = {}

    @property
    def closed(self) -> bool:
        """Return whether the bus ended this listener (shutdown)."""
        return self.subscription.closed

    def add(self, topic: Topic) -> None:
        """Start watching a topic."""
        self.topics[topic.name] = topic
        self.subscription.add(topic.bus_stream)

    def remove(self, name: tuple[str, ...]) -> None:
        """Stop watching a topic (and its bus stream, when no other topic needs it)."""
        topic = self.topics.pop(name, None)
        if topic and all(t.bus_stream != topic.bus_stream for t in self.topics.values()):
            self.subscription.discard(topic.bus_stream)

    async def next(self, within: float) -> list[Frame]:
        """Return the frames of the next event that concerns a topic; [] after `within` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.closed and (remaining := deadline - loop.time()) > 0:
            event = await self.subscription.next(remaining)
            if event is None:
                break
            frames = await self._frames(event)
            if frames:
                return frames
        return []

    async def _frames(self, event: StreamEvent) -> list[Frame]:
        topics = [
            t
            for t in self.topics.values()
            if t.bus_stream == event.stream and event.event in t.events
        ]
        if not topics:
            return []
        rendered = await self._render(event)
        if rendered is None:
            return []
        return [
            Frame(topic.name, event.event, rendered.payload)
            for topic in topics
            if rendered.has_media or not topic.only_media or event.event == "delete"
        ]

    async def _render(self, event: StreamEvent) -> _Rendered | None:
        if event.event in ("update", "status.update"):
            return await self._status(event.payload)
        if event.event == "notification":
            return await self._notification(event.payload)
        return _Rendered(event.payload)  # delete: the id, as it is

    async def _status(self, reference: str) -> _Rendered | None:
        try:
            entry = Entry.from_reference(reference)
        except ValueError:
            return None
        presenter = Presenter(self.instance, self.viewer)
        statuses = await render_entries(presenter, [entry])
        if not statuses:
            return None  # deleted meanwhile
        status = statuses[0]
        shown = status["reblog"] or status
        authors = {int(status["account"]["id"]), int(shown["account"]["id"])}
        if self.viewer.account_id is not None and self.viewer.actor_id is not None:
            # Muted or blocked people stay out of live timelines as out of fetched ones.
            if await timelines.hidden_from(
                self.instance.db, self.viewer.account_id, self.viewer.actor_id, authors
            ):
                return None
        return _Rendered(json.dumps(status), bool(shown["media_attachments"]))

    async def _notification(self, reference: str) -> _Rendered | None:
        if not reference.isdigit() or self.viewer.account_id is None:
            return None
        record = await NotificationRepository(self.instance.db).get(
            self.viewer.account_id, int(reference)
        )
        if record is None:
            return None
        rendered = await render_notifications(Presenter(self.instance, self.viewer), [record])
        return _Rendered(json.dumps(rendered[0])) if rendered else None


# Server-sent events ---------------------------------------------------------------------------


async def _event_stream(
    request: web.Request, topic_of: Callable[[Auth], Topic]
) -> web.StreamResponse:
    auth = await optional_auth(request)
    if auth is None:
        raise NotAuthorized("Missing access token")
    topic = topic_of(auth)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx would otherwise hold events back
        }
    )
    await response.prepare(request)
    bus = request.app[FEDERATION].streams
    async with bus.subscribe() as subscription:
        listener = Listener(request.app[INSTANCE], auth, subscription)
        listener.add(topic)
        try:
            await response.write(b":)\n")
            while True:
                frames = await listener.next(HEARTBEAT_SECONDS)
                if listener.closed or _gone(request):
                    break
                if not frames:
                    await response.write(b":thump\n")
                for frame in frames:
                    await response.write(frame.sse())
        except ConnectionError:
            pass  # the client left; the subscription closes on the way out
    return response


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _sse(
    name: str, *, tagged: bool = False
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        only_media = request.query.get("only_media", "").lower() in ("1", "true")
        tag = request.query.get("tag") if tagged else None
        return await _event_stream(
            request, lambda auth: topic_for(auth, name, tag=tag, only_media=only_media)
        )

    handler.__doc__ = f"GET the `{name}` stream as server-sent events."
    return handler


async def health(request: web.Request) -> web.Response:
    """GET /api/v1/streaming/health."""
    return web.Response(text="OK", content_type="text/plain")


# WebSocket -----------------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/streaming: one WebSocket carrying every stream the client subscribes to."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise NotFound("Not Found")  # Mastodon: no separate streaming host here
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    offered = [p.strip() for p in header.split(",") if p.strip()]
    # Browsers cannot set headers on a WebSocket: the token may come as the subprotocol.
    # It never comes from a cookie, so another site's page cannot open a member's stream
    # (cross-site WebSocket hijacking) and no Origin check is needed.
    token = bearer_of(request) or (offered[0] if offered else None)
    if not token:
        raise NotAuthorized("Missing access token")
    auth = await authenticate(request.app[INSTANCE], token)
    auth.user()
    if not any(scope_rules.covers(auth.scopes, s) for s in ("read:statuses", "read:notifications")):
        raise Forbidden("This action is outside the authorized scopes")
    first = request.query.get("stream")
    initial = (
        topic_for(
            auth,
            first,
            tag=request.query.get("tag"),
            only_media=request.query.get("only_media", "").lower() in ("1", "true"),
        )
        if first
        else None
    )
    ws = web.WebSocketResponse(
        protocols=(token,) if token in offered else (), heartbeat=HEARTBEAT_SECONDS
    )
    await ws.prepare(request)
    async with request.app[FEDERATION].streams.subscribe() as subscription:
        listener = Listener(request.app[INSTANCE], auth, subscription)
        if initial is not None:
            listener.add(initial)
        sender = asyncio.create_task(_send_frames(ws, listener), name="streaming-sender")
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await _handle_message(ws, listener, auth, message.data)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    return ws


async def _send_frames(ws: web.WebSocketResponse, listener: Listener) -> None:
    try:
        while not listener.closed and not ws.closed:
            for frame in await listener.next(HEARTBEAT_SECONDS):
                await ws.send_str(frame.websocket())
        if listener.closed and not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
    except ConnectionError:
        pass  # the client left; the reader loop ends too


async def _handle_message(
    ws: web.WebSocketResponse, listener: Listener, auth: Auth, text: str
) -> None:
    """Apply a `{"type": "subscribe" | "unsubscribe", "stream": …, "tag": …}` message."""
    try:
        message: Any = json.loads(text)
        if not isinstance(message, dict):
            raise Invalid("Expected a JSON object")
        kind, stream, tag = message.get("type"), message.get("stream"), message.get("tag")
        if not isinstance(stream, str) or (tag is not None and not isinstance(tag, str)):
            raise Invalid("Unknown stream type", field="stream")
        topic = topic_for(auth, stream, tag=tag)
        if kind == "subscribe":
            listener.add(topic)
        elif kind == "unsubscribe":
            listener.remove(topic.name)
        else:
            raise Invalid("Unknown message type", field="type")
    except json.JSONDecodeError:
        await ws.send_str(json.dumps({"error": "Could not parse message", "status": 400}))
    except FedicoopError as error:
        await ws.send_str(json.dumps({"error": error.message, "status": error.status}))


async def _end_streams(app: web.Application) -> None:
    """At shutdown, end every subscription so open streams return and the server can stop."""
    await app[FEDERATION].streams.close()


def setup(app: web.Application) -> None:
    """Add the streaming routes."""
    route(app, "GET", "/api/v1/streaming/health", health)
    route(app, "GET", "/api/v1/streaming", websocket)
    route(app, "GET", "/api/v1/streaming/user", _sse("user"))
    route(app, "GET", "/api/v1/streaming/user/notification", _sse("user:notification"))
    route(app, "GET", "/api/v1/streaming/public", _sse("public"))
    route(app, "GET", "/api/v1/streaming/public/local", _sse("public:local"))
    route(app, "GET", "/api/v1/streaming/public/remote", _sse("public:remote"))
    route(app, "GET", "/api/v1/streaming/hashtag", _sse("hashtag", tagged=True))
    route(app, "GET", "/api/v1/streaming/hashtag/local", _sse("hashtag:local", tagged=True))
    app.on_shutdown.append(_end_streams)
