"""Hostile JSON bodies on the client API: each is a 422 with a JSON error, never a 500.

Some of these endpoints take requests from anyone (registering an app, asking for a token,
applying to join), so a body that escapes the error family there is an unauthenticated 500
and a logged traceback per request. Each case checks that nothing was created either, and
the honest twin shows the same endpoint working with a normal body.
"""

from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from tests.activitypub.remote import start_coop
from tests.api.conftest import ApiApp, bearer
from tests.security.hostile import refused

OOB = b'"redirect_uris": "urn:ietf:wg:oauth:2.0:oob"'
BODIES = {
    "huge-integer": b'{"client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "n": '
    + b"7" * 5000
    + b"}",
    "nesting-bomb": b'{"client_name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "lone-surrogate": b'{"client_name": "app \\ud800", ' + OOB + b"}",
    "lone-low-surrogate": b'{"client_name": "\\udc00", ' + OOB + b"}",
    "broken": b'{"client_name": ',
    "not-an-object": b'["client_name"]',
}


@pytest.fixture
async def app(
    tmp_path: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> ApiApp:
    coop = await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)
    return ApiApp(coop)


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
async def test_a_hostile_body_to_an_open_endpoint_is_422(app: ApiApp, body: bytes) -> None:
    # Given no app registered yet
    before = await app.coop.count("oauth_apps")
    # When anyone posts the body to register an app
    response = await app.client.post(
        "/api/v1/apps", data=body, headers={"Content-Type": "application/json"}
    )
    # Then it is refused as invalid, and no app exists
    await refused(response, 422)
    assert await app.coop.count("oauth_apps") == before
    # And the honest twin registers
    honest = await app.client.post(
        "/api/v1/apps",
        json={"client_name": "app \N{AUTOMOBILE}", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
    )
    assert honest.status == 200, await honest.text()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/statuses", b'{"status": "hello \\ud800"}'),
        ("PATCH", "/api/v1/accounts/update_credentials", b'{"note": "bio \\udfff"}'),
        ("POST", "/api/v1/statuses", b'{"status": "x", "n": ' + b"1" * 5000 + b"}"),
    ],
    ids=["status-surrogate", "bio-surrogate", "status-huge-integer"],
)
async def test_a_members_hostile_body_is_422_and_changes_nothing(
    app: ApiApp, method: str, path: str, body: bytes
) -> None:
    # Given a logged-in member
    token = await app.token("admin")
    statuses = await app.coop.count("objects")
    account = await app.client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
    note_before = (await account.json())["note"]
    # When the body is sent
    response = await app.client.request(
        method, path, data=body, headers={**bearer(token), "Content-Type": "application/json"}
    )
    # Then it is a client error, and no post or profile changed
    await refused(response, 422)
    assert await app.coop.count("objects") == statuses
    account = await app.client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
    assert (await account.json())["note"] == note_before
