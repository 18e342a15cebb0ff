"""The rides JSON API on one instance: publish, search, book, accept, cancel, talk, review."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"
LYON = {"lat": 45.7578, "lon": 4.8320, "label": "12 rue de la République, Lyon"}
GRENOBLE = {"lat": 45.1885, "lon": 5.7245, "label": "Gare de Grenoble"}


def tomorrow_at(hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC).isoformat()


def offer(**changes: Any) -> dict[str, Any]:
    body = {
        "role": "driver",
        "origin": LYON,
        "destination": GRENOBLE,
        "departure": tomorrow_at(8),
        "seats": 3,
        "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
    }
    return body | changes


async def create(api_app: ApiApp, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api_app.client.post(f"{API}/rides", json=body, headers=bearer(token))
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def test_a_published_ride_shows_only_blurred_places_to_others(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a driver who publishes a ride from a street address
    driver = await token_for("dora")
    ride = await create(api_app, driver, offer())
    # Then the driver sees the exact places, and a passer-by sees a town and a 1 km cell
    assert ride["exact"] is True and ride["origin"]["label"] == LYON["label"]
    assert ride["coop"].startswith("coop@") or "@" in ride["coop"]
    assert ride["seats_left"] == 3 and ride["status"] == "open"
    rider = await token_for("rita")
    response = await api_app.client.get(f"{API}/rides/{ride['id']}", headers=bearer(rider))
    seen = await response.json()
    assert seen["exact"] is False
    assert seen["origin"]["label"] == "Lyon, FR"
    assert seen["origin"]["lat"] != LYON["lat"]
    assert abs(seen["origin"]["lat"] - LYON["lat"]) < 0.01
    # And the ActivityPub document carries no street either
    document = await api_app.client.get(
        f"/rides/{ride['id']}", headers={"Accept": "application/activity+json"}
    )
    text = await document.text()
    assert "République" not in text and "Gare" not in text
    assert "Lyon" in (await document.json())["name"]


@pytest.mark.both_engines
async def test_search_book_accept_and_cancel_on_one_instance(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    driver = await token_for("dora")
    rider = await token_for("rita")
    ride = await create(api_app, driver, offer())
    # When the rider searches from near Lyon to near Grenoble
    response = await api_app.client.get(
        f"{API}/rides/search",
        params={
            "origin": "45.76,4.84",
            "destination": "45.19,5.72",
            "departure": tomorrow_at(8),
            "seats": "2",
        },
        headers=bearer(rider),
    )
    assert response.status == 200, await response.text()
    results = await response.json()
    assert [r["url"] for r in results] == [ride["url"]]
    assert results[0]["detour_km"] % 0.5 == 0
    # And books two seats, which the driver accepts
    response = await api_app.client.post(
        f"{API}/rides/{ride['id']}/bookings", json={"seats": 2}, headers=bearer(rider)
    )
    assert response.status == 201, await response.text()
    booking = await response.json()
    assert booking["status"] == "pending" and booking["seats"] == 2
    forbidden = await api_app.client.post(
        f"{API}/bookings/{booking['id']}/accept", headers=bearer(rider)
    )
    assert forbidden.status == 403
    response = await api_app.client.post(
        f"{API}/bookings/{booking['id']}/accept", headers=bearer(driver)
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "accepted"
    seen = await (
        await api_app.client.get(f"{API}/rides/{ride['id']}", headers=bearer(rider))
    ).json()
    assert seen["seats_left"] == 1
    assert seen["exact"] is True  # an accepted rider sees where the driver leaves from
    # When a third member asks for two seats, the ride is full for them
    other = await token_for("otto")
    response = await api_app.client.post(
        f"{API}/rides/{ride['id']}/bookings", json={"seats": 2}, headers=bearer(other)
    )
    assert response.status == 409
    # When the rider cancels, the seats come back and the driver is notified
    response = await api_app.client.post(
        f"{API}/bookings/{booking['id']}/cancel", json={"reason": "sick"}, headers=bearer(rider)
    )
    assert (await response.json())["status"] == "cancelled"
    seen = await (
        await api_app.client.get(f"{API}/rides/{ride['id']}", headers=bearer(rider))
    ).json()
    assert seen["seats_left"] == 3
    notes = await (await api_app.client.get(f"{API}/notifications", headers=bearer(driver))).json()
    assert [n["type"] for n in notes][:2] == ["booking_cancelled", "booking_request"]


async def test_bad_input_names_the_field(api_app: ApiApp, token_for: TokenFor) -> None:
    driver = await token_for("dora")
    for body, field in (
        (offer(seats=0), "seats"),
        (offer(origin={"lat": 95, "lon": 4}), "origin.lat"),
        (offer(price={"kind": "fixed", "amount": "500", "currency": "EUR"}), "price.amount"),
        (offer(departure="yesterday"), "departure"),
    ):
        response = await api_app.client.post(f"{API}/rides", json=body, headers=bearer(driver))
        assert response.status == 422, (body, await response.text())
        assert (await response.json()).get("field") == field
    assert (
        await (await api_app.client.get(f"{API}/rides?mine=true", headers=bearer(driver))).json()
        == []
    )


async def test_messages_and_reviews_need_a_party_and_a_completed_trip(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    driver = await token_for("dora")
    rider = await token_for("rita")
    ride = await create(api_app, driver, offer())
    booking = await (
        await api_app.client.post(
            f"{API}/rides/{ride['id']}/bookings", json={"seats": 1}, headers=bearer(rider)
        )
    ).json()
    response = await api_app.client.post(
        f"{API}/bookings/{booking['id']}/messages",
        json={"text": "Where exactly?"},
        headers=bearer(rider),
    )
    assert response.status == 201
    thread = await (
        await api_app.client.get(f"{API}/bookings/{booking['id']}/messages", headers=bearer(driver))
    ).json()
    assert [m["text"] for m in thread] == ["Where exactly?"]
    outsider = await token_for("otto")
    response = await api_app.client.get(
        f"{API}/bookings/{booking['id']}/messages", headers=bearer(outsider)
    )
    assert response.status == 403
    response = await api_app.client.post(
        f"{API}/bookings/{booking['id']}/review", json={"rating": 5}, headers=bearer(rider)
    )
    assert response.status == 409


async def test_openapi_document_is_served(api_app: ApiApp) -> None:
    response = await api_app.client.get(f"{API}/openapi.json")
    assert response.status == 200
    assert (await response.json())["openapi"].startswith("3.1")


@pytest.mark.parametrize("path", ["/rides", "/bookings", "/saved-searches"])
async def test_lists_need_a_token(api_app: ApiApp, path: str) -> None:
    response = await api_app.client.get(f"{API}{path}")
    assert response.status == 401
