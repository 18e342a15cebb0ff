"""Repository contract: the same behaviour on SQLite and on PostgreSQL."""

from datetime import timedelta

import pytest

from fedicoop.errors import Conflict
from fedicoop.storage.accounts import AccountRecord, AccountRepository, SettingsRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Database
from fedicoop.storage.deliveries import DeliveryRepository
from fedicoop.storage.follows import FollowRecord, FollowRepository
from fedicoop.storage.objects import ActivityRecord, ObjectRecord, ObjectRepository

pytestmark = pytest.mark.both_engines


def remote_actor(name: str, host: str = "remote.example") -> ActorRecord:
    return ActorRecord(
        uri=f"https://{host}/users/{name}",
        type="Person",
        domain=host,
        username=name,
        inbox=f"https://{host}/users/{name}/inbox",
        shared_inbox=f"https://{host}/inbox",
        key_id=f"https://{host}/users/{name}#main-key",
        public_key_pem="PEM",
        also_known_as=("https://old.example/users/x",),
    )


async def test_actor_round_trip_and_lookup(db: Database) -> None:
    # Given a remote actor stored
    actors = ActorRepository(db)
    stored = await actors.insert(remote_actor("alice"))
    # When it is read back by id, uri, key id and handle
    # Then every field survives, on both engines
    assert await actors.get(stored.id) == stored
    assert await actors.by_uri(stored.uri) == stored
    assert await actors.by_key_id(stored.key_id or "") == stored
    assert await actors.by_handle("ALICE", "remote.example") == stored
    assert stored.also_known_as == ("https://old.example/users/x",)


async def test_actor_upsert_refreshes_remote_copy(db: Database) -> None:
    actors = ActorRepository(db)
    first = await actors.insert(remote_actor("bob"))
    second = await actors.upsert_remote(
        ActorRecord(**{**remote_actor("bob").__dict__, "display_name": "Bob B."})
    )
    assert second.id == first.id
    fetched = await actors.by_uri(first.uri)
    assert fetched is not None and fetched.display_name == "Bob B."


async def test_duplicate_actor_uri_conflicts(db: Database) -> None:
    actors = ActorRepository(db)
    await actors.insert(remote_actor("carol"))
    with pytest.raises(Conflict):
        await actors.insert(remote_actor("carol"))


async def test_accounts_unique_and_updatable(db: Database) -> None:
    actor = await ActorRepository(db).insert(remote_actor("dave", "local.example"))
    accounts = AccountRepository(db)
    account = await accounts.insert(
        AccountRecord(actor_id=actor.id, username="dave", password_hash="h", email="d@x.example")
    )
    assert await accounts.by_login("D@X.EXAMPLE") == account
    with pytest.raises(Conflict):
        await accounts.insert(AccountRecord(actor_id=actor.id, username="dave", password_hash="h"))
    await accounts.update(account.id, status="suspended")
    updated = await accounts.by_username("dave")
    assert updated is not None and updated.status == "suspended"
    assert await accounts.count("suspended") == 1


async def test_settings_overwrite(db: Database) -> None:
    settings = SettingsRepository(db)
    await settings.put("rate", "0.1")
    await settings.put("rate", "0.2")
    assert await settings.get("rate") == "0.2"
    assert await settings.get("missing", "x") == "x"


async def test_raw_document_kept_byte_for_byte(db: Database) -> None:
    # Given a document whose key order and spacing a JSON column would change
    raw = '{"type":"Note",  "id":"https://r.example/1","content":"é\\u00e9 <b>x</b>" ,"a":1}'
    actor = await ActorRepository(db).insert(remote_actor("erin"))
    objects = ObjectRepository(db)
    await objects.insert(
        ObjectRecord(
            uri="https://r.example/1",
            type="Note",
            actor_id=actor.id,
            raw=raw,
            published="2026-01-01T00:00:00.000000Z",
        )
    )
    # Then it comes back exactly as received
    stored = await objects.by_uri("https://r.example/1")
    assert stored is not None and stored.raw == raw


async def test_objects_tombstones_and_activities(db: Database) -> None:
    actor = await ActorRepository(db).insert(remote_actor("fay"))
    objects = ObjectRepository(db)
    note = await objects.insert(
        ObjectRecord(
            uri="https://r.example/n",
            type="Note",
            actor_id=actor.id,
            raw="{}",
            published="2026-01-01T00:00:00.000000Z",
            content="<p>hi</p>",
        )
    )
    assert [o.uri for o in await objects.by_actor(actor.id)] == [note.uri]
    assert await objects.mark_deleted(note.uri)
    assert not await objects.mark_deleted(note.uri)
    assert await objects.by_actor(actor.id) == []
    await objects.add_tombstone("https://r.example/gone", actor.uri)
    await objects.add_tombstone("https://r.example/gone", actor.uri)
    assert await objects.is_tombstoned("https://r.example/gone")
    activity = ActivityRecord(uri="https://r.example/a", type="Like", actor_uri=actor.uri, raw="{}")
    await objects.insert_activity(activity)
    await objects.insert_activity(activity)  # idempotent
    assert (await objects.activity_by_uri("https://r.example/a")) is not None


async def test_follows_lifecycle(db: Database) -> None:
    actors = ActorRepository(db)
    a = await actors.insert(remote_actor("gil"))
    b = await actors.insert(remote_actor("hal", "other.example"))
    follows = FollowRepository(db)
    await follows.put(FollowRecord(follower_id=a.id, followee_id=b.id, uri="https://f/1"))
    assert await follows.count_followers(b.id) == 0
    assert await follows.accept(a.id, b.id)
    assert await follows.follower_ids(b.id) == [a.id]
    # A repeated Follow keeps the accepted state
    again = await follows.put(FollowRecord(follower_id=a.id, followee_id=b.id, uri="https://f/2"))
    assert again.state == "accepted" and again.uri == "https://f/2"
    assert await follows.remote_follower_inboxes(b.id) == ["https://remote.example/inbox"]
    assert await follows.delete(a.id, b.id)
    assert await follows.count_followers(b.id) == 0


async def test_delivery_queue_claims_once(db: Database) -> None:
    signer = await ActorRepository(db).insert(remote_actor("ivy"))
    queue = DeliveryRepository(db)
    inboxes = [("https://a.example/inbox", "a.example"), ("https://b.example/inbox", "b.example")]
    await queue.enqueue("https://l/act/1", "{}", signer.id, inboxes)
    await queue.enqueue("https://l/act/1", "{}", signer.id, inboxes)  # collapsed
    first = await queue.claim_due(10, timedelta(minutes=5))
    second = await queue.claim_due(10, timedelta(minutes=5))
    assert len(first) == 2 and second == []
    await queue.settle(first[0].id, state="delivered", status=202, error=None)
    assert await queue.counts() == {"delivered": 1, "pending": 1}
