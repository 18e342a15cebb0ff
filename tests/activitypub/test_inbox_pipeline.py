"""The inbox end to end: signed POST → 202 → persisted → processed into social state.

Every test runs a real fedicoop instance on a loopback socket and talks to it over HTTP;
remote actors are stored with their keys, so no signature check needs the network.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.activitypub.documents import PUBLIC
from fedicoop.social.publishing import post_note
from fedicoop.storage.database import Database
from fedicoop.storage.objects import ObjectRecord, ObjectRepository
from tests.activitypub.remote import (
    COOP_HANDLE,
    REMOTE_ORIGIN,
    Coop,
    RemoteActor,
    add_remote_actor,
    start_coop,
    start_origin,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "activitypub"

pytestmark = pytest.mark.both_engines


@pytest.fixture
async def coop(
    tmp_path: Path,
    database_url: str,
    db: Database,  # empties a PostgreSQL database before init (init refuses one holding a co-op)
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    return await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)


@pytest.fixture
async def mallory(coop: Coop) -> RemoteActor:
    return await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/mallory")


async def stored(coop: Coop, uri: str) -> ObjectRecord:
    record = await ObjectRepository(coop.db).by_uri(uri)
    assert record is not None, f"{uri} was not stored"
    return record


async def deliveries_to(coop: Coop, inbox: str, kind: str) -> list[dict[str, Any]]:
    """Return the queued activities of one type for one inbox."""
    rows = await coop.db.fetch("SELECT body FROM deliveries WHERE inbox = $1", inbox)
    bodies = [json.loads(row["body"]) for row in rows]
    return [body for body in bodies if body["type"] == kind]


# --- Create ---------------------------------------------------------------------------------


async def test_signed_create_is_accepted_and_stored_sanitised(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given a note whose HTML carries a script and an event handler
    note = mallory.note('<p onclick="steal()">Hello <b>co-op</b><script>alert(1)</script></p>')
    # When mallory POSTs Create(Note) to the shared inbox, signed
    response = await coop.post_signed(mallory, mallory.create(note))
    # Then the inbox answers 202 and holds the activity until processed
    assert response.status == 202
    assert await coop.count("inbox", "state = 'pending'") == 1
    assert await coop.process() == 1
    record = await stored(coop, note["id"])
    assert record.actor_id == mallory.record.id
    assert record.visibility == "public"
    assert "Hello <b>co-op</b>" in record.content
    assert "script" not in record.content and "onclick" not in record.content
    assert await coop.count("inbox", "state = 'done'") == 1


async def test_create_to_a_member_inbox_is_accepted(coop: Coop, mallory: RemoteActor) -> None:
    # Given a member's personal inbox, When a note is delivered there
    note = mallory.note("<p>for admin</p>")
    await coop.receive(mallory, mallory.create(note), path="/users/admin/inbox")
    # Then it is stored like one received on the shared inbox
    assert (await stored(coop, note["id"])).content == "<p>for admin</p>"


async def test_same_activity_twice_is_stored_and_processed_once(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given one Create(Note)
    create = mallory.create(mallory.note("<p>once</p>"))
    # When it is POSTed twice (a retrying sender), before and after processing
    assert (await coop.post_signed(mallory, create)).status == 202
    assert (await coop.post_signed(mallory, create)).status == 202
    await coop.process()
    assert (await coop.post_signed(mallory, create)).status == 202
    # Then the inbox and the objects table hold it once, and it was handled once
    assert await coop.count("inbox") == 1
    assert await coop.count("objects", "uri = $1", create["object"]["id"]) == 1
    assert await coop.process() == 0


async def test_same_activity_posted_concurrently_is_stored_once(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given one Create(Note), When five copies arrive at once (one group commit)
    create = mallory.create(mallory.note("<p>at once</p>"))
    responses = await asyncio.gather(*(coop.post_signed(mallory, create) for _ in range(5)))
    # Then every copy is acknowledged and one is kept
    assert [response.status for response in responses] == [202] * 5
    assert await coop.count("inbox") == 1
    assert await coop.process() == 1
    assert await coop.count("objects", "uri = $1", create["object"]["id"]) == 1


async def test_create_for_someone_elses_note_on_same_origin_is_not_stored(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given alice on mallory's server
    alice = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/alice")
    # When mallory sends Create of a note attributed to alice
    note = mallory.note("<p>words in alice's mouth</p>", attributedTo=alice.uri)
    response = await coop.post_signed(mallory, mallory.create(note))
    await coop.process()
    # Then the server may speak for its own origin, so the inbox takes it (202), but the
    # handler refuses to store words under alice's name and parks the activity as failed
    assert response.status == 202
    assert await ObjectRepository(coop.db).by_uri(note["id"]) is None
    assert await coop.count("inbox", "state = 'failed' AND error LIKE 'Forbidden%'") == 1


# --- Follow ---------------------------------------------------------------------------------


async def test_follow_of_a_member_is_accepted_and_accept_queued(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given the admin member, When mallory follows them
    admin = await coop.local_actor("admin")
    follow = mallory.activity("Follow", admin.uri, to=[admin.uri], cc=[])
    await coop.receive(mallory, follow)
    # Then the follow is accepted
    state = await coop.db.fetchval(
        "SELECT state FROM follows WHERE follower_id = $1 AND followee_id = $2",
        mallory.record.id,
        admin.id,
    )
    assert state == "accepted"
    # And an Accept of that Follow, signed by the admin, waits for mallory's inbox
    accepts = await deliveries_to(coop, f"{mallory.uri}/inbox", "Accept")
    assert len(accepts) == 1
    assert accepts[0]["actor"] == admin.uri
    assert accepts[0]["object"]["id"] == follow["id"]
    # And the member is told
    assert await coop.count("notifications", "type = 'follow'") == 1


async def test_follow_of_the_group_is_auto_accepted(coop: Coop, mallory: RemoteActor) -> None:
    # Given the co-op's Group, When mallory follows it
    group = await coop.group()
    await coop.receive(mallory, mallory.activity("Follow", group.uri, to=[group.uri], cc=[]))
    # Then the Group accepts without anyone approving (FEP-1b12)
    state = await coop.db.fetchval(
        "SELECT state FROM follows WHERE follower_id = $1 AND followee_id = $2",
        mallory.record.id,
        group.id,
    )
    assert state == "accepted"
    accepts = await deliveries_to(coop, f"{mallory.uri}/inbox", "Accept")
    assert [accept["actor"] for accept in accepts] == [group.uri]


async def test_undo_follow_removes_the_follow(coop: Coop, mallory: RemoteActor) -> None:
    # Given mallory follows the admin
    admin = await coop.local_actor("admin")
    follow = mallory.activity("Follow", admin.uri, to=[admin.uri], cc=[])
    await coop.receive(mallory, follow)
    # When mallory undoes the Follow
    await coop.receive(mallory, mallory.activity("Undo", follow, to=[admin.uri], cc=[]))
    # Then the follow is gone
    assert await coop.count("follows", "follower_id = $1", mallory.record.id) == 0


# --- Like, Announce -------------------------------------------------------------------------


async def test_like_and_undo_like_of_a_local_post(coop: Coop, mallory: RemoteActor) -> None:
    # Given a public post by the admin
    admin = await coop.local_actor("admin")
    posted = await post_note(coop.federation, admin, "A post to like")
    # When mallory likes it
    like = mallory.activity("Like", posted.object.uri, to=[admin.uri], cc=[])
    await coop.receive(mallory, like)
    # Then the like is recorded and the author notified
    assert await coop.count("likes", "object_uri = $1", posted.object.uri) == 1
    assert await coop.count("notifications", "type = 'favourite'") == 1
    # When mallory takes the like back
    await coop.receive(mallory, mallory.activity("Undo", like, to=[admin.uri], cc=[]))
    # Then the like is gone
    assert await coop.count("likes", "object_uri = $1", posted.object.uri) == 0


async def test_undo_of_someone_elses_like_changes_nothing(coop: Coop, mallory: RemoteActor) -> None:
    # Given mallory liked a post
    admin = await coop.local_actor("admin")
    posted = await post_note(coop.federation, admin, "A liked post")
    like = mallory.activity("Like", posted.object.uri, to=[admin.uri], cc=[])
    await coop.receive(mallory, like)
    # When trudy, on the same server, sends an Undo of mallory's Like
    trudy = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/trudy")
    await coop.receive(trudy, trudy.activity("Undo", like, to=[admin.uri], cc=[]))
    # Then mallory's like stays
    assert await coop.count("likes", "actor_id = $1", mallory.record.id) == 1


async def test_announce_of_a_known_note_is_recorded(coop: Coop, mallory: RemoteActor) -> None:
    # Given a note the instance already holds
    admin = await coop.local_actor("admin")
    posted = await post_note(coop.federation, admin, "A post to boost")
    # When mallory boosts it
    announce = mallory.activity("Announce", posted.object.uri)
    await coop.receive(mallory, announce)
    # Then the boost is recorded against mallory and the author is notified
    assert (
        await coop.db.fetchval(
            "SELECT uri FROM announces WHERE actor_id = $1 AND object_uri = $2",
            mallory.record.id,
            posted.object.uri,
        )
        == announce["id"]
    )
    assert await coop.count("notifications", "type = 'reblog'") == 1


# --- Delete, Update -------------------------------------------------------------------------


async def test_delete_before_create_keeps_the_note_deleted(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given a note whose Delete overtakes its Create
    note = mallory.note("<p>regretted</p>")
    delete = mallory.activity("Delete", {"id": note["id"], "type": "Tombstone"})
    await coop.receive(mallory, delete)
    # When the Create arrives afterwards
    await coop.receive(mallory, mallory.create(note))
    # Then the tombstone wins: the note is not stored
    assert await ObjectRepository(coop.db).by_uri(note["id"]) is None
    assert await ObjectRepository(coop.db).is_tombstoned(note["id"])


async def test_delete_after_create_empties_the_note(coop: Coop, mallory: RemoteActor) -> None:
    # Given a stored note
    note = mallory.note("<p>short-lived</p>")
    await coop.receive(mallory, mallory.create(note))
    # When its author deletes it
    await coop.receive(mallory, mallory.activity("Delete", note["id"]))
    # Then it is a tombstone without content
    record = await stored(coop, note["id"])
    assert record.deleted_at is not None and record.content == ""


async def test_update_by_the_author_changes_the_content(coop: Coop, mallory: RemoteActor) -> None:
    # Given a stored note
    note = mallory.note("<p>first draft</p>")
    await coop.receive(mallory, mallory.create(note))
    # When its author sends an Update with new content
    edited = {**note, "content": "<p>final text</p>", "updated": "2024-05-01T13:00:00Z"}
    await coop.receive(mallory, mallory.activity("Update", edited))
    # Then the stored content is the new one, marked as edited
    record = await stored(coop, note["id"])
    assert record.content == "<p>final text</p>"
    assert record.edited_at is not None


async def test_update_by_another_actor_of_the_same_server_changes_nothing(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given mallory's note, and trudy on the same server
    note = mallory.note("<p>original</p>")
    await coop.receive(mallory, mallory.create(note))
    trudy = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/trudy")
    # When trudy sends an Update of mallory's note (keeping mallory as author)
    forged = {**note, "content": "<p>vandalised</p>"}
    response = await coop.post_signed(trudy, trudy.activity("Update", forged))
    await coop.process()
    # Then the inbox takes it (same origin), but the note is unchanged
    assert response.status == 202
    record = await stored(coop, note["id"])
    assert record.content == "<p>original</p>" and record.edited_at is None


async def test_update_by_another_server_is_refused(coop: Coop, mallory: RemoteActor) -> None:
    # Given mallory's note, and eve on another server
    note = mallory.note("<p>original</p>")
    await coop.receive(mallory, mallory.create(note))
    eve = await add_remote_actor(coop.db, "http://elsewhere.test/users/eve")
    # When eve sends an Update embedding mallory's note
    response = await coop.post_signed(eve, eve.activity("Update", {**note, "content": "<p>x</p>"}))
    # Then the inbox refuses it (the object is not on eve's origin) and nothing changes
    assert response.status == 403
    assert (await stored(coop, note["id"])).content == "<p>original</p>"


# --- Flag -----------------------------------------------------------------------------------


async def test_flag_of_a_member_becomes_a_report(coop: Coop, mallory: RemoteActor) -> None:
    # Given a member and one of their posts
    admin = await coop.local_actor("admin")
    posted = await post_note(coop.federation, admin, "A contested post")
    # When another server reports both
    flag = mallory.activity(
        "Flag", [admin.uri, posted.object.uri], content="spam", to=[admin.uri], cc=[]
    )
    await coop.receive(mallory, flag)
    # Then the co-op's admins have a report naming them
    row = await coop.db.fetchrow("SELECT * FROM reports WHERE activity_uri = $1", flag["id"])
    assert row is not None
    assert row["reporter_uri"] == mallory.uri
    assert json.loads(row["targets"]) == [admin.uri, posted.object.uri]
    assert row["content"] == "spam"


# --- the co-op Group (FEP-1b12) ------------------------------------------------------------


async def test_member_post_addressed_to_the_group_is_announced_to_its_followers(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given mallory follows the co-op's Group
    group = await coop.group()
    await coop.receive(mallory, mallory.activity("Follow", group.uri, to=[group.uri], cc=[]))
    # When a member posts mentioning the Group
    admin = await coop.local_actor("admin")
    posted = await post_note(
        coop.federation, admin, f"Meeting tonight @{COOP_HANDLE}@{coop.domain}"
    )
    assert group.uri in posted.object.addressed
    await coop.process()
    # Then the Group announces the post to its followers, mallory's inbox included
    announces = await deliveries_to(coop, f"{mallory.uri}/inbox", "Announce")
    assert len(announces) == 1
    assert announces[0]["actor"] == group.uri
    assert announces[0]["object"] == posted.object.uri
    assert group.followers_uri in announces[0]["cc"]
    # And processing again announces nothing more
    await coop.process()
    assert len(await deliveries_to(coop, f"{mallory.uri}/inbox", "Announce")) == 1


async def test_follower_post_addressed_to_the_group_is_not_announced(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given mallory and dave follow the Group, mallory is not a member
    group = await coop.group()
    dave = await add_remote_actor(coop.db, "http://elsewhere.test/users/dave")
    for follower in (mallory, dave):
        follow = follower.activity("Follow", group.uri, to=[group.uri], cc=[])
        await coop.receive(follower, follow)
    # When mallory sends a public note addressed and mentioning the Group
    note = mallory.note(
        "<p>buy my stuff</p>",
        to=[PUBLIC, group.uri],
        tag=[{"type": "Mention", "href": group.uri, "name": f"@{COOP_HANDLE}@{coop.domain}"}],
    )
    await coop.receive(mallory, mallory.create(note))
    # Then the note is stored, but the Group relays it to nobody
    await stored(coop, note["id"])
    assert await deliveries_to(coop, f"{dave.uri}/inbox", "Announce") == []
    assert await coop.count("announces") == 0


# --- captured payloads from real servers ----------------------------------------------------


def rehome(value: Any, old: str, new: str) -> Any:
    """Move every URL on origin `old` to origin `new`; leave every other value as captured."""
    if isinstance(value, str):
        if value == old or value.startswith((old + "/", old + "#", old + "?")):
            return new + value[len(old) :]
        return value
    if isinstance(value, list):
        return [rehome(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: rehome(item, old, new) for key, item in value.items()}
    return value


def origin(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def load_capture(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / relative).read_text("utf-8"))
    if document.get("type") != "Create":
        # A bare object (GoToSocial's serializer tests): its author sends it in a Create.
        document = {
            "@context": document.get("@context"),
            "id": f"{document['id']}/activity",
            "type": "Create",
            "actor": document["attributedTo"],
            "object": document,
            "to": document.get("to"),
            "cc": document.get("cc"),
        }
    return document


CAPTURES = [
    # (fixture, text the stored content holds)
    ("mastodon/create-note.json", "@<span>lain</span>"),
    ("mastodon/create-note-mentions-capture.json", "nice there it is:"),
    ("gotosocial/create-note.json", "hello everyone!"),
    ("gotosocial/note-mentions.json", "welcome to the instance!"),
    ("misskey/create-note.json", "meow"),
    ("pleroma/create-note.json", "</span> test"),
    ("friendica/create-note.json", "</span> test"),
    ("lemmy/create-page.json", "test body"),
    ("other/mitra-create-note.json", "Remote post 5"),
    ("other/wordpress-create-article.json", "The days of OStatus are numbered"),
]


@pytest.mark.parametrize(("relative", "expected"), CAPTURES, ids=[c[0] for c in CAPTURES])
async def test_captured_create_is_replayed_and_stored(
    coop: Coop, relative: str, expected: str
) -> None:
    # Given a captured Create, moved onto a remote origin whose key we hold
    captured = load_capture(relative)
    sender_origin = origin(captured["actor"])
    activity = rehome(captured, sender_origin, REMOTE_ORIGIN)
    sender = await add_remote_actor(coop.db, activity["actor"], key="capture")
    # When it is delivered signed and processed
    await coop.receive(sender, activity)
    # Then the object is stored with its author and its (sanitised) content
    note = activity["object"]
    record = await stored(coop, note["id"])
    assert record.actor_id == sender.record.id
    assert record.type == note["type"]
    assert expected in record.content
    assert "<script" not in record.content and "<!--" not in record.content
    assert await coop.count("inbox", "state = 'done'") == 1


async def test_captured_mastodon_create_keeps_its_details(coop: Coop) -> None:
    # Given Mastodon's Create(Note) with a content warning, a mention and a date
    activity = rehome(
        load_capture("mastodon/create-note.json"), "http://mastodon.example.org", REMOTE_ORIGIN
    )
    sender = await add_remote_actor(coop.db, activity["actor"], key="capture")
    # When it is replayed
    await coop.receive(sender, activity)
    # Then the summary, sensitivity, visibility and publication time come through
    record = await stored(coop, activity["object"]["id"])
    assert record.summary == "cw"
    assert record.sensitive is True
    assert record.visibility == "public"
    assert record.published.startswith("2018-02-12T14:08:20")
    assert record.url == f"{REMOTE_ORIGIN}/@admin/99512778738411822"


async def test_captured_lemmy_announce_fetches_the_page_from_its_origin(
    coop: Coop, aiohttp_server: AiohttpServer
) -> None:
    # Given Lemmy's Announce(Create(Page)) from a community, moved onto a live loopback origin
    lemmy = await start_origin(aiohttp_server)
    captured = json.loads((FIXTURES / "lemmy/announce-create-page.json").read_text("utf-8"))
    announce = rehome(captured, "http://enterprise.lemmy.ml", lemmy.base_url)
    page = announce["object"]["object"]
    community = await add_remote_actor(coop.db, announce["actor"], actor_type="Group")
    author = await add_remote_actor(coop.db, page["attributedTo"], key="capture")
    lemmy.serve({"@context": "https://www.w3.org/ns/activitystreams", **page})
    # When the community's Announce is delivered
    await coop.receive(community, announce)
    # Then the Page is fetched from its own origin and stored under its author
    record = await stored(coop, page["id"])
    assert record.actor_id == author.record.id
    assert record.type == "Page"
    assert "post 4" in record.content
    # And the boost is recorded against the community
    assert (
        await coop.db.fetchval("SELECT actor_id FROM announces WHERE object_uri = $1", page["id"])
        == community.record.id
    )
