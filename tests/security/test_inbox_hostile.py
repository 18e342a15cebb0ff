"""Hostile POSTs to the inbox: each is refused with the right status, and nothing is stored.

"Nothing stored" is checked on the tables an accepted activity would touch, after running the
inbox processor, so a refusal that still persisted the activity would show.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpServer

from fedicoop.activitypub.documents import ACTIVITY_JSON
from fedicoop.activitypub.signatures import load_private_key, sign_cavage, sign_request
from fedicoop.storage.objects import ObjectRepository
from tests.activitypub.remote import (
    REMOTE_ORIGIN,
    Coop,
    RemoteActor,
    add_remote_actor,
    keypair,
    start_origin,
)

WATCHED_TABLES = ("inbox", "objects", "activities", "follows", "likes", "announces", "reports")


@pytest.fixture
async def rosa(coop: Coop, aiohttp_server: AiohttpServer) -> RemoteActor:
    """An actor whose server is up and serves her key (a failed check refetches it once)."""
    origin = await start_origin(aiohttp_server)
    actor = await add_remote_actor(coop.db, f"{origin.base_url}/users/rosa")
    origin.serve_actor(actor)
    return actor


async def snapshot(coop: Coop) -> dict[str, int]:
    return {table: await coop.count(table) for table in WATCHED_TABLES}


@pytest.fixture
async def nothing_stored(coop: Coop, mallory: RemoteActor) -> AsyncIterator[None]:
    """Assert, after the test, that no watched table changed even once processing ran."""
    before = await snapshot(coop)
    yield
    await coop.process()
    assert await snapshot(coop) == before


async def refused(response: ClientResponse, status: int) -> str:
    """Assert the status and a JSON error body; return the error message."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    return str(body["error"])


def encode(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity).encode()


def a_create(actor: RemoteActor, content: str = "<p>hi</p>") -> dict[str, Any]:
    return actor.create(actor.note(content))


def signature_header(
    actor: RemoteActor, lines: dict[str, str], *, algorithm: str = "rsa-sha256", mac: bool = False
) -> str:
    """Sign the given `name: value` lines by hand (draft-cavage), for shapes sign_request refuses.

    With `mac`, the "signature" is an HMAC keyed with the actor's public key instead.
    """
    signing_string = "\n".join(f"{name}: {value}" for name, value in lines.items()).encode()
    if mac:
        secret = (actor.record.public_key_pem or "").encode()
        digest = hmac.new(secret, signing_string, hashlib.sha256).digest()
        value = base64.b64encode(digest).decode()
    else:
        value = sign_cavage(signing_string, load_private_key(actor.private_pem))
    return (
        f'keyId="{actor.key_id}",algorithm="{algorithm}",headers="{" ".join(lines)}",'
        f'signature="{value}"'
    )


# Each refusal test checks, after processing, that no watched table changed.
refusal = pytest.mark.usefixtures("nothing_stored")


# --- who is speaking ------------------------------------------------------------------------


@refusal
async def test_unsigned_post_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given a well-formed activity, When it is POSTed without any signature
    response = await coop.client.post(
        "/inbox", data=encode(a_create(mallory)), headers={"Content-Type": ACTIVITY_JSON}
    )
    # Then it is refused as unauthenticated
    await refused(response, 401)


@refusal
async def test_unsigned_post_to_a_member_inbox_is_401(coop: Coop, mallory: RemoteActor) -> None:
    response = await coop.client.post(
        "/users/admin/inbox",
        data=encode(a_create(mallory)),
        headers={"Content-Type": ACTIVITY_JSON},
    )
    await refused(response, 401)


@refusal
async def test_body_tampered_after_signing_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given a request signed over one body
    signed_body = encode(a_create(mallory, "<p>harmless</p>"))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", signed_body)
    # When another body is sent with those headers (the digest no longer matches)
    tampered = encode(a_create(mallory, "<p>malicious</p>"))
    response = await coop.client.post("/inbox", data=tampered, headers=headers)
    # Then the signature does not hold
    assert "digest" in (await refused(response, 401)).lower()


