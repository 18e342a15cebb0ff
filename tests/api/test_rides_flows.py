"""Ride flows through the JSON API on one instance, beyond the happy path of test_rides_api.

Regular rides booked one trip at a time, refusals with a reason, a driver cancelling a whole
ride, saved searches that alert, trips completed and reviewed once, maintenance expiring
what has left, drivers looking for passengers, and search input that names its bad field.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from fedicoop import clock
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.geo import distance_km
from fedicoop.rides.service import RideService
from tests.api.conftest import ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"
LYON: dict[str, Any] = {"lat": 45.7578, "lon": 4.8320, "label": "12 rue de la République, Lyon"}
GRENOBLE: dict[str, Any] = {"lat": 45.1885, "lon": 5.7245, "label": "Gare de Grenoble"}
PARIS: dict[str, Any] = {"lat": 48.8566, "lon": 2.3522, "label": "Hôtel de Ville, Paris"}
LILLE: dict[str, Any] = {"lat": 50.6292, "lon": 3.0573, "label": "Grand Place, Lille"}
RIDE_TYPES = {
    "booking_request", "booking_accepted", "booking_rejected", "booking_cancelled",
    "booking_completed", "booking_message", "ride_cancelled", "ride_match", "ride_review",
}  # fmt: skip


def in_days(days: int, hour: int = 8) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC).isoformat()


def a_ride(**changes: Any) -> dict[str, Any]:
    body = {
        "role": "driver",
        "origin": LYON,
        "destination": GRENOBLE,
        "departure": in_days(2),
        "seats": 3,
        "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
    }
    return body | changes


def weekly(days: list[str], *, weeks: int = 8) -> dict[str, Any]:
    """Return a regular ride on these weekdays at 08:00 Paris time, from today for `weeks`."""
    today = datetime.now(UTC).date()
    ride = a_ride(
        schedule={
            "days": days,
            "time": "08:00",
            "timezone": "Europe/Paris",
            "start": today.isoformat(),
            "end": (today + timedelta(weeks=weeks)).isoformat(),
        }
    )
    del ride["departure"]
    return ride


class Member:
    """One member talking to the API with their own token."""

    def __init__(self, api_app: ApiApp, token: str) -> None:
        self.api_app = api_app
        self.headers = bearer(token)

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, status: int = 200
    ) -> Any:
        response = await self.api_app.client.request(
            method, f"{API}{path}", json=body, headers=self.headers
        )
        assert response.status == status, (method, path, await response.text())
        return await response.json()

    async def get(self, path: str, **params: str) -> Any:
        response = await self.api_app.client.get(
            f"{API}{path}", params=params, headers=self.headers
        )
        assert response.status == 200, (path, await response.text())
        return await response.json()

    async def publish(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.call("POST", "/rides", body, status=201))

    async def book(self, ride: dict[str, Any], **body: Any) -> dict[str, Any]:
        return dict(await self.call("POST", f"/rides/{ride['id']}/bookings", body, status=201))

    async def notification_types(self) -> list[str]:
        return [n["type"] for n in await self.get("/notifications")]


@pytest.fixture
async def dora(api_app: ApiApp, token_for: TokenFor) -> Member:
    """A driver."""
    return Member(api_app, await token_for("dora"))


@pytest.fixture
async def rita(api_app: ApiApp, token_for: TokenFor) -> Member:
    """A rider."""
    return Member(api_app, await token_for("rita"))


@pytest.fixture
async def otto(api_app: ApiApp, token_for: TokenFor) -> Member:
    """Another rider."""
    return Member(api_app, await token_for("otto"))


async def move_trips_to_the_past(api_app: ApiApp, ride: dict[str, Any], hours: int = 3) -> None:
    """Make a ride's trips leave `hours` ago, as if time had passed."""
    past = clock.to_text(clock.now() - timedelta(hours=hours))
    ride_id = int(ride["id"])
    await api_app.db.execute(
        "UPDATE ride_occurrences SET departure = $1 WHERE ride_id = $2", past, ride_id
    )
    await api_app.db.execute("UPDATE rides SET departure = $1 WHERE id = $2", past, ride_id)


def seats_by_trip(ride: dict[str, Any]) -> dict[str, int]:
    return {o["occurrence"]: o["seats_left"] for o in ride["occurrences"]}


# --- privacy ---------------------------------------------------------------------------------


