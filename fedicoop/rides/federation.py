"""Rides and bookings as ActivityStreams documents: converters by direction.

A ride is a FEP-0837 `Proposal` (`purpose` offer for a driver, request for a passenger) that is
also a `Note`, so Mastodon and Misskey show its `name` and `content` as a readable post; the
structured fields use our `/ns` context and AS2 `Place`s. Only published places ever leave
the instance (≈1 km cells, town labels). A booking is a `Booking` object the rider's instance
makes and carries in an `Offer` to the driver. Every `*_from_as` starts with the origin checks.
"""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import as_list, id_of, same_origin
from fedicoop.activitypub.as2_values import types_of
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.errors import Forbidden, Invalid
from fedicoop.rides.booking import BookingStatus
from fedicoop.rides.model import (
    MAX_DETOUR_LIMIT_KM,
    MAX_SEATS,
    Place,
    Price,
    PriceKind,
    RideStatus,
    Role,
)
from fedicoop.rides.pricing import cost_share
from fedicoop.rides.records import (
    Occurrence,
    Ride,
    preferences_from_json,
    preferences_json,
    schedule_from_json,
    schedule_json,
)
from fedicoop.storage.actors import ActorRecord

RIDE_TYPES = ["Note", "Proposal"]
MAX_OCCURRENCES = 400
RECENT_TRIPS = timedelta(days=2)  # a year of weekday trips, and then some
MAX_TEXT_CHARS = 2000
MAX_TRIP_KM = 40_000.0  # no carpool goes once round the Earth: a longer trip is a forged number
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
}
_SEATS = {"en": ("seat", "seats"), "fr": ("place", "places")}
_FREE = {"en": "free", "fr": "gratuit"}
_WANTED = {"en": ("wanted", "wanted"), "fr": ("recherchée", "recherchées")}  # une place, des places
_DECIMAL_COMMA = frozenset({"fr"})
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "CHF": "CHF"}


def is_ride(document: Any) -> bool:
    """Return whether a document is a ride (a Proposal)."""
    return "Proposal" in types_of(document)


# --- internal → AS ---------------------------------------------------------------------------


def as_place(place: Place) -> dict[str, Any]:
    """Return an AS2 Place."""
    return {"type": "Place", "name": place.label, "latitude": place.lat, "longitude": place.lon}


def local_time(ride: Ride, moment: datetime) -> datetime:
    """Return a departure in the ride's own time (its schedule's zone, or the offset given)."""
    if ride.schedule is not None:
        return moment.astimezone(ride.schedule.zone)
    return moment.astimezone(timezone(timedelta(minutes=ride.utc_offset_minutes)))


def price_text(price: Price, language: str = "en") -> str:
    """Return "6 €", "0.08 €/km" ("6,50 €" in French) or "" for a free ride."""
    if price.kind is PriceKind.FREE:
        return ""
    amount = price.amount.normalize()
    number = f"{amount:f}" if amount == amount.to_integral() else f"{price.amount:.2f}"
    if language in _DECIMAL_COMMA:
        number = number.replace(".", ",")
    symbol = _SYMBOLS.get(price.currency, price.currency)
    return f"{number} {symbol}" + ("/km" if price.kind is PriceKind.PER_KM else "")


def summary(ride: Ride, language: str = "en") -> str:
    """Return the one line people read: "🚗 Lyon → Grenoble, Fri 8:00, 3 seats, 6 €"."""
    words = language if language in _WEEKDAYS else "en"
    first = ride.next_occurrence
    seats = first.seats_left if first is not None else ride.seats
    when = local_time(ride, first.departure if first is not None else ride.departure)
    day = _WEEKDAYS[words][when.weekday()]
    if ride.schedule is not None:
        days = " ".join(_WEEKDAYS[words][d] for d in sorted(ride.schedule.days))
        moment = f"{days} {when.hour}:{when.minute:02d}"
    else:
        moment = f"{day} {when.day:02d}/{when.month:02d} {when.hour}:{when.minute:02d}"
    icon = "🚗" if ride.role is Role.DRIVER else "🙋"
    parts = [f"{icon} {ride.origin.label or '?'} → {ride.destination.label or '?'}", moment]
    if ride.role is Role.DRIVER:
        parts.append(f"{seats} {_SEATS[words][0 if seats == 1 else 1]}")
        parts.append(price_text(ride.price, words) or _FREE[words])
    else:
        number = 0 if ride.seats == 1 else 1
        parts.append(f"{ride.seats} {_SEATS[words][number]} {_WANTED[words][number]}")
    return ", ".join(parts)


