"""Mastodon API accounts: own profile, profiles, statuses, follows, blocks, mutes, search."""

import asyncio
import io
import json
import random
import secrets
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from mastodon import Mastodon
from PIL import Image

from fedicoop.accounts.model import Status
from fedicoop.accounts.service import add_account
from fedicoop.oauth.service import register_app
from fedicoop.social.addressing import Visibility
from fedicoop.social.publishing import post_note, react
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.follows import FollowRecord, FollowRepository
from fedicoop.storage.oauth import OAuthRepository
from tests.activitypub.remote import Coop, RemoteActor, add_remote_actor

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mastodon-api"
# Account attributes Mastodon added after 4.3, the version we speak: not expected here.
NEWER_ACCOUNT_KEYS = {
    "avatar_description",
    "header_description",
    "show_media",
    "show_media_replies",
    "show_featured",
    "feature_approval",
}
REMOTE = "http://remote.test/users"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def coop(api_app: Any) -> Coop:
    """The co-op served by the shared `api_app` fixture (tests/api/conftest.py)."""
    coop: Coop = api_app.coop
    return coop


async def token_headers(
    coop: Coop, username: str = "admin", scopes: str = "read write follow"
) -> dict[str, str]:
    """Issue a token straight into the store (no password round trip) and return its header."""
    account = await AccountRepository(coop.db).by_username(username)
    assert account is not None
    app = await register_app(coop.instance, "tests", "urn:ietf:wg:oauth:2.0:oob", scopes, None)
    token = secrets.token_urlsafe(32)
    await OAuthRepository(coop.db).add_token(token, None, app.id, account.id, scopes)
    return {"Authorization": f"Bearer {token}"}


async def member(coop: Coop, username: str, **options: Any) -> ActorRecord:
    await add_account(coop.instance, username, password="correct horse battery staple", **options)
    return await coop.local_actor(username)


async def remote(coop: Coop, name: str) -> RemoteActor:
    return await add_remote_actor(coop.db, f"{REMOTE}/{name}")


async def expect(response: ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    if status >= 400:
        assert isinstance(body["error"], str)
    return body


def png_bytes(size: tuple[int, int], seed: int = 7) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(size[0] * size[1])])
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


async def deliveries(coop: Coop, kind: str) -> list[dict[str, Any]]:
    """Return queued outgoing activities of one type, with their inbox."""
    rows = await coop.db.fetch("SELECT inbox, body FROM deliveries ORDER BY id")
    found = [{"inbox": r["inbox"], **json.loads(r["body"])} for r in rows]
    return [activity for activity in found if activity["type"] == kind]


# Own profile --------------------------------------------------------------------------------


async def test_verify_credentials_returns_a_credential_account(coop: Coop) -> None:
    # Given the admin's token
    headers = await token_headers(coop)
    # When they ask who they are
    body = await expect(
        await coop.client.get("/api/v1/accounts/verify_credentials", headers=headers), 200
    )
    # Then the account carries Mastodon's attributes, with string ids, source and role
    expected = set(fixture("Account.json")) - NEWER_ACCOUNT_KEYS
    assert expected <= set(body)
    admin = await coop.local_actor("admin")
    assert body["id"] == str(admin.id)
    assert body["username"] == body["acct"] == "admin"
    assert {"privacy", "sensitive", "language", "note", "fields"} <= set(body["source"])
    assert body["source"]["privacy"] == "public"
    assert body["role"]["name"] == "Admin"
    assert body["avatar"].endswith("/static/avatar-missing.png")


async def test_verify_credentials_needs_a_token_with_the_right_scope(coop: Coop) -> None:
    path = "/api/v1/accounts/verify_credentials"
    await expect(await coop.client.get(path), 401)
    bad = {"Authorization": "Bearer not-a-token"}
    await expect(await coop.client.get(path, headers=bad), 401)
    write_only = await token_headers(coop, scopes="write")
    await expect(await coop.client.get(path, headers=write_only), 403)
    # The `profile` scope is enough to know who you are
    profile = await token_headers(coop, scopes="profile")
    await expect(await coop.client.get(path, headers=profile), 200)


