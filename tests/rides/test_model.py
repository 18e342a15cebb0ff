"""Rides as data: parse_draft on valid input, and one named field for every bad input."""

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fedicoop.errors import Conflict, Invalid
from fedicoop.rides.geo import default_max_detour_km, distance_km
from fedicoop.rides.model import (
    DEFAULT_MARGIN_MINUTES,
    TRANSITIONS,
    Place,
    Preferences,
    Price,
    PriceKind,
    RideDraft,
    RideStatus,
    Role,
    Schedule,
    check_transition,
    parse_draft,
)

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
LYON: dict[str, Any] = {"lat": 45.7640, "lon": 4.8357, "label": "Lyon, place Bellecour"}
GRENOBLE: dict[str, Any] = {"lat": 45.1885, "lon": 5.7245, "label": "Grenoble, gare"}


def ride_input(**changes: Any) -> dict[str, Any]:
    """Return a valid driver's offer, with top-level fields replaced by `changes`."""
    data: dict[str, Any] = {
        "role": "driver",
        "origin": dict(LYON),
        "destination": dict(GRENOBLE),
        "departure": "2025-03-28T08:00:00+01:00",
        "margin_minutes": 20,
        "seats": 3,
        "price": {"kind": "fixed", "amount": "6.50", "currency": "EUR"},
    }
    data.update(changes)
    return data


def regular_input(**schedule_changes: Any) -> dict[str, Any]:
    """Return a valid regular ride (Mondays and Thursdays 08:00 Paris), departure left out."""
    schedule = {
        "days": ["mon", 3],
        "time": "08:00",
        "timezone": "Europe/Paris",
        "start": "2025-03-17",
        "end": "2025-06-30",
    }
    schedule.update(schedule_changes)
    data = ride_input(schedule=schedule)
    del data["departure"]
    return data


def test_a_valid_punctual_offer_parses_with_every_field() -> None:
    # Given a driver's offer with a waypoint, preferences and an explicit detour limit
    data = ride_input(
        waypoints=[{"lat": 45.36, "lon": 5.59, "label": "Voiron"}],
        preferences={"bike": True, "wheelchair_offered": True},
        max_detour_km=7.5,
    )

    # When it is parsed
    draft = parse_draft(data, now=NOW)

    # Then every field arrives typed, the departure keeping its offset
    assert draft.role is Role.DRIVER
    assert draft.origin == Place(45.7640, 4.8357, "Lyon, place Bellecour")
    assert draft.destination.label == "Grenoble, gare"
    assert draft.waypoints == (Place(45.36, 5.59, "Voiron"),)
    assert draft.departure == datetime(2025, 3, 28, 7, 0, tzinfo=UTC)
    assert draft.departure.utcoffset() == timedelta(hours=1)
    assert draft.margin_minutes == 20
    assert draft.seats == 3
    assert draft.price == Price(PriceKind.FIXED, Decimal("6.50"), "EUR")
    assert draft.preferences == Preferences(bike=True, wheelchair_offered=True)
    assert draft.max_detour_km == 7.5
    assert draft.schedule is None


def test_defaults_margin_free_price_and_detour_limit_from_the_trip() -> None:
    # Given a passenger's request that leaves out margin, price, preferences and detour
    data = ride_input(role="passenger", seats=1)
    del data["margin_minutes"], data["price"]

    # When it is parsed
    draft = parse_draft(data, now=NOW)

    # Then the defaults apply: 15 min, free, no preferences, max(2 km, 25 % of the trip)
    assert draft.role is Role.PASSENGER
    assert draft.margin_minutes == DEFAULT_MARGIN_MINUTES == 15
    assert draft.price.kind is PriceKind.FREE
    assert draft.price.amount == 0
    assert draft.preferences == Preferences()
    trip = distance_km(LYON["lat"], LYON["lon"], GRENOBLE["lat"], GRENOBLE["lon"])
    assert draft.trip_km == pytest.approx(trip)
    assert draft.max_detour_km == pytest.approx(default_max_detour_km(trip))
    assert draft.max_detour_km == pytest.approx(0.25 * trip)


def test_a_short_trip_gets_the_2_km_floor() -> None:
    # Given a 1 km trip across town
    data = ride_input(destination={"lat": 45.7730, "lon": 4.8357, "label": "Croix-Rousse"})

    # When it is parsed, Then the detour limit is the 2 km floor
    assert parse_draft(data, now=NOW).max_detour_km == 2.0


def test_a_very_long_trip_gets_the_detour_cap_not_a_refusal() -> None:
    # Given Lyon → Funchal (≈2,360 km beeline: a quarter is 590 km), no detour limit given
    data = ride_input(destination={"lat": 32.6669, "lon": -16.9241, "label": "Funchal"})
    del data["price"]

    # When it is parsed, Then the default limit stops at the cap a member could type
    assert parse_draft(data, now=NOW).max_detour_km == 500.0


