"""Regular rides: occurrences keep their local time across daylight-saving changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedicoop.errors import Invalid
from fedicoop.rides.model import Schedule
from fedicoop.rides.schedule import (
    DEFAULT_HORIZON,
    Occurrence,
    expand,
    occurrence_key,
    split_occurrence_key,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
EVERY_DAY = frozenset(range(7))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Return a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def mondays_8am_paris(start: date, end: date) -> Schedule:
    """Return Mondays at 08:00 Europe/Paris."""
    return Schedule(frozenset({0}), time(8, 0), "Europe/Paris", start, end)


def test_monday_8am_paris_stays_8am_across_the_march_change() -> None:
    # Given Mondays 08:00 Paris around Sunday 30 March 2025, when clocks go from +01 to +02
    schedule = mondays_8am_paris(date(2025, 3, 1), date(2025, 4, 30))

    # When expanded from 16 March to 10 April
    trips = expand(schedule, horizon_start=utc(2025, 3, 16), horizon_end=utc(2025, 4, 10))

    # Then each Monday leaves at 08:00 local: 07:00 UTC in winter, 06:00 UTC in summer
    assert trips == [
        Occurrence(date(2025, 3, 17), utc(2025, 3, 17, 7, 0)),
        Occurrence(date(2025, 3, 24), utc(2025, 3, 24, 7, 0)),
        Occurrence(date(2025, 3, 31), utc(2025, 3, 31, 6, 0)),
        Occurrence(date(2025, 4, 7), utc(2025, 4, 7, 6, 0)),
    ]
    assert all(trip.departure.astimezone(PARIS).time() == time(8, 0) for trip in trips)
    assert all(trip.departure.tzinfo is UTC for trip in trips)


def test_monday_8am_paris_stays_8am_across_the_october_change() -> None:
    # Given Mondays 08:00 Paris around Sunday 26 October 2025, when clocks go from +02 to +01
    schedule = mondays_8am_paris(date(2025, 10, 1), date(2025, 11, 30))

    # When expanded over the default 28 days from 12 October
    trips = expand(schedule, horizon_start=utc(2025, 10, 12))

    # Then 06:00 UTC before the change and 07:00 UTC after, 08:00 local throughout
    assert [trip.departure for trip in trips] == [
        utc(2025, 10, 13, 6, 0),
        utc(2025, 10, 20, 6, 0),
        utc(2025, 10, 27, 7, 0),
        utc(2025, 11, 3, 7, 0),
    ]
    assert all(trip.departure.astimezone(PARIS).time() == time(8, 0) for trip in trips)


def test_2330_new_york_belongs_to_its_local_date_though_it_is_tomorrow_in_utc() -> None:
    # Given every day at 23:30 in New York around Sunday 9 March 2025 (EST → EDT)
    schedule = Schedule(
        EVERY_DAY, time(23, 30), "America/New_York", date(2025, 3, 7), date(2025, 3, 11)
    )

    # When expanded over the whole period
    trips = expand(schedule, horizon_start=utc(2025, 3, 1), horizon_end=utc(2025, 3, 31))

    # Then each trip keeps its local date, 04:30 UTC the next day in EST and 03:30 in EDT
    assert trips == [
        Occurrence(date(2025, 3, 7), utc(2025, 3, 8, 4, 30)),
        Occurrence(date(2025, 3, 8), utc(2025, 3, 9, 4, 30)),
        Occurrence(date(2025, 3, 9), utc(2025, 3, 10, 3, 30)),
        Occurrence(date(2025, 3, 10), utc(2025, 3, 11, 3, 30)),
        Occurrence(date(2025, 3, 11), utc(2025, 3, 12, 3, 30)),
    ]
    assert all(trip.departure.astimezone(NEW_YORK).time() == time(23, 30) for trip in trips)


def test_the_horizon_is_half_open_on_instants_not_dates() -> None:
    # Given every day at 23:30 New York
    schedule = Schedule(
        EVERY_DAY, time(23, 30), "America/New_York", date(2025, 3, 1), date(2025, 3, 31)
    )

    # When the horizon ends exactly at Monday 10 March's trip (03:30 UTC on the 11th), then later
    before = expand(schedule, horizon_start=utc(2025, 3, 10), horizon_end=utc(2025, 3, 11, 3, 30))
    after = expand(schedule, horizon_start=utc(2025, 3, 10), horizon_end=utc(2025, 3, 11, 3, 31))

    # Then the end is excluded, the start included, and the UTC date does not matter
    assert [trip.date for trip in before] == [date(2025, 3, 9)]
    assert [trip.date for trip in after] == [date(2025, 3, 9), date(2025, 3, 10)]
    from_the_trip = expand(schedule, horizon_start=utc(2025, 3, 11, 3, 30))
    assert from_the_trip[0].date == date(2025, 3, 10)


def test_the_end_date_is_inclusive_and_the_start_date_too() -> None:
    # Given Mondays from Monday 17 March to Monday 7 April, and the same ending Sunday 6 April
    to_monday = mondays_8am_paris(date(2025, 3, 17), date(2025, 4, 7))
    to_sunday = mondays_8am_paris(date(2025, 3, 17), date(2025, 4, 6))
    horizon = {"horizon_start": utc(2025, 3, 1), "horizon_end": utc(2025, 5, 1)}

    # Then the first includes 17 March and 7 April, the second stops at 31 March
    assert [trip.date for trip in expand(to_monday, **horizon)] == [
        date(2025, 3, 17),
        date(2025, 3, 24),
        date(2025, 3, 31),
        date(2025, 4, 7),
    ]
    assert expand(to_sunday, **horizon)[-1].date == date(2025, 3, 31)


def test_a_nonexistent_local_time_moves_forward_by_the_gap() -> None:
    # Given every day at 02:30 Paris; on 30 March 2025 the clock jumps from 02:00 to 03:00
    schedule = Schedule(
        EVERY_DAY, time(2, 30), "Europe/Paris", date(2025, 3, 29), date(2025, 3, 31)
    )

    # When expanded
    trips = expand(schedule, horizon_start=utc(2025, 3, 28))

    # Then 30 March still has exactly one trip, at 03:30 local (01:30 UTC)
    assert [trip.departure for trip in trips] == [
        utc(2025, 3, 29, 1, 30),
        utc(2025, 3, 30, 1, 30),
        utc(2025, 3, 31, 0, 30),
    ]
    assert trips[1].departure.astimezone(PARIS).time() == time(3, 30)


def test_an_ambiguous_local_time_means_the_first_of_the_two() -> None:
    # Given every day at 02:30 Paris; on 26 October 2025 02:30 happens twice
    schedule = Schedule(
        EVERY_DAY, time(2, 30), "Europe/Paris", date(2025, 10, 26), date(2025, 10, 26)
    )

    # When expanded
    trips = expand(schedule, horizon_start=utc(2025, 10, 25))

    # Then there is one trip, at the first 02:30 (summer time, 00:30 UTC)
    assert trips == [Occurrence(date(2025, 10, 26), utc(2025, 10, 26, 0, 30))]


def test_the_default_horizon_is_28_days_and_past_trips_are_left_out() -> None:
    # Given every day at 08:00 Paris all year
    schedule = Schedule(EVERY_DAY, time(8), "Europe/Paris", date(2025, 1, 1), date(2025, 12, 31))

    # When expanded from 12:00 UTC on 1 June with the default horizon
    trips = expand(schedule, horizon_start=utc(2025, 6, 1, 12, 0))

    # Then 1 June's trip (06:00 UTC) is gone, and 28 days of trips follow
    assert DEFAULT_HORIZON == timedelta(days=28)
    assert len(trips) == 28
    assert trips[0].date == date(2025, 6, 2)
    assert trips[-1].date == date(2025, 6, 29)


def test_a_schedule_outside_the_horizon_has_no_occurrences() -> None:
    schedule = mondays_8am_paris(date(2025, 1, 1), date(2025, 1, 31))
    assert expand(schedule, horizon_start=utc(2025, 6, 1)) == []


def test_naive_horizons_are_a_programming_error() -> None:
    schedule = mondays_8am_paris(date(2025, 1, 1), date(2025, 1, 31))
    with pytest.raises(ValueError, match="horizon_start"):
        expand(schedule, horizon_start=datetime(2025, 1, 1))


def test_occurrence_keys_are_stable_distinct_and_reversible() -> None:
    # Given a ride id and two dates
    first = occurrence_key(7312345678901, date(2025, 3, 24))
    second = occurrence_key(7312345678901, date(2025, 3, 31))

    # Then the key is the same every time, differs per date, and splits back
    assert first == occurrence_key(7312345678901, date(2025, 3, 24)) == "7312345678901:2025-03-24"
    assert first != second
    assert split_occurrence_key(first) == ("7312345678901", date(2025, 3, 24))
    url_key = occurrence_key("https://b.example/rides/9", date(2025, 3, 24))
    assert split_occurrence_key(url_key) == ("https://b.example/rides/9", date(2025, 3, 24))


@pytest.mark.parametrize("key", ["", "2025-03-24", ":2025-03-24", "12:24/03/2025", "12"])
def test_malformed_occurrence_keys_are_refused(key: str) -> None:
    with pytest.raises(Invalid) as caught:
        split_occurrence_key(key)
    assert caught.value.field == "occurrence"


ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "UTC"]


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    at=st.times(),
    start=st.dates(date(2024, 1, 1), date(2026, 12, 31)),
    span=st.integers(0, 90),
    offset_hours=st.integers(-48, 24 * 100),
)
def test_expansion_matches_a_day_by_day_oracle(
    zone: str, days: frozenset[int], at: time, start: date, span: int, offset_hours: int
) -> None:
    # Given any schedule in zones with odd rules (30-minute DST, changes at midnight)
    schedule = Schedule(days, at, zone, start, start + timedelta(days=span))
    horizon_start = datetime.combine(start, time(), tzinfo=UTC) + timedelta(hours=offset_hours)

    # When it is expanded
    trips = expand(schedule, horizon_start=horizon_start)

    # Then it equals a naive scan of every date, in order, one trip per running date,
    # at the schedule's local time whenever that local time exists
    horizon_end = horizon_start + DEFAULT_HORIZON
    oracle = []
    day = start
    while day <= schedule.end:
        local = datetime.combine(day, at, tzinfo=ZoneInfo(zone))
        instant = local.astimezone(UTC)
        if day.weekday() in days and horizon_start <= instant < horizon_end:
            oracle.append(Occurrence(day, instant))
        day += timedelta(days=1)
    assert trips == oracle
    for trip in trips:
        local = trip.departure.astimezone(ZoneInfo(zone))
        wall = datetime.combine(trip.date, at)
        exists = wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).astimezone(ZoneInfo(zone))
        if exists.replace(tzinfo=None) == wall:
            assert local.replace(tzinfo=None) == wall