async def test_update_credentials_edits_the_profile_and_federates_an_update(coop: Coop) -> None:
    # Given a remote follower of the admin
    admin = await coop.local_actor("admin")
    follower = await remote(coop, "rita")
    await FollowRepository(coop.db).put(
        FollowRecord(follower.record.id, admin.id, f"{REMOTE}/rita#f", state="accepted")
    )
    headers = await token_headers(coop)
    # When the admin edits name, note, lock, fields and posting defaults
    form = {
        "display_name": "Ada  Admin",
        "note": "Hello <script>x</script>\nsee https://coop.example",
        "locked": "true",
        "fields_attributes[0][name]": "Web",
        "fields_attributes[0][value]": "https://coop.example",
        "fields_attributes[1][name]": "Pronouns",
        "fields_attributes[1][value]": "she/her",
        "source[privacy]": "unlisted",
        "source[language]": "fr",
    }
    response = await coop.client.patch(
        "/api/v1/accounts/update_credentials", data=form, headers=headers
    )
    body = await expect(response, 200)
    # Then the profile shows it: the note as safe HTML, fields as HTML, the source as typed
    assert body["display_name"] == "Ada Admin"
    assert body["locked"] is True
    assert "<script>" not in body["note"] and "&lt;script&gt;" in body["note"]
    assert '<a href="https://coop.example"' in body["note"]
    assert body["source"]["note"] == "Hello <script>x</script>\nsee https://coop.example"
    assert [f["name"] for f in body["fields"]] == ["Web", "Pronouns"]
    assert body["fields"][0]["value"].startswith('<a href="https://coop.example"')
    assert body["source"]["fields"][0]["value"] == "https://coop.example"
    assert body["source"]["privacy"] == "unlisted" and body["source"]["language"] == "fr"
    # And an Update of the Person goes to the remote follower, fields as PropertyValues
    [update] = await deliveries(coop, "Update")
    assert update["inbox"] == follower.record.inbox
    assert update["object"]["id"] == admin.uri
    assert update["object"]["manuallyApprovesFollowers"] is True
    assert update["object"]["attachment"][1] == {
        "type": "PropertyValue",
        "name": "Pronouns",
        "value": "she/her",
    }
    # And the preferences follow the new default
    prefs = await expect(await coop.client.get("/api/v1/preferences", headers=headers), 200)
    assert prefs["posting:default:visibility"] == "unlisted"


async def test_update_credentials_stores_avatar_and_header_as_clean_images(coop: Coop) -> None:
    headers = await token_headers(coop)
    # When the admin uploads an avatar and a header (names chosen by an attacker)
    form = {
        "avatar": io.BytesIO(png_bytes((60, 40))),
        "header": io.BytesIO(png_bytes((90, 30), seed=8)),
    }
    response = await coop.client.patch(
        "/api/v1/accounts/update_credentials", data=form, headers=headers
    )
    body = await expect(response, 200)
    # Then both are served from /media, cropped to Mastodon's shapes
    assert body["avatar"].startswith(f"{coop.base_url}/media/")
    avatar = await coop.client.get(body["avatar"].removeprefix(coop.base_url))
    assert avatar.status == 200 and avatar.content_type == "image/png"
    assert Image.open(io.BytesIO(await avatar.read())).size == (400, 400)
    header = await coop.client.get(body["header"].removeprefix(coop.base_url))
    assert Image.open(io.BytesIO(await header.read())).size == (1500, 500)
    # And the actor document shows them to other servers
    document = await (
        await coop.client.get("/users/admin", headers={"Accept": "application/activity+json"})
    ).json(content_type=None)
    assert document["icon"] == {"type": "Image", "url": body["avatar"], "mediaType": "image/png"}
    assert document["image"]["url"] == body["header"]
    # When the avatar is replaced, the old file goes
    again = await coop.client.patch(
        "/api/v1/accounts/update_credentials",
        data={"avatar": io.BytesIO(png_bytes((10, 10)))},
        headers=headers,
    )
    await expect(again, 200)
    gone = await coop.client.get(body["avatar"].removeprefix(coop.base_url))
    assert gone.status == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({f"fields_attributes[{i}][name]": f"n{i}" for i in range(5)}, "fields_attributes"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"note": "x" * 2001}, "note"),
        ({"fields_attributes[0][name]": "n", "fields_attributes[0][value]": "v" * 256}, None),
        ({"source[privacy]": "everyone"}, "source"),
        ({"source[language]": "French"}, "source"),
        ({"avatar": io.BytesIO(b"<?php echo 1; ?>")}, "avatar"),
    ],
)
async def test_update_credentials_refuses_bad_input(
    coop: Coop, form: dict[str, Any], field: str | None
) -> None:
    headers = await token_headers(coop)
    response = await coop.client.patch(
        "/api/v1/accounts/update_credentials", data=form, headers=headers
    )
    body = await expect(response, 422)
    if field:
        assert body["field"] == field


