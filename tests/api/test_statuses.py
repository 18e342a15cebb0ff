"""Statuses, polls, bookmarks and favourites through the Mastodon client API, in process.

Each test runs a real instance on a loopback socket with a real SQLite database, logs members
in with the password grant, and checks the JSON against Mastodon's documented entities.
"""

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from fedicoop import clock
from fedicoop.activitypub.documents import PUBLIC
from fedicoop.ids import new_id
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.follows import FollowRecord, FollowRepository
from fedicoop.storage.objects import ObjectRepository
from tests.activitypub.remote import REMOTE_ORIGIN, RemoteActor, add_remote_actor
from tests.api.conftest import FIXTURES, ApiApp, TokenFor, bearer

# Mastodon 4.5 added quote posts; fedicoop does not quote yet.
QUOTE_KEYS = {"quote", "quote_approval", "quotes_count"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


async def body_of(response: ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def error_of(response: ClientResponse, status: int) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body["error"], str)
    return str(body["error"])


async def post(
    api: ApiApp, headers: dict[str, str], expect: int = 200, **fields: Any
) -> dict[str, Any]:
    response = await api.client.post("/api/v1/statuses", json=fields, headers=headers)
    result: dict[str, Any] = await body_of(response, expect)
    return result


async def get(
    api: ApiApp, path: str, headers: dict[str, str] | None = None, status: int = 200
) -> Any:
    return await body_of(await api.client.get(path, headers=headers or {}), status)


async def follow(api: ApiApp, follower: ActorRecord, followee: ActorRecord) -> None:
    await FollowRepository(api.db).put(
        FollowRecord(
            follower_id=follower.id,
            followee_id=followee.id,
            uri=f"{api.base_url}/follows/{new_id()}",
            state="accepted",
        )
    )


async def add_media(api: ApiApp, actor: ActorRecord, **columns: Any) -> int:
    """Store an uploaded image as the media module would (attached to nothing yet)."""
    media_id = new_id()
    values = {
        "kind": "image",
        "content_type": "image/png",
        "file_name": f"{media_id}.png",
        "description": "",
        "width": 640,
        "height": 480,
    } | columns
    await api.db.execute(
        "INSERT INTO media (id, account_id, actor_id, kind, content_type, file_name, description, "
        "width, height, focus, created_at) VALUES ($1, (SELECT id FROM accounts WHERE "
        "actor_id = $2), $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        media_id,
        actor.id,
        values["kind"],
        values["content_type"],
        values["file_name"],
        values["description"],
        values["width"],
        values["height"],
        values.get("focus"),
        clock.now_text(),
    )
    return media_id


async def sent(api: ApiApp, kind: str) -> list[dict[str, Any]]:
    """Return the activities of one type this instance sent, oldest first."""
    rows = await api.db.fetch(
        "SELECT raw FROM activities WHERE type = $1 AND local = 1 ORDER BY id", kind
    )
    return [json.loads(row["raw"]) for row in rows]


async def raw_document(api: ApiApp, status: dict[str, Any]) -> dict[str, Any]:
    record = await ObjectRepository(api.db).get(int(status["id"]))
    assert record is not None
    document: dict[str, Any] = json.loads(record.raw)
    return document


# --- Posting --------------------------------------------------------------------------------


async def test_posting_returns_a_status_shaped_like_mastodons(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    # Given the admin logged in with the password grant
    # When they post a status with a hashtag, in JSON
    status = await post(api_app, auth_headers, status="Hello #coop", language="en")
    # Then the answer is a Status with every key Mastodon documents (quotes aside)
    expected = set(fixture("Status.json")) - QUOTE_KEYS
    assert expected <= set(status)
    assert status["content"].startswith("<p>Hello ")
    assert status["visibility"] == "public"
    assert status["language"] == "en"
    assert status["account"]["acct"] == "admin"
    assert status["tags"] == [{"name": "coop", "url": f"{api_app.base_url}/tags/coop"}]
    assert status["uri"] == f"{api_app.base_url}/objects/{status['id']}"
    # And a Create(Note) carrying the source text went out
    creates = await sent(api_app, "Create")
    assert creates[-1]["object"]["id"] == status["uri"]
    assert creates[-1]["object"]["type"] == "Note"
    assert creates[-1]["object"]["source"] == {"content": "Hello #coop", "mediaType": "text/plain"}


async def test_posting_with_a_form_and_a_trailing_slash_works(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    response = await api_app.client.post(
        "/api/v1/statuses/",
        data={"status": "form post", "visibility": "unlisted"},
        headers=auth_headers,
    )
    status = await body_of(response)
    assert status["visibility"] == "unlisted"


async def test_a_content_warning_makes_the_status_sensitive(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(api_app, auth_headers, status="spoilers", spoiler_text="film ending")
    assert status["spoiler_text"] == "film ending"
    assert status["sensitive"] is True


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "   "}, "Validation failed: Text can't be blank"),
        ({"status": "x" * 5001}, "Validation failed: Text character limit of 5000 exceeded"),
        ({"status": "hi", "visibility": "everyone"}, "visibility must be one of"),
    ],
)
async def test_invalid_statuses_are_422_with_mastodons_messages(
    api_app: ApiApp, auth_headers: dict[str, str], fields: dict[str, Any], message: str
) -> None:
    response = await api_app.client.post("/api/v1/statuses", json=fields, headers=auth_headers)
    assert (await error_of(response, 422)).startswith(message)


