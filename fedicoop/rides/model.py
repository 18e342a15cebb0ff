"""Rides as data: places, prices, preferences, weekly schedules, the ride lifecycle, a draft.

Each value checks its own rules when built, so a ride made from the JSON API, from an
ActivityPub object or from a database row obeys the same limits. `parse_draft` is the one
converter from the JSON API's input; every rule it breaks raises `Invalid` naming the field
(`origin.lat`, `schedule.days[2]`, `price.amount`) so the API can answer 422 with that field.
"""

import functools
import itertools
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from fedicoop.errors import Conflict, Invalid
from fedicoop.rides.geo import default_max_detour_km, distance_km

MAX_LABEL_CHARS = 200
MAX_WAYPOINTS = 5
MAX_SEATS = 8
DEFAULT_MARGIN_MINUTES = 15
MAX_MARGIN_MINUTES = 240
MAX_DETOUR_LIMIT_KM = 500.0
# A carpool's cost share never comes near this; the cap keeps Decimal arithmetic small.
MAX_PRICE_AMOUNT = Decimal(100_000)
PRICE_PLACES = Decimal("0.0001")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# ISO 4217 "no currency involved": what a free ride carries when the member names none.
NO_CURRENCY = "XXX"
_CURRENCY = re.compile(r"[A-Z]{3}")
_CLOCK_TIME = re.compile(r"\d{2}:\d{2}")


class Role(StrEnum):
    """Whether the member offers seats or looks for one."""

    DRIVER = "driver"
    PASSENGER = "passenger"


class PriceKind(StrEnum):
    """How the cost share is stated."""

    FREE = "free"
    FIXED = "fixed"
    PER_KM = "per_km"


class RideStatus(StrEnum):
    """Where a ride stands."""

    OPEN = "open"
    FULL = "full"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    EXPIRED = "expired"


# FULL goes back to OPEN when an accepted booking is cancelled. EXPIRED (the departure passed)
# may still become COMPLETED when accepted bookings complete after arrival; the rest is final.
TRANSITIONS: dict[RideStatus, frozenset[RideStatus]] = {
    RideStatus.OPEN: frozenset(
        {RideStatus.FULL, RideStatus.CANCELLED, RideStatus.COMPLETED, RideStatus.EXPIRED}
    ),
    RideStatus.FULL: frozenset(
        {RideStatus.OPEN, RideStatus.CANCELLED, RideStatus.COMPLETED, RideStatus.EXPIRED}
    ),
    RideStatus.EXPIRED: frozenset({RideStatus.COMPLETED}),
    RideStatus.CANCELLED: frozenset(),
    RideStatus.COMPLETED: frozenset(),
}


def check_transition(current: RideStatus, target: RideStatus) -> None:
    """Raise Conflict unless a ride may go from `current` to `target`."""
    if target not in TRANSITIONS[current]:
        raise Conflict(f"a ride that is {current} cannot become {target}")