def test_a_free_price_needs_no_amount_or_currency_and_amounts_keep_their_decimals() -> None:
    # Given a free ride and a per-km ride whose amount arrives as a JSON float
    free = parse_draft(ride_input(price={"kind": "free"}), now=NOW)
    per_km = parse_draft(
        ride_input(price={"kind": "per_km", "amount": 0.1, "currency": "eur"}), now=NOW
    )

    # Then the free ride carries ISO 4217 "no currency", the float is read as the decimal typed
    assert free.price == Price(PriceKind.FREE, Decimal(0), "XXX")
    assert per_km.price == Price(PriceKind.PER_KM, Decimal("0.1"), "EUR")


def test_a_regular_ride_without_departure_takes_its_first_trip_after_now() -> None:
    # Given Mondays and Thursdays at 08:00 in Paris, parsed on Thursday 20 March at 12:00 UTC
    draft = parse_draft(regular_input(), now=NOW)

    # Then the schedule is typed and the departure is the next trip: Monday 24 March, 08:00 CET
    assert draft.schedule == Schedule(
        days=frozenset({0, 3}),
        time=time(8, 0),
        timezone="Europe/Paris",
        start=date(2025, 3, 17),
        end=date(2025, 6, 30),
    )
    assert draft.departure == datetime(2025, 3, 24, 7, 0, tzinfo=UTC)


def test_a_regular_ride_with_a_departure_must_name_one_of_its_trips() -> None:
    # Given the same schedule with a departure that is one of its trips, then one that is not
    good = regular_input()
    good["departure"] = "2025-04-03T08:00:00+02:00"
    bad = regular_input()
    bad["departure"] = "2025-04-03T09:00:00+02:00"

    # Then the first parses as given and the second is refused on departure
    assert parse_draft(good, now=NOW).departure == datetime(2025, 4, 3, 6, 0, tzinfo=UTC)
    with pytest.raises(Invalid) as caught:
        parse_draft(bad, now=NOW)
    assert caught.value.field == "departure"


def test_a_schedule_with_no_trip_left_is_refused_on_schedule() -> None:
    # Given a Monday-only schedule whose last day (Sunday 23 March) comes before any Monday
    data = regular_input(days=["mon"], start="2025-03-20", end="2025-03-23")

    # Then parsing fails on schedule
    with pytest.raises(Invalid) as caught:
        parse_draft(data, now=NOW)
    assert caught.value.field == "schedule"