async def test_published_distances_reveal_no_more_than_the_cells(
    api_app: ApiApp, dora: Member, rita: Member
) -> None:
    # Given a ride from a street address, with the default detour limit
    ride = await dora.publish(a_ride())
    seen = await rita.get(f"/rides/{ride['id']}")
    # Then its length is measured between the published cells, not the typed places
    origin, destination = seen["origin"], seen["destination"]
    published = distance_km(origin["lat"], origin["lon"], destination["lat"], destination["lon"])
    assert seen["trip_km"] == round(published, 1)
    exact = distance_km(LYON["lat"], LYON["lon"], GRENOBLE["lat"], GRENOBLE["lon"])
    assert seen["trip_km"] != round(exact, 1)
    # And the default detour limit is a whole half kilometre, not a quarter of the exact trip
    assert seen["max_detour_km"] % 0.5 == 0
    document = await (
        await api_app.client.get(
            f"/rides/{ride['id']}", headers={"Accept": "application/activity+json"}
        )
    ).json()
    assert document["tripKm"] == round(published, 3)
    assert document["maxDetourKm"] == seen["max_detour_km"]
    # And a limit the driver chose is kept as chosen
    chosen = await dora.publish(a_ride(max_detour_km=7.3))
    assert chosen["max_detour_km"] == 7.3


# --- regular rides ---------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_booking_one_trip_of_a_regular_ride_takes_seats_on_that_trip_only(
    dora: Member, rita: Member
) -> None:
    # Given a ride every Monday, Wednesday and Friday
    ride = await dora.publish(weekly(["mon", "wed", "fri"]))
    trips = seats_by_trip(ride)
    assert len(trips) >= 10 and set(trips.values()) == {3}
    assert all(date.fromisoformat(day).weekday() in (0, 2, 4) for day in trips)
    # When Rita books 2 seats on the third trip and Dora accepts
    day = sorted(trips)[2]
    booking = await rita.book(ride, seats=2, occurrence=day)
    assert booking["occurrence"] == day
    await dora.call("POST", f"/bookings/{booking['id']}/accept")
    # Then that trip has 1 seat left and every other trip still has 3
    seen = await rita.get(f"/rides/{ride['id']}")
    assert seats_by_trip(seen) == trips | {day: 1}
    assert seen["status"] == "open"
    # And an occurrence key names the same trip
    other = sorted(trips)[3]
    booking = await rita.book(ride, seats=1, occurrence=f"{ride['id']}:{other}")
    assert booking["occurrence"] == other


async def test_booking_a_date_the_regular_ride_does_not_run_is_422(
    dora: Member, rita: Member
) -> None:
    ride = await dora.publish(weekly(["mon", "wed", "fri"]))
    first = min(date.fromisoformat(day) for day in seats_by_trip(ride))
    tuesday = first + timedelta(days=(1 - first.weekday()) % 7)
    for day in (tuesday.isoformat(), (first + timedelta(weeks=52)).isoformat(), "someday"):
        answer = await rita.call(
            "POST", f"/rides/{ride['id']}/bookings", {"seats": 1, "occurrence": day}, status=422
        )
        assert answer["field"] == "occurrence", answer
    assert await rita.get("/bookings") == []


async def test_a_full_trip_does_not_hide_the_next_open_one(
    dora: Member, rita: Member, otto: Member
) -> None:
    # Given a regular ride whose first trip Rita fills
    ride = await dora.publish(weekly(["mon", "wed", "fri"]) | {"seats": 1})
    first, second = sorted(seats_by_trip(ride))[:2]
    booking = await rita.book(ride, occurrence=first)
    await dora.call("POST", f"/bookings/{booking['id']}/accept")
    # Then the ride shows the next trip with a seat, and booking without a date takes it
    seen = await otto.get(f"/rides/{ride['id']}")
    assert seen["seats_left"] == 1 and seen["departure"].startswith(second)
    assert (await otto.book(ride))["occurrence"] == second


# --- the driver answers ------------------------------------------------------------------------


async def test_a_rejected_rider_sees_the_status_and_the_reason(dora: Member, rita: Member) -> None:
    ride = await dora.publish(a_ride())
    booking = await rita.book(ride, seats=1, message="With a bike?")
    # When Dora turns the request down with a reason
    answer = await dora.call(
        "POST", f"/bookings/{booking['id']}/reject", {"reason": "No room for bikes"}
    )
    assert answer["status"] == "rejected"
    # Then Rita sees it rejected, and why, and is notified
    seen = await rita.get(f"/bookings/{booking['id']}")
    assert (seen["status"], seen["reason"]) == ("rejected", "No room for bikes")
    assert "booking_rejected" in await rita.notification_types()
    # And the seats never moved; a rejected booking cannot be accepted after all
    assert (await rita.get(f"/rides/{ride['id']}"))["seats_left"] == 3
    await dora.call("POST", f"/bookings/{booking['id']}/accept", status=409)