def _finite_number(value: object, name: str) -> float:
    """Return value as a float, or raise Invalid for booleans, text, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name} must be a finite number", field=name)
    try:
        number = float(value)
    except OverflowError:
        raise Invalid(f"{name} must be a finite number", field=name) from None
    if not math.isfinite(number):
        raise Invalid(f"{name} must be a finite number", field=name)
    return number


def _check_label(label: object, name: str) -> None:
    if not isinstance(label, str):
        raise Invalid(f"{name} must be text", field=name)
    if len(label) > MAX_LABEL_CHARS:
        raise Invalid(f"{name} is longer than {MAX_LABEL_CHARS} characters", field=name)
    if any(ch < " " or ch == "\x7f" for ch in label):
        raise Invalid(f"{name} contains control characters", field=name)


@dataclass(frozen=True)
class Place:
    """A point on the map with the label people read."""

    lat: float
    lon: float
    label: str = ""

    def __post_init__(self) -> None:
        lat = _finite_number(self.lat, "lat")
        lon = _finite_number(self.lon, "lon")
        if not -90.0 <= lat <= 90.0:
            raise Invalid("lat must be between -90 and 90", field="lat")
        if not -180.0 <= lon <= 180.0:
            raise Invalid("lon must be between -180 and 180", field="lon")
        _check_label(self.label, "label")
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)

    @property
    def point(self) -> tuple[float, float]:
        """Return (lat, lon), the shape `geo` takes."""
        return (self.lat, self.lon)


@dataclass(frozen=True)
class Price:
    """The cost share per seat: nothing, a fixed amount, or an amount per kilometre."""

    kind: PriceKind
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PriceKind):
            raise Invalid("kind must be free, fixed or per_km", field="kind")
        amount = self.amount
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise Invalid("amount must be a finite decimal number", field="amount")
        if amount < 0 or amount > MAX_PRICE_AMOUNT:
            raise Invalid(f"amount must be between 0 and {MAX_PRICE_AMOUNT}", field="amount")
        if amount != amount.quantize(PRICE_PLACES):
            raise Invalid("amount has more than 4 decimal places", field="amount")
        if self.kind is PriceKind.FREE and amount != 0:
            raise Invalid("a free ride has no amount", field="amount")
        if self.kind is not PriceKind.FREE and amount == 0:
            raise Invalid("a zero amount is kind free", field="amount")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise Invalid("currency must be a 3-letter ISO 4217 code", field="currency")


FREE = Price(PriceKind.FREE, Decimal(0), NO_CURRENCY)


@dataclass(frozen=True)
class Preferences:
    """What the ride allows (driver) or needs (passenger)."""

    luggage: bool = False
    bike: bool = False
    pets: bool = False
    smoking: bool = False
    wheelchair_needed: bool = False
    assistance_needed: bool = False
    wheelchair_offered: bool = False
    assistance_offered: bool = False


PREFERENCE_NAMES = tuple(Preferences.__dataclass_fields__)


@functools.cache
def _iana_zones() -> frozenset[str]:
    # "localtime" and "Factory" are files in the zone directory, not places: refuse them.
    return frozenset(available_timezones() - {"localtime", "Factory"})


@dataclass(frozen=True)
class Schedule:
    """A regular ride: these weekdays (Monday = 0) at this local time, from start to end."""

    days: frozenset[int]
    time: time
    timezone: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if not self.days or any(
            isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6
            for day in self.days
        ):
            raise Invalid("days must name at least one weekday, Monday = 0", field="days")
        if not isinstance(self.time, time) or self.time.tzinfo is not None:
            raise Invalid("time is a local clock time, without an offset", field="time")
        if not isinstance(self.timezone, str) or self.timezone not in _iana_zones():
            raise Invalid("timezone must be an IANA zone, e.g. Europe/Paris", field="timezone")
        if self.end < self.start:
            raise Invalid("end is before start", field="end")

    @property
    def zone(self) -> ZoneInfo:
        """Return the schedule's time zone."""
        return ZoneInfo(self.timezone)

    def runs_on(self, day: date) -> bool:
        """Return whether a trip is planned on this local date (start and end included)."""
        return self.start <= day <= self.end and day.weekday() in self.days

    def departure_on(self, day: date) -> datetime:
        """Return, in UTC, when the trip of this local date leaves.

        Daylight saving is resolved deliberately, the way zoneinfo reads fold=0: a local time
        that does not exist (08:00 never does, but 02:30 on the spring-forward night does not)
        is read with the offset before the change and so lands as far forward as the gap is
        long (02:30 → 03:30 in Europe/Paris); a local time that happens twice (02:30 on the
        fall-back night) means the first of the two. One trip per date, never two, never none.
        """
        local = datetime.combine(day, self.time, tzinfo=self.zone)
        return local.astimezone(UTC)

    def has_departure(self, moment: datetime) -> bool:
        """Return whether `moment` is exactly one of the schedule's trips."""
        day = moment.astimezone(self.zone).date()
        return any(
            self.runs_on(candidate) and self.departure_on(candidate) == moment
            for candidate in (day - timedelta(days=1), day, day + timedelta(days=1))
        )

    def first_departure(self, after: datetime) -> datetime | None:
        """Return the first trip leaving at or after `after`, or None when none is left."""
        day = max(self.start, after.astimezone(self.zone).date() - timedelta(days=1))
        for offset in range(9):  # every weekday comes round within a week, plus DST slack
            candidate = day + timedelta(days=offset)
            if candidate > self.end:
                return None
            if self.runs_on(candidate) and self.departure_on(candidate) >= after:
                return self.departure_on(candidate)
        return None


