"""Saved searches with alerts, and after a trip: mark it done or not, then review."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from fedicoop import clock
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.service import MAX_SAVED_SEARCHES, RideService
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.rides import SavedSearchRepository
from tests.activitypub.remote import Coop
from tests.web.pages import MEMBER_PASSWORD, csrf, log_in, member

GRENOBLE = {"lat": 45.19, "lon": 5.72, "label": "Grenoble"}
LYON = {"lat": 45.76, "lon": 4.84, "label": "Lyon"}
SAVE_FORM = re.compile(r'<form method="post" action="/app/rides/alerts".*?</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


async def _offer(coop: Coop, driver: ActorRecord, days: int = 2) -> int:
    departure = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()
    ride = await RideService.of(coop.federation).create(
        driver,
        {
            "role": "driver",
            "origin": GRENOBLE,
            "destination": LYON,
            "departure": departure,
            "seats": 3,
        },
    )
    return ride.id


async def test_a_member_saves_a_search_and_hears_of_a_new_ride(coop: Coop) -> None:
    # Given rita searched Grenoble → Lyon and nothing fits yet
    await member(coop, "rita")
    _, dora = await member(coop, "dora")
    await log_in(coop, "rita", MEMBER_PASSWORD)
    search = await coop.client.get(
        "/app/rides/search?origin=45.19,5.72&destination=45.76,4.84&seats=1"
    )
    page = await search.text()
    assert "No ride fits yet." in page
    # When she saves the search from the results
    form = SAVE_FORM.search(page)
    assert form, "the search page offers no alert form"
    data = dict(HIDDEN.findall(form.group(0)))
    assert data["origin"] == "45.19000,5.72000" and data["role"] == "driver"
    response = await coop.client.post("/app/rides/alerts", data=data, allow_redirects=False)
    assert response.status == 303
    alerts = await (await coop.client.get(response.headers["Location"])).text()
    assert "Search saved." in alerts and "whatever the time" in alerts
    # When dora offers a ride that fits it
    ride_id = await _offer(coop, dora)
    # Then rita's alerts page links to it
    alerts = await (await coop.client.get("/app/rides/alerts")).text()
    assert f'href="/app/rides/{ride_id}"' in alerts
    # When she deletes the search, Then it is no longer listed
    search_id = re.search(r"/app/rides/alerts/(\d+)/delete", alerts)
    assert search_id
    response = await coop.client.post(
        f"/app/rides/alerts/{search_id.group(1)}/delete", data={"csrf_token": data["csrf_token"]}
    )
    assert "Search deleted." in await response.text()
    assert "No saved search." in await response.text()


async def test_one_member_cannot_delete_anothers_saved_search(coop: Coop) -> None:
    account, _ = await member(coop, "dora")
    rides = RideService.of(coop.federation)
    saved = await rides.save_search(
        account.id, {"origin": "45.19,5.72", "destination": "45.76,4.84"}
    )
    await member(coop, "rita")
    await log_in(coop, "rita", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/rides/alerts")
    response = await coop.client.post(
        f"/app/rides/alerts/{saved.id}/delete", data={"csrf_token": token}
    )
    assert response.status == 404
    assert await SavedSearchRepository(coop.db).for_account(account.id) != []


async def test_the_saved_search_limit_holds_for_the_pages_too(coop: Coop) -> None:
    # Given rita already has the most saved searches a member may keep
    account, _ = await member(coop, "rita")
    rides = RideService.of(coop.federation)
    for _ in range(MAX_SAVED_SEARCHES):
        await rides.save_search(account.id, {"origin": "45.19,5.72", "destination": "45.76,4.84"})
    await log_in(coop, "rita", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/rides/alerts")
    # When she saves one more from the page, Then it is refused there, and none is added
    response = await coop.client.post(
        "/app/rides/alerts",
        data={
            "csrf_token": token,
            "origin": "45.19,5.72",
            "destination": "45.76,4.84",
            "any_time": "1",
        },
    )
    assert response.status == 422
    assert f"at most {MAX_SAVED_SEARCHES} saved searches" in await response.text()
    assert len(await SavedSearchRepository(coop.db).for_account(account.id)) == 50


async def _accepted_booking(coop: Coop) -> tuple[int, ActorRecord, ActorRecord]:
    _, dora = await member(coop, "dora")
    _, rita = await member(coop, "rita")
    ride_id = await _offer(coop, dora, days=1)
    bookings = BookingService.of(RideService.of(coop.federation))
    booking = await bookings.request(rita, ride_id, {"seats": 1})
    await bookings.accept(dora, booking.id)
    return booking.id, rita, dora


async def test_before_departure_a_booking_offers_no_trip_outcome(coop: Coop) -> None:
    booking_id, _, _ = await _accepted_booking(coop)
    await log_in(coop, "rita", MEMBER_PASSWORD)
    page = await (await coop.client.get(f"/app/bookings/{booking_id}")).text()
    assert "Did the trip happen?" not in page
    token = await csrf(coop, f"/app/bookings/{booking_id}")
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/finish", data={"csrf_token": token, "happened": "yes"}
    )
    assert response.status == 409


async def test_after_the_trip_the_rider_marks_it_done_and_reviews_the_driver(
    coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given rita's accepted booking, and the trip has left
    booking_id, _, _ = await _accepted_booking(coop)
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    await log_in(coop, "rita", MEMBER_PASSWORD)
    page = await (await coop.client.get(f"/app/bookings/{booking_id}")).text()
    assert "Did the trip happen?" in page
    token = await csrf(coop, f"/app/bookings/{booking_id}")
    # When she says it happened
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/finish", data={"csrf_token": token, "happened": "yes"}
    )
    page = await response.text()
    # Then the booking is completed and she may review dora
    assert "Trip marked as done." in page and "completed" in page
    assert f"Review dora@{coop.instance.domain}" in page
    # When she reviews, Then the review is shown and the form is gone
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/review",
        data={"csrf_token": token, "rating": "5", "text": "On time, <i>kind</i>."},
    )
    page = await response.text()
    assert "Review sent." in page and "5 of 5: very well" in page
    assert "On time, &lt;i&gt;kind&lt;/i&gt;." in page
    assert 'action="/app/bookings/' + str(booking_id) + '/review"' not in page
    # And a second review of the same trip is refused
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/review", data={"csrf_token": token, "rating": "1"}
    )
    assert response.status == 409


async def test_a_trip_that_did_not_happen_is_cancelled_and_cannot_be_reviewed(
    coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    booking_id, _, _ = await _accepted_booking(coop)
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, f"/app/bookings/{booking_id}")
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/finish", data={"csrf_token": token, "happened": "no"}
    )
    page = await response.text()
    assert "Trip marked as not having happened." in page and "cancelled" in page
    assert "/review" not in page
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/review", data={"csrf_token": token, "rating": "4"}
    )
    assert response.status == 409


async def test_a_review_without_a_rating_is_shown_on_the_page(
    coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    booking_id, _, _ = await _accepted_booking(coop)
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    await log_in(coop, "rita", MEMBER_PASSWORD)
    token = await csrf(coop, f"/app/bookings/{booking_id}")
    await coop.client.post(
        f"/app/bookings/{booking_id}/finish", data={"csrf_token": token, "happened": "yes"}
    )
    response = await coop.client.post(
        f"/app/bookings/{booking_id}/review?lang=fr", data={"csrf_token": token, "rating": "9"}
    )
    assert response.status == 422
    assert "la note va de 1 à 5" in await response.text()
