"""Rides storage contract: the same behaviour on SQLite and on PostgreSQL.

Seats are taken and given back one trip at a time with conditional UPDATEs, a booking moves
only from the status its caller saw, and a partner's refresh of a ride never touches what
only we know of it (its local id, its exact places).
"""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fedicoop import clock
from fedicoop.errors import Conflict
from fedicoop.rides.booking import BookingStatus
from fedicoop.rides.model import Place, Preferences, Price, PriceKind, RideStatus, Role, Schedule
from fedicoop.rides.records import Booking, ExactRoute, Occurrence, Review, Ride
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Database
from fedicoop.storage.rides import BookingRepository, RideRepository, SavedSearchRepository

pytestmark = pytest.mark.both_engines

LYON = Place(45.755, 4.835, "Lyon")
GRENOBLE = Place(45.185, 5.725, "Grenoble")
HOME = Place(45.7578, 4.8320, "12 rue de la République, Lyon")
STATION = Place(45.1885, 5.7245, "Gare de Grenoble")
MONDAY = date(2030, 3, 4)
STAMP = "2030-03-01T09:00:00.000000Z"


def at(day: date, hour: int = 7) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def person(db: Database, name: str, host: str = "local.example") -> ActorRecord:
    return await ActorRepository(db).insert(
        ActorRecord(
            uri=f"https://{host}/users/{name}",
            type="Person",
            domain=host,
            username=name,
            local=host == "local.example",
        )
    )


def a_ride(actor: ActorRecord, ride_id: int, **changes: Any) -> Ride:
    ride = Ride(
        id=ride_id,
        uri=f"https://{actor.domain}/rides/{ride_id}",
        url=f"https://{actor.domain}/rides/{ride_id}",
        local=actor.local,
        actor_id=actor.id,
        coop_uri=f"https://{actor.domain}/users/coop",
        coop=f"coop@{actor.domain}",
        role=Role.DRIVER,
        origin=LYON,
        destination=GRENOBLE,
        waypoints=(Place(45.455, 5.225, "Voiron"),),
        departure=at(MONDAY),
        utc_offset_minutes=60,
        margin_minutes=15,
        seats=3,
        price=Price(PriceKind.FIXED, Decimal("6.5"), "EUR"),
        preferences=Preferences(bike=True),
        max_detour_km=12.0,
        trip_km=94.2,
        schedule=None,
        status=RideStatus.OPEN,
        created_at=STAMP,
        updated_at=STAMP,
        exact=ExactRoute(HOME, STATION) if actor.local else None,
        occurrences=(Occurrence(MONDAY, at(MONDAY), 3, RideStatus.OPEN),),
    )
    return replace(ride, **changes)