@refusal
async def test_signature_not_covering_the_digest_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given a valid signature over (request-target), host and date only
    body = encode(a_create(mallory))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)
    lines = {"(request-target)": "post /inbox", "host": coop.domain, "date": headers["Date"]}
    headers = {
        "Host": coop.domain,
        "Date": headers["Date"],
        "Content-Type": ACTIVITY_JSON,
        "Signature": signature_header(mallory, lines),
    }
    # When it is sent, Then the body is not bound to the signature and is refused
    response = await coop.client.post("/inbox", data=body, headers=headers)
    assert "digest" in (await refused(response, 401)).lower()


@refusal
async def test_key_of_one_actor_signing_for_another_is_401(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given alice (another server) whose key signs an activity claiming to be mallory's
    alice = await add_remote_actor(coop.db, "http://elsewhere.test/users/alice")
    activity = a_create(mallory)
    body = encode(activity)
    # When alice signs it with her own key
    headers = alice.signed_headers(f"{coop.base_url}/inbox", body)
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then the signer is not the actor: refused
    await refused(response, 401)


@refusal
async def test_key_of_a_same_server_actor_signing_for_another_is_401(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given trudy on mallory's own server
    trudy = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/trudy")
    body = encode(a_create(mallory))
    # When trudy signs mallory's activity
    response = await coop.client.post(
        "/inbox", data=body, headers=trudy.signed_headers(f"{coop.base_url}/inbox", body)
    )
    # Then it is refused too: a key speaks for its own actor only
    await refused(response, 401)


@refusal
async def test_signature_by_a_wrong_key_under_the_right_key_id_is_401(
    coop: Coop, rosa: RemoteActor
) -> None:
    # Given a key that is not rosa's, claiming rosa's key id
    impostor = await add_remote_actor(coop.db, "http://elsewhere.test/users/impostor")
    body = encode(a_create(rosa))
    headers = impostor.signed_headers(f"{coop.base_url}/inbox", body, key_id=rosa.key_id)
    # When it is sent, Then the signature verifies neither with the stored nor a refetched key
    response = await coop.client.post("/inbox", data=body, headers=headers)
    await refused(response, 401)


@refusal
async def test_bad_signature_is_401_even_when_the_key_server_is_down(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given mallory's server does not answer (remote.test does not resolve)
    impostor = await add_remote_actor(coop.db, "http://elsewhere.test/users/impostor")
    body = encode(a_create(mallory))
    headers = impostor.signed_headers(f"{coop.base_url}/inbox", body, key_id=mallory.key_id)
    # When a request arrives whose signature fails with her stored key (so the key is
    # refetched in case it rotated, and that fetch fails)
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then the answer is still 401, not the 404 of the failed refetch
    await refused(response, 401)


@refusal
async def test_unknown_key_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given a key id nobody can serve (a closed port on loopback)
    ghost = "http://127.0.0.1:1/users/ghost"
    body = encode({**a_create(mallory), "actor": ghost, "id": "http://127.0.0.1:1/a/1"})
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, key_id=f"{ghost}#main-key")
    # When it is sent, Then it cannot be verified
    response = await coop.client.post("/inbox", data=body, headers=headers)
    await refused(response, 401)


@refusal
async def test_key_id_naming_something_that_is_not_an_actor_is_401(
    coop: Coop, aiohttp_server: AiohttpServer
) -> None:
    # Given a server whose "key id" document is a Note, not an actor with a key
    origin = await start_origin(aiohttp_server)
    origin.serve({"id": f"{origin.base_url}/notes/1", "type": "Note", "content": "no key"})
    pair = keypair("not-an-actor")
    actor_uri = f"{origin.base_url}/notes/1"
    activity = {
        "id": f"{origin.base_url}/activities/1",
        "type": "Create",
        "actor": actor_uri,
        "object": {"id": f"{origin.base_url}/notes/2", "type": "Note", "content": "x"},
    }
    body = encode(activity)
    headers = sign_request(
        "POST",
        f"{coop.base_url}/inbox",
        key_id=f"{actor_uri}#main-key",
        private_key=load_private_key(pair.private_pem),
        body=body,
        content_type=ACTIVITY_JSON,
    )
    # When a request signed with that key id arrives
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then the signature cannot be verified: 401, like any other unverifiable signature
    await refused(response, 401)


@refusal
async def test_hmac_signature_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given an HMAC "signature" keyed with mallory's public key (algorithm confusion)
    body = encode(a_create(mallory))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, content_type=None)
    lines = {
        "(request-target)": "post /inbox",
        "host": coop.domain,
        "date": headers["Date"],
        "digest": headers["Digest"],
    }
    headers["Signature"] = signature_header(mallory, lines, algorithm="hmac-sha256", mac=True)
    headers["Content-Type"] = ACTIVITY_JSON
    # When it is sent, Then shared-secret algorithms are never accepted
    response = await coop.client.post("/inbox", data=body, headers=headers)
    assert "hmac" in (await refused(response, 401)).lower()


@refusal
async def test_signature_older_than_12_hours_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given a request signed 13 hours ago (a captured request replayed)
    body = encode(a_create(mallory))
    then = datetime.now(UTC) - timedelta(hours=13)
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, now=then)
    # When it is sent, Then it is too old
    response = await coop.client.post("/inbox", data=body, headers=headers)
    assert "old" in await refused(response, 401)


