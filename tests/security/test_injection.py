"""HTML/JS injection in every text field of posts, profiles, proposals and ride messages.

Each payload goes in where an attacker can put it (a member through the API, or a remote
server through the inbox) and is checked where it comes back out: the Mastodon API's HTML
fields, the HTML pages we serve, the AS2 documents other servers read, and the plain-text
fields of the fedicoop API. Every case first checks that the harmless text around the payload
arrived, so a field that was silently dropped cannot pass for a sanitised one.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.activitypub.documents import ACTIVITY_JSON, PUBLIC
from fedicoop.coops.partnership import PartnershipRepository, PartnerState
from fedicoop.storage.objects import ObjectRepository
from tests.activitypub.remote import REMOTE_ORIGIN, RemoteActor, add_remote_actor, start_coop
from tests.api.conftest import ApiApp, bearer
from tests.security.hostile import XSS_IDS, XSS_PAYLOADS, escaped_or_inert, inert

API = "/api/fedicoop/v1"
PAYLOADS = [XSS_PAYLOADS[name] for name in XSS_IDS]
MARK = "harmless-marker"


@pytest.fixture
async def app(
    tmp_path: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> ApiApp:
    coop = await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)
    return ApiApp(coop)


@pytest.fixture
async def token(app: ApiApp) -> str:
    return await app.token("admin")


@pytest.fixture
async def mallory(app: ApiApp) -> RemoteActor:
    return await add_remote_actor(app.db, f"{REMOTE_ORIGIN}/users/mallory")


def text_with(payload: str) -> str:
    return f"{MARK} {payload} {MARK}"


async def page(app: ApiApp, url: str) -> str:
    """GET a page of ours as a browser does."""
    path = url.removeprefix(app.base_url)
    response = await app.client.get(path, headers={"Accept": "text/html"})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/html"
    return await response.text()


async def as2_document(app: ApiApp, url: str) -> dict[str, Any]:
    """GET a document of ours as another server does."""
    response = await app.client.get(
        url.removeprefix(app.base_url), headers={"Accept": ACTIVITY_JSON}
    )
    assert response.status == 200, await response.text()
    return dict(await response.json(content_type=None))


# --- posts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_members_post_is_inert_in_the_api_the_page_and_the_as2_document(
    app: ApiApp, token: str, payload: str
) -> None:
    # Given a member posting the payload as text and as content warning
    response = await app.client.post(
        "/api/v1/statuses",
        json={"status": text_with(payload), "spoiler_text": text_with(payload)},
        headers=bearer(token),
    )
    assert response.status == 200, await response.text()
    status = await response.json()
    # Then the Mastodon API's HTML is inert and still carries the text around it
    assert MARK in status["content"] and inert(status["content"])
    # And so are the post's page and the document other servers fetch
    html = await page(app, status["uri"])
    assert MARK in html and inert(html)
    # (The AS2 `summary` carries the content warning as plain text, as Mastodon sends it;
    # receivers sanitise it, as test_a_remote_post_is_shown_inert checks we do.)
    document = await as2_document(app, status["uri"])
    assert MARK in document["content"] and inert(document["content"])


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_remote_post_is_shown_inert(
    app: ApiApp, token: str, mallory: RemoteActor, payload: str
) -> None:
    # Given a remote note carrying the payload in its content and its content warning
    note = mallory.note(f"<p>{text_with(payload)}</p>", summary=text_with(payload))
    await app.coop.receive(mallory, mallory.create(note))
    record = await ObjectRepository(app.db).by_uri(note["id"])
    assert record is not None
    # When a client reads it, Then content and spoiler text carry no active content
    response = await app.client.get(f"/api/v1/statuses/{record.id}", headers=bearer(token))
    assert response.status == 200, await response.text()
    status = await response.json()
    assert MARK in status["content"] and inert(status["content"])
    assert inert(status["spoiler_text"])


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_remote_profile_is_shown_inert(
    app: ApiApp, token: str, mallory: RemoteActor, payload: str
) -> None:
    # Given mallory's own profile update with the payload in her bio and a profile field
    person = {
        "id": mallory.uri,
        "type": "Person",
        "preferredUsername": "mallory",
        "name": text_with(payload),
        "summary": f"<p>{text_with(payload)}</p>",
        "publicKey": {
            "id": mallory.key_id,
            "owner": mallory.uri,
            "publicKeyPem": mallory.record.public_key_pem,
        },
        "attachment": [{"type": "PropertyValue", "name": "site", "value": text_with(payload)}],
    }
    await app.coop.receive(mallory, mallory.activity("Update", person))
    # When a client reads her account
    response = await app.client.get(f"/api/v1/accounts/{mallory.record.id}", headers=bearer(token))
    assert response.status == 200, await response.text()
    account = await response.json()
    # Then the bio and the field value (HTML in Mastodon's API) are inert
    assert MARK in account["note"] and inert(account["note"])
    assert account["fields"] and all(inert(f["value"]) for f in account["fields"])


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_members_profile_is_inert_on_the_profile_page(
    app: ApiApp, token: str, payload: str
) -> None:
    # Given a member's bio, display name and profile field holding the payload
    response = await app.client.patch(
        "/api/v1/accounts/update_credentials",
        json={
            "display_name": f"{MARK} {payload}"[:30],
            "note": text_with(payload),
            "fields_attributes": [{"name": "site", "value": text_with(payload)}],
        },
        headers=bearer(token),
    )
    assert response.status == 200, await response.text()
    account = await response.json()
    assert inert(account["note"]) and all(inert(f["value"]) for f in account["fields"])
    # When a browser opens the profile page, Then nothing in it runs
    html = await page(app, account["url"])
    assert MARK in html and inert(html) and escaped_or_inert(html)


async def test_a_hashtag_page_escapes_the_tag_in_its_address(app: ApiApp) -> None:
    response = await app.client.get(
        "/tags/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers={"Accept": "text/html"}
    )
    assert response.status in (200, 404)
    assert "<script" not in (await response.text()).lower()


# --- proposals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_members_proposal_is_inert_on_its_page_and_in_its_document(
    app: ApiApp, token: str, payload: str
) -> None:
    # Given a proposal whose title, body and options carry the payload
    closes = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = await app.client.post(
        f"{API}/proposals",
        json={
            "title": f"{MARK} {payload}"[:200],
            "body": text_with(payload),
            "kind": "single",
            "options": [f"yes {payload}"[:100], "no"],
            "closes_at": closes,
        },
        headers=bearer(token),
    )
    assert response.status == 201, await response.text()
    proposal = await response.json()
    uri = proposal.get("uri") or proposal.get("url")
    assert isinstance(uri, str)
    # When a browser opens its page, Then title, body and options are escaped
    html = await page(app, uri)
    assert MARK in html and inert(html) and escaped_or_inert(html)
    # And the Question other servers read has inert HTML
    document = await as2_document(app, uri)
    assert MARK in document["content"] and inert(document["content"])


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_partners_proposal_is_inert_in_both_apis(
    app: ApiApp, token: str, payload: str
) -> None:
    # Given an active partner co-op whose Group opens a proposal full of the payload
    group = await add_remote_actor(app.db, f"{REMOTE_ORIGIN}/users/covoit", actor_type="Group")
    await PartnershipRepository(app.federation).put(group.record.id, PartnerState.ACTIVE, None)
    ours = await app.coop.group()
    closes = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "id": f"{REMOTE_ORIGIN}/proposals/1",
        "type": "Question",
        "attributedTo": group.uri,
        "to": [PUBLIC],
        "cc": [ours.uri],
        "name": text_with(payload),
        "content": f"<p>{text_with(payload)}</p>",
        "endTime": closes,
        "closesAt": closes,
        "oneOf": [{"type": "Note", "name": "Yes"}, {"type": "Note", "name": "No"}],
        "kind": "single",
        "coops": [group.uri, ours.uri],
        "proposalOptions": [{"id": "o1", "label": text_with(payload)}, {"id": "o2", "label": "No"}],
    }
    await app.coop.receive(group, group.activity("Create", document, cc=[ours.uri]))
    # When members list proposals, Then the body is plain text with no markup left
    response = await app.client.get(f"{API}/proposals", headers=bearer(token))
    assert response.status == 200, await response.text()
    listed = await response.json()
    items = listed if isinstance(listed, list) else listed.get("proposals", [])
    ours_seen = [p for p in items if document["id"] in (p.get("uri"), p.get("url"))]
    assert ours_seen, listed
    assert MARK in ours_seen[0]["body"] and inert(ours_seen[0]["body"])
    # And wherever it shows as a Mastodon status, its HTML is inert
    record = await ObjectRepository(app.db).by_uri(document["id"])
    if record is not None:
        status = await app.client.get(f"/api/v1/statuses/{record.id}", headers=bearer(token))
        assert status.status == 200
        assert inert((await status.json())["content"])


# --- rides: booking messages and reviews from another server ---------------------------------


def _ride_page_inert(html: str) -> bool:
    return inert(html) and escaped_or_inert(html)


@pytest.mark.parametrize("payload", PAYLOADS, ids=XSS_IDS)
async def test_a_local_ride_page_is_inert_whatever_labels_were_typed(
    app: ApiApp, token: str, payload: str
) -> None:
    # Given a member publishing a ride whose typed place labels carry the payload
    departure = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    response = await app.client.post(
        f"{API}/rides",
        json={
            "role": "driver",
            "origin": {"lat": 45.185, "lon": 5.725, "label": f"{payload}"[:100]},
            "destination": {"lat": 45.755, "lon": 4.835, "label": f"{payload}"[:100]},
            "departure": departure,
            "seats": 3,
        },
        headers=bearer(token),
    )
    assert response.status == 201, await response.text()
    ride = await response.json()
    uri = ride.get("uri") or ride.get("url")
    assert isinstance(uri, str)
    # When a browser opens the ride's page, and a server its document
    html = await page(app, uri)
    document = await as2_document(app, uri)
    # Then neither carries active content
    assert _ride_page_inert(html)
    assert inert(document["content"])
