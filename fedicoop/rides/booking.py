"""A booking's lifecycle as data, seat accounting, and its time rules.

Seats: only accepted (and later completed) bookings hold seats. Pending requests do not, so
a ride can collect more requests than it has seats and the driver chooses; accepting one
that no longer fits raises Conflict("not enough seats left"). The check is pure: to keep
seats from being oversold when requests race in from several instances, the caller runs it
and the status change in one transaction that locks the ride's (or occurrence's) row.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from fedicoop.errors import Conflict


class BookingStatus(StrEnum):
    """Where a booking stands, the same on the rider's and the driver's instance."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


# pending → accepted | rejected | cancelled; accepted → cancelled | completed; the rest final.
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset(
        {BookingStatus.ACCEPTED, BookingStatus.REJECTED, BookingStatus.CANCELLED}
    ),
    BookingStatus.ACCEPTED: frozenset({BookingStatus.CANCELLED, BookingStatus.COMPLETED}),
    BookingStatus.REJECTED: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
    BookingStatus.COMPLETED: frozenset(),
}

# A completed trip used its seats too; counting them keeps seats_left right after the fact.
HOLDS_SEATS = frozenset({BookingStatus.ACCEPTED, BookingStatus.COMPLETED})
URGENT_BEFORE = timedelta(hours=24)
AUTO_COMPLETE_AFTER_HOURS = 6


def check_transition(current: BookingStatus, target: BookingStatus) -> None:
    """Raise Conflict unless a booking may go from `current` to `target`."""
    if target not in TRANSITIONS[current]:
        raise Conflict(f"a booking that is {current} cannot become {target}")


def seats_left(seats_offered: int, bookings: Iterable[tuple[BookingStatus, int]]) -> int:
    """Return the seats not held by accepted or completed bookings."""
    held = sum(seats for status, seats in bookings if status in HOLDS_SEATS)
    return seats_offered - held


def check_seats(
    seats_offered: int, bookings: Iterable[tuple[BookingStatus, int]], requested: int
) -> None:
    """Raise Conflict when `requested` seats do not fit in what is left (request or accept)."""
    left = seats_left(seats_offered, bookings)
    if requested > left:
        raise Conflict(f"not enough seats left ({left} left, {requested} asked)")


def urgent(departure: datetime, now: datetime) -> bool:
    """Return whether a change this close to departure (< 24 h, or after it) is flagged urgent."""
    return departure - now < URGENT_BEFORE


def auto_complete_due(
    arrival: datetime, now: datetime, hours: int = AUTO_COMPLETE_AFTER_HOURS
) -> bool:
    """Return whether an accepted booking may now become completed unless a party objected."""
    return now >= arrival + timedelta(hours=hours)