async def test_update_credentials_needs_write_scope(coop: Coop) -> None:
    headers = await token_headers(coop, scopes="read")
    response = await coop.client.patch(
        "/api/v1/accounts/update_credentials", data={"display_name": "x"}, headers=headers
    )
    await expect(response, 403)


# Other accounts -----------------------------------------------------------------------------


async def test_show_account_for_members_group_and_remote_accounts(coop: Coop) -> None:
    bob = await member(coop, "bob")
    rita = await remote(coop, "rita")
    group = await coop.group()
    # A member, anonymously
    body = await expect(await coop.client.get(f"/api/v1/accounts/{bob.id}"), 200)
    assert body["acct"] == "bob" and body["group"] is False
    # The co-op Group is an account with group: true
    body = await expect(await coop.client.get(f"/api/v1/accounts/{group.id}"), 200)
    assert body["group"] is True and body["username"] == group.username
    # A remote account shows user@host
    body = await expect(await coop.client.get(f"/api/v1/accounts/{rita.record.id}"), 200)
    assert body["acct"] == "rita@remote.test"


async def test_unknown_and_hidden_accounts_are_not_found(coop: Coop) -> None:
    applicant = await member(coop, "appl", status=Status.APPLICANT)
    for path in ("/api/v1/accounts/999", f"/api/v1/accounts/{applicant.id}"):
        body = await expect(await coop.client.get(path), 404)
        assert body["error"] == "Record not found"
    assert (await coop.client.get("/api/v1/accounts/abc")).status == 404


async def test_account_statuses_filters_and_paginates(coop: Coop) -> None:
    # Given the admin's posts: plain, a reply to bob, a post with media, a pinned one, a
    # followers-only one, and a boost of bob's post
    admin = await coop.local_actor("admin")
    bob = await member(coop, "bob")
    account = await AccountRepository(coop.db).by_actor(admin.id)
    assert account is not None
    fed = coop.federation
    plain = await post_note(fed, admin, "plain")
    bobs = await post_note(fed, bob, "bob's")
    reply = await post_note(fed, admin, "reply", in_reply_to=bobs.object.uri)
    with_media = await post_note(fed, admin, "media")
    await coop.db.execute(
        "INSERT INTO media (id, actor_id, account_id, object_id, content_type, file_name, "
        "created_at) VALUES (1, $1, $2, $3, 'image/png', 'x.png', 'now')",
        admin.id,
        account.id,
        with_media.object.id,
    )
    pinned = await post_note(fed, admin, "pinned")
    await coop.db.execute(
        "INSERT INTO pins (account_id, object_id, created_at) VALUES ($1, $2, 'now')",
        account.id,
        pinned.object.id,
    )
    private = await post_note(fed, admin, "friends", visibility=Visibility.PRIVATE)
    await react(fed, admin, "Announce", bobs.object.uri)
    path = f"/api/v1/accounts/{admin.id}/statuses"

    async def ids(params: dict[str, str], headers: dict[str, str] | None = None) -> list[str]:
        body = await expect(await coop.client.get(path, params=params, headers=headers), 200)
        return [status["id"] for status in body]

    # Anonymous: public posts and the boost, newest first; no followers-only post
    everything = await ids({})
    assert str(private.object.id) not in everything
    assert everything[1:] == [
        str(pinned.object.id),
        str(with_media.object.id),
        str(reply.object.id),
        str(plain.object.id),
    ]
    boost = (await expect(await coop.client.get(path), 200))[0]
    assert boost["reblog"]["id"] == str(bobs.object.id)
    assert await ids({"exclude_reblogs": "true"}) == everything[1:]
    assert await ids({"only_media": "true"}) == [str(with_media.object.id)]
    assert str(reply.object.id) not in await ids({"exclude_replies": "true"})
    assert await ids({"pinned": "true"}) == [str(pinned.object.id)]
    # The author sees their followers-only post
    assert str(private.object.id) in await ids({}, await token_headers(coop))
    # Link pagination walks the whole list one by one
    response = await coop.client.get(path, params={"limit": "2"})
    first = [s["id"] for s in await expect(response, 200)]
    assert first == everything[:2]
    next_url = response.headers["Link"].split(";")[0].strip("<>")
    assert next_url.startswith(coop.base_url)
    second = await expect(await coop.client.get(next_url.removeprefix(coop.base_url)), 200)
    assert [s["id"] for s in second] == everything[2:4]
    newer = await ids({"min_id": everything[2]})
    assert newer == everything[:2]


