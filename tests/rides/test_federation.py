"""Rides as ActivityStreams: what leaves the instance, what a partner's document becomes.

A ride goes out with its published places only and comes back, on a partner's instance, as
the same ride; a document that speaks for another server, or for another member, is
Forbidden before any field is read; a malformed field is Invalid and names itself.
"""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from fedicoop.errors import Forbidden, Invalid
from fedicoop.rides.federation import (
    BookingOffer,
    booking_object,
    ride_from_as,
    ride_to_as,
    summary,
)
from fedicoop.rides.model import Place, Preferences, Price, PriceKind, RideStatus, Role, Schedule
from fedicoop.rides.records import ExactRoute, Occurrence, Ride
from fedicoop.storage.actors import ActorRecord

B = "https://covoit.example"
DORA = ActorRecord(
    id=7,
    uri=f"{B}/users/dora",
    type="Person",
    domain="covoit.example",
    username="dora",
    followers_uri=f"{B}/users/dora/followers",
)
EVE = ActorRecord(id=8, uri=f"{B}/users/eve", type="Person", domain="covoit.example")
GROUP = ActorRecord(id=3, uri=f"{B}/users/covoit", type="Group", domain="covoit.example")
RITA = ActorRecord(
    id=11, uri="https://velo.example/users/rita", type="Person", domain="velo.example"
)
LYON = Place(45.755, 4.835, "Lyon")  # published: a cell centre and a town
GRENOBLE = Place(45.185, 5.725, "Grenoble")
HOME = Place(45.7578, 4.8320, "12 rue de la République, Lyon")  # what the driver typed
STATION = Place(45.1885, 5.7245, "Gare de Grenoble")
FRIDAY_8_PARIS = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # 08:00 in Paris (UTC+1)
STAMP = "2026-11-20T09:30:00.000000Z"


def punctual(**changes: Any) -> Ride:
    ride = Ride(
        id=101,
        uri=f"{B}/rides/101",
        url=f"{B}/rides/101",
        local=True,
        actor_id=DORA.id,
        coop_uri=GROUP.uri,
        coop="covoit@covoit.example",
        role=Role.DRIVER,
        origin=LYON,
        destination=GRENOBLE,
        waypoints=(Place(45.455, 5.225, "Voiron"),),
        departure=FRIDAY_8_PARIS,
        utc_offset_minutes=60,
        margin_minutes=20,
        seats=3,
        price=Price(PriceKind.FIXED, Decimal("6"), "EUR"),
        preferences=Preferences(luggage=True, bike=True),
        max_detour_km=12.5,
        trip_km=94.25,
        schedule=None,
        status=RideStatus.OPEN,
        created_at=STAMP,
        updated_at=STAMP,
        exact=ExactRoute(HOME, STATION),
    )
    ride = replace(ride, **changes)
    if not ride.occurrences:  # one trip, every seat left
        trip = Occurrence(date(2026, 12, 4), FRIDAY_8_PARIS, ride.seats, RideStatus.OPEN)
        ride = replace(ride, occurrences=(trip,))
    return ride


def regular(**changes: Any) -> Ride:
    schedule = Schedule(
        days=frozenset({0, 2, 4}),
        time=time(7, 30),
        timezone="Europe/Paris",
        start=date(2026, 11, 30),
        end=date(2027, 2, 26),
    )
    trips = tuple(
        Occurrence(schedule_day, schedule.departure_on(schedule_day), left, status)
        for schedule_day, left, status in (
            (date(2026, 11, 30), 0, RideStatus.FULL),
            (date(2026, 12, 2), 2, RideStatus.OPEN),
            (date(2026, 12, 4), 3, RideStatus.OPEN),
        )
    )
    return punctual(
        schedule=schedule,
        departure=trips[0].departure,
        occurrences=trips,
        waypoints=(),
        **changes,
    )


def received(ride: Ride) -> Ride:
    """Return what a partner stores of one of our rides: the same ride, minus what stays home."""
    return replace(ride, local=False, exact=None)


def document(ride: Ride | None = None, **changes: Any) -> dict[str, Any]:
    """Return a ride as Dora's instance sends it, with some fields changed (None: removed)."""
    sent = ride_to_as(ride or punctual(), DORA, GROUP)
    for key, value in changes.items():
        if value is None:
            sent.pop(key, None)
        else:
            sent[key] = value
    return sent


def read(sent: dict[str, Any], sender: ActorRecord = DORA) -> Ride:
    return ride_from_as(sent, sender, local_id=101, coop="covoit@covoit.example")


# --- out and back ----------------------------------------------------------------------------


@pytest.mark.parametrize("ride", [punctual(), regular()], ids=["punctual", "regular"])
def test_a_ride_comes_back_from_its_document_unchanged(ride: Ride) -> None:
    # Given one of our rides, When a partner reads the document we send
    # Then it stores the same ride: places, trips, seats, price, schedule and dates
    assert read(ride_to_as(ride, DORA, GROUP)) == received(ride)