def _occurrence_as(occurrence: Occurrence) -> dict[str, Any]:
    return {
        "date": occurrence.day.isoformat(),
        "departure": clock.as2_time(occurrence.departure),
        "seatsLeft": occurrence.seats_left,
        "status": occurrence.status.value,
    }


def ride_to_as(
    ride: Ride, author: ActorRecord, group: ActorRecord, *, language: str = "en"
) -> dict[str, Any]:
    """Return a ride as served and sent: published places only, never `exact`."""
    line = summary(ride, language)
    link = ride.url or ride.uri
    first = ride.next_occurrence
    document: dict[str, Any] = {
        "@context": OBJECT_CONTEXT,
        "id": ride.uri,
        "type": RIDE_TYPES,
        "purpose": "offer" if ride.role is Role.DRIVER else "request",
        "attributedTo": author.uri,
        "audience": group.uri,
        "coop": group.uri,
        "to": [PUBLIC],
        "cc": [uri for uri in (author.followers_uri, group.uri) if uri],
        "published": clock.as2_time(clock.from_text(ride.created_at)),
        "updated": clock.as2_time(clock.from_text(ride.updated_at)),
        "url": link,
        "name": line,
        "content": f'<p>{escape(line)}<br><a href="{escape(link)}">{escape(link)}</a></p>',
        "role": ride.role.value,
        "origin": as_place(ride.origin),
        "destination": as_place(ride.destination),
        "waypoints": [as_place(p) for p in ride.waypoints],
        "departure": clock.as2_time(ride.departure),
        "startTime": clock.as2_time(first.departure if first else ride.departure),
        "utcOffsetMinutes": ride.utc_offset_minutes,
        "marginMinutes": ride.margin_minutes,
        "seats": ride.seats,
        "seatsLeft": first.seats_left if first else ride.seats,
        "priceKind": ride.price.kind.value,
        "price": str(ride.price.amount),
        "currency": ride.price.currency,
        "costPerSeat": str(cost_share(ride.price, ride.trip_km)),
        "maxDetourKm": ride.max_detour_km,
        "tripKm": round(ride.trip_km, 3),
        "preferences": preferences_json(ride.preferences),
        # Trips of the last two days and to come: a weekly commute does not grow for ever.
        "occurrences": [
            _occurrence_as(o) for o in ride.occurrences if o.departure >= clock.now() - RECENT_TRIPS
        ][:MAX_OCCURRENCES],
        "status": ride.status.value,
    }
    if ride.schedule is not None:
        document["schedule"] = schedule_json(ride.schedule)
    return document


def tombstone(ride: Ride) -> dict[str, Any]:
    """Return what a cancelled ride's Delete carries."""
    return {"id": ride.uri, "type": "Tombstone", "formerType": "Proposal"}


# --- AS → internal ---------------------------------------------------------------------------


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(f"{name} must be a number", field=name)
    try:
        return float(value)
    except (ValueError, OverflowError):
        # OverflowError: a partner's 400-digit integer used to crash the inbox handler.
        raise Invalid(f"{name} must be a number", field=name) from None


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{name} must be a whole number {low}–{high}", field=name)
    return value


def _distance(value: Any, name: str, high: float) -> float:
    """Read a distance in km: finite, 0–high (a NaN would match every search)."""
    number = _number(value, name)
    if not 0.0 <= number <= high:  # also False for NaN
        raise Invalid(f"{name} must be a distance 0–{high:g} km", field=name)
    return number