async def test_followers_and_following_are_link_paginated(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    follows = FollowRepository(coop.db)
    names = ["ann", "ben", "cyd"]
    for name in names:
        fan = await remote(coop, name)
        await follows.put(
            FollowRecord(fan.record.id, admin.id, f"{REMOTE}/{name}#f", state="accepted")
        )
    # A pending follower is not listed
    pending = await remote(coop, "pat")
    await follows.put(FollowRecord(pending.record.id, admin.id, f"{REMOTE}/pat#f"))
    response = await coop.client.get(
        f"/api/v1/accounts/{admin.id}/followers", params={"limit": "2"}
    )
    page = await expect(response, 200)
    assert [a["username"] for a in page] == ["cyd", "ben"]
    next_url = response.headers["Link"].split(";")[0].strip("<>").removeprefix(coop.base_url)
    rest = await expect(await coop.client.get(next_url), 200)
    assert [a["username"] for a in rest] == ["ann"]
    ann = await coop.client.get(f"/api/v1/accounts/{page[0]['id']}/following")
    assert [a["username"] for a in await expect(ann, 200)] == ["admin"]


# Relationships --------------------------------------------------------------------------------


async def test_follow_a_local_member_and_the_group_at_once(coop: Coop) -> None:
    bob = await member(coop, "bob")
    group = await coop.group()
    headers = await token_headers(coop)
    for target in (bob, group):
        body = await expect(
            await coop.client.post(f"/api/v1/accounts/{target.id}/follow", headers=headers), 200
        )
        assert set(fixture("Relationship.json")) <= set(body)
        assert body["following"] is True and body["requested"] is False
    # The inbox catches up with the same answer (and notifies bob once)
    await coop.process()
    bob_view = await expect(
        await coop.client.get(
            "/api/v1/accounts/relationships",
            params={"id[]": str((await coop.local_actor("admin")).id)},
            headers=await token_headers(coop, "bob"),
        ),
        200,
    )
    assert bob_view[0]["followed_by"] is True
    # Unfollowing undoes it
    body = await expect(
        await coop.client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=headers), 200
    )
    assert body["following"] is False


async def test_follow_a_remote_account_is_requested_until_accepted(coop: Coop) -> None:
    rita = await remote(coop, "rita")
    headers = await token_headers(coop)
    body = await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/follow", headers=headers), 200
    )
    assert body["following"] is False and body["requested"] is True
    [follow] = await deliveries(coop, "Follow")
    assert follow["object"] == rita.uri and follow["inbox"] == rita.record.inbox
    # Withdrawing the request sends Undo(Follow)
    body = await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/unfollow", headers=headers),
        200,
    )
    assert body["requested"] is False
    [undo] = await deliveries(coop, "Undo")
    assert undo["object"]["id"] == follow["id"]