def test_a_ride_document_carries_published_places_only() -> None:
    # Given a ride whose driver typed a street address and a station
    sent = ride_to_as(punctual(), DORA, GROUP)
    text = json.dumps(sent, ensure_ascii=False)
    # Then only the town-labelled cell centres leave the instance
    assert "exact" not in sent
    assert "République" not in text and "Gare" not in text
    assert str(HOME.lat) not in text and str(STATION.lon) not in text
    assert sent["origin"] == {
        "type": "Place",
        "name": "Lyon",
        "latitude": LYON.lat,
        "longitude": LYON.lon,
    }
    # And Mastodon shows it as a post that links back to the ride
    assert sent["type"] == ["Note", "Proposal"]
    assert sent["purpose"] == "offer" and sent["attributedTo"] == DORA.uri
    assert sent["audience"] == GROUP.uri and GROUP.uri in sent["cc"]
    assert sent["name"] in sent["content"] and sent["url"] in sent["content"]


def test_a_passenger_request_is_a_proposal_with_purpose_request() -> None:
    ride = punctual(role=Role.PASSENGER, seats=2)
    sent = ride_to_as(ride, DORA, GROUP)
    assert sent["purpose"] == "request"
    assert read(sent) == received(ride)


@pytest.mark.parametrize(
    ("ride", "language", "line"),
    [
        (punctual(), "en", "🚗 Lyon → Grenoble, Fri 04/12 8:00, 3 seats, 6 €"),
        (punctual(), "fr", "🚗 Lyon → Grenoble, ven. 04/12 8:00, 3 places, 6 €"),
        (regular(), "en", "🚗 Lyon → Grenoble, Mon Wed Fri 7:30, 2 seats, 6 €"),
        (regular(), "fr", "🚗 Lyon → Grenoble, lun. mer. ven. 7:30, 2 places, 6 €"),
        (
            punctual(price=Price(PriceKind.PER_KM, Decimal("0.08"), "EUR")),
            "en",
            "🚗 Lyon → Grenoble, Fri 04/12 8:00, 3 seats, 0.08 €/km",
        ),
        (
            punctual(price=Price(PriceKind.FIXED, Decimal("6.5"), "EUR")),
            "fr",
            "🚗 Lyon → Grenoble, ven. 04/12 8:00, 3 places, 6,50 €",
        ),
        (
            punctual(price=Price(PriceKind.FREE, Decimal(0), "XXX")),
            "fr",
            "🚗 Lyon → Grenoble, ven. 04/12 8:00, 3 places, gratuit",
        ),
        (
            punctual(
                occurrences=(Occurrence(date(2026, 12, 4), FRIDAY_8_PARIS, 1, RideStatus.OPEN),)
            ),
            "en",
            "🚗 Lyon → Grenoble, Fri 04/12 8:00, 1 seat, 6 €",
        ),
        (
            punctual(role=Role.PASSENGER, seats=2),
            "en",
            "🙋 Lyon → Grenoble, Fri 04/12 8:00, 2 seats wanted",
        ),
        (
            punctual(role=Role.PASSENGER, seats=2),
            "fr",
            "🙋 Lyon → Grenoble, ven. 04/12 8:00, 2 places recherchées",
        ),
        (
            punctual(role=Role.PASSENGER, seats=1),
            "fr",
            "🙋 Lyon → Grenoble, ven. 04/12 8:00, 1 place recherchée",
        ),
    ],
)
def test_the_summary_line_reads_in_the_members_language(
    ride: Ride, language: str, line: str
) -> None:
    # Given a ride, When its one-line summary is written in English or French
    # Then it names the towns, the local time (the next open trip of a regular ride), the
    # seats left and the price
    assert summary(ride, language) == line


def test_the_summary_is_the_documents_name_in_the_instance_language() -> None:
    sent = ride_to_as(punctual(), DORA, GROUP, language="fr")
    assert sent["name"] == "🚗 Lyon → Grenoble, ven. 04/12 8:00, 3 places, 6 €"


# --- who may speak for a ride ----------------------------------------------------------------


def test_a_ride_whose_id_is_on_another_server_is_forbidden() -> None:
    # Given Dora's signed document for a ride that lives on another server
    # Then reading it is Forbidden: she cannot publish rides in another co-op's name
    with pytest.raises(Forbidden):
        read(document(id="https://evil.example/rides/1"))


def test_a_ride_attributed_to_someone_else_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        read(document(attributedTo=EVE.uri))
    with pytest.raises(Forbidden):
        read(document(attributedTo=None))


def test_a_ride_sent_by_another_member_of_its_server_is_forbidden() -> None:
    # Given Dora's ride, When Eve (same server) passes it off as hers
    with pytest.raises(Forbidden):
        read(document(), sender=EVE)