@pytest.mark.both_engines
async def test_a_driver_cancelling_the_ride_cancels_its_bookings_and_tells_the_riders(
    dora: Member, rita: Member, otto: Member
) -> None:
    # Given Rita's accepted booking and Otto's pending request
    ride = await dora.publish(a_ride())
    accepted = await rita.book(ride, seats=1)
    await dora.call("POST", f"/bookings/{accepted['id']}/accept")
    pending = await otto.book(ride, seats=1)
    # When Dora cancels the whole ride
    cancelled = await dora.call("DELETE", f"/rides/{ride['id']}", {"reason": "car broke down"})
    assert cancelled["status"] == "cancelled"
    assert {o["status"] for o in cancelled["occurrences"]} == {"cancelled"}
    # Then both bookings are cancelled, with her reason, and both riders are told
    for member, booking in ((rita, accepted), (otto, pending)):
        seen = await member.get(f"/bookings/{booking['id']}")
        assert (seen["status"], seen["reason"]) == ("cancelled", "car broke down")
        notes = await member.get("/notifications")
        assert notes[0]["type"] == "ride_cancelled"
        assert notes[0]["object"] == ride["url"]
        assert notes[0]["from"]["acct"].startswith("dora@")
    # And the ride can be neither booked nor cancelled again
    await rita.call("POST", f"/rides/{ride['id']}/bookings", {"seats": 1}, status=409)
    await dora.call("DELETE", f"/rides/{ride['id']}", status=409)
    # And only its driver may cancel a ride
    other = await dora.publish(a_ride())
    await rita.call("DELETE", f"/rides/{other['id']}", status=403)


# --- saved searches --------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_a_saved_search_alerts_its_member_to_a_matching_ride_only(
    dora: Member, rita: Member
) -> None:
    # Given Rita saved a search from near Lyon to near Grenoble, any day
    saved = await rita.call(
        "POST",
        "/saved-searches",
        {"origin": "45.76,4.84", "destination": "45.19,5.72", "seats": 2},
        status=201,
    )
    assert [s["id"] for s in await rita.get("/saved-searches")] == [saved["id"]]
    # When Dora publishes a ride from Paris to Lille, Then Rita hears nothing
    await dora.publish(a_ride(origin=PARIS, destination=LILLE))
    assert "ride_match" not in await rita.notification_types()
    # When Dora publishes a ride from Lyon to Grenoble in five days, Then Rita is told
    ride = await dora.publish(a_ride(departure=in_days(5)))
    notes = [n for n in await rita.get("/notifications") if n["type"] == "ride_match"]
    assert [n["object"] for n in notes] == [ride["url"]]
    # And Dora, who published it, is not alerted by her own searches
    await dora.call(
        "POST", "/saved-searches", {"origin": "45.76,4.84", "destination": "45.19,5.72"}, status=201
    )
    await dora.publish(a_ride(departure=in_days(6)))
    assert "ride_match" not in await dora.notification_types()


async def test_a_saved_search_with_a_departure_alerts_for_that_time_only(
    dora: Member, rita: Member
) -> None:
    await rita.call(
        "POST",
        "/saved-searches",
        {"origin": "45.76,4.84", "destination": "45.19,5.72", "departure": in_days(3, 8)},
        status=201,
    )
    await dora.publish(a_ride(departure=in_days(4, 8)))
    assert "ride_match" not in await rita.notification_types()
    await dora.publish(a_ride(departure=in_days(3, 8)))
    assert (await rita.notification_types()).count("ride_match") == 1


async def test_a_deleted_saved_search_alerts_no_more(dora: Member, rita: Member) -> None:
    saved = await rita.call(
        "POST", "/saved-searches", {"origin": "45.76,4.84", "destination": "45.19,5.72"}, status=201
    )
    await dora.call("DELETE", f"/saved-searches/{saved['id']}", status=404)  # not hers
    await rita.call("DELETE", f"/saved-searches/{saved['id']}")
    await dora.publish(a_ride())
    assert "ride_match" not in await rita.notification_types()