@refusal
async def test_signature_dated_in_the_future_is_401(coop: Coop, mallory: RemoteActor) -> None:
    body = encode(a_create(mallory))
    later = datetime.now(UTC) + timedelta(hours=2)
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, now=later)
    response = await coop.client.post("/inbox", data=body, headers=headers)
    await refused(response, 401)


@refusal
async def test_request_signed_for_another_host_is_401(coop: Coop, mallory: RemoteActor) -> None:
    # Given a request mallory signed for another server's inbox
    body = encode(a_create(mallory))
    headers = mallory.signed_headers("http://other.example/inbox", body)
    # When it is replayed to us with its original Host header
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then it is refused: it was not addressed to us
    await refused(response, 401)


@refusal
async def test_request_signed_for_another_host_sent_with_our_host_is_401(
    coop: Coop, rosa: RemoteActor
) -> None:
    # Given the same replay, but with the Host header rewritten to ours
    body = encode(a_create(rosa))
    headers = rosa.signed_headers("http://other.example/inbox", body)
    headers["Host"] = coop.domain
    # When it is sent, Then the signed host no longer matches and the signature fails
    response = await coop.client.post("/inbox", data=body, headers=headers)
    await refused(response, 401)


@refusal
async def test_request_signed_for_another_inbox_path_is_401(coop: Coop, rosa: RemoteActor) -> None:
    # Given a request signed for the shared inbox, When it is replayed to a member's inbox
    body = encode(a_create(rosa))
    headers = rosa.signed_headers(f"{coop.base_url}/inbox", body)
    response = await coop.client.post("/users/admin/inbox", data=body, headers=headers)
    # Then the signed request target does not match
    await refused(response, 401)


# --- whose objects --------------------------------------------------------------------------


@refusal
async def test_activity_id_on_another_origin_is_403(coop: Coop, mallory: RemoteActor) -> None:
    # Given mallory's activity claiming an id on a victim's server
    activity = {**a_create(mallory), "id": "http://victim.test/activities/1"}
    # When mallory sends it, Then it is forbidden
    await refused(await coop.post_signed(mallory, activity), 403)


@refusal
async def test_embedded_object_on_another_origin_is_403(coop: Coop, mallory: RemoteActor) -> None:
    # Given (CVE-2024-23832) a Create embedding a note with an id on the victim's server
    note = mallory.note("<p>forged</p>", id="http://victim.test/notes/1")
    # When mallory sends it, Then it is forbidden
    await refused(await coop.post_signed(mallory, mallory.create(note)), 403)
    assert await ObjectRepository(coop.db).by_uri("http://victim.test/notes/1") is None


