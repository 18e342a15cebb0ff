"""Path traversal in media names, bookings beyond the seats, ballots from non-members.

Each hostile request is refused and leaves the files, the seats or the count as they were;
each has an honest twin in the same test, so a route that refused everything would fail.
"""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pytest_aiohttp import AiohttpClient, AiohttpServer

from tests.activitypub.remote import start_coop
from tests.api.conftest import ApiApp, bearer

API = "/api/fedicoop/v1"


@pytest.fixture
async def app(
    tmp_path: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> ApiApp:
    coop = await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)
    return ApiApp(coop)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload(app: ApiApp, token: str, filename: str) -> dict[str, Any]:
    """Upload a small PNG under the given client-side file name."""
    from aiohttp import FormData

    form = FormData()
    form.add_field("file", png_bytes(), filename=filename, content_type="image/png")
    response = await app.client.post("/api/v2/media", data=form, headers=bearer(token))
    assert response.status == 200, await response.text()
    return dict(await response.json())


def tree(directory: Path) -> set[str]:
    """Every file below a directory, relative to it."""
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


# --- media names --------------------------------------------------------------------------------

TRAVERSALS = {
    "dot-dot-encoded-slash": "..%2Ffedicoop.toml",
    "double-dot-dot": "..%2F..%2Ffedicoop.toml",
    "encoded-dots": "%2e%2e%2ffedicoop.toml",
    "double-encoded": "%252e%252e%252ffedicoop.toml",
    "backslash": "..%5Cfedicoop.toml",
    "absolute": "%2Fetc%2Fpasswd",
    "null-byte": "0123456789abcdef0123456789abcdef.png%00.toml",
    "trailing-newline": "0123456789abcdef0123456789abcdef.png%0A",
    "hidden-partial": ".0123456789abcdef0123456789abcdef.png.part",
    "config-name": "fedicoop.toml",
    "database-name": "fedicoop.db",
    "overlong-utf8-dot": "%c0%ae%c0%ae%2ffedicoop.toml",
}


@pytest.mark.parametrize("name", list(TRAVERSALS.values()), ids=list(TRAVERSALS))
async def test_a_media_name_cannot_reach_outside_the_media_directory(
    app: ApiApp, name: str
) -> None:
    # Given an instance whose directory holds its secret-bearing config next to media/
    token = await app.token("admin")
    honest = await upload(app, token, "cat.png")
    secret = app.instance.config.secret
    # When a traversal is asked for under /media/ and /static/
    for prefix in ("/media/", "/static/"):
        response = await app.client.get(prefix + name)
        body = await response.read()
        # Then it is not found, and no byte of the config or database leaks
        assert response.status in (400, 404), (prefix, name, response.status)
        assert secret.encode() not in body and b"SQLite format" not in body
    # And the honest twin: the uploaded file is served
    path = honest["url"].removeprefix(app.base_url)
    served = await app.client.get(path)
    assert served.status == 200 and served.content_type == "image/png"


@pytest.mark.parametrize(
    "filename",
    ["../../evil.png", "/etc/cron.d/evil.png", "..\\..\\evil.png", "evil.png%00.sh", ".htaccess"],
    ids=["dot-dot", "absolute", "backslashes", "null-byte", "dotfile"],
)
async def test_an_uploaded_file_name_never_becomes_a_path(app: ApiApp, filename: str) -> None:
    # Given the files of the instance before the upload
    token = await app.token("admin")
    root = app.instance.config.directory
    before = tree(root)
    # When a file is uploaded under a hostile client-side name
    media = await upload(app, token, filename)
    # Then exactly one new file appears, inside media/, under a name we generated
    added = tree(root) - before
    assert len(added) == 1, added
    (only,) = added
    assert only.startswith("media/") and "evil" not in only and ".." not in only
    assert media["url"].rsplit("/", 1)[-1] == only.removeprefix("media/")
    assert not (root.parent / "evil.png").exists()


# --- bookings beyond the seats -------------------------------------------------------------------


def in_days(days: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC).isoformat()


RIDE = {
    "role": "driver",
    "origin": {"lat": 45.7578, "lon": 4.8320},
    "destination": {"lat": 45.1885, "lon": 5.7245},
    "seats": 3,
    "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
}


