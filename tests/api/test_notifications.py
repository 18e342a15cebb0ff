"""Notifications: what the inbox writes, shown as Mastodon entities; filters, dismiss, clear."""

import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from yarl import URL

from fedicoop.social.publishing import delete_note, follow, post_note, react
from fedicoop.storage.actors import ActorRecord
from tests.api.conftest import FIXTURES, ApiApp, TokenFor, bearer

NOTIFICATION_KEYS = set(json.loads((FIXTURES / "Notification.json").read_text()))


async def member(api_app: ApiApp, username: str) -> ActorRecord:
    return (await api_app.member(username))[1]


async def get_json(response: ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def everything_happens_to_alice(api_app: ApiApp) -> dict[str, str]:
    """bob follows alice, mentions her, likes and boosts her post; return the uris involved."""
    alice, bob = await member(api_app, "alice"), await member(api_app, "bob")
    federation = api_app.federation
    await follow(federation, bob, alice)
    await api_app.process()
    own = await post_note(federation, alice, "a post of mine")
    mention = await post_note(federation, bob, f"hello @alice@{api_app.domain}")
    await react(federation, bob, "Like", own.object.uri)
    await react(federation, bob, "Announce", own.object.uri)
    await api_app.process()
    return {"own": own.object.uri, "mention": mention.object.uri}


async def notifications(api_app: ApiApp, token: str, query: str = "") -> list[dict[str, Any]]:
    response = await api_app.client.get(f"/api/v1/notifications{query}", headers=bearer(token))
    body: list[dict[str, Any]] = await get_json(response)
    return body


async def test_follow_mention_favourite_and_reblog_notify_the_member(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given bob follows alice, mentions her, likes and boosts her post
    uris = await everything_happens_to_alice(api_app)
    bob = await member(api_app, "bob")
    # When alice lists her notifications
    found = await notifications(api_app, await token_for("alice"))
    # Then each is there, newest first, from bob, with the status it is about
    assert [n["type"] for n in found] == ["reblog", "favourite", "mention", "follow"]
    assert all(NOTIFICATION_KEYS <= set(n) for n in found[:3])
    assert all(n["account"]["id"] == str(bob.id) for n in found)
    assert found[0]["status"]["uri"] == uris["own"]
    assert found[1]["status"]["uri"] == uris["own"]
    assert found[2]["status"]["uri"] == uris["mention"]
    assert "status" not in found[3]
    assert found[0]["created_at"].endswith("Z")
    # And bob, to whom nothing happened, has none
    assert await notifications(api_app, await token_for("bob")) == []


@pytest.mark.both_engines
async def test_types_exclude_types_and_account_filters(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given alice has notifications of four types from bob, and a follow from carol
    await everything_happens_to_alice(api_app)
    await follow(api_app.federation, await member(api_app, "carol"), await member(api_app, "alice"))
    await api_app.process()
    carol = await member(api_app, "carol")
    token = await token_for("alice")

    async def types(query: str) -> list[str]:
        return [n["type"] for n in await notifications(api_app, token, query)]

    # Then types[], exclude_types[] and account_id narrow the list
    assert await types("?types[]=mention&types[]=favourite") == ["favourite", "mention"]
    assert await types("?exclude_types[]=follow&exclude_types[]=reblog") == [
        "favourite",
        "mention",
    ]
    assert await types(f"?account_id={carol.id}") == ["follow"]
    assert await types("?types[]=follow") == ["follow", "follow"]
    assert await types("?types[]=no_such_type") == []


async def test_notifications_page_with_link_headers(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given four notifications
    await everything_happens_to_alice(api_app)
    token = await token_for("alice")
    # When alice reads two at a time
    response = await api_app.client.get("/api/v1/notifications?limit=2", headers=bearer(token))
    first = await get_json(response)
    assert [n["type"] for n in first] == ["reblog", "favourite"]
    # Then the Link header leads to the next two, on the instance's public origin
    next_url = URL(str(response.links["next"]["url"]))
    assert str(next_url).startswith(api_app.base_url + "/api/v1/notifications?")
    older = await get_json(await api_app.client.get(next_url.path_qs, headers=bearer(token)))
    assert [n["type"] for n in older] == ["mention", "follow"]
    # And min_id walks back up
    newer = await notifications(api_app, token, f"?min_id={older[0]['id']}&limit=1")
    assert [n["type"] for n in newer] == ["favourite"]


@pytest.mark.both_engines
async def test_show_dismiss_and_clear(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given alice's four notifications
    await everything_happens_to_alice(api_app)
    token = await token_for("alice")
    found = await notifications(api_app, token)
    newest = found[0]["id"]
    # When she opens one, then it is the same entity
    shown = await get_json(
        await api_app.client.get(f"/api/v1/notifications/{newest}", headers=bearer(token))
    )
    assert shown == found[0]
    # And bob cannot open, nor dismiss, alice's notification
    bob_token = await token_for("bob")
    other = await api_app.client.get(f"/api/v1/notifications/{newest}", headers=bearer(bob_token))
    assert (await get_json(other, 404))["error"]
    stolen = await api_app.client.post(
        f"/api/v1/notifications/{newest}/dismiss", headers=bearer(bob_token)
    )
    assert stolen.status == 404
    # When she dismisses it, then it is gone from the list and from its own URL
    dismissed = await api_app.client.post(
        f"/api/v1/notifications/{newest}/dismiss", headers=bearer(token)
    )
    assert await get_json(dismissed) == {}
    assert [n["id"] for n in await notifications(api_app, token)] == [n["id"] for n in found[1:]]
    gone = await api_app.client.get(f"/api/v1/notifications/{newest}", headers=bearer(token))
    assert gone.status == 404
    # When she clears them all, then none are left
    cleared = await api_app.client.post("/api/v1/notifications/clear", headers=bearer(token))
    assert await get_json(cleared) == {}
    assert await notifications(api_app, token) == []


async def test_scopes_guard_reading_and_dismissing(api_app: ApiApp, token_for: TokenFor) -> None:
    await everything_happens_to_alice(api_app)
    reader = await token_for("alice", "read:notifications")
    found = await notifications(api_app, reader)
    refused = await api_app.client.post(
        f"/api/v1/notifications/{found[0]['id']}/dismiss", headers=bearer(reader)
    )
    assert refused.status == 403
    anonymous = await api_app.client.get("/api/v1/notifications")
    assert (await get_json(anonymous, 401))["error"]
    not_a_number = await api_app.client.get("/api/v1/notifications/abc", headers=bearer(reader))
    assert not_a_number.status == 404


async def test_a_deleted_post_takes_its_notification_along(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given bob mentioned alice, then deleted the post
    bob = await member(api_app, "bob")
    await member(api_app, "alice")
    mention = await post_note(api_app.federation, bob, f"hey @alice@{api_app.domain}")
    await api_app.process()
    await delete_note(api_app.federation, bob, mention.object.uri)
    await api_app.process()
    # When alice lists notifications, then the mention is no longer shown
    assert await notifications(api_app, await token_for("alice")) == []