@dataclass(frozen=True, kw_only=True)
class RideDraft:
    """A ride as its member states it, before it has an id, a status or an audience."""

    role: Role
    origin: Place
    destination: Place
    departure: datetime
    seats: int
    price: Price
    max_detour_km: float
    margin_minutes: int = DEFAULT_MARGIN_MINUTES
    waypoints: tuple[Place, ...] = ()
    preferences: Preferences = field(default_factory=Preferences)
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        if self.departure.tzinfo is None or self.departure.utcoffset() is None:
            raise Invalid("departure needs a UTC offset", field="departure")
        _check_whole(self.seats, "seats", 1, MAX_SEATS)
        _check_whole(self.margin_minutes, "margin_minutes", 0, MAX_MARGIN_MINUTES)
        if len(self.waypoints) > MAX_WAYPOINTS:
            raise Invalid(f"at most {MAX_WAYPOINTS} waypoints", field="waypoints")
        limit = _finite_number(self.max_detour_km, "max_detour_km")
        if not 0.0 <= limit <= MAX_DETOUR_LIMIT_KM:
            raise Invalid(f"max_detour_km must be 0–{MAX_DETOUR_LIMIT_KM:g}", field="max_detour_km")

    @property
    def trip_km(self) -> float:
        """Return the beeline length of the trip through its waypoints."""
        return trip_km(self.origin, self.destination, self.waypoints)


def trip_km(origin: Place, destination: Place, waypoints: tuple[Place, ...] = ()) -> float:
    """Return the beeline length of origin → waypoints → destination in kilometres."""
    stops = (origin, *waypoints, destination)
    return sum(distance_km(*a.point, *b.point) for a, b in itertools.pairwise(stops))


def _check_whole(value: object, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{name} must be a whole number", field=name)
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}", field=name)


# --- the JSON API's input → RideDraft ------------------------------------------------------

_DRAFT_KEYS = frozenset(
    {"role", "origin", "destination", "departure", "margin_minutes", "seats", "price"}
    | {"schedule", "waypoints", "max_detour_km", "preferences"}
)


@contextmanager
def _under(prefix: str) -> Iterator[None]:
    """Re-raise a value's own Invalid with the field path it has in the request."""
    try:
        yield
    except Invalid as error:
        name = f"{prefix}.{error.field}" if error.field else prefix
        message = error.message
        if error.field and message.startswith(f"{error.field} "):
            message = name + message[len(error.field) :]
        raise Invalid(message, field=name) from None


def _object(value: object, name: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"{name or 'a ride'} must be a JSON object", field=name or None)
    for key in value:
        if key not in keys:
            raise Invalid(f"unknown field {key!r}", field=f"{name}.{key}" if name else str(key))
    return value