def place_from_as(value: Any, name: str) -> Place:
    """Read an AS2 Place (latitude, longitude, name)."""
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be a Place", field=name)
    label = value.get("name")
    if isinstance(label, dict):  # nameMap crept in as name
        label = next(iter(label.values()), "")
    latitude = _number(value.get("latitude"), f"{name}.latitude")
    longitude = _number(value.get("longitude"), f"{name}.longitude")
    try:
        return Place(latitude, longitude, str(label or "")[:200])
    except Invalid as error:
        # Place names its own fields (lat, lon, label); the document names them otherwise.
        part = {"lat": "latitude", "lon": "longitude", "label": "name"}.get(error.field or "")
        raise Invalid(
            f"{name}: {error.message}", field=f"{name}.{part}" if part else name
        ) from None


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a date-time", field=name)
    try:
        return clock.from_text(value)
    except (ValueError, OverflowError):
        # OverflowError: "0001-01-01T00:00:00+01:00" is before year 1 in UTC; a forged date
        # must be refused as invalid, not crash the handler into retries.
        raise Invalid(f"{name} must be a date-time", field=name) from None


def _occurrence_from_as(value: Any, seats: int) -> Occurrence:
    if not isinstance(value, dict):
        raise Invalid("an occurrence must be an object", field="occurrences")
    try:
        day = date.fromisoformat(str(value.get("date")))
        status = RideStatus(str(value.get("status", "open")))
    except ValueError:
        raise Invalid("occurrence date or status is invalid", field="occurrences") from None
    return Occurrence(
        day=day,
        departure=_time(value.get("departure"), "occurrences.departure"),
        seats_left=_whole(value.get("seatsLeft"), "occurrences.seatsLeft", 0, seats),
        status=status,
    )


def _price_from_as(document: dict[str, Any]) -> Price:
    try:
        kind = PriceKind(str(document.get("priceKind", "free")))
        amount = Decimal(str(document.get("price", "0")))
    except (ValueError, InvalidOperation):
        raise Invalid("price must be a decimal with a known priceKind", field="price") from None
    currency = str(document.get("currency") or "XXX")
    try:
        return Price(kind, amount, currency)
    except Invalid as error:
        name = {"amount": "price", "kind": "priceKind"}.get(error.field or "", "currency")
        raise Invalid(f"{name}: {error.message}", field=name) from None


def ride_from_as(
    document: dict[str, Any],
    author: ActorRecord,
    *,
    local_id: int,
    coop: str,
    now: datetime | None = None,
) -> Ride:
    """Read a partner's ride; the sender must be its author, on the ride's own origin.

    Raises Forbidden when the origins disagree and Invalid when a field is missing or bad.
    """
    uri = document.get("id")
    if not isinstance(uri, str) or not uri:
        raise Invalid("a ride needs an id", field="id")
    # A ride's id, its author and whoever sent it share one origin, or anyone could publish
    # rides in another co-op's name.
    if not same_origin(uri, author.uri) or id_of(document.get("attributedTo")) != author.uri:
        raise Forbidden("a ride must be attributed to its sender, on the ride's own server")
    if not is_ride(document):
        raise Invalid("not a ride (no Proposal type)", field="type")
    purpose = document.get("purpose")
    role = Role.DRIVER if purpose == "offer" else Role.PASSENGER if purpose == "request" else None
    if role is None:
        raise Invalid("purpose must be offer or request", field="purpose")
    seats = _whole(document.get("seats"), "seats", 1, MAX_SEATS)
    occurrences_raw = as_list(document.get("occurrences"))[:MAX_OCCURRENCES]
    occurrences = tuple(_occurrence_from_as(o, seats) for o in occurrences_raw)
    departure = _time(document.get("departure") or document.get("startTime"), "departure")
    if not occurrences:
        left = _whole(document.get("seatsLeft", seats), "seatsLeft", 0, seats)
        status = RideStatus.OPEN if left else RideStatus.FULL
        occurrences = (Occurrence(departure.date(), departure, left, status),)
    schedule_raw = document.get("schedule")
    try:
        schedule = schedule_from_json(schedule_raw) if isinstance(schedule_raw, dict) else None
    except (KeyError, ValueError, TypeError, Invalid):
        raise Invalid("schedule is invalid", field="schedule") from None
    try:
        status = RideStatus(str(document.get("status", "open")))
    except ValueError:
        raise Invalid("status is not a ride status", field="status") from None
    waypoints = tuple(
        place_from_as(p, f"waypoints[{i}]")
        for i, p in enumerate(as_list(document.get("waypoints"))[:5])
    )
    stamp = clock.to_text(now or clock.now())
    published = document.get("published")
    updated = document.get("updated")
    return Ride(
        id=local_id,
        uri=uri,
        url=document.get("url") if isinstance(document.get("url"), str) else uri,
        local=False,
        actor_id=author.id if author.id is not None else 0,
        coop_uri=id_of(document.get("coop")) or id_of(document.get("audience")),
        coop=coop,
        role=role,
        origin=place_from_as(document.get("origin"), "origin"),
        destination=place_from_as(document.get("destination"), "destination"),
        waypoints=waypoints,
        departure=departure,
        utc_offset_minutes=_whole(
            document.get("utcOffsetMinutes", 0), "utcOffsetMinutes", -1440, 1440
        ),
        margin_minutes=_whole(document.get("marginMinutes", 15), "marginMinutes", 0, 240),
        seats=seats,
        price=_price_from_as(document),
        preferences=preferences_from_json(document.get("preferences")),
        max_detour_km=_distance(document.get("maxDetourKm", 0), "maxDetourKm", MAX_DETOUR_LIMIT_KM),
        trip_km=_distance(document.get("tripKm", 0), "tripKm", MAX_TRIP_KM),
        schedule=schedule,
        status=status,
        created_at=clock.to_text(_time(published, "published")) if published else stamp,
        updated_at=clock.to_text(_time(updated, "updated")) if updated else stamp,
        occurrences=occurrences,
    )