@refusal
async def test_embedded_object_attributed_to_another_origin_is_403(
    coop: Coop, mallory: RemoteActor
) -> None:
    note = mallory.note("<p>forged</p>", attributedTo="http://victim.test/users/alice")
    await refused(await coop.post_signed(mallory, mallory.create(note)), 403)


@refusal
async def test_update_of_an_object_on_another_origin_is_403(
    coop: Coop, mallory: RemoteActor
) -> None:
    note = mallory.note("<p>edit</p>", id="http://victim.test/notes/1")
    await refused(await coop.post_signed(mallory, mallory.activity("Update", note)), 403)


@refusal
async def test_domain_blocked_sender_is_403(coop: Coop, mallory: RemoteActor) -> None:
    # Given the co-op blocks mallory's domain
    await coop.db.execute(
        "INSERT INTO domain_blocks (domain, reason, created_at) VALUES ($1, $2, $3)",
        "remote.test",
        "spam",
        "2024-01-01T00:00:00.000000Z",
    )
    # When mallory sends a correctly signed activity, Then it is forbidden
    await refused(await coop.post_signed(mallory, a_create(mallory)), 403)


@refusal
async def test_domain_block_covers_subdomains(coop: Coop, mallory: RemoteActor) -> None:
    # Given the co-op blocks remote.test, and an actor on a subdomain of it
    await coop.db.execute(
        "INSERT INTO domain_blocks (domain, reason, created_at) VALUES ($1, $2, $3)",
        "remote.test",
        "spam",
        "2024-01-01T00:00:00.000000Z",
    )
    evader = await add_remote_actor(coop.db, "http://evade.remote.test/users/mallory")
    # When the subdomain's actor sends a signed activity
    response = await coop.post_signed(evader, a_create(evader))
    # Then it is forbidden as well (as Mastodon and GoToSocial treat domain blocks)
    await refused(response, 403)


# --- what the body is -----------------------------------------------------------------------


@refusal
@pytest.mark.parametrize("content_type", ["text/plain", "application/json", ""])
async def test_wrong_content_type_is_415(
    coop: Coop, mallory: RemoteActor, content_type: str
) -> None:
    # Given a signed activity, When it is sent with a content type that is not activity+json
    body = encode(a_create(mallory))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, content_type=None)
    headers["Content-Type"] = content_type
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then the media type is unsupported
    await refused(response, 415)


async def test_ld_json_content_type_is_accepted(coop: Coop, mallory: RemoteActor) -> None:
    # The counterpart of the 415 cases: the AS2 JSON-LD media type is an activity too.
    body = encode(a_create(mallory))
    content_type = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body, content_type=content_type)
    response = await coop.client.post("/inbox", data=body, headers=headers)
    assert response.status == 202
    assert await coop.count("inbox") == 1


@refusal
async def test_body_over_256_kb_is_413(coop: Coop, mallory: RemoteActor) -> None:
    # Given a signed activity padded past the 256 KB limit
    body = encode(a_create(mallory, "<p>" + "x" * 270_000 + "</p>"))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)
    # When it is sent, Then it is too large
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 413)


@refusal
async def test_chunked_body_over_256_kb_is_413(coop: Coop, mallory: RemoteActor) -> None:
    # Given the same oversized body sent chunked, without a Content-Length to refuse early
    body = encode(a_create(mallory, "<p>" + "x" * 270_000 + "</p>"))
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    # When it is sent, Then the limit still holds while reading
    response = await coop.client.post("/inbox", data=chunks(), headers=headers)
    await refused(response, 413)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe\x00", b"[1, 2, 3]", b'"a string"', b"{}"],
    ids=["broken", "not-utf8", "array", "string", "no-fields"],
)
@refusal
async def test_body_that_is_not_an_activity_is_422(
    coop: Coop, mallory: RemoteActor, body: bytes
) -> None:
    # Given a signed body that is not one JSON activity, When it is sent, Then 422
    headers = mallory.signed_headers(f"{coop.base_url}/inbox", body)
    await refused(await coop.client.post("/inbox", data=body, headers=headers), 422)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "Note"}
    for _ in range(depth):
        value = {"type": "Note", "inReplyTo": value}
    return value


