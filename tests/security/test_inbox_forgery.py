"""Forged and replayed activities: spoofed origins, attacker keys, JSON-LD tricks, replays.

Each refusal asserts the status, then runs the inbox processor and checks that no watched
table changed; each "accepted but harmless" case checks the exact rows that must stay put.
Honest twins (the same shape from the rightful sender) show the checks are not blanket
refusals.
"""

import json
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from fedicoop.activitypub.documents import ACTIVITY_JSON
from fedicoop.activitypub.signatures import load_private_key, sign_request
from fedicoop.storage.actors import ActorRepository
from fedicoop.storage.objects import ObjectRepository
from tests.activitypub.remote import (
    REMOTE_ORIGIN,
    Coop,
    RemoteActor,
    add_remote_actor,
    keypair,
)
from tests.security.hostile import encode, refused, snapshot
from tests.servers import free_port

VICTIM_ORIGIN = "http://victim.test"


@pytest.fixture
async def trudy(coop: Coop) -> RemoteActor:
    """Another actor on mallory's server."""
    return await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/trudy")


@pytest.fixture
async def victim(coop: Coop) -> RemoteActor:
    """An actor on a server the attacker does not run."""
    return await add_remote_actor(coop.db, f"{VICTIM_ORIGIN}/users/victor")


async def assert_unchanged(coop: Coop, before: dict[str, int]) -> None:
    """Run the processor, then check that no watched table changed."""
    await coop.process()
    assert await snapshot(coop) == before


async def stored_key(coop: Coop, actor: RemoteActor) -> tuple[str | None, str | None]:
    record = await ActorRepository(coop.db).by_uri(actor.uri)
    assert record is not None
    return record.key_id, record.public_key_pem


# --- ids that speak for another origin --------------------------------------------------------

# Spellings of an id that are NOT on http://remote.test, whatever the sender claims; several
# are URL-parser differentials (userinfo, fragments and backslashes read differently by
# RFC 3986 and WHATWG parsers).
FOREIGN_IDS = {
    "other-host": "http://victim.test/items/1",
    "userinfo-then-victim": "http://remote.test@victim.test/items/1",
    "fragment-hides-victim": "http://victim.test#@remote.test/items/1",
    "query-hides-victim": "http://victim.test?@remote.test/items/1",
    "backslash-userinfo": "http://victim.test\\@remote.test/items/1",
    "encoded-slash-userinfo": "http://remote.test%2F@victim.test/items/1",
    "other-scheme": "https://remote.test/items/1",
    "other-port": "http://remote.test:8080/items/1",
    "suffix-host": "http://remote.test.victim.test/items/1",
    "scheme-relative": "//victim.test/items/1",
    "relative-path": "items/1",
    "single-slash": "http:/remote.test/items/1",
    "urn": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    "empty": "",
}

# Other spellings of the sender's own origin: these must be accepted.
OWN_SPELLINGS = {
    "upper-case-host": "http://REMOTE.test/items/{n}",
    "default-port": "http://remote.test:80/items/{n}",
    "trailing-dot": "http://remote.test./items/{n}",
}


@pytest.mark.parametrize("foreign", list(FOREIGN_IDS.values()), ids=list(FOREIGN_IDS))
async def test_an_activity_id_on_another_origin_is_403(
    coop: Coop, mallory: RemoteActor, foreign: str
) -> None:
    # Given mallory's Create whose own id is spelled to look like (or be) another server's
    before = await snapshot(coop)
    activity = {**mallory.create(mallory.note("<p>x</p>")), "id": foreign}
    # When she sends it, Then it is forbidden and nothing is stored
    await refused(await coop.post_signed(mallory, activity), 403)
    await assert_unchanged(coop, before)


@pytest.mark.parametrize("foreign", list(FOREIGN_IDS.values()), ids=list(FOREIGN_IDS))
async def test_an_embedded_object_id_on_another_origin_is_403(
    coop: Coop, mallory: RemoteActor, foreign: str
) -> None:
    # Given (CVE-2024-23832) a Create embedding a note whose id is not on mallory's origin
    before = await snapshot(coop)
    note = mallory.note("<p>forged</p>", id=foreign)
    # When she sends it, Then it is forbidden and no object gets that id
    await refused(await coop.post_signed(mallory, mallory.create(note)), 403)
    await assert_unchanged(coop, before)
    assert await ObjectRepository(coop.db).by_uri(foreign) is None