async def test_posting_needs_a_valid_token_with_write_statuses(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Without a token, or with an unknown one: 401
    anonymous = await api_app.client.post("/api/v1/statuses", json={"status": "hi"})
    assert await error_of(anonymous, 401) == "The access token is invalid"
    forged = await api_app.client.post(
        "/api/v1/statuses", json={"status": "hi"}, headers=bearer("forged")
    )
    await error_of(forged, 401)
    # With a read-only token: 403
    read_only = bearer(await token_for("admin", "read"))
    response = await api_app.client.post(
        "/api/v1/statuses", json={"status": "hi"}, headers=read_only
    )
    await error_of(response, 403)
    # write:statuses alone is enough
    narrow = bearer(await token_for("admin", "write:statuses"))
    await post(api_app, narrow, status="narrow but enough")


async def test_a_reply_points_at_its_parent(api_app: ApiApp, token_for: TokenFor) -> None:
    admin = bearer(await token_for("admin"))
    bob = bearer(await token_for("bob"))
    parent = await post(api_app, admin, status="question?")
    reply = await post(api_app, bob, status="answer", in_reply_to_id=parent["id"])
    assert reply["in_reply_to_id"] == parent["id"]
    assert reply["in_reply_to_account_id"] == parent["account"]["id"]
    # The parent's author is mentioned, so the reply reaches them
    assert [m["acct"] for m in reply["mentions"]] == ["admin"]
    again = await get(api_app, f"/api/v1/statuses/{parent['id']}")
    assert again["replies_count"] == 1


async def test_replying_to_an_unknown_status_is_404(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    response = await api_app.client.post(
        "/api/v1/statuses", json={"status": "hi", "in_reply_to_id": "12345"}, headers=auth_headers
    )
    assert await error_of(response, 404) == "Record not found"


async def test_the_same_idempotency_key_returns_the_same_status(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = {**bearer(await token_for("admin")), "Idempotency-Key": "retry-1"}
    # Given a post made with an Idempotency-Key
    first = await post(api_app, admin, status="only once")
    # When the client retries with the same key (a flaky network)
    second = await post(api_app, admin, status="only once")
    # Then it gets the same status back and nothing new was published
    assert second["id"] == first["id"]
    assert await api_app.coop.count("objects", "local = 1") == 1
    assert len(await sent(api_app, "Create")) == 1
    # But the key is per account: bob's identical key makes bob's own status
    bob = {**bearer(await token_for("bob")), "Idempotency-Key": "retry-1"}
    assert (await post(api_app, bob, status="only once"))["id"] != first["id"]


async def test_a_failed_post_frees_its_idempotency_key(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    headers = {**auth_headers, "Idempotency-Key": "k"}
    await post(api_app, headers, 422, status="")
    assert (await post(api_app, headers, status="now with text"))["content"]


# --- Media ----------------------------------------------------------------------------------


async def test_media_are_attached_and_published_as_attachments(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    _, admin = await api_app.member("admin")
    first = await add_media(api_app, admin, description="a bike", focus="0.5,-0.25")
    second = await add_media(api_app, admin, kind="video", content_type="video/mp4")
    # When a status attaches both, in the order asked for, with no text
    status = await post(api_app, auth_headers, status="", media_ids=[str(second), str(first)])
    # Then the Status lists them in that order
    attachments = status["media_attachments"]
    assert [a["id"] for a in attachments] == [str(second), str(first)]
    assert attachments[1]["description"] == "a bike"
    assert attachments[1]["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    # And the published note carries them as ActivityStreams attachments
    document = await raw_document(api_app, status)
    image = document["attachment"][1]
    assert image == {
        "type": "Image",
        "mediaType": "image/png",
        "url": f"{api_app.base_url}/media/{first}.png",
        "name": "a bike",
        "width": 640,
        "height": 480,
        "focalPoint": [0.5, -0.25],
    }
    assert document["attachment"][0]["type"] == "Video"


async def test_media_of_another_member_cannot_be_attached(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    _, bob = await api_app.member("bob")
    theirs = await add_media(api_app, bob)
    admin = bearer(await token_for("admin"))
    response = await api_app.client.post(
        "/api/v1/statuses", json={"status": "mine?", "media_ids": [str(theirs)]}, headers=admin
    )
    assert await error_of(response, 422) == f"Validation failed: Media {theirs} not found"


async def test_at_most_four_media_and_never_with_a_poll(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    _, admin = await api_app.member("admin")
    ids = [str(await add_media(api_app, admin)) for _ in range(5)]
    await post(api_app, auth_headers, 422, status="many", media_ids=ids)
    poll = {"options": ["a", "b"], "expires_in": 3600}
    await post(api_app, auth_headers, 422, status="both", media_ids=ids[:1], poll=poll)
    # Nothing was attached by the failed attempts
    assert await api_app.coop.count("media", "object_id IS NOT NULL") == 0


# --- Reading and visibility -----------------------------------------------------------------


async def test_public_statuses_are_readable_without_a_token(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(api_app, auth_headers, status="for all")
    anonymous = await get(api_app, f"/api/v1/statuses/{status['id']}")
    assert anonymous["id"] == status["id"]
    assert anonymous["favourited"] is False
    assert (await get(api_app, f"/api/v1/statuses/{status['id']}/"))["id"] == status["id"]


@pytest.mark.parametrize("path", ["/api/v1/statuses/999", "/api/v1/statuses/abc"])
async def test_unknown_statuses_are_404(api_app: ApiApp, path: str) -> None:
    assert await error_of(await api_app.client.get(path), 404) == "Record not found"


async def test_followers_only_statuses_reach_followers_and_the_author_only(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    _, admin = await api_app.member("admin")
    _, bob = await api_app.member("bob")
    await api_app.member("carol")
    await follow(api_app, bob, admin)
    status = await post(api_app, bearer(await token_for("admin")), status="s", visibility="private")
    path = f"/api/v1/statuses/{status['id']}"
    await get(api_app, path, status=404)
    await get(api_app, path, bearer(await token_for("carol")), status=404)
    assert (await get(api_app, path, bearer(await token_for("bob"))))["visibility"] == "private"
    await get(api_app, path, bearer(await token_for("admin")))


async def test_direct_statuses_reach_the_mentioned_only(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    _, admin = await api_app.member("admin")
    _, bob = await api_app.member("bob")
    await api_app.member("carol")
    await follow(api_app, bob, admin)
    carol_token = bearer(await token_for("carol"))
    status = await post(
        api_app, carol_token, status=f"@admin@{api_app.domain} psst", visibility="direct"
    )
    path = f"/api/v1/statuses/{status['id']}"
    assert (await get(api_app, path, bearer(await token_for("admin"))))["visibility"] == "direct"
    await get(api_app, path, bearer(await token_for("bob")), status=404)
    await get(api_app, path, status=404)
    await get(api_app, path, carol_token)


async def test_a_token_without_read_scope_cannot_read_even_public_statuses(
    api_app: ApiApp, auth_headers: dict[str, str], token_for: TokenFor
) -> None:
    status = await post(api_app, auth_headers, status="public")
    write_only = bearer(await token_for("admin", "write"))
    response = await api_app.client.get(f"/api/v1/statuses/{status['id']}", headers=write_only)
    await error_of(response, 403)


async def test_several_statuses_at_once_skip_the_invisible(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    public = await post(api_app, auth_headers, status="public")
    private = await post(api_app, auth_headers, status="private", visibility="private")
    query = f"id[]={public['id']}&id[]={private['id']}&id[]=42"
    listed = await get(api_app, f"/api/v1/statuses?{query}")
    assert [s["id"] for s in listed] == [public["id"]]


async def test_context_lists_ancestors_and_descendants_the_viewer_may_see(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = bearer(await token_for("admin"))
    bob = bearer(await token_for("bob"))
    root = await post(api_app, admin, status="root")
    middle = await post(api_app, bob, status="middle", in_reply_to_id=root["id"])
    leaf = await post(api_app, admin, status="leaf", in_reply_to_id=middle["id"])
    hidden = await post(
        api_app, admin, status="followers only", in_reply_to_id=middle["id"], visibility="private"
    )
    side = await post(api_app, bob, status="side", in_reply_to_id=root["id"])
    # Anonymous: the followers-only reply stays hidden
    context = await get(api_app, f"/api/v1/statuses/{middle['id']}/context")
    assert set(context) == set(fixture("Context.json"))
    assert [s["id"] for s in context["ancestors"]] == [root["id"]]
    assert [s["id"] for s in context["descendants"]] == [leaf["id"]]
    # The author sees their own reply; from the root, the thread comes depth first
    context = await get(api_app, f"/api/v1/statuses/{root['id']}/context", admin)
    ids = [s["id"] for s in context["descendants"]]
    assert ids == [middle["id"], leaf["id"], hidden["id"], side["id"]]


# --- Deleting and editing -------------------------------------------------------------------


async def test_deleting_returns_the_source_text_and_federates_a_delete(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(api_app, auth_headers, status="oops <typo> & all")
    response = await api_app.client.delete(f"/api/v1/statuses/{status['id']}", headers=auth_headers)
    deleted = await body_of(response)
    assert deleted["id"] == status["id"]
    assert deleted["text"] == "oops <typo> & all"
    await get(api_app, f"/api/v1/statuses/{status['id']}", auth_headers, status=404)
    assert (await sent(api_app, "Delete"))[-1]["object"]["id"] == status["uri"]


async def test_deleting_releases_media_for_a_redraft(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    _, admin = await api_app.member("admin")
    media_id = str(await add_media(api_app, admin))
    status = await post(api_app, auth_headers, status="draft 1", media_ids=[media_id])
    deleted = await body_of(
        await api_app.client.delete(f"/api/v1/statuses/{status['id']}", headers=auth_headers)
    )
    assert [m["id"] for m in deleted["media_attachments"]] == [media_id]
    redraft = await post(api_app, auth_headers, status=deleted["text"], media_ids=[media_id])
    assert [m["id"] for m in redraft["media_attachments"]] == [media_id]


async def test_only_the_author_may_delete_or_edit(api_app: ApiApp, token_for: TokenFor) -> None:
    status = await post(api_app, bearer(await token_for("admin")), status="mine")
    bob = bearer(await token_for("bob"))
    path = f"/api/v1/statuses/{status['id']}"
    assert await error_of(await api_app.client.delete(path, headers=bob), 404) == (
        "Record not found"
    )
    await error_of(await api_app.client.put(path, json={"status": "x"}, headers=bob), 404)
    await error_of(await api_app.client.delete(path), 401)


async def test_editing_changes_the_text_and_federates_an_update(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(api_app, auth_headers, status="frist")
    assert status["edited_at"] is None
    path = f"/api/v1/statuses/{status['id']}"
    response = await api_app.client.put(
        path, json={"status": "first", "spoiler_text": "typo"}, headers=auth_headers
    )
    edited = await body_of(response)
    assert edited["id"] == status["id"]
    assert edited["content"] == "<p>first</p>"
    assert edited["spoiler_text"] == "typo"
    assert edited["edited_at"] is not None
    assert edited["created_at"] == status["created_at"]
    update = (await sent(api_app, "Update"))[-1]
    assert update["object"]["id"] == status["uri"]
    assert update["object"]["content"] == "<p>first</p>"
    assert update["object"]["updated"]
    source = await get(api_app, f"{path}/source", auth_headers)
    assert set(source) == set(fixture("StatusSource.json"))
    assert source == {"id": status["id"], "text": "first", "spoiler_text": "typo"}


async def test_an_edit_to_blank_text_is_422(api_app: ApiApp, auth_headers: dict[str, str]) -> None:
    status = await post(api_app, auth_headers, status="text")
    response = await api_app.client.put(
        f"/api/v1/statuses/{status['id']}", json={"status": ""}, headers=auth_headers
    )
    assert await error_of(response, 422) == "Validation failed: Text can't be blank"


async def test_an_edit_delivered_to_local_followers_keeps_the_served_document(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    # Given a local follower, so the Update also goes through our own inbox
    _, admin = await api_app.member("admin")
    _, bob = await api_app.member("bob")
    await follow(api_app, bob, admin)
    status = await post(api_app, auth_headers, status="before")
    await api_app.client.put(
        f"/api/v1/statuses/{status['id']}", json={"status": "after"}, headers=auth_headers
    )
    await api_app.process()
    # Then /objects/<id> still serves a whole document with its @context and new text
    response = await api_app.client.get(
        f"/objects/{status['id']}", headers={"Accept": "application/activity+json"}
    )
    document = await body_of(response)
    assert "@context" in document
    assert document["content"] == "<p>after</p>"


# --- Favourites, boosts, bookmarks ----------------------------------------------------------


async def test_favouriting_sets_the_flag_and_the_count(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    status = await post(api_app, bearer(await token_for("admin")), status="like me")
    bob = bearer(await token_for("bob"))
    path = f"/api/v1/statuses/{status['id']}"
    liked = await body_of(await api_app.client.post(f"{path}/favourite", headers=bob))
    assert (liked["favourited"], liked["favourites_count"]) == (True, 1)
    # Twice is the same as once
    again = await body_of(await api_app.client.post(f"{path}/favourite", headers=bob))
    assert again["favourites_count"] == 1
    accounts = await get(api_app, f"{path}/favourited_by")
    assert [a["acct"] for a in accounts] == ["bob"]
    undone = await body_of(await api_app.client.post(f"{path}/unfavourite", headers=bob))
    assert (undone["favourited"], undone["favourites_count"]) == (False, 0)


async def test_favouriting_needs_write_favourites(api_app: ApiApp, token_for: TokenFor) -> None:
    status = await post(api_app, bearer(await token_for("admin")), status="like me")
    narrow = bearer(await token_for("bob", "write:statuses"))
    response = await api_app.client.post(
        f"/api/v1/statuses/{status['id']}/favourite", headers=narrow
    )
    await error_of(response, 403)
    response = await api_app.client.post("/api/v1/statuses/999/favourite", headers=narrow)
    await error_of(response, 403)


async def test_favouriting_an_unknown_status_is_404(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    response = await api_app.client.post("/api/v1/statuses/999/favourite", headers=auth_headers)
    await error_of(response, 404)


async def test_a_reblog_is_a_status_wrapping_the_original(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    original = await post(api_app, bearer(await token_for("admin")), status="boost me")
    bob = bearer(await token_for("bob"))
    path = f"/api/v1/statuses/{original['id']}"
    # When bob boosts it
    boost = await body_of(await api_app.client.post(f"{path}/reblog", headers=bob))
    # Then the answer is bob's boost, its own id, wrapping the original
    assert boost["id"] != original["id"]
    assert boost["account"]["acct"] == "bob"
    assert boost["reblog"]["id"] == original["id"]
    assert boost["reblog"]["reblogged"] is True
    assert boost["reblog"]["reblogs_count"] == 1
    # And the boost id is a status id too
    shown = await get(api_app, f"/api/v1/statuses/{boost['id']}", bob)
    assert shown["reblog"]["id"] == original["id"]
    assert [a["acct"] for a in await get(api_app, f"{path}/reblogged_by")] == ["bob"]
    # Acting on the boost acts on the original
    liked = await body_of(
        await api_app.client.post(f"/api/v1/statuses/{boost['id']}/favourite", headers=bob)
    )
    assert liked["id"] == original["id"] and liked["favourited"] is True
    undone = await body_of(await api_app.client.post(f"{path}/unreblog", headers=bob))
    assert (undone["id"], undone["reblogged"], undone["reblogs_count"]) == (
        original["id"],
        False,
        0,
    )
    await get(api_app, f"/api/v1/statuses/{boost['id']}", status=404)


async def test_followers_only_statuses_cannot_be_reblogged(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    _, admin = await api_app.member("admin")
    _, bob = await api_app.member("bob")
    await follow(api_app, bob, admin)
    status = await post(api_app, bearer(await token_for("admin")), status="s", visibility="private")
    response = await api_app.client.post(
        f"/api/v1/statuses/{status['id']}/reblog", headers=bearer(await token_for("bob"))
    )
    assert await error_of(response, 403) == "This action is not allowed"


async def test_bookmarks_are_private_and_listed(api_app: ApiApp, token_for: TokenFor) -> None:
    admin = bearer(await token_for("admin"))
    bob = bearer(await token_for("bob"))
    status = await post(api_app, admin, status="keep me")
    path = f"/api/v1/statuses/{status['id']}"
    marked = await body_of(await api_app.client.post(f"{path}/bookmark", headers=bob))
    assert marked["bookmarked"] is True
    assert (await get(api_app, path, admin))["bookmarked"] is False
    assert [s["id"] for s in await get(api_app, "/api/v1/bookmarks", bob)] == [status["id"]]
    assert await get(api_app, "/api/v1/bookmarks", admin) == []
    unmarked = await body_of(await api_app.client.post(f"{path}/unbookmark", headers=bob))
    assert unmarked["bookmarked"] is False
    assert await get(api_app, "/api/v1/bookmarks", bob) == []


async def test_bookmark_scopes_are_checked(api_app: ApiApp, token_for: TokenFor) -> None:
    status = await post(api_app, bearer(await token_for("admin")), status="keep me")
    write_only = bearer(await token_for("bob", "write:bookmarks"))
    response = await api_app.client.post(
        f"/api/v1/statuses/{status['id']}/bookmark", headers=write_only
    )
    await body_of(response)
    await error_of(await api_app.client.get("/api/v1/bookmarks", headers=write_only), 403)
    await error_of(await api_app.client.get("/api/v1/bookmarks"), 401)


async def test_favourites_are_listed_newest_first_with_link_pagination(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = bearer(await token_for("admin"))
    bob = bearer(await token_for("bob"))
    statuses = [await post(api_app, admin, status=f"n{n}") for n in range(3)]
    for status in statuses:
        await api_app.client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=bob)
    response = await api_app.client.get("/api/v1/favourites?limit=2", headers=bob)
    first = await body_of(response)
    assert [s["id"] for s in first] == [statuses[2]["id"], statuses[1]["id"]]
    next_url = response.links["next"]["url"]
    assert str(next_url).startswith(api_app.base_url)
    rest = await get(api_app, str(next_url).removeprefix(api_app.base_url), bob)
    assert [s["id"] for s in rest] == [statuses[0]["id"]]


# --- Pins -----------------------------------------------------------------------------------


async def test_pinned_statuses_are_flagged_and_featured(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(api_app, auth_headers, status="pin me")
    path = f"/api/v1/statuses/{status['id']}"
    pinned = await body_of(await api_app.client.post(f"{path}/pin", headers=auth_headers))
    assert pinned["pinned"] is True
    featured = await get(api_app, "/users/admin/collections/featured")
    assert featured["totalItems"] == 1
    assert [item["id"] for item in featured["orderedItems"]] == [status["uri"]]
    assert (await sent(api_app, "Add"))[-1]["object"] == status["uri"]
    unpinned = await body_of(await api_app.client.post(f"{path}/unpin", headers=auth_headers))
    assert unpinned["pinned"] is False
    assert (await get(api_app, "/users/admin/collections/featured"))["orderedItems"] == []
    assert (await sent(api_app, "Remove"))[-1]["target"].endswith("/collections/featured")


async def test_pins_are_limited_to_five_own_public_statuses(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = bearer(await token_for("admin"))
    bob_status = await post(api_app, bearer(await token_for("bob")), status="bob's")
    response = await api_app.client.post(f"/api/v1/statuses/{bob_status['id']}/pin", headers=admin)
    assert await error_of(response, 422) == (
        "Validation failed: Someone else's post cannot be pinned"
    )
    secret = await post(api_app, admin, status="shh", visibility="direct")
    response = await api_app.client.post(f"/api/v1/statuses/{secret['id']}/pin", headers=admin)
    assert "only visible to mentioned users" in await error_of(response, 422)
    for n in range(5):
        status = await post(api_app, admin, status=f"pin {n}")
        await body_of(
            await api_app.client.post(f"/api/v1/statuses/{status['id']}/pin", headers=admin)
        )
    sixth = await post(api_app, admin, status="one too many")
    response = await api_app.client.post(f"/api/v1/statuses/{sixth['id']}/pin", headers=admin)
    assert "maximum number of posts" in await error_of(response, 422)


# --- Polls ----------------------------------------------------------------------------------


async def test_a_poll_is_published_as_a_question(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(
        api_app,
        auth_headers,
        status="Lunch?",
        poll={"options": ["Soup", "Salad"], "expires_in": 3600, "multiple": False},
    )
    poll = status["poll"]
    assert set(fixture("Poll.json")) <= set(poll)
    assert poll["id"] == status["id"]
    assert [o["title"] for o in poll["options"]] == ["Soup", "Salad"]
    assert (poll["expired"], poll["multiple"], poll["votes_count"]) == (False, False, 0)
    # Mastodon shows the author as having voted (authors cannot vote), with no own votes
    assert (poll["voted"], poll["own_votes"]) == (True, [])
    assert (await get(api_app, f"/api/v1/polls/{status['id']}"))["voted"] is False
    document = await raw_document(api_app, status)
    assert document["type"] == "Question"
    assert document["oneOf"] == [
        {"type": "Note", "name": "Soup", "replies": {"type": "Collection", "totalItems": 0}},
        {"type": "Note", "name": "Salad", "replies": {"type": "Collection", "totalItems": 0}},
    ]
    assert document["votersCount"] == 0
    assert document["endTime"].endswith("Z")
    assert (await sent(api_app, "Create"))[-1]["object"]["type"] == "Question"


async def test_a_poll_form_with_nested_keys_works(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    form = [
        ("status", "Pick"),
        ("poll[options][]", "a"),
        ("poll[options][]", "b"),
        ("poll[options][]", "c"),
        ("poll[expires_in]", "600"),
        ("poll[multiple]", "true"),
    ]
    response = await api_app.client.post("/api/v1/statuses", data=form, headers=auth_headers)
    poll = (await body_of(response))["poll"]
    assert poll["multiple"] is True
    assert len(poll["options"]) == 3


@pytest.mark.parametrize(
    ("poll", "message"),
    [
        ({"options": ["only"], "expires_in": 3600}, "Poll options must have more than one item"),
        ({"options": ["a", "a"], "expires_in": 3600}, "Poll options contain duplicate items"),
        ({"options": list("abcde"), "expires_in": 3600}, "can't contain more than 4 items"),
        ({"options": ["a", "b"], "expires_in": 60}, "Poll expires at is too soon"),
        ({"options": ["a", "b"], "expires_in": 10**8}, "is too far into the future"),
    ],
)
async def test_invalid_polls_are_422(
    api_app: ApiApp, auth_headers: dict[str, str], poll: dict[str, Any], message: str
) -> None:
    response = await api_app.client.post(
        "/api/v1/statuses", json={"status": "q", "poll": poll}, headers=auth_headers
    )
    assert message in await error_of(response, 422)


async def poll_status(api: ApiApp, headers: dict[str, str], multiple: bool = False) -> Any:
    poll = {"options": ["yes", "no", "maybe"], "expires_in": 3600, "multiple": multiple}
    return await post(api, headers, status="Vote!", poll=poll)


async def test_voting_on_a_local_poll_counts_the_vote(api_app: ApiApp, token_for: TokenFor) -> None:
    status = await poll_status(api_app, bearer(await token_for("admin")))
    bob = bearer(await token_for("bob"))
    votes = f"/api/v1/polls/{status['id']}/votes"
    # When bob votes for the second choice
    poll = await body_of(await api_app.client.post(votes, json={"choices": [1]}, headers=bob))
    # Then the poll shows his vote and the totals
    assert (poll["voted"], poll["own_votes"]) == (True, [1])
    assert (poll["votes_count"], poll["voters_count"]) == (1, 1)
    assert [o["votes_count"] for o in poll["options"]] == [0, 1, 0]
    # And everyone else sees the totals, not bob's choice
    seen = await get(api_app, f"/api/v1/polls/{status['id']}")
    assert seen["votes_count"] == 1 and seen["own_votes"] == []
    # And the new totals were sent out as Update(Question), and are served
    update = (await sent(api_app, "Update"))[-1]
    assert update["object"]["type"] == "Question"
    assert [c["replies"]["totalItems"] for c in update["object"]["oneOf"]] == [0, 1, 0]
    assert (await raw_document(api_app, status))["votersCount"] == 1
    # Voting is not editing
    assert (await get(api_app, f"/api/v1/statuses/{status['id']}"))["edited_at"] is None


async def test_a_second_vote_and_self_votes_are_refused(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = bearer(await token_for("admin"))
    status = await poll_status(api_app, admin)
    votes = f"/api/v1/polls/{status['id']}/votes"
    bob = bearer(await token_for("bob"))
    await body_of(await api_app.client.post(votes, json={"choices": [0]}, headers=bob))
    response = await api_app.client.post(votes, json={"choices": [1]}, headers=bob)
    assert await error_of(response, 422) == "Validation failed: You have already voted on this poll"
    response = await api_app.client.post(votes, json={"choices": [0]}, headers=admin)
    assert "your own polls" in await error_of(response, 422)


@pytest.mark.parametrize(
    ("choices", "message"),
    [([7], "option does not exist"), ([0, 1], "single choice"), ([], "Choices can't be blank")],
)
async def test_invalid_choices_are_422(
    api_app: ApiApp, token_for: TokenFor, choices: list[int], message: str
) -> None:
    status = await poll_status(api_app, bearer(await token_for("admin")))
    response = await api_app.client.post(
        f"/api/v1/polls/{status['id']}/votes",
        json={"choices": choices},
        headers=bearer(await token_for("bob")),
    )
    assert message in await error_of(response, 422)


async def test_multiple_choice_polls_count_each_choice(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    status = await poll_status(api_app, bearer(await token_for("admin")), multiple=True)
    votes = f"/api/v1/polls/{status['id']}/votes"
    form = [("choices[]", "0"), ("choices[]", "2")]
    poll = await body_of(
        await api_app.client.post(votes, data=form, headers=bearer(await token_for("bob")))
    )
    assert [o["votes_count"] for o in poll["options"]] == [1, 0, 1]
    assert (poll["votes_count"], poll["voters_count"], poll["own_votes"]) == (2, 1, [0, 2])
    carol = await body_of(
        await api_app.client.post(
            votes, json={"choices": [2]}, headers=bearer(await token_for("carol"))
        )
    )
    assert (carol["votes_count"], carol["voters_count"]) == (3, 2)


async def test_an_ended_poll_refuses_votes(api_app: ApiApp, token_for: TokenFor) -> None:
    status = await poll_status(api_app, bearer(await token_for("admin")))
    await api_app.db.execute(
        "UPDATE polls SET expires_at = $1 WHERE object_id = $2",
        "2020-01-01T00:00:00.000000Z",
        int(status["id"]),
    )
    response = await api_app.client.post(
        f"/api/v1/polls/{status['id']}/votes",
        json={"choices": [0]},
        headers=bearer(await token_for("bob")),
    )
    assert await error_of(response, 422) == "Validation failed: The poll has already ended"
    assert (await get(api_app, f"/api/v1/polls/{status['id']}"))["expired"] is True


async def test_a_status_without_a_poll_has_no_poll(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    status = await post(api_app, auth_headers, status="no poll")
    await get(api_app, f"/api/v1/polls/{status['id']}", status=404)
    response = await api_app.client.post(
        f"/api/v1/polls/{status['id']}/votes", json={"choices": [0]}, headers=auth_headers
    )
    await error_of(response, 404)


async def test_editing_a_poll_keeps_votes_only_when_the_choices_stay(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = bearer(await token_for("admin"))
    status = await poll_status(api_app, admin)
    path = f"/api/v1/statuses/{status['id']}"
    await api_app.client.post(
        f"/api/v1/polls/{status['id']}/votes",
        json={"choices": [0]},
        headers=bearer(await token_for("bob")),
    )
    same = {"options": ["yes", "no", "maybe"], "expires_in": 3600}
    kept = await body_of(
        await api_app.client.put(path, json={"status": "Vote!!", "poll": same}, headers=admin)
    )
    assert kept["poll"]["votes_count"] == 1
    changed = {"options": ["yes", "no"], "expires_in": 3600}
    reset = await body_of(
        await api_app.client.put(path, json={"status": "Vote!!", "poll": changed}, headers=admin)
    )
    assert (reset["poll"]["votes_count"], len(reset["poll"]["options"])) == (0, 2)
    assert await api_app.coop.count("poll_votes") == 0
    # Leaving the poll out of an edit removes it, as on Mastodon
    plain = await body_of(await api_app.client.put(path, json={"status": "no poll"}, headers=admin))
    assert plain["poll"] is None
    assert (await raw_document(api_app, plain))["type"] == "Note"


# --- Polls across servers -------------------------------------------------------------------


@pytest.fixture
async def mallory(api_app: ApiApp) -> RemoteActor:
    return await add_remote_actor(api_app.db, f"{REMOTE_ORIGIN}/users/mallory")


def remote_question(mallory: RemoteActor, **more: Any) -> dict[str, Any]:
    choices = [
        {"type": "Note", "name": "cats", "replies": {"type": "Collection", "totalItems": 3}},
        {"type": "Note", "name": "dogs", "replies": {"type": "Collection", "totalItems": 1}},
    ]
    fields: dict[str, Any] = {
        "type": "Question",
        "oneOf": choices,
        "endTime": "2999-01-01T00:00:00Z",
        "votersCount": 4,
    }
    return mallory.note("<p>Cats or dogs?</p>", **(fields | more))


async def test_a_remote_question_is_stored_with_its_poll(
    api_app: ApiApp, mallory: RemoteActor, auth_headers: dict[str, str]
) -> None:
    question = remote_question(mallory)
    await api_app.coop.receive(mallory, mallory.create(question))
    record = await ObjectRepository(api_app.db).by_uri(question["id"])
    assert record is not None and record.type == "Question"
    poll = (await get(api_app, f"/api/v1/statuses/{record.id}", auth_headers))["poll"]
    assert [(o["title"], o["votes_count"]) for o in poll["options"]] == [("cats", 3), ("dogs", 1)]
    assert (poll["votes_count"], poll["voters_count"], poll["expired"]) == (4, 4, False)


async def test_voting_on_a_remote_poll_sends_the_vote_to_its_author(
    api_app: ApiApp, mallory: RemoteActor, auth_headers: dict[str, str]
) -> None:
    question = remote_question(mallory)
    await api_app.coop.receive(mallory, mallory.create(question))
    record = await ObjectRepository(api_app.db).by_uri(question["id"])
    assert record is not None
    response = await api_app.client.post(
        f"/api/v1/polls/{record.id}/votes", json={"choices": [1]}, headers=auth_headers
    )
    poll = await body_of(response)
    assert (poll["own_votes"], poll["options"][1]["votes_count"]) == ([1], 2)
    # The vote is a Create(Note{name}) answering the Question, queued for mallory's inbox only
    rows = await api_app.db.fetch("SELECT inbox, body FROM deliveries")
    assert [row["inbox"] for row in rows] == [mallory.record.inbox]
    create = json.loads(rows[0]["body"])
    _, admin = await api_app.member("admin")
    assert create["type"] == "Create" and create["to"] == [mallory.uri]
    note = create["object"]
    assert (note["type"], note["name"], note["inReplyTo"]) == ("Note", "dogs", question["id"])
    assert note["attributedTo"] == admin.uri and note["id"].startswith(admin.uri)


async def test_a_remote_update_of_a_question_refreshes_the_totals(
    api_app: ApiApp, mallory: RemoteActor, auth_headers: dict[str, str]
) -> None:
    question = remote_question(mallory)
    await api_app.coop.receive(mallory, mallory.create(question))
    counted = remote_question(mallory, id=question["id"], votersCount=9)
    counted["oneOf"][0]["replies"]["totalItems"] = 8
    await api_app.coop.receive(mallory, mallory.activity("Update", counted))
    record = await ObjectRepository(api_app.db).by_uri(question["id"])
    assert record is not None
    status = await get(api_app, f"/api/v1/statuses/{record.id}", auth_headers)
    assert [o["votes_count"] for o in status["poll"]["options"]] == [8, 1]
    assert status["poll"]["voters_count"] == 9
    assert status["edited_at"] is None  # new totals are not an edit


async def test_a_remote_vote_on_a_local_poll_is_counted_once(
    api_app: ApiApp, mallory: RemoteActor, auth_headers: dict[str, str]
) -> None:
    status = await poll_status(api_app, auth_headers)
    _, admin = await api_app.member("admin")
    vote = {
        "id": mallory.new_id("votes"),
        "type": "Note",
        "name": "maybe",
        "attributedTo": mallory.uri,
        "inReplyTo": status["uri"],
        "to": [admin.uri],
    }
    # When mallory's server sends the vote, then sends it again
    await api_app.coop.receive(mallory, mallory.create(vote))
    await api_app.coop.receive(mallory, mallory.create({**vote, "id": mallory.new_id("votes")}))
    # Then it counts once, and is not a status of its own
    poll = await get(api_app, f"/api/v1/polls/{status['id']}")
    assert [o["votes_count"] for o in poll["options"]] == [0, 0, 1]
    assert poll["voters_count"] == 1
    assert await ObjectRepository(api_app.db).by_uri(vote["id"]) is None
    assert (await get(api_app, f"/api/v1/statuses/{status['id']}"))["replies_count"] == 0


async def test_a_note_answering_a_poll_with_another_name_stays_a_reply(
    api_app: ApiApp, mallory: RemoteActor, auth_headers: dict[str, str]
) -> None:
    status = await poll_status(api_app, auth_headers)
    reply = mallory.note("<p>none of these</p>", inReplyTo=status["uri"], name="nope")
    await api_app.coop.receive(mallory, mallory.create(reply))
    assert await ObjectRepository(api_app.db).by_uri(reply["id"]) is not None
    poll = await get(api_app, f"/api/v1/polls/{status['id']}")
    assert poll["votes_count"] == 0


async def test_private_polls_are_hidden_from_strangers(
    api_app: ApiApp, auth_headers: dict[str, str]
) -> None:
    poll = {"options": ["a", "b"], "expires_in": 3600}
    status = await post(api_app, auth_headers, status="q", poll=poll, visibility="private")
    await get(api_app, f"/api/v1/polls/{status['id']}", status=404)
    assert PUBLIC not in (await raw_document(api_app, status))["to"]


# --- A real client --------------------------------------------------------------------------


async def test_mastodon_py_posts_votes_favourites_and_deletes(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    """Mastodon.py (a synchronous client, so in a thread) drives the same endpoints."""
    from mastodon import Mastodon

    admin = Mastodon(access_token=await token_for("admin"), api_base_url=api_app.base_url)
    bob = Mastodon(access_token=await token_for("bob"), api_base_url=api_app.base_url)

    def conversation() -> tuple[Any, Any, Any, Any]:
        poll = admin.make_poll(["tea", "coffee"], expires_in=600)
        question = admin.status_post("Morning?", poll=poll, idempotency_key="morning")
        again = admin.status_post("Morning?", poll=poll, idempotency_key="morning")
        voted = bob.poll_vote(question["poll"]["id"], [1])
        liked = bob.status_favourite(question["id"])
        deleted = admin.status_delete(question["id"])
        return question, again, (voted, liked), deleted

    question, again, (voted, liked), deleted = await asyncio.to_thread(conversation)
    assert again["id"] == question["id"]
    assert voted["own_votes"] == [1] and voted["votes_count"] == 1
    assert liked["favourited"] is True and liked["favourites_count"] == 1
    assert deleted["text"] == "Morning?"