async def call(
    app: ApiApp, token: str, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    response = await app.client.request(method, f"{API}{path}", json=body, headers=bearer(token))
    assert response.status == status, (method, path, await response.text())
    return await response.json()


async def seats_left(app: ApiApp, token: str, ride_id: str) -> int:
    return int((await call(app, token, "GET", f"/rides/{ride_id}"))["seats_left"])


@pytest.mark.parametrize("seats", [4, 9, 1000, 0, -1, 2.5, "3", True], ids=str)
async def test_a_booking_for_impossible_seats_is_refused(app: ApiApp, seats: Any) -> None:
    # Given a 3-seat ride
    driver, rider = await app.token("dora"), await app.token("rita")
    ride = await call(app, driver, "POST", "/rides", RIDE | {"departure": in_days(2)}, 201)
    # When a rider asks for more seats than it has, or for a number that is not a seat count
    response = await app.client.post(
        f"{API}/rides/{ride['id']}/bookings", json={"seats": seats}, headers=bearer(rider)
    )
    # Then it is refused and the seats did not move
    assert response.status in (409, 422), await response.text()
    assert await seats_left(app, driver, ride["id"]) == 3
    bookings = await call(app, rider, "GET", "/bookings")
    assert bookings == [] or all(b["status"] != "accepted" for b in bookings)
    # And the honest twin: all 3 seats can be booked
    await call(app, rider, "POST", f"/rides/{ride['id']}/bookings", {"seats": 3}, 201)


async def test_accepting_bookings_beyond_the_seats_is_409_and_takes_nothing(app: ApiApp) -> None:
    # Given a 3-seat ride and two pending bookings of 2 seats each
    driver = await app.token("dora")
    rita, otto = await app.token("rita"), await app.token("otto")
    ride = await call(app, driver, "POST", "/rides", RIDE | {"departure": in_days(2)}, 201)
    first = await call(app, rita, "POST", f"/rides/{ride['id']}/bookings", {"seats": 2}, 201)
    second = await call(app, otto, "POST", f"/rides/{ride['id']}/bookings", {"seats": 2}, 201)
    # When the driver accepts both
    await call(app, driver, "POST", f"/bookings/{first['id']}/accept", {})
    response = await app.client.post(
        f"{API}/bookings/{second['id']}/accept", json={}, headers=bearer(driver)
    )
    # Then the second is a conflict, one seat is left, and the second stays pending
    assert response.status == 409, await response.text()
    assert await seats_left(app, driver, ride["id"]) == 1
    assert (await call(app, otto, "GET", f"/bookings/{second['id']}"))["status"] == "pending"


async def test_a_rider_cannot_accept_their_own_booking(app: ApiApp) -> None:
    driver, rider = await app.token("dora"), await app.token("rita")
    ride = await call(app, driver, "POST", "/rides", RIDE | {"departure": in_days(2)}, 201)
    booking = await call(app, rider, "POST", f"/rides/{ride['id']}/bookings", {"seats": 1}, 201)
    response = await app.client.post(
        f"{API}/bookings/{booking['id']}/accept", json={}, headers=bearer(rider)
    )
    assert response.status in (403, 404, 409), await response.text()
    assert await seats_left(app, driver, ride["id"]) == 3
    assert (await call(app, rider, "GET", f"/bookings/{booking['id']}"))["status"] == "pending"


# --- ballots from people who may not vote -------------------------------------------------------


async def open_proposal(app: ApiApp, token: str) -> dict[str, Any]:
    closes = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    body = {"title": "Buy a cargo bike", "kind": "single", "options": ["Yes", "No"]}
    return dict(await call(app, token, "POST", "/proposals", body | {"closes_at": closes}, 201))


async def counted(app: ApiApp) -> int:
    return await app.coop.count("ballots", "state = $1", "counted")


@pytest.mark.parametrize("who", ["suspended", "joined-after-the-roster", "deleted"])
async def test_a_ballot_from_someone_off_the_roster_is_refused(app: ApiApp, who: str) -> None:
    # Given a proposal opened while alice and bob were members
    admin = await app.token("admin")
    bob = await app.token("bob")
    alice = await app.token("alice") if who != "joined-after-the-roster" else ""
    proposal = await open_proposal(app, admin)
    if who == "joined-after-the-roster":
        alice = await app.token("alice")  # joins once the roster is signed
    elif who == "suspended":
        await app.db.execute("UPDATE accounts SET status = 'suspended' WHERE username = 'alice'")
    else:
        await app.db.execute("UPDATE accounts SET status = 'deleted' WHERE username = 'alice'")
    yes = proposal["options"][0]["id"]
    # When alice votes
    response = await app.client.post(
        f"{API}/proposals/{proposal['id']}/ballots", json={"choices": [yes]}, headers=bearer(alice)
    )
    # Then she is refused and nothing is counted
    assert response.status in (401, 403), await response.text()
    assert await counted(app) == 0
    # And the honest twin: bob, on the roster, votes
    await call(app, bob, "POST", f"/proposals/{proposal['id']}/ballots", {"choices": [yes]}, 201)
    assert await counted(app) == 1