@pytest.mark.parametrize("foreign", list(FOREIGN_IDS.values())[:7], ids=list(FOREIGN_IDS)[:7])
async def test_an_update_of_an_object_on_another_origin_is_403(
    coop: Coop, mallory: RemoteActor, foreign: str
) -> None:
    before = await snapshot(coop)
    note = mallory.note("<p>edited</p>", id=foreign)
    await refused(await coop.post_signed(mallory, mallory.activity("Update", note)), 403)
    await assert_unchanged(coop, before)


@pytest.mark.parametrize("spelling", list(OWN_SPELLINGS.values()), ids=list(OWN_SPELLINGS))
async def test_other_spellings_of_the_senders_own_origin_are_accepted(
    coop: Coop, mallory: RemoteActor, spelling: str
) -> None:
    # The honest twin of the cases above: case, default port and trailing dot are one origin.
    note = mallory.note("<p>mine</p>", id=spelling.format(n="note"))
    activity = {**mallory.create(note), "id": spelling.format(n="activity")}
    await coop.receive(mallory, activity)
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and record.actor_id == mallory.record.id


# --- actors carrying an attacker's key ---------------------------------------------------------


async def test_an_update_of_another_servers_actor_is_403_and_its_key_stays(
    coop: Coop, mallory: RemoteActor, victim: RemoteActor
) -> None:
    # Given victor's stored key, and mallory's Update{Person victor} carrying her own key
    key_before = await stored_key(coop, victim)
    before = await snapshot(coop)
    person = {
        "id": victim.uri,
        "type": "Person",
        "preferredUsername": "victor",
        "name": "Owned",
        "inbox": f"{victim.uri}/inbox",
        "publicKey": {
            "id": victim.key_id,
            "owner": victim.uri,
            "publicKeyPem": mallory.record.public_key_pem,
        },
    }
    # When she sends it, Then it is forbidden and victor's key is his own still
    await refused(await coop.post_signed(mallory, mallory.activity("Update", person)), 403)
    await assert_unchanged(coop, before)
    assert await stored_key(coop, victim) == key_before


async def test_an_update_of_a_same_server_actor_does_not_replace_its_key(
    coop: Coop, mallory: RemoteActor, trudy: RemoteActor
) -> None:
    # Given trudy on mallory's server, When mallory sends Update{Person trudy} with her key
    key_before = await stored_key(coop, trudy)
    person = {
        "id": trudy.uri,
        "type": "Person",
        "preferredUsername": "trudy",
        "name": "Owned",
        "publicKey": {
            "id": trudy.key_id,
            "owner": trudy.uri,
            "publicKeyPem": mallory.record.public_key_pem,
        },
    }
    await coop.receive(mallory, mallory.activity("Update", person))
    # Then trudy's key and name are untouched: a profile is only updated by its own actor
    assert await stored_key(coop, trudy) == key_before
    record = await ActorRepository(coop.db).by_uri(trudy.uri)
    assert record is not None and record.display_name != "Owned"


async def test_an_own_profile_update_cannot_claim_another_servers_key_id(
    coop: Coop, mallory: RemoteActor, victim: RemoteActor
) -> None:
    # Given mallory updating her own profile with a key whose id is victor's key id
    person = {
        "id": mallory.uri,
        "type": "Person",
        "preferredUsername": "mallory",
        "publicKey": {
            "id": victim.key_id,
            "owner": mallory.uri,
            "publicKeyPem": mallory.record.public_key_pem,
        },
    }
    await coop.receive(mallory, mallory.activity("Update", person))
    # Then the foreign key id is not stored for her, and victor's key id still names victor
    record = await ActorRepository(coop.db).by_uri(mallory.uri)
    assert record is not None and record.key_id != victim.key_id
    owner = await ActorRepository(coop.db).by_key_id(victim.key_id)
    assert owner is not None and owner.uri == victim.uri
    # And a request signed with mallory's key under victor's key id is still refused
    before = await snapshot(coop)
    body = encode(victim.create(victim.note("<p>as victor</p>")))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, key_id=victim.key_id)
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 401)
    await assert_unchanged(coop, before)