def _required(obj: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    name = f"{prefix}.{key}" if prefix else key
    if obj.get(key) is None:
        raise Invalid(f"{name} is required", field=name)
    return obj[key]


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text", field=name)
    return value


def _place(value: object, name: str) -> Place:
    obj = _object(value, name, frozenset({"lat", "lon", "label"}))
    with _under(name):
        label = obj.get("label")
        return Place(_required(obj, "lat"), _required(obj, "lon"), "" if label is None else label)


def _waypoints(value: object) -> tuple[Place, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Invalid("waypoints must be a list", field="waypoints")
    if len(value) > MAX_WAYPOINTS:
        raise Invalid(f"at most {MAX_WAYPOINTS} waypoints", field="waypoints")
    return tuple(_place(item, f"waypoints[{index}]") for index, item in enumerate(value))


def _amount(value: object) -> Decimal:
    # Through str(): a JSON 6.1 arrives as the float 6.0999…, and the member meant 6.10.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_PRICE_AMOUNT:
        return Decimal(value)
    if not isinstance(value, float | str) or len(text := str(value).strip()) > 32:
        raise Invalid("price.amount must be a number or a decimal string", field="price.amount")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise Invalid("price.amount is not a decimal number", field="price.amount") from None


def _price(value: object) -> Price:
    if value is None:
        return FREE
    obj = _object(value, "price", frozenset({"kind", "amount", "currency"}))
    kind_text = _text(_required(obj, "kind", "price"), "price.kind")
    if kind_text not in {kind.value for kind in PriceKind}:
        raise Invalid("price.kind must be free, fixed or per_km", field="price.kind")
    kind = PriceKind(kind_text)
    if kind is PriceKind.FREE:
        amount = _amount(obj.get("amount", 0))
        currency = _text(obj.get("currency", NO_CURRENCY), "price.currency")
    else:
        amount = _amount(_required(obj, "amount", "price"))
        currency = _text(_required(obj, "currency", "price"), "price.currency")
    with _under("price"):
        return Price(kind, amount, currency.upper())


def _preferences(value: object) -> Preferences:
    if value is None:
        return Preferences()
    obj = _object(value, "preferences", frozenset(PREFERENCE_NAMES))
    for key, flag in obj.items():
        if not isinstance(flag, bool):
            raise Invalid(f"preferences.{key} must be true or false", field=f"preferences.{key}")
    return Preferences(**obj)


def _weekday(value: object, name: str) -> int:
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    raise Invalid(f"{name} must be mon…sun or 0–6 (Monday = 0)", field=name)


def _calendar_date(value: object, name: str) -> date:
    try:
        return date.fromisoformat(_text(value, name))
    except ValueError:
        raise Invalid(f"{name} must be a date such as 2025-03-31", field=name) from None


def _schedule(value: object, now: datetime) -> Schedule:
    keys = frozenset({"days", "time", "timezone", "start", "end"})
    obj = _object(value, "schedule", keys)
    days = _required(obj, "days", "schedule")
    if not isinstance(days, list) or not days:
        raise Invalid("schedule.days must be a non-empty list", field="schedule.days")
    clock = _text(_required(obj, "time", "schedule"), "schedule.time")
    if not _CLOCK_TIME.fullmatch(clock):
        raise Invalid("schedule.time must be HH:MM", field="schedule.time")
    try:
        at = time.fromisoformat(clock)
    except ValueError:
        raise Invalid("schedule.time must be HH:MM", field="schedule.time") from None
    with _under("schedule"):
        schedule = Schedule(
            days=frozenset(_weekday(day, f"days[{index}]") for index, day in enumerate(days)),
            time=at,
            timezone=_text(_required(obj, "timezone"), "timezone"),
            start=_calendar_date(_required(obj, "start"), "start"),
            end=_calendar_date(_required(obj, "end"), "end"),
        )
    if schedule.end < now.astimezone(schedule.zone).date():
        raise Invalid("the schedule ends in the past", field="schedule.end")
    return schedule


def _departure(value: object, schedule: Schedule | None, now: datetime) -> datetime:
    if value is None:
        if schedule is None:
            raise Invalid("departure is required", field="departure")
        first = schedule.first_departure(now)
        if first is None:
            raise Invalid("the schedule has no trip left after now", field="schedule")
        return first
    try:
        moment = datetime.fromisoformat(_text(value, "departure"))
    except ValueError:
        raise Invalid("departure must be an ISO 8601 date and time", field="departure") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid("departure needs a UTC offset", field="departure")
    if moment < now:
        raise Invalid("departure is in the past", field="departure")
    if schedule is not None and not schedule.has_departure(moment):
        raise Invalid("departure is not one of the schedule's trips", field="departure")
    return moment


def _detour_limit(value: object, trip: float) -> float:
    if value is None:
        # A quarter of a 2,400 km trip would break the very limit a member may not pass.
        return min(default_max_detour_km(trip), MAX_DETOUR_LIMIT_KM)
    return _finite_number(value, "max_detour_km")


def parse_draft(data: Mapping[str, Any], *, now: datetime) -> RideDraft:
    """Validate the JSON API's ride input; raise Invalid naming the first bad field.

    For a regular ride `departure` may be left out: it is then the schedule's first trip at or
    after `now`; when given it must be one of the schedule's trips.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    obj = _object(data, "", _DRAFT_KEYS)
    role_text = _text(_required(obj, "role"), "role")
    if role_text not in {role.value for role in Role}:
        raise Invalid("role must be driver or passenger", field="role")
    origin = _place(_required(obj, "origin"), "origin")
    destination = _place(_required(obj, "destination"), "destination")
    waypoints = _waypoints(obj.get("waypoints"))
    schedule = None if obj.get("schedule") is None else _schedule(obj["schedule"], now)
    return RideDraft(
        role=Role(role_text),
        origin=origin,
        destination=destination,
        waypoints=waypoints,
        departure=_departure(obj.get("departure"), schedule, now),
        margin_minutes=margin
        if (margin := obj.get("margin_minutes")) is not None
        else DEFAULT_MARGIN_MINUTES,
        seats=_required(obj, "seats"),
        price=_price(obj.get("price")),
        preferences=_preferences(obj.get("preferences")),
        max_detour_km=_detour_limit(
            obj.get("max_detour_km"), trip_km(origin, destination, waypoints)
        ),
        schedule=schedule,
    )
