"""Timelines: home (follows, boosts, paging), public (local, remote, media) and hashtag."""

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from yarl import URL

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.social.addressing import Visibility
from fedicoop.social.publishing import follow, post_note, react
from fedicoop.storage.actors import ActorRecord
from tests.activitypub.remote import add_remote_actor
from tests.api.conftest import FIXTURES, ApiApp, TokenFor, bearer

# Quote posts (Mastodon 4.5) are not part of fedicoop's Status yet.
QUOTE_KEYS = {"quote", "quotes_count", "quote_approval"}
STATUS_KEYS = set(json.loads((FIXTURES / "Status.json").read_text())) - {"text"} - QUOTE_KEYS


async def member(api_app: ApiApp, username: str) -> ActorRecord:
    return (await api_app.member(username))[1]


async def follows(api_app: ApiApp, follower: str, target: str) -> None:
    """`follower` follows `target` (both local); the inbox accepts it."""
    await follow(api_app.federation, await member(api_app, follower), await member(api_app, target))
    await api_app.process()


async def post(api_app: ApiApp, username: str, text: str, **options: Any) -> int:
    posted = await post_note(api_app.federation, await member(api_app, username), text, **options)
    return posted.object.id


async def get_json(response: ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


def links(response: ClientResponse) -> dict[str, URL]:
    """Return the Link header's URLs by rel."""
    return {rel: URL(str(link["url"])) for rel, link in response.links.items()}


async def test_home_shows_own_posts_and_followed_accounts_newest_first(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given alice follows bob, and carol (whom she does not follow) posts too
    await follows(api_app, "alice", "bob")
    first = await post(api_app, "bob", "first from bob")
    await post(api_app, "carol", "carol talks to nobody")
    own = await post(api_app, "alice", "alice says hi")
    second = await post(api_app, "bob", "second from bob")
    # When alice reads her home timeline
    response = await api_app.client.get(
        "/api/v1/timelines/home", headers=bearer(await token_for("alice"))
    )
    # Then she sees bob's posts and her own, newest first, as Mastodon Status entities
    statuses = await get_json(response)
    assert [s["id"] for s in statuses] == [str(second), str(own), str(first)]
    assert STATUS_KEYS <= set(statuses[0])
    assert statuses[0]["account"]["acct"] == "bob"
    assert statuses[0]["content"] == "<p>second from bob</p>"
    assert statuses[0]["reblog"] is None


async def test_home_shows_a_boost_as_a_reblog_of_the_original(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given alice follows bob, and bob boosts a post by carol, whom alice does not follow
    await follows(api_app, "alice", "bob")
    original = await post(api_app, "carol", "worth sharing")
    carol = await member(api_app, "carol")
    bob = await member(api_app, "bob")
    uri = api_app.instance.urls.object(original)
    await react(api_app.federation, bob, "Announce", uri)
    await api_app.process()
    # When alice reads her home timeline
    statuses = await get_json(
        await api_app.client.get("/api/v1/timelines/home", headers=bearer(await token_for("alice")))
    )
    # Then the boost appears under bob's name, wrapping carol's post
    assert len(statuses) == 1
    boost = statuses[0]
    assert boost["id"] != str(original)
    assert boost["account"]["id"] == str(bob.id)
    assert boost["content"] == ""
    assert boost["reblog"]["id"] == str(original)
    assert boost["reblog"]["account"]["id"] == str(carol.id)
    assert boost["reblog"]["content"] == "<p>worth sharing</p>"
    assert boost["reblog"]["reblogs_count"] == 1


@pytest.mark.both_engines
async def test_home_pages_with_absolute_link_headers(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given five posts on alice's home timeline
    ids = [await post(api_app, "alice", f"post {n}") for n in range(5)]
    headers = bearer(await token_for("alice"))
    # When she reads two at a time
    first = await api_app.client.get("/api/v1/timelines/home?limit=2", headers=headers)
    page = await get_json(first)
    # Then she gets the two newest, and a Link header to older and newer pages
    assert [s["id"] for s in page] == [str(ids[4]), str(ids[3])]
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' in first.headers["Link"]
    next_url = links(first)["next"]
    assert str(next_url).startswith(f"{api_app.base_url}/api/v1/timelines/home?")
    assert next_url.query["max_id"] == str(ids[3]) and next_url.query["limit"] == "2"
    # And following `next` gives the two before them
    older = await api_app.client.get(next_url.path_qs, headers=headers)
    assert [s["id"] for s in await get_json(older)] == [str(ids[2]), str(ids[1])]
    # And min_id gives the oldest ones just above it, still newest first
    newer = await api_app.client.get(
        f"/api/v1/timelines/home?min_id={ids[0]}&limit=2", headers=headers
    )
    assert [s["id"] for s in await get_json(newer)] == [str(ids[2]), str(ids[1])]
    # And since_id gives the newest ones above it
    since = await api_app.client.get(f"/api/v1/timelines/home?since_id={ids[2]}", headers=headers)
    assert [s["id"] for s in await get_json(since)] == [str(ids[4]), str(ids[3])]


@pytest.mark.both_engines
async def test_home_hides_muted_accounts(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given alice follows bob and later mutes him
    await follows(api_app, "alice", "bob")
    await post(api_app, "bob", "noise")
    alice_account, _ = await api_app.member("alice")
    bob = await member(api_app, "bob")
    await api_app.db.execute(
        "INSERT INTO mutes (account_id, target_id, created_at) VALUES ($1, $2, $3)",
        alice_account.id,
        bob.id,
        clock.now_text(),
    )
    # When she reads her home timeline, then bob's post is gone
    response = await api_app.client.get(
        "/api/v1/timelines/home", headers=bearer(await token_for("alice"))
    )
    assert await get_json(response) == []


async def test_home_needs_a_user_token_with_read_scope(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    anonymous = await api_app.client.get("/api/v1/timelines/home")
    assert (await get_json(anonymous, 401))["error"]
    write_only = await token_for("alice", "write")
    refused = await api_app.client.get("/api/v1/timelines/home", headers=bearer(write_only))
    assert "error" in await get_json(refused, 403)


async def receive_remote_post(api_app: ApiApp, content: str, **more: Any) -> str:
    """A remote account's public post arrives through the inbox; return its uri."""
    remote = await add_remote_actor(api_app.db, "http://remote.test/users/rita")
    note = remote.note(content, **more)
    await api_app.coop.receive(remote, remote.create(note))
    return str(note["id"])


@pytest.mark.both_engines
async def test_public_timeline_shows_public_posts_without_a_token(api_app: ApiApp) -> None:
    # Given a local public post, a local followers-only post, a reply to someone else and a
    # remote public post
    local = await post(api_app, "alice", "hello world")
    await post(api_app, "alice", "friends only", visibility=Visibility.PRIVATE)
    await post(
        api_app, "bob", "@alice@" + api_app.domain + " indeed", in_reply_to=_uri(api_app, local)
    )
    remote_uri = await receive_remote_post(api_app, "<p>from afar</p>")
    # When anyone reads the public timelines
    everything = await get_json(await api_app.client.get("/api/v1/timelines/public"))
    local_only = await get_json(await api_app.client.get("/api/v1/timelines/public?local=true"))
    remote_only = await get_json(await api_app.client.get("/api/v1/timelines/public?remote=true"))
    # Then they see public posts that are not replies to others, filtered by origin
    assert [s["uri"] for s in everything] == [remote_uri, _uri(api_app, local)]
    assert [s["id"] for s in local_only] == [str(local)]
    assert [s["uri"] for s in remote_only] == [remote_uri]
    assert remote_only[0]["account"]["acct"] == "rita@remote.test"


def _uri(api_app: ApiApp, object_id: int) -> str:
    return api_app.instance.urls.object(object_id)


async def test_public_timeline_only_media(api_app: ApiApp) -> None:
    # Given two public posts, one with a picture attached
    plain = await post(api_app, "alice", "words only")
    pictured = await post(api_app, "alice", "look at this")
    alice = await member(api_app, "alice")
    await api_app.db.execute(
        "INSERT INTO media (id, actor_id, object_id, kind, content_type, file_name, created_at) "
        "VALUES ($1, $2, $3, 'image', 'image/png', 'x.png', $4)",
        new_id(),
        alice.id,
        pictured,
        clock.now_text(),
    )
    # When the public timeline is asked for media only, then only the pictured post is there
    statuses = await get_json(await api_app.client.get("/api/v1/timelines/public?only_media=1"))
    assert [s["id"] for s in statuses] == [str(pictured)]
    assert plain != pictured


async def test_public_timeline_with_an_invalid_token_is_refused(api_app: ApiApp) -> None:
    response = await api_app.client.get("/api/v1/timelines/public", headers=bearer("nope"))
    assert (await get_json(response, 401))["error"] == "The access token is invalid"


@pytest.mark.both_engines
async def test_tag_timeline_with_any_all_none(api_app: ApiApp) -> None:
    # Given posts with several hashtags, one of them followers-only
    cats = await post(api_app, "alice", "my #Cats")
    both = await post(api_app, "alice", "#cats and #dogs")
    dogs = await post(api_app, "bob", "only #dogs")
    await post(api_app, "bob", "secret #cats", visibility=Visibility.PRIVATE)
    remote_uri = await receive_remote_post(
        api_app,
        '<p><a href="http://remote.test/tags/cats">#cats</a></p>',
        tag=[{"type": "Hashtag", "name": "#cats", "href": "http://remote.test/tags/cats"}],
    )

    async def ids(path: str) -> list[str]:
        return [s["id"] for s in await get_json(await api_app.client.get(path))]

    # Then the tag timeline shows public posts with the tag, any letter case
    tagged = await get_json(await api_app.client.get("/api/v1/timelines/tag/CATS"))
    assert len(tagged) == 3
    assert tagged[0]["uri"] == remote_uri
    assert [s["id"] for s in tagged[1:]] == [str(both), str(cats)]
    assert tagged[1]["tags"][0]["url"] == f"{api_app.base_url}/tags/cats"
    # And local=true, any[], all[] and none[] refine it
    assert await ids("/api/v1/timelines/tag/cats?local=true") == [str(both), str(cats)]
    assert await ids("/api/v1/timelines/tag/cats?local=true&any[]=dogs") == [
        str(dogs),
        str(both),
        str(cats),
    ]
    assert await ids("/api/v1/timelines/tag/cats?all[]=dogs") == [str(both)]
    assert await ids("/api/v1/timelines/tag/cats?local=1&none[]=dogs") == [str(cats)]


async def test_mastodon_py_reads_and_pages_the_home_timeline(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    from mastodon import Mastodon

    # Given three posts and a token, as a real client library uses them
    ids = [await post(api_app, "alice", f"entry {n}") for n in range(3)]
    client = Mastodon(
        access_token=await token_for("alice"),
        api_base_url=api_app.base_url,
        version_check_mode="none",
    )
    # When Mastodon.py reads two and follows the Link header for the rest (in a thread: it
    # blocks, and the server runs on this event loop)
    first = await asyncio.to_thread(client.timeline_home, limit=2)
    rest = await asyncio.to_thread(client.fetch_next, first)
    # Then it sees every post, newest first, across pages
    assert [str(s["id"]) for s in first] == [str(ids[2]), str(ids[1])]
    assert rest is not None and [str(s["id"]) for s in rest] == [str(ids[0])]