@refusal
async def test_deeply_nested_body_is_4xx(coop: Coop, mallory: RemoteActor) -> None:
    # Given a signed Create whose object nests 100 levels deep
    activity = mallory.create(mallory.note("<p>deep</p>", inReplyTo=nested(100)))
    # When it is sent, Then it is refused as a client error
    response = await coop.post_signed(mallory, activity)
    assert 400 <= response.status < 500
    await refused(response, response.status)


@refusal
async def test_json_nesting_bomb_is_4xx(coop: Coop, mallory: RemoteActor) -> None:
    # Given a body of 100 000 nested arrays (100 KB, under the size limit), unsigned
    body = b"[" * 100_000 + b"]" * 100_000
    # When it is sent, Then the parser's recursion limit becomes a client error, not a 500
    response = await coop.client.post("/inbox", data=body, headers={"Content-Type": ACTIVITY_JSON})
    assert 400 <= response.status < 500, await response.text()
    await refused(response, response.status)


# --- accepted, but harmless -----------------------------------------------------------------


@refusal
async def test_delete_of_an_unknown_actor_is_202_and_stores_nothing(coop: Coop) -> None:
    # Given a Delete by an account whose server no longer serves its key (a closed port)
    ghost = "http://127.0.0.1:1/users/ghost"
    pair = keypair("ghost")
    delete = {"id": f"{ghost}#delete", "type": "Delete", "actor": ghost, "object": ghost}
    body = encode(delete)
    headers = sign_request(
        "POST",
        f"{coop.base_url}/inbox",
        key_id=f"{ghost}#main-key",
        private_key=load_private_key(pair.private_pem),
        body=body,
        content_type=ACTIVITY_JSON,
    )
    # When it is delivered
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then it is acknowledged, so the sender stops retrying, and forgotten
    assert response.status == 202


async def test_boost_of_a_post_from_a_blocked_domain_is_not_stored(
    coop: Coop, mallory: RemoteActor, aiohttp_server: AiohttpServer
) -> None:
    # Given a blocked server that still serves a post and its author
    blocked = await start_origin(aiohttp_server)
    author = await add_remote_actor(coop.db, f"{blocked.base_url}/users/spammer")
    blocked.serve_actor(author)
    note = author.note("<p>spam</p>")
    blocked.serve({"@context": "https://www.w3.org/ns/activitystreams", **note})
    await coop.db.execute(
        "INSERT INTO domain_blocks (domain, reason, created_at) VALUES ($1, $2, $3)",
        blocked.base_url.removeprefix("http://"),
        "spam",
        "2024-01-01T00:00:00.000000Z",
    )
    # When mallory (not blocked) boosts that post
    await coop.receive(mallory, mallory.activity("Announce", note["id"]))
    # Then the blocked server's post does not get in through the boost
    assert await ObjectRepository(coop.db).by_uri(note["id"]) is None
    assert await coop.count("announces") == 0


async def test_script_and_event_handlers_are_stored_sanitised(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given a note full of active content
    note = mallory.note(
        '<p>hi<script>alert(1)</script><img src="x" onerror="alert(2)">'
        '<a href="javascript:alert(3)" onmouseover="alert(4)">link</a>'
        '<span style="position:fixed" class="mention evil">@x</span></p>',
        summary='<b onclick="alert(5)">cw</b><script>alert(6)</script>',
    )
    # When it is delivered and processed
    await coop.receive(mallory, mallory.create(note))
    # Then what is stored keeps the text and none of the active content
    record = await ObjectRepository(coop.db).by_uri(note["id"])
    assert record is not None
    for stored_html in (record.content, record.summary):
        lowered = stored_html.lower()
        for bad in ("<script", "alert(", "onerror", "onclick", "onmouseover", "javascript:"):
            assert bad not in lowered, stored_html
        assert "style=" not in lowered and "evil" not in lowered
    assert "hi" in record.content and "link" in record.content