async def test_follow_refuses_self_blocked_and_read_only_tokens(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    rita = await remote(coop, "rita")
    headers = await token_headers(coop)
    await expect(
        await coop.client.post(f"/api/v1/accounts/{admin.id}/follow", headers=headers), 422
    )
    await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/block", headers=headers), 200
    )
    await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/follow", headers=headers), 403
    )
    read_only = await token_headers(coop, scopes="read")
    await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/unblock", headers=read_only),
        403,
    )
    await expect(await coop.client.post(f"/api/v1/accounts/{rita.record.id}/follow"), 401)
    await expect(await coop.client.post("/api/v1/accounts/12345/follow", headers=headers), 404)


async def test_block_and_unblock_federate(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    rita = await remote(coop, "rita")
    await FollowRepository(coop.db).put(
        FollowRecord(rita.record.id, admin.id, f"{REMOTE}/rita#f", state="accepted")
    )
    headers = await token_headers(coop)
    body = await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/block", headers=headers), 200
    )
    assert body["blocking"] is True and body["followed_by"] is False
    body = await expect(
        await coop.client.post(f"/api/v1/accounts/{rita.record.id}/unblock", headers=headers),
        200,
    )
    assert body["blocking"] is False
    [block] = await deliveries(coop, "Block")
    [undo] = await deliveries(coop, "Undo")
    assert undo["object"] == {
        "id": block["id"],
        "type": "Block",
        "actor": admin.uri,
        "object": rita.uri,
    }
    assert undo["inbox"] == rita.record.inbox


async def test_mute_and_unmute_stay_local(coop: Coop) -> None:
    rita = await remote(coop, "rita")
    headers = await token_headers(coop)
    path = f"/api/v1/accounts/{rita.record.id}"
    body = await expect(await coop.client.post(f"{path}/mute", headers=headers), 200)
    assert body["muting"] is True and body["muting_notifications"] is True
    assert await coop.count("mutes") == 1
    body = await expect(await coop.client.post(f"{path}/unmute", headers=headers), 200)
    assert body["muting"] is False
    assert await coop.count("deliveries") == 0
    admin = await coop.local_actor("admin")
    await expect(await coop.client.post(f"/api/v1/accounts/{admin.id}/mute", headers=headers), 422)


async def test_relationships_for_several_ids(coop: Coop) -> None:
    bob = await member(coop, "bob")
    rita = await remote(coop, "rita")
    admin = await coop.local_actor("admin")
    follows = FollowRepository(coop.db)
    await follows.put(FollowRecord(admin.id, bob.id, "x#1", state="accepted"))
    await follows.put(FollowRecord(rita.record.id, admin.id, "x#2"))
    response = await coop.client.get(
        "/api/v1/accounts/relationships",
        params=[("id[]", str(bob.id)), ("id[]", str(rita.record.id)), ("id[]", "999")],
        headers=await token_headers(coop),
    )
    bob_rel, rita_rel = await expect(response, 200)
    assert bob_rel["id"] == str(bob.id) and bob_rel["following"] is True
    assert rita_rel["requested_by"] is True and rita_rel["following"] is False


async def test_follow_requests_are_listed_authorized_and_rejected(coop: Coop) -> None:
    # Given a locked member with two remote followers waiting
    bob = await member(coop, "bob")
    await coop.db.execute("UPDATE actors SET locked = 1 WHERE id = $1", bob.id)
    rita = await remote(coop, "rita")
    sam = await remote(coop, "sam")
    follows = FollowRepository(coop.db)
    for fan in (rita, sam):
        await follows.put(FollowRecord(fan.record.id, bob.id, f"{fan.uri}#follow"))
    headers = await token_headers(coop, "bob")
    # When bob lists them
    body = await expect(await coop.client.get("/api/v1/follow_requests", headers=headers), 200)
    assert {a["acct"] for a in body} == {"rita@remote.test", "sam@remote.test"}
    me = await expect(
        await coop.client.get("/api/v1/accounts/verify_credentials", headers=headers), 200
    )
    assert me["source"]["follow_requests_count"] == 2
    # Then authorizing one makes it a follower and sends Accept
    path = f"/api/v1/follow_requests/{rita.record.id}/authorize"
    body = await expect(await coop.client.post(path, headers=headers), 200)
    assert body["followed_by"] is True and body["requested_by"] is False
    [accept] = await deliveries(coop, "Accept")
    assert accept["object"]["id"] == f"{rita.uri}#follow" and accept["inbox"] == rita.record.inbox
    # And rejecting the other removes it and sends Reject
    path = f"/api/v1/follow_requests/{sam.record.id}/reject"
    body = await expect(await coop.client.post(path, headers=headers), 200)
    assert body["followed_by"] is False and body["requested_by"] is False
    assert len(await deliveries(coop, "Reject")) == 1
    # A request that is not pending is not found
    await expect(await coop.client.post(path, headers=headers), 404)


