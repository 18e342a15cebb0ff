"""Rides, their trips and bookings as the rest of fedicoop handles them once stored.

A `Ride` is the same record for a ride of ours and for one a partner co-op published: the
places it carries are the published ones (≈1 km cells, town labels). Only our own rides also
carry `exact`, the places the member typed, shown to the two parties of an accepted booking.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from fedicoop.errors import Invalid
from fedicoop.rides.booking import BookingStatus
from fedicoop.rides.model import (
    PREFERENCE_NAMES,
    Place,
    Preferences,
    Price,
    PriceKind,
    RideStatus,
    Role,
    Schedule,
)


@dataclass(frozen=True)
class ExactRoute:
    """What the member typed: shown only to the parties of an accepted booking."""

    origin: Place
    destination: Place
    waypoints: tuple[Place, ...] = ()


@dataclass(frozen=True)
class Occurrence:
    """One dated trip of a ride (a punctual ride has exactly one), booked on its own."""

    day: date  # the local date of the trip: what a booking names as its `occurrence`
    departure: datetime  # UTC
    seats_left: int
    status: RideStatus


@dataclass(frozen=True, kw_only=True)
class Ride:
    """A ride offer (driver) or request (passenger), local or from a partner co-op."""

    id: int
    uri: str
    url: str | None
    local: bool
    actor_id: int
    coop_uri: str | None
    coop: str  # handle@host of the co-op Group the ride comes from
    role: Role
    origin: Place  # published
    destination: Place  # published
    waypoints: tuple[Place, ...]  # published
    departure: datetime  # the first trip, UTC
    utc_offset_minutes: int  # of the departure as the member gave it: how to show times
    margin_minutes: int
    seats: int
    price: Price
    preferences: Preferences
    max_detour_km: float
    trip_km: float
    schedule: Schedule | None
    status: RideStatus
    created_at: str
    updated_at: str
    exact: ExactRoute | None = None
    occurrences: tuple[Occurrence, ...] = field(default=())

    def occurrence(self, day: date) -> Occurrence | None:
        """Return the trip of a local date, or None."""
        return next((o for o in self.occurrences if o.day == day), None)

    @property
    def next_occurrence(self) -> Occurrence | None:
        """Return the first trip still open, else the first full one, else the first trip."""
        # A regular ride whose Monday is full still has seats on Wednesday: show and book that.
        for wanted in (RideStatus.OPEN, RideStatus.FULL):
            found = next((o for o in self.occurrences if o.status is wanted), None)
            if found is not None:
                return found
        return self.occurrences[0] if self.occurrences else None


@dataclass(frozen=True, kw_only=True)
class Booking:
    """A seat request on one trip of a ride, stored on both the rider's and the driver's side."""

    id: int
    uri: str  # made by the rider's instance
    offer_uri: str  # the Offer activity that carried it
    ride_id: int
    day: date
    rider_id: int
    driver_id: int
    seats: int
    status: BookingStatus
    pickup: Place | None
    dropoff: Place | None
    message: str
    reason: str
    urgent: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Message:
    """One message in the thread between a booking's rider and driver."""

    id: int
    uri: str
    booking_id: int
    author_id: int
    text: str
    created_at: str


@dataclass(frozen=True)
class Review:
    """What one party of a completed trip says about the other."""

    id: int
    uri: str
    booking_id: int
    author_id: int
    subject_id: int
    rating: int
    text: str
    created_at: str


@dataclass(frozen=True)
class SavedSearch:
    """A member's standing search: they hear of every new ride that matches it."""

    id: int
    account_id: int
    query: dict[str, Any]
    created_at: str


# --- plain JSON shapes, for database columns and documents ---------------------------------


def place_json(place: Place) -> dict[str, Any]:
    """Return a place as {lat, lon, label}."""
    return {"lat": place.lat, "lon": place.lon, "label": place.label}


def place_from_json(value: Any) -> Place:
    """Read {lat, lon, label}; raises Invalid on anything else."""
    if not isinstance(value, dict):
        raise Invalid("a place is an object with lat and lon")
    return Place(value.get("lat"), value.get("lon"), str(value.get("label") or ""))  # type: ignore[arg-type]


def price_json(price: Price) -> dict[str, Any]:
    """Return a price as {kind, amount, currency} with the amount as a decimal string."""
    return {"kind": price.kind.value, "amount": str(price.amount), "currency": price.currency}


def price_from_parts(kind: str, amount: str, currency: str) -> Price:
    """Rebuild a price from stored text."""
    return Price(PriceKind(kind), Decimal(amount), currency)


def preferences_json(preferences: Preferences) -> dict[str, bool]:
    """Return the preferences as named booleans."""
    # What asdict returns, without its deep copy (a fifth of storing a ride's row).
    return {name: getattr(preferences, name) for name in PREFERENCE_NAMES}


def preferences_from_json(value: Any) -> Preferences:
    """Read named booleans, ignoring names we do not know."""
    if not isinstance(value, dict):
        return Preferences()
    return Preferences(**{k: bool(v) for k, v in value.items() if k in PREFERENCE_NAMES})


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """Return a schedule as {days, time, timezone, start, end} (days: Monday = 0)."""
    return {
        "days": sorted(schedule.days),
        "time": schedule.time.strftime("%H:%M"),
        "timezone": schedule.timezone,
        "start": schedule.start.isoformat(),
        "end": schedule.end.isoformat(),
    }


def schedule_from_json(value: dict[str, Any]) -> Schedule:
    """Rebuild a schedule stored by `schedule_json`; raises Invalid or ValueError when bad."""
    return Schedule(
        days=frozenset(int(day) for day in value["days"]),
        time=time.fromisoformat(str(value["time"])),
        timezone=str(value["timezone"]),
        start=date.fromisoformat(str(value["start"])),
        end=date.fromisoformat(str(value["end"])),
    )