# --- after the trip --------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_a_trip_is_completed_then_reviewed_once(
    api_app: ApiApp, dora: Member, rita: Member
) -> None:
    # Given Rita's accepted booking on a trip that has not left
    ride = await dora.publish(a_ride())
    booking = await rita.book(ride, seats=1)
    await dora.call("POST", f"/bookings/{booking['id']}/accept")
    # Then it can be neither completed nor reviewed yet
    await rita.call("POST", f"/bookings/{booking['id']}/complete", status=409)
    await rita.call("POST", f"/bookings/{booking['id']}/review", {"rating": 5}, status=409)
    # When the trip has left and Rita says it happened
    await move_trips_to_the_past(api_app, ride)
    done = await rita.call("POST", f"/bookings/{booking['id']}/complete")
    # Then the booking is completed and Dora is told
    assert done["status"] == "completed"
    assert "booking_completed" in await dora.notification_types()
    # And each party reviews the other once
    review = await rita.call(
        "POST", f"/bookings/{booking['id']}/review", {"rating": 5, "text": "On time"}, status=201
    )
    assert review["rating"] == 5 and review["subject"]["acct"].startswith("dora@")
    await rita.call("POST", f"/bookings/{booking['id']}/review", {"rating": 1}, status=409)
    await dora.call("POST", f"/bookings/{booking['id']}/review", {"rating": 4}, status=201)
    assert "ride_review" in await dora.notification_types()
    # And a completed booking cannot be completed again
    await dora.call("POST", f"/bookings/{booking['id']}/complete", status=409)


async def test_a_review_needs_a_rating_from_one_to_five(
    api_app: ApiApp, dora: Member, rita: Member
) -> None:
    ride = await dora.publish(a_ride())
    booking = await rita.book(ride, seats=1)
    await dora.call("POST", f"/bookings/{booking['id']}/accept")
    await move_trips_to_the_past(api_app, ride)
    await rita.call("POST", f"/bookings/{booking['id']}/complete")
    for rating in (0, 6, "5", None, True):
        answer = await rita.call(
            "POST", f"/bookings/{booking['id']}/review", {"rating": rating}, status=422
        )
        assert answer["field"] == "rating"


async def test_a_no_show_cancels_the_booking(api_app: ApiApp, dora: Member, rita: Member) -> None:
    ride = await dora.publish(a_ride())
    booking = await rita.book(ride, seats=1)
    await dora.call("POST", f"/bookings/{booking['id']}/accept")
    await move_trips_to_the_past(api_app, ride)
    # When Dora says Rita never came
    answer = await dora.call("POST", f"/bookings/{booking['id']}/no-show")
    # Then the booking is cancelled, Rita is told, and nobody can review a trip not taken
    assert answer["status"] == "cancelled"
    assert (await rita.get(f"/bookings/{booking['id']}"))["status"] == "cancelled"
    assert "booking_cancelled" in await rita.notification_types()
    await rita.call("POST", f"/bookings/{booking['id']}/review", {"rating": 1}, status=409)


async def test_the_mastodon_api_does_not_list_ride_notifications(
    api_app: ApiApp, token_for: TokenFor, dora: Member, rita: Member
) -> None:
    # Given Dora has ride notifications (a request, a cancellation)
    ride = await dora.publish(a_ride())
    booking = await rita.book(ride, seats=1)
    await rita.call("POST", f"/bookings/{booking['id']}/cancel")
    assert set(await dora.notification_types()) == {"booking_request", "booking_cancelled"}
    # When a Mastodon app lists her notifications, Then none of them is there
    token = await token_for("dora")
    for params in ({}, {"types[]": "booking_request"}, {"exclude_types[]": "mention"}):
        response = await api_app.client.get(
            "/api/v1/notifications", params=params, headers=bearer(token)
        )
        assert response.status == 200
        assert not {n["type"] for n in await response.json()} & RIDE_TYPES


# --- time passing ----------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_maintenance_expires_a_past_ride_and_search_no_longer_finds_it(
    api_app: ApiApp, dora: Member, rita: Member
) -> None:
    # Given a ride that search finds
    ride = await dora.publish(a_ride())
    search = {"origin": "45.76,4.84", "destination": "45.19,5.72", "departure": ride["departure"]}
    assert [r["id"] for r in await rita.get("/rides/search", **search)] == [ride["id"]]
    # When its departure has passed and maintenance runs
    await move_trips_to_the_past(api_app, ride)
    await RideService.of(api_app.federation).maintain()
    # Then the ride is expired, and neither search nor the list of open rides shows it
    seen = await rita.get(f"/rides/{ride['id']}")
    assert seen["status"] == "expired"
    assert {o["status"] for o in seen["occurrences"]} == {"expired"}
    past = clock.to_text(clock.now() - timedelta(hours=3))
    for departure in (ride["departure"], past):
        assert await rita.get("/rides/search", **(search | {"departure": departure})) == []
    assert await rita.get("/rides") == []
    # And it can no longer be booked
    await rita.call("POST", f"/rides/{ride['id']}/bookings", {"seats": 1}, status=409)


# --- searching -------------------------------------------------------------------------------