async def test_familiar_followers(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    bob = await member(coop, "bob")
    rita = await remote(coop, "rita")
    follows = FollowRepository(coop.db)
    await follows.put(FollowRecord(admin.id, bob.id, "x#1", state="accepted"))
    await follows.put(FollowRecord(bob.id, rita.record.id, "x#2", state="accepted"))
    response = await coop.client.get(
        "/api/v1/accounts/familiar_followers",
        params={"id[]": str(rita.record.id)},
        headers=await token_headers(coop),
    )
    [entry] = await expect(response, 200)
    assert set(entry) == set(fixture("FamiliarFollowers.json")[0])
    assert entry["id"] == str(rita.record.id)
    assert [a["acct"] for a in entry["accounts"]] == ["bob"]


# Lookup and search ----------------------------------------------------------------------------


async def test_lookup_finds_local_group_and_known_remote_accounts(coop: Coop) -> None:
    await member(coop, "bob")
    await remote(coop, "rita")
    group = await coop.group()
    for acct, expected in (
        ("bob", "bob"),
        ("@bob", "bob"),
        (f"bob@{coop.domain}", "bob"),
        (str(group.username), str(group.username)),
        ("rita@remote.test", "rita@remote.test"),
    ):
        response = await coop.client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert (await expect(response, 200))["acct"] == expected
    response = await coop.client.get("/api/v1/accounts/lookup", params={"acct": "nobody"})
    await expect(response, 404)
    await expect(await coop.client.get("/api/v1/accounts/lookup"), 422)


async def test_search_accounts(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    await member(coop, "bob")
    await member(coop, "bobby")
    await member(coop, "hidden_bob", status=Status.SUSPENDED)
    rita = await remote(coop, "bob_remote")
    headers = await token_headers(coop)

    async def found(**params: str) -> list[str]:
        response = await coop.client.get("/api/v1/accounts/search", params=params, headers=headers)
        return [a["acct"] for a in await expect(response, 200)]

    assert await found(q="bob") == ["bob", "bobby", "bob_remote@remote.test"]
    assert await found(q="bob@remote") == ["bob_remote@remote.test"]
    assert await found(q="bob", limit="1", offset="1") == ["bobby"]
    assert await found(q="b_b") == []  # `_` is a letter here, not a wildcard
    assert await found(q="") == []
    await FollowRepository(coop.db).put(
        FollowRecord(admin.id, rita.record.id, "x#1", state="accepted")
    )
    assert await found(q="bob", following="true") == ["bob_remote@remote.test"]
    response = await coop.client.get("/api/v1/accounts/search", params={"q": "bob"})
    await expect(response, 401)


async def test_mastodon_py_edits_the_profile(coop: Coop) -> None:
    # Given Mastodon.py, the reference Python client
    token = (await token_headers(coop))["Authorization"].split()[1]
    client = Mastodon(access_token=token, api_base_url=coop.base_url)

    def edit() -> Any:
        return client.account_update_credentials(
            display_name="Ada",
            note="Rides on Tuesdays",
            avatar=io.BytesIO(png_bytes((30, 30))),
            avatar_mime_type="image/png",
            fields=[("Web", "https://coop.example"), ("Town", "Lyon")],
            default_privacy="private",
        )

    # When it edits the profile the way it knows (multipart, fields_attributes[i][...])
    account = await asyncio.to_thread(edit)
    # Then it reads back what it sent
    assert account.display_name == "Ada"
    assert [field.name for field in account.fields] == ["Web", "Town"]
    assert account.source.privacy == "private"
    assert account.avatar.startswith(f"{coop.base_url}/media/")