def a_booking(ride: Ride, rider: ActorRecord, booking_id: int, **changes: Any) -> Booking:
    booking = Booking(
        id=booking_id,
        uri=f"https://{rider.domain}/bookings/{booking_id}",
        offer_uri=f"https://{rider.domain}/activities/{booking_id}",
        ride_id=ride.id,
        day=MONDAY,
        rider_id=rider.id,
        driver_id=ride.actor_id,
        seats=1,
        status=BookingStatus.PENDING,
        pickup=Place(45.76, 4.84, "Part-Dieu"),
        dropoff=None,
        message="one bag",
        reason="",
        urgent=False,
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(booking, **changes)


async def trip(rides: RideRepository, ride_id: int, day: date = MONDAY) -> Occurrence:
    ride = await rides.get(ride_id)
    assert ride is not None
    found = ride.occurrence(day)
    assert found is not None
    return found


# --- rides -----------------------------------------------------------------------------------


async def test_a_ride_round_trips_by_id_and_uri(db: Database) -> None:
    # Given a local ride with its exact places, and a regular one with three trips
    dora = await person(db, "dora")
    rides = RideRepository(db)
    punctual = a_ride(dora, 1)
    schedule = Schedule(
        frozenset({0, 2}), datetime(2030, 1, 1, 8).time(), "Europe/Paris", MONDAY, date(2030, 6, 28)
    )
    regular = a_ride(
        dora,
        2,
        schedule=schedule,
        occurrences=tuple(
            Occurrence(day, schedule.departure_on(day), 3, RideStatus.OPEN)
            for day in (MONDAY, MONDAY + timedelta(days=2), MONDAY + timedelta(days=7))
        ),
    )
    await rides.insert(punctual)
    await rides.insert(regular)
    # When they are read back, Then every field survives, on both engines
    assert await rides.get(1) == punctual
    assert await rides.by_uri(punctual.uri) == punctual
    assert await rides.get(2) == regular
    assert await rides.many([1, 2, 99]) == {1: punctual, 2: regular}
    assert await rides.get(99) is None and await rides.by_uri("https://nowhere/rides/1") is None
    assert [r.id for r in await rides.by_actor([dora.id])] == [2, 1]
    # And a second ride with the same uri is a conflict
    with pytest.raises(Conflict):
        await rides.insert(replace(punctual, id=3))


async def test_upsert_remote_keeps_the_local_id_and_the_exact_places(db: Database) -> None:
    # Given a partner's ride stored once, and the exact places its driver told our rider
    dora = await person(db, "dora", "covoit.example")
    rides = RideRepository(db)
    first = a_ride(dora, 10)
    assert await rides.upsert_remote(first) == 10
    exact = ExactRoute(HOME, STATION)
    await db.execute(
        "UPDATE rides SET exact = $2 WHERE id = $1",
        10,
        json.dumps(
            {
                "origin": {"lat": HOME.lat, "lon": HOME.lon, "label": HOME.label},
                "destination": {"lat": STATION.lat, "lon": STATION.lon, "label": STATION.label},
            }
        ),
    )
    # When the partner's Update arrives, read with a fresh local id and no exact places
    changed = a_ride(
        dora,
        77,
        uri=first.uri,
        seats=4,
        price=Price(PriceKind.FIXED, Decimal("7"), "EUR"),
        status=RideStatus.FULL,
        occurrences=(Occurrence(MONDAY, at(MONDAY, 8), 0, RideStatus.FULL),),
        updated_at="2030-03-02T09:00:00.000000Z",
    )
    assert await rides.upsert_remote(changed) == 10
    # Then the row keeps its id and exact places and takes everything the partner publishes
    stored = await rides.get(10)
    assert stored == replace(changed, id=10, exact=exact)
    assert await rides.get(77) is None
    assert await db.fetchval("SELECT count(*) FROM rides") == 1


async def test_take_seats_never_goes_below_zero_and_fills_the_trip(db: Database) -> None:
    # Given a trip with 3 seats
    dora = await person(db, "dora")
    rides = RideRepository(db)
    await rides.insert(a_ride(dora, 1))
    # When 2 seats are taken, Then one is left and the trip is still open
    assert await rides.take_seats(1, MONDAY, 2) is True
    assert await trip(rides, 1) == Occurrence(MONDAY, at(MONDAY), 1, RideStatus.OPEN)
    # When 2 more are asked, Then nothing is taken
    assert await rides.take_seats(1, MONDAY, 2) is False
    assert (await trip(rides, 1)).seats_left == 1
    # When the last one is taken, Then the trip is full and nothing more can be taken
    assert await rides.take_seats(1, MONDAY, 1) is True
    assert await trip(rides, 1) == Occurrence(MONDAY, at(MONDAY), 0, RideStatus.FULL)
    assert await rides.take_seats(1, MONDAY, 1) is False
    assert (await trip(rides, 1)).seats_left == 0
    # And a date the ride does not run on has no seats to take
    assert await rides.take_seats(1, MONDAY + timedelta(days=1), 1) is False


async def test_take_seats_on_one_trip_leaves_the_others(db: Database) -> None:
    dora = await person(db, "dora")
    rides = RideRepository(db)
    wednesday = MONDAY + timedelta(days=2)
    await rides.insert(
        a_ride(
            dora,
            1,
            occurrences=(
                Occurrence(MONDAY, at(MONDAY), 3, RideStatus.OPEN),
                Occurrence(wednesday, at(wednesday), 3, RideStatus.OPEN),
            ),
        )
    )
    assert await rides.take_seats(1, wednesday, 3) is True
    assert (await trip(rides, 1, wednesday)).status is RideStatus.FULL
    assert await trip(rides, 1) == Occurrence(MONDAY, at(MONDAY), 3, RideStatus.OPEN)


async def test_take_seats_on_a_cancelled_or_expired_trip_takes_nothing(db: Database) -> None:
    dora = await person(db, "dora")
    rides = RideRepository(db)
    await rides.insert(a_ride(dora, 1))
    await rides.set_status(1, RideStatus.CANCELLED)
    assert await rides.take_seats(1, MONDAY, 1) is False
    assert await trip(rides, 1) == Occurrence(MONDAY, at(MONDAY), 3, RideStatus.CANCELLED)


async def test_give_back_seats_reopens_a_full_trip(db: Database) -> None:
    dora = await person(db, "dora")
    rides = RideRepository(db)
    await rides.insert(a_ride(dora, 1))
    assert await rides.take_seats(1, MONDAY, 3)
    await rides.give_back_seats(1, MONDAY, 2)
    assert await trip(rides, 1) == Occurrence(MONDAY, at(MONDAY), 2, RideStatus.OPEN)
    # And the seats can be taken again
    assert await rides.take_seats(1, MONDAY, 2) is True


async def test_give_back_seats_never_exceeds_the_seats_offered(db: Database) -> None:
    # A booking cancelled twice over (a redelivered Undo) must not mint seats
    dora = await person(db, "dora")
    rides = RideRepository(db)
    await rides.insert(a_ride(dora, 1))
    assert await rides.take_seats(1, MONDAY, 1)
    await rides.give_back_seats(1, MONDAY, 1)
    await rides.give_back_seats(1, MONDAY, 1)
    assert (await trip(rides, 1)).seats_left == 3


async def test_expire_past_expires_gone_trips_and_punctual_rides(db: Database) -> None:
    # Given a punctual ride and a regular ride whose first trip has left
    dora = await person(db, "dora")
    rides = RideRepository(db)
    wednesday = MONDAY + timedelta(days=2)
    await rides.insert(a_ride(dora, 1))
    schedule = Schedule(
        frozenset({0, 2}), datetime(2030, 1, 1, 8).time(), "Europe/Paris", MONDAY, date(2030, 6, 28)
    )
    await rides.insert(
        a_ride(
            dora,
            2,
            schedule=schedule,
            occurrences=(
                Occurrence(MONDAY, at(MONDAY), 3, RideStatus.OPEN),
                Occurrence(wednesday, at(wednesday), 3, RideStatus.OPEN),
            ),
        )
    )
    await rides.insert(a_ride(dora, 3, status=RideStatus.CANCELLED))
    # When time passes Monday's departure
    expired = await rides.expire_past(clock.to_text(at(MONDAY, 9)))
    # Then the punctual ride is expired, the regular one only loses its Monday
    assert expired == [1]
    punctual = await rides.get(1)
    assert punctual is not None and punctual.status is RideStatus.EXPIRED
    assert (await trip(rides, 1)).status is RideStatus.EXPIRED
    regular = await rides.get(2)
    assert regular is not None and regular.status is RideStatus.OPEN
    assert [o.status for o in regular.occurrences] == [RideStatus.EXPIRED, RideStatus.OPEN]
    cancelled = await rides.get(3)
    assert cancelled is not None and cancelled.status is RideStatus.CANCELLED
    assert [r.id for r in await rides.live()] == [2]
    # And running it again changes nothing
    assert await rides.expire_past(clock.to_text(at(MONDAY, 9))) == []


async def test_live_filters_by_role_and_locality(db: Database) -> None:
    dora = await person(db, "dora")
    remote = await person(db, "pat", "covoit.example")
    rides = RideRepository(db)
    await rides.insert(a_ride(dora, 1))
    await rides.insert(a_ride(dora, 2, role=Role.PASSENGER))
    await rides.insert(a_ride(remote, 3))
    assert sorted(r.id for r in await rides.live()) == [1, 2, 3]
    assert sorted(r.id for r in await rides.live(Role.DRIVER)) == [1, 3]
    assert [r.id for r in await rides.live(Role.DRIVER, local=True)] == [1]
    assert [r.id for r in await rides.live(local=False)] == [3]


# --- bookings --------------------------------------------------------------------------------


async def test_a_booking_round_trips_and_is_found_by_either_uri(db: Database) -> None:
    dora, rita = await person(db, "dora"), await person(db, "rita", "velo.example")
    ride = a_ride(dora, 1)
    await RideRepository(db).insert(ride)
    bookings = BookingRepository(db)
    booking = a_booking(ride, rita, 5)
    await bookings.insert(booking)
    assert await bookings.get(5) == booking
    assert await bookings.by_uri(booking.uri) == booking
    assert await bookings.by_uri(booking.offer_uri) == booking
    assert await bookings.for_actor(rita.id) == [booking]
    assert await bookings.for_actor(dora.id, role="driver") == [booking]
    assert await bookings.for_actor(dora.id, role="rider") == []
    assert await bookings.for_ride(1, [BookingStatus.ACCEPTED]) == []
    with pytest.raises(Conflict):
        await bookings.insert(replace(booking, id=6))


async def test_booking_status_moves_only_from_the_expected_status(db: Database) -> None:
    # Given a pending booking
    dora, rita = await person(db, "dora"), await person(db, "rita", "velo.example")
    ride = a_ride(dora, 1)
    await RideRepository(db).insert(ride)
    bookings = BookingRepository(db)
    await bookings.insert(a_booking(ride, rita, 5))
    # When someone who saw it accepted tries to cancel it, Then nothing moves
    assert not await bookings.set_status(5, BookingStatus.ACCEPTED, BookingStatus.CANCELLED)
    stored = await bookings.get(5)
    assert stored is not None and stored.status is BookingStatus.PENDING
    # When the driver rejects it as pending, Then it moves, with the reason and the urgency
    assert await bookings.set_status(
        5, BookingStatus.PENDING, BookingStatus.REJECTED, reason="car full", urgent=True
    )
    stored = await bookings.get(5)
    assert stored is not None
    assert (stored.status, stored.reason, stored.urgent) == (
        BookingStatus.REJECTED,
        "car full",
        True,
    )
    # And a second answer racing the first one loses
    assert not await bookings.set_status(5, BookingStatus.PENDING, BookingStatus.ACCEPTED)


async def test_messages_are_idempotent_by_uri(db: Database) -> None:
    dora, rita = await person(db, "dora"), await person(db, "rita", "velo.example")
    ride = a_ride(dora, 1)
    await RideRepository(db).insert(ride)
    bookings = BookingRepository(db)
    await bookings.insert(a_booking(ride, rita, 5))
    first = await bookings.add_message(5, "https://velo.example/m/1", rita.id, "Where exactly?")
    again = await bookings.add_message(5, "https://velo.example/m/1", rita.id, "Where exactly?")
    await bookings.add_message(5, "https://local.example/m/2", dora.id, "At the station")
    thread = await bookings.messages(5)
    assert [(m.author_id, m.text) for m in thread] == [
        (rita.id, "Where exactly?"),
        (dora.id, "At the station"),
    ]
    # The redelivery answers with the message that is stored, not a phantom copy
    assert again == first == thread[0]


async def test_one_review_per_author_per_booking(db: Database) -> None:
    dora, rita = await person(db, "dora"), await person(db, "rita", "velo.example")
    ride = a_ride(dora, 1)
    await RideRepository(db).insert(ride)
    bookings = BookingRepository(db)
    await bookings.insert(a_booking(ride, rita, 5, status=BookingStatus.COMPLETED))

    def review(review_id: int, author: ActorRecord, subject: ActorRecord, rating: int) -> Review:
        uri = f"https://{author.domain}/reviews/{review_id}"
        return Review(review_id, uri, 5, author.id, subject.id, rating, "", STAMP)

    assert await bookings.add_review(review(1, rita, dora, 5)) is True
    assert await bookings.add_review(review(2, rita, dora, 1)) is False  # Rita again
    assert await bookings.add_review(review(3, dora, rita, 4)) is True  # Dora about Rita
    assert [r.rating for r in await bookings.reviews_of(dora.id)] == [5]
    assert [r.rating for r in await bookings.reviews_of(rita.id)] == [4]


# --- saved searches --------------------------------------------------------------------------


async def test_saved_searches_belong_to_their_member(db: Database) -> None:
    accounts = AccountRepository(db)
    rita = await accounts.insert(
        AccountRecord(actor_id=(await person(db, "rita")).id, username="rita", password_hash="h")
    )
    otto = await accounts.insert(
        AccountRecord(actor_id=(await person(db, "otto")).id, username="otto", password_hash="h")
    )
    searches = SavedSearchRepository(db)
    query = {"origin": "45.76,4.84", "destination": "45.19,5.72", "seats": 1, "role": "driver"}
    mine = await searches.add(rita.id, query)
    theirs = await searches.add(otto.id, query | {"seats": 2})
    assert await searches.for_account(rita.id) == [mine]
    assert mine.query == query
    assert await searches.all() == sorted([mine, theirs], key=lambda s: s.id)
    # Otto cannot delete Rita's search; Rita can
    assert await searches.delete(otto.id, mine.id) is False
    assert await searches.delete(rita.id, mine.id) is True
    assert await searches.for_account(rita.id) == []
    assert await searches.for_account(otto.id) == [theirs]
