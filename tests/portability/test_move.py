"""Account migration in process: aliases, moving out, receiving a Move, ballots of a moved voter.

Remote accounts live on loopback origins that serve their documents, so every check that
refetches the new account (as Mastodon does) reads a real HTTP answer.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from fedicoop.activitypub.as2 import parse_actor
from fedicoop.activitypub.resolver import actor_record
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRecord, FollowRepository
from tests.activitypub.remote import Origin, RemoteActor, add_remote_actor, start_origin
from tests.api.conftest import ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "activitypub"
AS_JSON = {"Accept": "application/activity+json"}
BROWSER = {"Accept": "text/html"}


def serve_with_aliases(origin: Origin, actor: RemoteActor, aliases: list[str]) -> None:
    """Serve a remote actor whose document lists `aliases` in alsoKnownAs."""
    origin.serve_actor(actor)
    path = actor.uri.removeprefix(origin.base_url)
    origin.documents[path]["alsoKnownAs"] = aliases


def serve_webfinger(origin: Origin, actor: RemoteActor) -> None:
    """Answer WebFinger on the origin for this one actor."""
    origin.documents["/.well-known/webfinger"] = {
        "subject": f"acct:{actor.record.username}@{actor.record.domain}",
        "links": [{"rel": "self", "type": "application/activity+json", "href": actor.uri}],
    }


async def follows(api_app: ApiApp, follower: ActorRecord, followee_uri: str) -> str | None:
    """Return the state of a follow, or None when there is none."""
    followee = await ActorRepository(api_app.db).by_uri(followee_uri)
    if followee is None:
        return None
    record = await FollowRepository(api_app.db).get(follower.id, followee.id)
    return record.state if record else None


async def queued(api_app: ApiApp, inbox: str) -> list[dict[str, Any]]:
    """Return the activities queued for a remote inbox, oldest first."""
    rows = await api_app.db.fetch(
        "SELECT body FROM deliveries WHERE inbox = $1 ORDER BY created_at, id", inbox
    )
    return [json.loads(row["body"]) for row in rows]


async def follow_accepted(api_app: ApiApp, follower: ActorRecord, followee: ActorRecord) -> None:
    await FollowRepository(api_app.db).put(
        FollowRecord(follower.id, followee.id, f"{follower.uri}#follows/{followee.id}", "accepted")
    )


# --- aliases ------------------------------------------------------------------------------------


async def test_alias_resolved_by_webfinger_is_published_on_the_actor(
    api_app: ApiApp, token_for: TokenFor, aiohttp_server: AiohttpServer
) -> None:
    # Given alice, and her old account on another server that answers WebFinger
    token = await token_for("alice")
    origin = await start_origin(aiohttp_server)
    old = await add_remote_actor(api_app.db, f"{origin.base_url}/users/alice_old")
    origin.serve_actor(old)
    serve_webfinger(origin, old)
    # When she names it as an alias by its handle
    response = await api_app.client.post(
        f"{API}/account/aliases", json={"acct": old.record.acct}, headers=bearer(token)
    )
    # Then it is her alsoKnownAs, listed by the API and published on her actor
    assert response.status == 200, await response.text()
    assert (await response.json())["aliases"] == [old.uri]
    listed = await api_app.client.get(f"{API}/account/aliases", headers=bearer(token))
    assert (await listed.json())["aliases"] == [old.uri]
    served = await api_app.client.get("/users/alice", headers=AS_JSON)
    assert (await served.json())["alsoKnownAs"] == [old.uri]
    # And naming it again changes nothing
    again = await api_app.client.post(
        f"{API}/account/aliases", json={"acct": old.record.acct}, headers=bearer(token)
    )
    assert (await again.json())["aliases"] == [old.uri]


async def test_unresolvable_alias_is_422_naming_the_field(
    api_app: ApiApp, token_for: TokenFor, aiohttp_server: AiohttpServer
) -> None:
    token = await token_for("alice")
    origin = await start_origin(aiohttp_server)  # answers 404 to WebFinger
    host = origin.base_url.removeprefix("http://")
    for acct in (f"nobody@{host}", "not a handle", ""):
        response = await api_app.client.post(
            f"{API}/account/aliases", json={"acct": acct}, headers=bearer(token)
        )
        assert response.status == 422, acct
        assert (await response.json())["field"] == "acct"
    alice = await api_app.coop.local_actor("alice")
    assert alice.also_known_as == ()


# --- moving out ---------------------------------------------------------------------------------


async def test_move_to_an_account_listing_us_redirects_everyone(
    api_app: ApiApp, token_for: TokenFor, aiohttp_server: AiohttpServer
) -> None:
    # Given alice with a local follower (carol) and a remote one (rémi)
    token = await token_for("alice")
    await api_app.member("carol")
    alice = await api_app.coop.local_actor("alice")
    carol = await api_app.coop.local_actor("carol")
    await follow_accepted(api_app, carol, alice)
    elsewhere = await start_origin(aiohttp_server)
    remi = await add_remote_actor(api_app.db, f"{elsewhere.base_url}/users/remi")
    await follow_accepted(api_app, remi.record, alice)
    # And her new account on another server, which lists her as an alias
    origin = await start_origin(aiohttp_server)
    new = await add_remote_actor(api_app.db, f"{origin.base_url}/users/alice2")
    serve_with_aliases(origin, new, [alice.uri])
    # When she moves there
    response = await api_app.client.post(
        f"{API}/account/move", json={"target": new.uri}, headers=bearer(token)
    )
    assert response.status == 200, await response.text()
    account = await response.json()
    await api_app.process()
    # Then the Mastodon API shows her moved, and her actor says movedTo
    assert account["moved"]["uri"] == new.uri
    shown = await api_app.client.get(f"/api/v1/accounts/{alice.id}")
    assert (await shown.json())["moved"]["uri"] == new.uri
    served = await api_app.client.get("/users/alice", headers=AS_JSON)
    assert (await served.json())["movedTo"] == new.uri
    # And the remote follower's server gets the Move (after the Update carrying movedTo)
    sent = await queued(api_app, str(remi.record.inbox))
    assert [a["type"] for a in sent] == ["Update", "Move"]
    assert sent[1]["actor"] == sent[1]["object"] == alice.uri and sent[1]["target"] == new.uri
    # And carol, a local follower, now asks to follow the new account and left the old one
    assert await follows(api_app, carol, new.uri) == "pending"
    assert await follows(api_app, carol, alice.uri) is None
    assert [a["type"] for a in await queued(api_app, str(new.record.inbox))] == ["Follow"]
    # And a browser asking for her profile is sent to the new account
    page = await api_app.client.get("/@alice", headers=BROWSER, allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == new.uri
    # And she can no longer post
    post = await api_app.client.post(
        "/api/v1/statuses", json={"status": "still here?"}, headers=bearer(token)
    )
    assert post.status == 422
    assert "moved" in (await post.json())["error"]


async def test_move_to_an_account_not_listing_us_is_refused(
    api_app: ApiApp, token_for: TokenFor, aiohttp_server: AiohttpServer
) -> None:
    # Given a target account whose document names nobody as an alias
    token = await token_for("alice")
    origin = await start_origin(aiohttp_server)
    stranger = await add_remote_actor(api_app.db, f"{origin.base_url}/users/stranger")
    serve_with_aliases(origin, stranger, [])
    # Even when our cached copy of it claims otherwise (only its own server's word counts)
    await api_app.db.execute(
        "UPDATE actors SET also_known_as = $1 WHERE id = $2",
        json.dumps([(await api_app.coop.local_actor("alice")).uri]),
        stranger.record.id,
    )
    # When alice tries to move there
    response = await api_app.client.post(
        f"{API}/account/move", json={"target": stranger.uri}, headers=bearer(token)
    )
    # Then it is 422 on the target, and nothing moved or was sent
    assert response.status == 422
    assert (await response.json())["field"] == "target"
    assert (await api_app.coop.local_actor("alice")).moved_to is None
    assert await api_app.coop.count("deliveries") == 0
    assert await api_app.coop.count("activities", "type = 'Move'") == 0


# --- receiving a Move ---------------------------------------------------------------------------


@pytest.fixture
async def followed_remote(
    api_app: ApiApp, aiohttp_server: AiohttpServer
) -> tuple[ActorRecord, RemoteActor, Origin]:
    """bob, a member, follows olga on another server (served, for refetches)."""
    await api_app.member("bob")
    bob = await api_app.coop.local_actor("bob")
    origin = await start_origin(aiohttp_server)
    olga = await add_remote_actor(api_app.db, f"{origin.base_url}/users/olga")
    origin.serve_actor(olga)
    await follow_accepted(api_app, bob, olga.record)
    return bob, olga, origin


async def new_account(
    api_app: ApiApp, aiohttp_server: AiohttpServer, aliases: list[str]
) -> RemoteActor:
    origin = await start_origin(aiohttp_server)
    new = await add_remote_actor(api_app.db, f"{origin.base_url}/users/olga_new")
    serve_with_aliases(origin, new, aliases)
    return new


async def test_received_move_refollows_the_new_account(
    api_app: ApiApp,
    aiohttp_server: AiohttpServer,
    followed_remote: tuple[ActorRecord, RemoteActor, Origin],
) -> None:
    bob, olga, _ = followed_remote
    # Given olga's new account lists her old one
    new = await new_account(api_app, aiohttp_server, [olga.uri])
    move = olga.activity("Move", olga.uri, target=new.uri, to=[olga.followers], cc=[])
    # When olga's server tells us she moved
    await api_app.coop.receive(olga, move)
    # Then bob asks to follow the new account, no longer follows the old, and olga is moved
    assert await follows(api_app, bob, new.uri) == "pending"
    assert await follows(api_app, bob, olga.uri) is None
    assert [a["type"] for a in await queued(api_app, str(new.record.inbox))] == ["Follow"]
    assert [a["type"] for a in await queued(api_app, str(olga.record.inbox))] == ["Undo"]
    stored = await ActorRepository(api_app.db).by_uri(olga.uri)
    assert stored is not None and stored.moved_to == new.uri
    # When the Move arrives again (a redelivery with a new id), Then nothing more happens
    again = olga.activity("Move", olga.uri, target=new.uri, to=[olga.followers], cc=[])
    await api_app.coop.receive(olga, again)
    assert len(await queued(api_app, str(new.record.inbox))) == 1
    assert await api_app.coop.count("follows", "follower_id = $1", bob.id) == 1


async def test_move_to_an_account_without_the_alias_changes_nothing(
    api_app: ApiApp,
    aiohttp_server: AiohttpServer,
    followed_remote: tuple[ActorRecord, RemoteActor, Origin],
) -> None:
    bob, olga, _ = followed_remote
    # Given a hijacker's account that does not list olga as an alias
    hijacker = await new_account(api_app, aiohttp_server, [])
    # When olga's (compromised) server claims she moved there
    move = olga.activity("Move", olga.uri, target=hijacker.uri, to=[olga.followers], cc=[])
    await api_app.coop.receive(olga, move)
    # Then bob still follows olga, follows nobody new, and olga is not marked moved
    assert await follows(api_app, bob, olga.uri) == "accepted"
    assert await follows(api_app, bob, hijacker.uri) is None
    assert await api_app.coop.count("deliveries") == 0
    stored = await ActorRepository(api_app.db).by_uri(olga.uri)
    assert stored is not None and stored.moved_to is None


async def test_move_of_someone_elses_account_is_refused(
    api_app: ApiApp,
    aiohttp_server: AiohttpServer,
    followed_remote: tuple[ActorRecord, RemoteActor, Origin],
) -> None:
    bob, olga, _ = followed_remote
    # Given mallory's account, which lists olga (anyone can claim anyone as an alias)
    mallory = await new_account(api_app, aiohttp_server, [olga.uri])
    # When mallory sends a Move of olga's account to hers
    move = mallory.activity("Move", olga.uri, target=mallory.uri, to=[olga.followers], cc=[])
    await api_app.coop.receive(mallory, move)
    # Then the Move is refused and bob's follow stays as it was
    state = await api_app.db.fetchval("SELECT state FROM inbox WHERE activity_uri = $1", move["id"])
    assert state == "failed"
    assert await follows(api_app, bob, olga.uri) == "accepted"
    assert await follows(api_app, bob, mallory.uri) is None


@pytest.mark.parametrize(
    ("fixture", "old_origin", "new_origin"),
    [
        ("mastodon/docs-move.json", "https://mastodon.example", "https://alice.com"),
        ("gotosocial/docs-move.json", "https://example.org", "https://another-server.com"),
    ],
)
async def test_captured_moves_are_handled(
    api_app: ApiApp,
    aiohttp_server: AiohttpServer,
    fixture: str,
    old_origin: str,
    new_origin: str,
) -> None:
    # Given a captured Move, its two servers replaced by loopback origins
    old_server, new_server = await start_origin(aiohttp_server), await start_origin(aiohttp_server)
    text = (FIXTURES / fixture).read_text()
    text = text.replace(old_origin, old_server.base_url).replace(new_origin, new_server.base_url)
    move = json.loads(text)
    old = await add_remote_actor(api_app.db, move["actor"])
    new = await add_remote_actor(api_app.db, move["target"])
    serve_with_aliases(new_server, new, [old.uri])
    # And a member following the old account
    await api_app.member("bob")
    bob = await api_app.coop.local_actor("bob")
    await follow_accepted(api_app, bob, old.record)
    # When it arrives
    await api_app.coop.receive(old, move)
    # Then the member follows the new account instead
    assert await follows(api_app, bob, new.uri) == "pending"
    assert await follows(api_app, bob, old.uri) is None


def test_captured_moved_actor_parses_with_its_aliases() -> None:
    document = json.loads((FIXTURES / "gotosocial" / "actor-person-moved.json").read_text())
    record = actor_record(parse_actor(document), json.dumps(document))
    assert record.moved_to == "http://localhost:8080/users/1happyturtle"
    assert record.also_known_as == ("http://localhost:8080/users/1happyturtle",)


# --- a moved voter votes once -------------------------------------------------------------------


async def test_ballots_before_and_after_a_move_count_once(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given alice and her second account alice2, both members when the proposal opens
    tokens = {name: await token_for(name) for name in ("admin", "alice", "alice2", "bob")}
    closes = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = await api_app.client.post(
        f"{API}/proposals",
        json={
            "title": "Which valley?",
            "kind": "single",
            "options": ["Vercors", "Chartreuse"],
            "closes_at": closes,
        },
        headers=bearer(tokens["admin"]),
    )
    assert response.status == 201, await response.text()
    proposal = await response.json()
    ballots = f"{API}/proposals/{proposal['id']}/ballots"

    async def vote(name: str, option: str) -> None:
        cast = await api_app.client.post(
            ballots, json={"choices": [option]}, headers=bearer(tokens[name])
        )
        assert cast.status == 201, await cast.text()

    # When alice votes, moves to alice2, and alice2 votes otherwise (bob votes too)
    await vote("alice", "o1")
    await vote("bob", "o1")
    domain = api_app.domain
    alias = await api_app.client.post(
        f"{API}/account/aliases", json={"acct": f"alice@{domain}"}, headers=bearer(tokens["alice2"])
    )
    assert alias.status == 200, await alias.text()
    moved = await api_app.client.post(
        f"{API}/account/move", json={"target": f"alice2@{domain}"}, headers=bearer(tokens["alice"])
    )
    assert moved.status == 200, await moved.text()
    await api_app.process()
    await vote("alice2", "o2")
    # Then she counts once, with her latest ballot
    closed = await api_app.client.post(
        f"{API}/proposals/{proposal['id']}/close", json={}, headers=bearer(tokens["admin"])
    )
    assert closed.status == 200, await closed.text()
    result = (await closed.json())["result"]
    assert result["voters"] == 2
    assert result["total"] == {"o1": 1, "o2": 1}