def test_the_origin_check_comes_before_the_fields() -> None:
    # A forged document is refused as forged, however broken it is otherwise
    with pytest.raises(Forbidden):
        read({"id": "https://evil.example/rides/1", "attributedTo": DORA.uri, "seats": "lots"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"type": "Note"}, "type"),
        ({"purpose": "gift"}, "purpose"),
        ({"seats": 0}, "seats"),
        ({"seats": 9}, "seats"),
        ({"seats": "3"}, "seats"),
        ({"seats": True}, "seats"),
        ({"origin": None}, "origin"),
        ({"origin": {"type": "Place", "latitude": 95, "longitude": 4}}, "origin"),
        ({"destination": {"type": "Place", "latitude": "north", "longitude": 4}}, "destination"),
        ({"departure": "next friday", "startTime": None}, "departure"),
        ({"departure": None, "startTime": None}, "departure"),
        ({"priceKind": "barter"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "-6"}, "price"),
        ({"currency": "euros"}, "currency"),
        ({"status": "flying"}, "status"),
        ({"schedule": {"days": [9], "time": "07:30"}}, "schedule"),
        ({"tripKm": -5}, "tripKm"),
        ({"tripKm": "nan"}, "tripKm"),
        ({"maxDetourKm": "inf"}, "maxDetourKm"),
        ({"maxDetourKm": -1}, "maxDetourKm"),
        ({"utcOffsetMinutes": 5000}, "utcOffsetMinutes"),
        ({"marginMinutes": -1}, "marginMinutes"),
        (
            {"occurrences": [{"date": "someday", "departure": "2026-12-04T07:00:00Z"}]},
            "occurrences",
        ),
        (
            {
                "occurrences": [
                    {"date": "2026-12-04", "departure": "2026-12-04T07:00:00Z", "seatsLeft": 5}
                ]
            },
            "occurrences",
        ),
        ({"waypoints": [{"type": "Place"}]}, "waypoints"),
    ],
)
def test_a_bad_field_is_invalid_and_named(changes: dict[str, Any], field: str) -> None:
    # Given Dora's own ride with one field broken, Then it is Invalid, naming that field
    with pytest.raises(Invalid) as caught:
        read(document(**changes))
    assert (caught.value.field or "").startswith(field), caught.value.field


# --- bookings --------------------------------------------------------------------------------


def offer_of(booking: dict[str, Any], actor: str = RITA.uri) -> dict[str, Any]:
    return {
        "id": "https://velo.example/activities/1",
        "type": "Offer",
        "actor": actor,
        "object": booking,
        "target": f"{B}/rides/101",
        "to": [DORA.uri],
    }


def rita_books(**changes: Any) -> dict[str, Any]:
    booking = booking_object(
        uri="https://velo.example/bookings/5",
        rider=RITA,
        ride=punctual(),
        day=date(2026, 12, 4),
        seats=2,
        pickup=Place(45.76, 4.84, "Part-Dieu"),
        dropoff=None,
        message="Is <3 bags OK?",
    )
    return booking | changes


def test_a_booking_offer_is_read_from_its_rider() -> None:
    offer = BookingOffer(offer_of(rita_books()), RITA.uri)
    assert offer.uri == "https://velo.example/bookings/5"
    assert offer.offer_uri == "https://velo.example/activities/1"
    assert offer.ride_uri == f"{B}/rides/101"
    assert (offer.day, offer.seats) == (date(2026, 12, 4), 2)
    assert offer.pickup == Place(45.76, 4.84, "Part-Dieu") and offer.dropoff is None
    assert offer.message == "Is <3 bags OK?"  # what Rita typed, not markup


def test_a_booking_message_in_html_is_read_as_text() -> None:
    offer = BookingOffer(offer_of(rita_books(content="<p>I have <b>one</b> bag</p>")), RITA.uri)
    assert offer.message == "I have one bag"


def test_a_booking_whose_id_is_off_the_senders_server_is_forbidden() -> None:
    # Given Rita's Offer of a booking whose id lives on Dora's server
    # Then it is Forbidden: a booking's id is made by the rider's instance only
    with pytest.raises(Forbidden):
        BookingOffer(offer_of(rita_books(id=f"{B}/bookings/5")), RITA.uri)


def test_a_booking_attributed_to_someone_else_is_forbidden() -> None:
    # Given an Offer Rita signed of a booking in Eve's name
    with pytest.raises(Forbidden):
        BookingOffer(offer_of(rita_books(attributedTo=EVE.uri)), RITA.uri)
    # Or an Offer whose actor is not the one who signed it
    with pytest.raises(Forbidden):
        BookingOffer(offer_of(rita_books(), actor=EVE.uri), RITA.uri)


@pytest.mark.parametrize(
    ("booking", "field"),
    [
        ({"type": "Note"}, "object"),
        ({"occurrence": "soon"}, "occurrence"),
        ({"seats": 0}, "seats"),
        ({"seats": 12}, "seats"),
        ({"pickup": {"type": "Place", "latitude": 100, "longitude": 0}}, "pickup"),
    ],
)
def test_a_booking_with_a_bad_field_is_invalid(booking: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        BookingOffer(offer_of(rita_books(**booking)), RITA.uri)
    assert (caught.value.field or "").startswith(field)