async def test_an_embedded_actor_with_an_attackers_key_does_not_authenticate(
    coop: Coop, mallory: RemoteActor, victim: RemoteActor
) -> None:
    # Given a Follow whose actor is victor embedded with mallory's public key, signed with
    # mallory's private key under victor's key id
    key_before = await stored_key(coop, victim)
    before = await snapshot(coop)
    admin = await coop.local_actor()
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": victim.new_id(),
        "type": "Follow",
        "actor": {
            "id": victim.uri,
            "type": "Person",
            "publicKey": {
                "id": victim.key_id,
                "owner": victim.uri,
                "publicKeyPem": mallory.record.public_key_pem,
            },
        },
        "object": admin.uri,
    }
    body = encode(follow)
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, key_id=victim.key_id)
    # When it is sent, Then the embedded key is not believed: 401, no follow, victor's key kept
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 401)
    await assert_unchanged(coop, before)
    assert await stored_key(coop, victim) == key_before


async def test_a_note_attributed_to_an_embedded_foreign_actor_is_403(
    coop: Coop, mallory: RemoteActor, victim: RemoteActor
) -> None:
    key_before = await stored_key(coop, victim)
    before = await snapshot(coop)
    author = {
        "id": victim.uri,
        "type": "Person",
        "publicKey": {"id": victim.key_id, "publicKeyPem": mallory.record.public_key_pem},
    }
    note = mallory.note("<p>in victor's name</p>", attributedTo=author)
    await refused(await coop.post_signed(mallory, mallory.create(note)), 403)
    await assert_unchanged(coop, before)
    assert await stored_key(coop, victim) == key_before


async def test_a_key_document_owned_by_another_origin_is_401(
    coop: Coop, aiohttp_server: AiohttpServer, victim: RemoteActor
) -> None:
    # Given a server serving a GoToSocial-style key document that names victor as its owner
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    pair = keypair("key-document-attacker")
    key_id = f"{origin}/keys/1"
    key_document = {
        "id": key_id,
        "type": "Key",
        "owner": victim.uri,
        "publicKeyPem": pair.public_pem,
    }

    async def serve_key(request: web.Request) -> web.Response:
        return web.Response(text=encode(key_document).decode(), content_type=ACTIVITY_JSON)

    app = web.Application()
    app.router.add_get("/keys/1", serve_key)
    await aiohttp_server(app, port=port)
    key_before = await stored_key(coop, victim)
    before = await snapshot(coop)
    # When an activity "by victor" arrives signed with that key
    body = encode(victim.create(victim.note("<p>as victor</p>")))
    headers = sign_request(
        "POST",
        f"{coop.base_url}/inbox",
        key_id=key_id,
        private_key=load_private_key(pair.private_pem),
        body=body,
        content_type=ACTIVITY_JSON,
    )
    # Then the key cannot speak for an actor of another origin
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 401)
    await assert_unchanged(coop, before)
    assert await stored_key(coop, victim) == key_before


# --- replays -----------------------------------------------------------------------------------


async def test_a_replayed_request_is_stored_once(coop: Coop, mallory: RemoteActor) -> None:
    # Given one signed request captured on the wire
    activity = mallory.create(mallory.note("<p>once</p>"))
    body = encode(activity)
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)
    # When it is sent three times
    for _ in range(3):
        response = await coop.client.post("/inbox", data=body, headers=headers)
        assert response.status == 202
    await coop.process()
    # Then it was stored and applied once
    assert await coop.count("inbox") == 1
    assert await coop.count("objects", "uri = $1", activity["object"]["id"]) == 1


