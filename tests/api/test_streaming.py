"""Streaming: server-sent events and the WebSocket, fed by the stream bus as things happen."""

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientWebSocketResponse, WSMsgType, WSServerHandshakeError

from fedicoop.api import streaming_routes
from fedicoop.social.publishing import delete_note, follow, post_note, react
from fedicoop.storage.actors import ActorRecord
from fedicoop.streaming import LocalStreamBus, hashtag_stream, user_stream
from tests.api.conftest import ApiApp, TokenFor, bearer

WAIT = 5.0


async def member(api_app: ApiApp, username: str) -> ActorRecord:
    return (await api_app.member(username))[1]


async def next_event(response: ClientResponse) -> tuple[str, str]:
    """Read server-sent event lines until one event is complete; skip comments."""
    event = data = ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), WAIT)).decode()
        if line.startswith(":"):
            continue
        if line.startswith("event: "):
            event = line.removeprefix("event: ").rstrip("\n")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ").rstrip("\n")
        elif line == "\n" and event:
            return event, data


async def open_sse(api_app: ApiApp, path: str, token: str) -> ClientResponse:
    """Open an event stream and wait for its greeting (the subscription is then live)."""
    response = await api_app.client.get(path, headers=bearer(token))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await asyncio.wait_for(response.content.readline(), WAIT) == b":)\n"
    return response


async def next_frame(ws: ClientWebSocketResponse) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive(), WAIT)
    assert message.type == WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    return frame


def bus_of(api_app: ApiApp) -> LocalStreamBus:
    bus = api_app.federation.streams
    assert isinstance(bus, LocalStreamBus)
    return bus


async def eventually(check: Any) -> None:
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_health_says_ok(api_app: ApiApp) -> None:
    response = await api_app.client.get("/api/v1/streaming/health")
    assert response.status == 200
    assert await response.text() == "OK"