async def test_a_driver_finds_passenger_requests_on_the_way(
    dora: Member, rita: Member, otto: Member
) -> None:
    # Given Rita asks for a seat from Lyon to Grenoble, Otto from Paris to Lille
    wanted = await rita.publish(a_ride(role="passenger", seats=1, price=None))
    await otto.publish(a_ride(role="passenger", seats=1, origin=PARIS, destination=LILLE))
    offered = await dora.publish(a_ride())
    # When Dora, driving Lyon → Grenoble at that time, looks for passengers
    found = await dora.get(
        "/rides/search",
        origin="45.76,4.84",
        destination="45.19,5.72",
        departure=wanted["departure"],
        role="passenger",
        seats="3",
    )
    # Then she finds Rita's request only (not Otto's, not her own offer)
    assert [f["id"] for f in found] == [wanted["id"]]
    assert found[0]["ride"]["role"] == "passenger" and found[0]["ride"]["exact"] is False
    assert found[0]["detour_km"] % 0.5 == 0
    # And searching for drivers finds her offer, not the request
    drivers = await rita.get(
        "/rides/search",
        origin="45.76,4.84",
        destination="45.19,5.72",
        departure=wanted["departure"],
    )
    assert [f["id"] for f in drivers] == [offered["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"origin": None}, "origin"),
        ({"origin": "Lyon"}, "origin"),
        ({"origin": "95,4.84"}, "origin"),
        ({"destination": "45.19"}, "destination"),
        ({"departure": "tomorrow"}, "departure"),
        ({"departure": "2030-01-01T08:00:00"}, "departure"),
        ({"seats": "0"}, "seats"),
        ({"seats": "9"}, "seats"),
        ({"seats": "two"}, "seats"),
        ({"role": "pilot"}, "role"),
        ({"margin_minutes": "999"}, "margin_minutes"),
        ({"max_detour_km": "nan"}, "max_detour_km"),
        ({"max_detour_km": "-1"}, "max_detour_km"),
        ({"limit": "many"}, "limit"),
    ],
)
async def test_bad_search_parameters_are_422_naming_the_field(
    api_app: ApiApp, rita: Member, params: dict[str, str | None], field: str
) -> None:
    query = {"origin": "45.76,4.84", "destination": "45.19,5.72", "departure": in_days(2)} | params
    response = await api_app.client.get(
        f"{API}/rides/search",
        params={k: v for k, v in query.items() if v is not None},
        headers=rita.headers,
    )
    assert response.status == 422, await response.text()
    assert (await response.json())["field"] == field


async def test_a_bad_saved_search_is_422_naming_the_field(rita: Member) -> None:
    for body, field in (
        ({"destination": "45.19,5.72"}, "origin"),
        ({"origin": "45.76,4.84", "destination": "45.19,5.72", "role": "pilot"}, "role"),
        ({"origin": "45.76,4.84", "destination": "45.19,5.72", "seats": 0}, "seats"),
    ):
        answer = await rita.call("POST", "/saved-searches", body, status=422)
        assert answer["field"] == field
    assert await rita.get("/saved-searches") == []


async def test_exact_places_are_erased_some_days_after_the_trip(
    api_app: ApiApp, dora: Member, rita: Member
) -> None:
    # Given a ride with an accepted booking whose trip left 31 days ago (retention: 30)
    ride = await dora.publish(a_ride())
    booking = await rita.book(ride, seats=1, pickup=LYON, dropoff=GRENOBLE)
    await dora.call("POST", f"/bookings/{booking['id']}/accept")
    long_ago = clock.to_text(clock.now() - timedelta(days=31))
    await api_app.db.execute(
        "UPDATE ride_occurrences SET departure = $2 WHERE ride_id = $1", int(ride["id"]), long_ago
    )
    fresh = await dora.publish(a_ride())
    # When maintenance erases old exact places
    bookings = BookingService.of(RideService.of(api_app.federation))
    assert await bookings.erase_exact_places() == 1
    # Then neither the route nor the pickup and drop-off points remain; a recent ride keeps its
    route = await api_app.db.fetchrow("SELECT exact FROM rides WHERE id = $1", int(ride["id"]))
    assert route is not None and route["exact"] is None
    places = await api_app.db.fetchrow(
        "SELECT pickup, dropoff FROM bookings WHERE id = $1", int(booking["id"])
    )
    assert places is not None and places["pickup"] is None and places["dropoff"] is None
    kept = await api_app.db.fetchrow("SELECT exact FROM rides WHERE id = $1", int(fresh["id"]))
    assert kept is not None and kept["exact"] is not None