async def test_a_replayed_activity_id_with_another_body_changes_nothing(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given a Create received and applied
    note = mallory.note("<p>original</p>")
    activity = mallory.create(note)
    await coop.receive(mallory, activity)
    before = await snapshot(coop)
    # When a new body is sent under the same activity id (freshly signed)
    altered = {**activity, "object": {**note, "content": "<p>rewritten</p>"}}
    await coop.receive(mallory, altered)
    # Then the first one stands: the activity id was already seen
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and "original" in record.content
    assert await snapshot(coop) == before


async def test_a_replayed_follow_makes_one_follow(coop: Coop, mallory: RemoteActor) -> None:
    admin = await coop.local_actor()
    follow = mallory.activity("Follow", admin.uri, to=[admin.uri], cc=[])
    await coop.receive(mallory, follow)
    await coop.receive(mallory, follow)
    await coop.receive(mallory, {**follow, "id": mallory.new_id()})
    assert await coop.count("follows", "follower_id = $1", mallory.record.id) == 1


async def test_a_note_id_reused_by_another_actor_of_its_server_keeps_its_author(
    coop: Coop, mallory: RemoteActor, trudy: RemoteActor
) -> None:
    # Given mallory's note, stored
    note = mallory.note("<p>mallory's words</p>")
    await coop.receive(mallory, mallory.create(note))
    # When trudy (same server) creates a note under the same id
    hijack = trudy.note("<p>trudy's words</p>", id=note["id"])
    await coop.receive(trudy, trudy.create(hijack))
    # Then the stored note is still mallory's, with her words
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None
    assert record.actor_id == mallory.record.id and "mallory" in record.content


async def test_an_update_by_another_actor_of_the_server_changes_nothing(
    coop: Coop, mallory: RemoteActor, trudy: RemoteActor
) -> None:
    note = mallory.note("<p>mallory's words</p>")
    await coop.receive(mallory, mallory.create(note))
    edit = {**note, "attributedTo": trudy.uri, "content": "<p>edited by trudy</p>"}
    await coop.receive(trudy, trudy.activity("Update", edit))
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and "mallory" in record.content


async def test_a_delete_by_another_actor_of_the_server_changes_nothing(
    coop: Coop, mallory: RemoteActor, trudy: RemoteActor
) -> None:
    note = mallory.note("<p>mallory's words</p>")
    await coop.receive(mallory, mallory.create(note))
    await coop.receive(trudy, trudy.activity("Delete", note["id"]))
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and record.deleted_at is None and "mallory" in record.content


async def test_an_actor_delete_for_another_actor_changes_nothing(
    coop: Coop, mallory: RemoteActor, trudy: RemoteActor
) -> None:
    # Given mallory's note, When trudy sends Delete{mallory} (the shape of an account deletion)
    note = mallory.note("<p>still here</p>")
    await coop.receive(mallory, mallory.create(note))
    await coop.receive(trudy, trudy.activity("Delete", mallory.uri))
    # Then mallory's posts are not wiped
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and record.deleted_at is None


# --- JSON-LD @context tricks -------------------------------------------------------------------


@pytest.fixture
async def context_server(aiohttp_server: AiohttpServer) -> tuple[str, list[str]]:
    """A server that would serve JSON-LD contexts, recording every request it gets."""
    seen: list[str] = []

    async def context(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"@context": {"actor": "@id"}})

    app = web.Application()
    app.router.add_get("/{tail:.*}", context)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}", seen


@pytest.mark.parametrize(
    "shape",
    ["string", "list", "import", "scoped", "nested"],
)
async def test_a_remote_context_is_never_fetched(
    coop: Coop, mallory: RemoteActor, context_server: tuple[str, list[str]], shape: str
) -> None:
    # Given a Create whose @context names an attacker's URL in one of JSON-LD's ways
    base, seen = context_server
    url = f"{base}/ctx/{shape}"
    contexts: dict[str, Any] = {
        "string": url,
        "list": ["https://www.w3.org/ns/activitystreams", url],
        "import": ["https://www.w3.org/ns/activitystreams", {"@import": url}],
        "scoped": ["https://www.w3.org/ns/activitystreams", {"Note": {"@context": url}}],
        "nested": [{"@context": [url]}],
    }
    note = mallory.note("<p>context</p>")
    activity = {**mallory.create(note), "@context": contexts[shape]}
    # When it is received and processed
    response = await coop.post_signed(mallory, activity)
    assert response.status in (202, 422)
    await coop.process()
    # Then nobody fetched the context (SSRF and response-size amplification)
    assert seen == []