async def test_user_stream_over_sse_receives_a_followed_post(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given alice follows bob and watches her user stream
    await follow(api_app.federation, await member(api_app, "alice"), await member(api_app, "bob"))
    await api_app.process()
    stream = await open_sse(api_app, "/api/v1/streaming/user", await token_for("alice"))
    # When bob posts
    posted = await post_note(api_app.federation, await member(api_app, "bob"), "live from bob")
    # Then an update event carries the Status, rendered for alice
    event, data = await next_event(stream)
    assert event == "update"
    status = json.loads(data)
    assert status["id"] == str(posted.object.id)
    assert status["content"] == "<p>live from bob</p>"
    assert status["account"]["acct"] == "bob"
    stream.close()


async def test_public_sse_stream_sends_heartbeats(
    api_app: ApiApp, token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming_routes, "HEARTBEAT_SECONDS", 0.05)
    stream = await open_sse(api_app, "/api/v1/streaming/public", await token_for("alice"))
    assert await asyncio.wait_for(stream.content.readline(), WAIT) == b":thump\n"
    stream.close()


async def test_sse_needs_a_token_and_a_tag(api_app: ApiApp, token_for: TokenFor) -> None:
    anonymous = await api_app.client.get("/api/v1/streaming/public")
    assert anonymous.status == 401
    assert (await anonymous.json())["error"]
    untagged = await api_app.client.get(
        "/api/v1/streaming/hashtag", headers=bearer(await token_for("alice"))
    )
    assert untagged.status == 422
    assert "tag" in (await untagged.json())["error"]


async def test_sse_subscription_ends_when_the_client_leaves(
    api_app: ApiApp, token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client on the local public stream (heartbeats often, to notice it leaving)
    monkeypatch.setattr(streaming_routes, "HEARTBEAT_SECONDS", 0.05)
    bus = bus_of(api_app)
    stream = await open_sse(api_app, "/api/v1/streaming/public/local", await token_for("alice"))
    assert bus.listener_count("public:local") == 1
    # When it disconnects, then its subscription is cleaned up
    stream.close()
    await eventually(lambda: bus.listener_count() == 0)


async def test_websocket_with_token_as_subprotocol_streams_public_updates(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a client that sends its token as the WebSocket subprotocol, as browsers must
    token = await token_for("alice")
    ws = await api_app.client.ws_connect("/api/v1/streaming", protocols=(token,))
    # Then the server selected that protocol
    assert ws.protocol == token
    # When it subscribes to the public stream and bob posts
    await ws.send_json({"type": "subscribe", "stream": "public"})
    await eventually(lambda: bus_of(api_app).listener_count("public") == 1)
    posted = await post_note(api_app.federation, await member(api_app, "bob"), "hello, public")
    # Then a frame arrives with the Status as a JSON string
    frame = await next_frame(ws)
    assert frame["stream"] == ["public"]
    assert frame["event"] == "update"
    assert isinstance(frame["payload"], str)
    assert json.loads(frame["payload"])["id"] == str(posted.object.id)
    await ws.close()
    await eventually(lambda: bus_of(api_app).listener_count() == 0)


async def test_websocket_user_stream_carries_notifications_and_deletes(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given alice on the user stream (stream given in the query, token in the query)
    token = await token_for("alice")
    alice, bob = await member(api_app, "alice"), await member(api_app, "bob")
    ws = await api_app.client.ws_connect(f"/api/v1/streaming?stream=user&access_token={token}")
    await eventually(lambda: bus_of(api_app).listener_count() == 1)
    # When bob follows her, then a notification event arrives
    await follow(api_app.federation, bob, alice)
    await api_app.process()
    frame = await next_frame(ws)
    assert (frame["stream"], frame["event"]) == (["user"], "notification")
    notification = json.loads(frame["payload"])
    assert notification["type"] == "follow"
    assert notification["account"]["id"] == str(bob.id)
    # When alice posts, then her own post is an update; when she deletes it, a delete
    posted = await post_note(api_app.federation, alice, "soon gone")
    frame = await next_frame(ws)
    assert frame["event"] == "update"
    await delete_note(api_app.federation, alice, posted.object.uri)
    frame = await next_frame(ws)
    assert frame == {"stream": ["user"], "event": "delete", "payload": str(posted.object.id)}
    await ws.close()


async def test_websocket_hashtag_and_boost_frames(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given bob watches #bikes on a WebSocket and follows carol
    bob, carol = await member(api_app, "bob"), await member(api_app, "carol")
    await follow(api_app.federation, bob, carol)
    await api_app.process()
    ws = await api_app.client.ws_connect(
        "/api/v1/streaming", headers=bearer(await token_for("bob"))
    )
    await ws.send_json({"type": "subscribe", "stream": "hashtag", "tag": "Bikes"})
    await ws.send_json({"type": "subscribe", "stream": "user"})
    bus = bus_of(api_app)
    await eventually(lambda: bus.listener_count(hashtag_stream("bikes")) == 1)
    # When alice posts about #bikes and carol boosts it
    alice = await member(api_app, "alice")
    posted = await post_note(api_app.federation, alice, "new #bikes in the shed")
    frame = await next_frame(ws)
    assert (frame["stream"], frame["event"]) == (["hashtag", "bikes"], "update")
    await react(api_app.federation, carol, "Announce", posted.object.uri)
    # Then bob's home timeline update is the boost wrapping alice's post
    frame = await next_frame(ws)
    assert (frame["stream"], frame["event"]) == (["user"], "update")
    boost = json.loads(frame["payload"])
    assert boost["account"]["id"] == str(carol.id)
    assert boost["reblog"]["id"] == str(posted.object.id)
    # When bob unsubscribes from the tag, then the bus no longer feeds him
    await ws.send_json({"type": "unsubscribe", "stream": "hashtag", "tag": "bikes"})
    await eventually(lambda: bus.listener_count(hashtag_stream("bikes")) == 0)
    assert bus.listener_count(user_stream((await api_app.member("bob"))[0].id)) == 1
    await ws.close()


async def test_websocket_reports_bad_messages_and_keeps_going(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    ws = await api_app.client.ws_connect(
        "/api/v1/streaming", headers=bearer(await token_for("alice"))
    )
    await ws.send_str("not json")
    assert (await next_frame(ws))["status"] == 400
    await ws.send_json({"type": "subscribe", "stream": "list", "list": "1"})
    error = await next_frame(ws)
    assert error == {"error": "Unknown stream type", "status": 422}
    await ws.send_json({"type": "subscribe", "stream": "public:local"})
    await eventually(lambda: bus_of(api_app).listener_count("public:local") == 1)
    await ws.close()


async def test_websocket_refuses_a_bad_token(api_app: ApiApp) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await api_app.client.ws_connect("/api/v1/streaming", protocols=("not-a-token",))
    assert refused.value.status == 401
    plain = await api_app.client.get("/api/v1/streaming")
    assert plain.status == 404


async def test_shutdown_ends_open_streams(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given an open event stream and an open WebSocket
    token = await token_for("alice")
    stream = await open_sse(api_app, "/api/v1/streaming/user", token)
    ws = await api_app.client.ws_connect("/api/v1/streaming?stream=public", headers=bearer(token))
    await eventually(lambda: bus_of(api_app).listener_count() == 2)
    # When the server shuts down (its on_shutdown signal)
    app = api_app.coop.server.app
    assert app is not None
    await app.shutdown()
    # Then the event stream ends and the WebSocket is closed as "going away"
    assert await asyncio.wait_for(stream.content.read(), WAIT) == b""
    closing = await asyncio.wait_for(ws.receive(), WAIT)
    assert closing.type == WSMsgType.CLOSE
    assert ws.close_code == 1001 or closing.data == 1001
