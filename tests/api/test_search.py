"""Search: local members and hashtags, posts by URL, and remote accounts and posts resolved
from a second co-op served in-process (WebFinger, actor and note fetched for real)."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.social.addressing import Visibility
from fedicoop.social.publishing import post_note
from fedicoop.storage.actors import ActorRepository
from tests.activitypub.remote import Coop, start_coop
from tests.api.conftest import FIXTURES, ApiApp, TokenFor, bearer

SEARCH_KEYS = set(json.loads((FIXTURES / "Search.json").read_text()))
TAG_KEYS = {"name", "url", "history"}


async def get_json(response: ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def search(api_app: ApiApp, token: str | None = None, **params: str) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    response = await api_app.client.get("/api/v2/search", params=params, headers=headers)
    body: dict[str, Any] = await get_json(response)
    return body


@pytest.fixture
async def other_coop(
    tmp_path: Path,
    sqlite_template: Path,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    """A second co-op on its own port and database: the "remote" server."""
    database = tmp_path / "other.db"
    shutil.copy(sqlite_template, database)
    return await start_coop(
        tmp_path / "other", f"sqlite:///{database}", aiohttp_server, aiohttp_client
    )


@pytest.mark.both_engines
async def test_local_accounts_by_username_or_display_name_prefix(api_app: ApiApp) -> None:
    # Given members named alice, alicia and bob ("Bob Alison")
    await api_app.member("alice")
    await api_app.member("alicia")
    _, bob = await api_app.member("bob")
    await api_app.db.execute("UPDATE actors SET display_name = 'Bob Alison' WHERE id = $1", bob.id)
    # When anyone searches "ali"
    found = await search(api_app, q="ali")
    # Then the three come back, as Account entities
    assert SEARCH_KEYS == set(found)
    assert sorted(a["acct"] for a in found["accounts"]) == ["alice", "alicia", "bob"]
    # And an exact username comes first; "@" in front and type=accounts work too
    exact = await search(api_app, q="@alicia", type="accounts")
    assert exact["accounts"][0]["acct"] == "alicia"
    assert exact["hashtags"] == [] and exact["statuses"] == []
    # And a local handle with our domain finds the member
    own = await search(api_app, q=f"bob@{api_app.domain}")
    assert [a["acct"] for a in own["accounts"]] == ["bob"]


@pytest.mark.both_engines
async def test_hashtags_from_public_posts_with_history(api_app: ApiApp) -> None:
    # Given public posts tagged #cycling twice and #cyclelane once, and a private #cycling
    _, alice = await api_app.member("alice")
    for text in ("#cycling today", "more #cycling", "the new #cyclelane"):
        await post_note(api_app.federation, alice, text)
    await post_note(api_app.federation, alice, "#cyclists", visibility=Visibility.PRIVATE)
    # When someone searches "#cycl"
    found = await search(api_app, q="#cycl", type="hashtags")
    # Then both public tags come back, the most used first, each with seven days of history
    assert [t["name"] for t in found["hashtags"]] == ["cycling", "cyclelane"]
    cycling = found["hashtags"][0]
    assert TAG_KEYS <= set(cycling)
    assert cycling["url"] == f"{api_app.base_url}/tags/cycling"
    assert len(cycling["history"]) == 7
    assert cycling["history"][0]["uses"] == "2" and cycling["history"][0]["accounts"] == "1"
    assert found["accounts"] == [] and found["statuses"] == []


async def test_a_status_by_its_url_respects_visibility(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a public post and a followers-only post by alice
    _, alice = await api_app.member("alice")
    public = await post_note(api_app.federation, alice, "findable")
    private = await post_note(
        api_app.federation, alice, "not for you", visibility=Visibility.PRIVATE
    )
    # When its URL is searched, then the public post is found by uri and by url
    by_uri = await search(api_app, q=public.object.uri)
    assert [s["id"] for s in by_uri["statuses"]] == [str(public.object.id)]
    assert public.object.url is not None
    by_url = await search(api_app, q=public.object.url)
    assert [s["id"] for s in by_url["statuses"]] == [str(public.object.id)]
    # And the private one only by its author
    assert (await search(api_app, q=private.object.uri))["statuses"] == []
    bob_sees = await search(api_app, await token_for("bob"), q=private.object.uri)
    assert bob_sees["statuses"] == []
    alice_sees = await search(api_app, await token_for("alice"), q=private.object.uri)
    assert [s["id"] for s in alice_sees["statuses"]] == [str(private.object.id)]
    # And an actor URL finds the account
    assert [a["acct"] for a in (await search(api_app, q=alice.uri))["accounts"]] == ["alice"]


async def test_resolve_and_offset_need_a_member(api_app: ApiApp) -> None:
    response = await api_app.client.get(
        "/api/v2/search", params={"q": "someone@example.com", "resolve": "true"}
    )
    assert "error" in await get_json(response, 401)
    paged = await api_app.client.get("/api/v2/search", params={"q": "a", "offset": "2"})
    assert paged.status == 401
    bad_type = await api_app.client.get("/api/v2/search", params={"q": "a", "type": "lists"})
    assert bad_type.status == 422


async def test_resolve_finds_a_remote_account_by_webfinger(
    api_app: ApiApp, token_for: TokenFor, other_coop: Coop
) -> None:
    # Given an admin account on another co-op, unknown here
    handle = f"admin@{other_coop.domain}"
    token = await token_for("alice")
    # When alice searches the handle without resolve, then nothing is found
    assert (await search(api_app, token, q=handle))["accounts"] == []
    # When she searches "@handle" with resolve=true
    found = await search(api_app, token, q=f"@{handle}", resolve="true")
    # Then the account was looked up with WebFinger, fetched and stored
    assert [a["acct"] for a in found["accounts"]] == [handle]
    assert found["accounts"][0]["uri"] == f"{other_coop.base_url}/users/admin"
    stored = await ActorRepository(api_app.db).by_uri(f"{other_coop.base_url}/users/admin")
    assert stored is not None and not stored.local
    # And later searches find it without resolving again
    again = await search(api_app, token, q=handle)
    assert [a["id"] for a in again["accounts"]] == [str(stored.id)]


async def test_resolve_fetches_a_remote_post_by_url(
    api_app: ApiApp, token_for: TokenFor, other_coop: Coop
) -> None:
    # Given a public post on the other co-op
    remote_admin = await other_coop.local_actor("admin")
    posted = await post_note(other_coop.federation, remote_admin, "news from elsewhere")
    token = await token_for("alice")
    # When alice searches its URL with resolve=true
    found = await search(api_app, token, q=posted.object.uri, resolve="true")
    # Then the post was fetched, stored, and shown with its remote author
    assert [s["uri"] for s in found["statuses"]] == [posted.object.uri]
    status = found["statuses"][0]
    assert status["content"] == "<p>news from elsewhere</p>"
    assert status["account"]["acct"] == f"admin@{other_coop.domain}"
    # And an actor URL resolves to the account
    actor_found = await search(api_app, token, q=remote_admin.uri, resolve="true")
    assert [a["acct"] for a in actor_found["accounts"]] == [f"admin@{other_coop.domain}"]


async def test_resolve_of_an_unknown_handle_finds_nothing(
    api_app: ApiApp, token_for: TokenFor, other_coop: Coop
) -> None:
    found = await search(
        api_app, await token_for("alice"), q=f"nobody@{other_coop.domain}", resolve="true"
    )
    assert found == {"accounts": [], "statuses": [], "hashtags": []}