async def test_a_context_base_cannot_move_relative_ids_to_another_origin(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given relative ids that a JSON-LD processor would resolve against a victim's @base
    before = await snapshot(coop)
    note = mallory.note("<p>based</p>", id="notes/1")
    activity = {
        **mallory.create(note),
        "@context": ["https://www.w3.org/ns/activitystreams", {"@base": f"{VICTIM_ORIGIN}/"}],
        "id": "activities/1",
    }
    # When sent, Then a relative id is on no origin: refused, nothing stored
    await refused(await coop.post_signed(mallory, activity), 403)
    await assert_unchanged(coop, before)


async def test_an_at_id_on_another_origin_is_not_taken_for_the_objects_id(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given an embedded note whose JSON-LD "@id" names a victim's post (and which has no "id")
    note = mallory.note("<p>at-id</p>")
    del note["id"]
    note["@id"] = f"{VICTIM_ORIGIN}/notes/1"
    await coop.post_signed(mallory, mallory.create(note))
    await coop.process()
    # Then no object is stored under the victim's id
    assert await ObjectRepository(coop.db).by_uri(f"{VICTIM_ORIGIN}/notes/1") is None


async def test_a_context_aliasing_actor_does_not_change_who_speaks(
    coop: Coop, mallory: RemoteActor, victim: RemoteActor
) -> None:
    # Given a context that makes "sender" mean as:actor and "actor" mean something else, with
    # the victim as "sender": a JSON-LD reader would take the victim for the actor
    note = mallory.note("<p>aliased</p>")
    activity = {
        **mallory.create(note),
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {"actor": "https://evil.example/ns#notActor", "sender": "as:actor"},
        ],
        "sender": victim.uri,
    }
    await coop.receive(mallory, activity)
    # Then what is stored is mallory's, as its signer and plain "actor" say
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and record.actor_id == mallory.record.id
    assert await coop.count("objects", "actor_id = $1", victim.record.id) == 0


# --- bodies the JSON parser chokes on ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 1' + b"1" * 5000 + b', "type": "Create"}',
        b'{"type": "Create", "actor": "http://remote.test/users/mallory", "n": -'
        + b"9" * 10_000
        + b"}",
    ],
    ids=["huge-integer-id", "huge-negative-integer"],
)
async def test_an_integer_past_the_parsers_digit_limit_is_422_not_500(
    coop: Coop, mallory: RemoteActor, body: bytes
) -> None:
    # Given a body holding an integer literal over Python's 4,300-digit conversion limit
    before = await snapshot(coop)
    # When it is posted unsigned, and signed
    unsigned = await coop.client.post("/inbox", data=body, headers={"Content-Type": ACTIVITY_JSON})
    signed = await coop.client.post(
        "/inbox", data=body, headers=mallory.signed_headers(f"{coop.base_url}/inbox", body)
    )
    # Then both are client errors (it used to escape the error family: a 500)
    await refused(unsigned, 422)
    await refused(signed, 422)
    await assert_unchanged(coop, before)


# --- text that is not Unicode ------------------------------------------------------------------


async def test_a_key_whose_actor_holds_a_lone_surrogate_is_401_not_500(
    coop: Coop, aiohttp_server: AiohttpServer
) -> None:
    # Given a server whose actor document has "\ud800" (escaped JSON: a lone UTF-16 surrogate)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    pair = keypair("lone-surrogate")
    actor = f"{origin}/users/s"
    document = {
        "id": actor,
        "type": "Person",
        "preferredUsername": "s",
        "name": "\ud800",
        "inbox": f"{actor}/inbox",
        "publicKey": {"id": f"{actor}#main-key", "owner": actor, "publicKeyPem": pair.public_pem},
    }

    async def serve_actor(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(document), content_type=ACTIVITY_JSON)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve_actor)
    await aiohttp_server(app, port=port)
    before = await snapshot(coop)
    activity = {
        "id": f"{origin}/activities/1",
        "type": "Create",
        "actor": actor,
        "object": {"id": f"{origin}/notes/1", "type": "Note", "attributedTo": actor},
    }
    body = encode(activity)
    headers = sign_request(
        "POST",
        f"{coop.base_url}/inbox",
        key_id=f"{actor}#main-key",
        private_key=load_private_key(pair.private_pem),
        body=body,
        content_type=ACTIVITY_JSON,
    )
    # When a POST signed with its key arrives, Then the key cannot be read: 401 (it was a 500)
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 401)
    await assert_unchanged(coop, before)


@pytest.mark.parametrize(
    "escape", ["\\ud800", "\\udfff", "\\uDBFF", "x\\ud83d"], ids=["high", "low", "upper", "half"]
)
async def test_an_activity_holding_a_lone_surrogate_is_422(
    coop: Coop, mallory: RemoteActor, escape: str
) -> None:
    # Given a signed Create whose content holds a lone surrogate escape
    before = await snapshot(coop)
    note = mallory.note("PLACEHOLDER")
    body = encode(mallory.create(note)).replace(b"PLACEHOLDER", escape.encode())
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)
    # When it is sent, Then it is refused at the door, before anything can choke on it
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 422)
    await assert_unchanged(coop, before)


async def test_an_escaped_surrogate_pair_is_accepted(coop: Coop, mallory: RemoteActor) -> None:
    # The honest twin: "\ud83d\ude97" is one character (a car), written the way JSON allows
    note = mallory.note("PLACEHOLDER")
    body = encode(mallory.create(note)).replace(b"PLACEHOLDER", b"<p>\\ud83d\\ude97</p>")
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)
    response = await coop.client.post("/inbox", data=body, headers=headers)
    assert response.status == 202, await response.text()
    await coop.process()
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None and "\N{AUTOMOBILE}" in record.content