def without(key: str) -> Callable[[dict[str, Any]], None]:
    """Return a change that deletes one field (dotted for nested ones)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        target = data
        for parent in parents:
            target = target[parent]
        del target[last]

    return change


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Return a change that sets one field (dotted for nested ones)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        target = data
        for parent in parents:
            target = target[parent]
        target[last] = value

    return change


BAD_INPUTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown top-level field", setting("colour", "red"), "colour"),
    ("role missing", without("role"), "role"),
    ("unknown role", setting("role", "taxi"), "role"),
    ("role not text", setting("role", 1), "role"),
    ("origin missing", without("origin"), "origin"),
    ("origin not an object", setting("origin", "Lyon"), "origin"),
    ("latitude above 90", setting("origin.lat", 90.5), "origin.lat"),
    ("latitude below -90", setting("origin.lat", -91), "origin.lat"),
    ("latitude as text", setting("origin.lat", "45.7"), "origin.lat"),
    ("latitude as boolean", setting("origin.lat", True), "origin.lat"),
    ("latitude NaN", setting("origin.lat", float("nan")), "origin.lat"),
    ("latitude huge integer", setting("origin.lat", 10**400), "origin.lat"),
    ("latitude missing", without("origin.lat"), "origin.lat"),
    ("longitude above 180", setting("origin.lon", 180.01), "origin.lon"),
    ("longitude infinite", setting("origin.lon", float("inf")), "origin.lon"),
    ("label too long", setting("origin.label", "x" * 201), "origin.label"),
    ("label with a newline", setting("origin.label", "Lyon\nBron"), "origin.label"),
    ("label not text", setting("origin.label", 69), "origin.label"),
    ("unknown place field", setting("origin.altitude", 170), "origin.altitude"),
    ("destination latitude", setting("destination.lat", 100), "destination.lat"),
    ("destination missing", without("destination"), "destination"),
    ("waypoints not a list", setting("waypoints", {"lat": 1}), "waypoints"),
    ("six waypoints", setting("waypoints", [dict(LYON)] * 6), "waypoints"),
    (
        "bad waypoint longitude",
        setting("waypoints", [dict(LYON), {"lat": 45.0, "lon": 200.0}]),
        "waypoints[1].lon",
    ),
    ("departure missing", without("departure"), "departure"),
    ("departure not ISO", setting("departure", "next friday at 8"), "departure"),
    ("departure not text", setting("departure", 1743145200), "departure"),
    ("departure naive", setting("departure", "2025-03-28T08:00:00"), "departure"),
    ("departure in the past", setting("departure", "2025-03-20T12:59:00+02:00"), "departure"),
    ("margin negative", setting("margin_minutes", -1), "margin_minutes"),
    ("margin above 240", setting("margin_minutes", 241), "margin_minutes"),
    ("margin fractional", setting("margin_minutes", 1.5), "margin_minutes"),
    ("margin as text", setting("margin_minutes", "15"), "margin_minutes"),
    ("seats missing", without("seats"), "seats"),
    ("no seats", setting("seats", 0), "seats"),
    ("nine seats", setting("seats", 9), "seats"),
    ("seats as float", setting("seats", 2.0), "seats"),
    ("seats as boolean", setting("seats", True), "seats"),
    ("price not an object", setting("price", 6.5), "price"),
    ("price kind unknown", setting("price.kind", "gift"), "price.kind"),
    ("price kind missing", without("price.kind"), "price.kind"),
    ("price amount missing", without("price.amount"), "price.amount"),
    ("price amount negative", setting("price.amount", "-1"), "price.amount"),
    ("price amount not a number", setting("price.amount", "six"), "price.amount"),
    ("price amount NaN", setting("price.amount", "NaN"), "price.amount"),
    ("price amount huge", setting("price.amount", "1e9"), "price.amount"),
    ("price amount too precise", setting("price.amount", "6.00001"), "price.amount"),
    ("price amount zero", setting("price.amount", 0), "price.amount"),
    ("price amount boolean", setting("price.amount", True), "price.amount"),
    ("free with an amount", setting("price", {"kind": "free", "amount": 5}), "price.amount"),
    ("currency missing", without("price.currency"), "price.currency"),
    ("currency four letters", setting("price.currency", "EURO"), "price.currency"),
    ("currency numeric", setting("price.currency", 978), "price.currency"),
    ("unknown price field", setting("price.tip", 1), "price.tip"),
    ("preference not boolean", setting("preferences", {"pets": "yes"}), "preferences.pets"),
    ("unknown preference", setting("preferences", {"dancing": True}), "preferences.dancing"),
    ("detour negative", setting("max_detour_km", -1), "max_detour_km"),
    ("detour above 500", setting("max_detour_km", 501), "max_detour_km"),
    ("detour as text", setting("max_detour_km", "3"), "max_detour_km"),
    ("schedule not an object", setting("schedule", "weekdays"), "schedule"),
]

BAD_SCHEDULES: list[tuple[str, dict[str, Any], str]] = [
    ("days missing", {"days": None}, "schedule.days"),
    ("no days", {"days": []}, "schedule.days"),
    ("days as text", {"days": "mon"}, "schedule.days"),
    ("unknown day name", {"days": ["mon", "funday"]}, "schedule.days[1]"),
    ("day number 7", {"days": [7]}, "schedule.days[0]"),
    ("day as boolean", {"days": [True]}, "schedule.days[0]"),
    ("time without leading zero", {"time": "8:00"}, "schedule.time"),
    ("time 25:00", {"time": "25:00"}, "schedule.time"),
    ("time with offset", {"time": "08:00+01:00"}, "schedule.time"),
    ("time missing", {"time": None}, "schedule.time"),
    ("unknown time zone", {"timezone": "Mars/Olympus_Mons"}, "schedule.timezone"),
    ("server's localtime", {"timezone": "localtime"}, "schedule.timezone"),
    ("path as time zone", {"timezone": "../../etc/passwd"}, "schedule.timezone"),
    ("offset as time zone", {"timezone": "+01:00"}, "schedule.timezone"),
    ("start not a date", {"start": "31/03/2025"}, "schedule.start"),
    ("end missing", {"end": None}, "schedule.end"),
    ("end before start", {"start": "2025-04-01", "end": "2025-03-31"}, "schedule.end"),
    ("end in the past", {"start": "2025-01-01", "end": "2025-03-19"}, "schedule.end"),
    ("unknown schedule field", {"every": "week"}, "schedule.every"),
]


@pytest.mark.parametrize(
    ("change", "field"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_every_bad_field_is_refused_by_name(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    # Given a valid offer with one field broken
    data = ride_input()
    change(data)

    # When it is parsed
    with pytest.raises(Invalid) as caught:
        parse_draft(data, now=NOW)

    # Then the error names that field, and the message starts with it when it is about it
    assert caught.value.field == field
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("changes", "field"),
    [case[1:] for case in BAD_SCHEDULES],
    ids=[case[0] for case in BAD_SCHEDULES],
)
def test_every_bad_schedule_field_is_refused_by_name(changes: dict[str, Any], field: str) -> None:
    # Given a valid regular ride with one schedule field broken (None: left out)
    data = regular_input(**changes)
    data["schedule"] = {key: value for key, value in data["schedule"].items() if value is not None}

    # When it is parsed, Then the error names that schedule field
    with pytest.raises(Invalid) as caught:
        parse_draft(data, now=NOW)
    assert caught.value.field == field


def test_a_naive_departure_says_it_needs_an_offset() -> None:
    # Given a departure without a UTC offset
    with pytest.raises(Invalid) as caught:
        parse_draft(ride_input(departure="2025-03-28T08:00"), now=NOW)

    # Then the member reads exactly what is missing
    assert caught.value.message == "departure needs a UTC offset"


def test_nested_messages_name_the_full_path() -> None:
    # Given a latitude out of range on the second waypoint
    data = ride_input(waypoints=[dict(LYON), {"lat": -95, "lon": 5, "label": "x"}])

    # Then the message names the path the member sent
    with pytest.raises(Invalid) as caught:
        parse_draft(data, now=NOW)
    assert caught.value.message == "waypoints[1].lat must be between -90 and 90"


def test_input_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        parse_draft(["driver"], now=NOW)  # type: ignore[arg-type]
    assert caught.value.field is None


def test_parse_draft_does_not_change_its_input() -> None:
    # Given an input and a deep copy of it
    data = regular_input()
    before = copy.deepcopy(data)

    # When it is parsed, Then the input is untouched
    parse_draft(data, now=NOW)
    assert data == before


def test_values_check_themselves_outside_parse_draft() -> None:
    # Given values built directly (as an ActivityPub converter or a row reader would)
    with pytest.raises(Invalid) as caught:
        Place(0.0, 181.0, "x")
    assert caught.value.field == "lon"
    with pytest.raises(Invalid):
        Price(PriceKind.FIXED, Decimal("NaN"), "EUR")
    with pytest.raises(Invalid) as caught:
        Schedule(frozenset({0}), time(8), "Europe/Paris", date(2025, 4, 2), date(2025, 4, 1))
    assert caught.value.field == "end"
    with pytest.raises(Invalid) as caught:
        RideDraft(
            role=Role.DRIVER,
            origin=Place(45.0, 5.0),
            destination=Place(45.1, 5.0),
            departure=datetime(2025, 3, 28, 8, 0),
            seats=2,
            price=Price(PriceKind.FREE, Decimal(0), "XXX"),
            max_detour_km=2.0,
        )
    assert caught.value.field == "departure"


def test_a_schedule_knows_its_days_start_and_end_inclusive() -> None:
    # Given Mondays from Monday 17 March to Monday 31 March
    schedule = Schedule(
        frozenset({0}), time(8), "Europe/Paris", date(2025, 3, 17), date(2025, 3, 31)
    )

    # Then both ends run, other weekdays and outside dates do not
    assert schedule.runs_on(date(2025, 3, 17))
    assert schedule.runs_on(date(2025, 3, 31))
    assert not schedule.runs_on(date(2025, 3, 18))
    assert not schedule.runs_on(date(2025, 4, 7))
    assert schedule.first_departure(datetime(2025, 3, 31, 7, 0, tzinfo=UTC)) is None
    assert schedule.first_departure(datetime(2025, 3, 31, 6, 0, tzinfo=UTC)) == datetime(
        2025, 3, 31, 6, 0, tzinfo=UTC
    )


EXPECTED_RIDE_EDGES = {
    (RideStatus.OPEN, RideStatus.FULL),
    (RideStatus.OPEN, RideStatus.CANCELLED),
    (RideStatus.OPEN, RideStatus.COMPLETED),
    (RideStatus.OPEN, RideStatus.EXPIRED),
    (RideStatus.FULL, RideStatus.OPEN),
    (RideStatus.FULL, RideStatus.CANCELLED),
    (RideStatus.FULL, RideStatus.COMPLETED),
    (RideStatus.FULL, RideStatus.EXPIRED),
    (RideStatus.EXPIRED, RideStatus.COMPLETED),
}


@pytest.mark.parametrize("current", list(RideStatus))
@pytest.mark.parametrize("target", list(RideStatus))
def test_ride_transitions_follow_the_table(current: RideStatus, target: RideStatus) -> None:
    # Given any pair of statuses, When the change is checked
    # Then exactly the listed edges pass and every other one is a Conflict
    assert set(TRANSITIONS) == set(RideStatus)
    if (current, target) in EXPECTED_RIDE_EDGES:
        check_transition(current, target)
    else:
        with pytest.raises(Conflict):
            check_transition(current, target)