# --- bookings --------------------------------------------------------------------------------


def booking_object(
    *,
    uri: str,
    rider: ActorRecord,
    ride: Ride,
    day: date,
    seats: int,
    pickup: Place | None,
    dropoff: Place | None,
    message: str,
) -> dict[str, Any]:
    """Return the Booking a rider's instance sends inside its Offer."""
    booking: dict[str, Any] = {
        "id": uri,
        "type": "Booking",
        "attributedTo": rider.uri,
        "ride": ride.uri,
        "occurrence": day.isoformat(),
        "seats": seats,
        "content": escape(message),
    }
    if pickup is not None:
        booking["pickup"] = as_place(pickup)
    if dropoff is not None:
        booking["dropoff"] = as_place(dropoff)
    return booking


class BookingOffer:
    """A booking request as the driver's instance reads it from an Offer."""

    def __init__(self, offer: dict[str, Any], sender: str) -> None:
        booking = offer.get("object")
        if not isinstance(booking, dict) or "Booking" not in types_of(booking):
            raise Invalid("an Offer of a booking embeds a Booking", field="object")
        uri = booking.get("id")
        if not isinstance(uri, str) or not same_origin(uri, sender):
            raise Forbidden("a booking's id must be on the rider's server")
        if id_of(booking.get("attributedTo")) != sender or id_of(offer.get("actor")) != sender:
            raise Forbidden("a booking must be made by its sender")
        self.uri = uri
        self.offer_uri = str(offer.get("id") or uri)
        self.ride_uri = id_of(booking.get("ride")) or id_of(offer.get("target")) or ""
        try:
            self.day = date.fromisoformat(str(booking.get("occurrence")))
        except ValueError:
            raise Invalid("occurrence must be a date", field="occurrence") from None
        self.seats = _whole(booking.get("seats"), "seats", 1, MAX_SEATS)
        self.pickup = place_from_as(booking["pickup"], "pickup") if "pickup" in booking else None
        self.dropoff = (
            place_from_as(booking["dropoff"], "dropoff") if "dropoff" in booking else None
        )
        content = booking.get("content")
        self.message = html_to_text(content)[:MAX_TEXT_CHARS] if isinstance(content, str) else ""


def plain_text(html: Any) -> str:
    """Return the text of a remote HTML field, bounded."""
    return html_to_text(html)[:MAX_TEXT_CHARS] if isinstance(html, str) else ""


def booking_status_from_as(value: Any) -> BookingStatus | None:
    """Read a status a peer pushed (Update of a Booking); None when unknown."""
    try:
        return BookingStatus(str(value))
    except ValueError:
        return None


def utc_offset_minutes(moment: datetime) -> int:
    """Return a departure's offset from UTC in minutes (how its member reads the time)."""
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0
