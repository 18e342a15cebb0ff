"""Bookings: the two-party lifecycle as data, seat accounting, urgency and auto-completion."""

from datetime import UTC, datetime, timedelta

import pytest

from fedicoop.errors import Conflict
from fedicoop.rides.booking import (
    TRANSITIONS,
    BookingStatus,
    auto_complete_due,
    check_seats,
    check_transition,
    seats_left,
    urgent,
)

PENDING, ACCEPTED, REJECTED, CANCELLED, COMPLETED = (
    BookingStatus.PENDING,
    BookingStatus.ACCEPTED,
    BookingStatus.REJECTED,
    BookingStatus.CANCELLED,
    BookingStatus.COMPLETED,
)
LEGAL = {
    (PENDING, ACCEPTED),
    (PENDING, REJECTED),
    (PENDING, CANCELLED),
    (ACCEPTED, CANCELLED),
    (ACCEPTED, COMPLETED),
}
NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("current", list(BookingStatus))
@pytest.mark.parametrize("target", list(BookingStatus))
def test_booking_transitions_follow_the_table(
    current: BookingStatus, target: BookingStatus
) -> None:
    # Given any pair of statuses, When the change is checked
    # Then the five legal edges pass and every other change is a Conflict (409)
    if (current, target) in LEGAL:
        check_transition(current, target)
    else:
        with pytest.raises(Conflict) as caught:
            check_transition(current, target)
        assert caught.value.status == 409


def test_rejected_cancelled_and_completed_are_final() -> None:
    assert set(TRANSITIONS) == set(BookingStatus)
    assert TRANSITIONS[REJECTED] == TRANSITIONS[CANCELLED] == TRANSITIONS[COMPLETED] == frozenset()


def test_only_accepted_and_completed_bookings_hold_seats() -> None:
    # Given 4 seats and one booking in each status
    bookings = [(PENDING, 1), (ACCEPTED, 2), (REJECTED, 3), (CANCELLED, 4), (COMPLETED, 1)]

    # Then 2 + 1 seats are held
    assert seats_left(4, bookings) == 1
    assert seats_left(4, []) == 4
    assert seats_left(3, iter([(ACCEPTED, 1), (ACCEPTED, 2)])) == 0


def test_pending_requests_may_exceed_the_seats_but_accepting_one_that_no_longer_fits_fails() -> (
    None
):
    # Given 3 seats and two pending requests for 2 seats each (both could be sent)
    check_seats(3, [], 2)
    check_seats(3, [(PENDING, 2)], 2)

    # When the driver accepts the first
    check_transition(PENDING, ACCEPTED)
    bookings = [(ACCEPTED, 2), (PENDING, 2)]

    # Then accepting the second, or requesting 2 more, is a Conflict; 1 seat still fits
    with pytest.raises(Conflict, match="not enough seats left"):
        check_seats(3, bookings, 2)
    check_seats(3, bookings, 1)


def test_a_cancelled_acceptance_gives_its_seats_back() -> None:
    assert seats_left(3, [(ACCEPTED, 3)]) == 0
    assert seats_left(3, [(CANCELLED, 3)]) == 3


@pytest.mark.parametrize(
    ("until_departure", "is_urgent"),
    [
        (timedelta(hours=24), False),
        (timedelta(hours=23, minutes=59), True),
        (timedelta(days=3), False),
        (timedelta(minutes=-5), True),
    ],
)
def test_a_change_under_24_hours_before_departure_is_urgent(
    until_departure: timedelta, is_urgent: bool
) -> None:
    assert urgent(NOW + until_departure, NOW) is is_urgent


def test_an_accepted_booking_is_due_to_complete_6_hours_after_arrival() -> None:
    arrival = NOW
    assert not auto_complete_due(arrival, NOW + timedelta(hours=5, minutes=59))
    assert auto_complete_due(arrival, NOW + timedelta(hours=6))
    assert not auto_complete_due(arrival, NOW + timedelta(hours=6), hours=12)
    assert auto_complete_due(arrival, NOW + timedelta(hours=12), hours=12)
