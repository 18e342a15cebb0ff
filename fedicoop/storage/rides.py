"""Repository of rides, their dated trips, bookings, booking messages, reviews, saved searches."""

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from operator import attrgetter
from typing import Any, NamedTuple

from fedicoop import clock
from fedicoop.errors import FedicoopError
from fedicoop.ids import new_id
from fedicoop.rides.booking import BookingStatus
from fedicoop.rides.model import Place, RideStatus, Role
from fedicoop.rides.records import (
    Booking,
    ExactRoute,
    Message,
    Occurrence,
    Review,
    Ride,
    SavedSearch,
    place_from_json,
    place_json,
    preferences_from_json,
    preferences_json,
    price_from_parts,
    schedule_from_json,
    schedule_json,
)
from fedicoop.storage.database import Executor

_RIDE_COLUMNS = (
    "id, uri, url, local, actor_id, coop_uri, coop, role, origin_lat, origin_lon, origin_label, "
    "destination_lat, destination_lon, destination_label, waypoints, exact, departure, "
    "utc_offset_minutes, "
    "margin_minutes, seats, price_kind, price_amount, price_currency, preferences, "
    "max_detour_km, trip_km, schedule, status, created_at, updated_at"
)
_BOOKING_COLUMNS = (
    "id, uri, offer_uri, ride_id, day, rider_id, driver_id, seats, status, pickup, dropoff, "
    "message, reason, urgent, created_at, updated_at"
)
_MESSAGE_COLUMNS = "id, uri, booking_id, author_id, text, created_at"
LIVE_STATUSES = (RideStatus.OPEN.value, RideStatus.FULL.value)
_IDS_PER_QUERY = 5000


def _exact_json(exact: ExactRoute | None) -> str | None:
    if exact is None:
        return None
    return json.dumps(
        {
            "origin": place_json(exact.origin),
            "destination": place_json(exact.destination),
            "waypoints": [place_json(p) for p in exact.waypoints],
        }
    )


def _exact_from(text: str | None) -> ExactRoute | None:
    if not text:
        return None
    value = json.loads(text)
    return ExactRoute(
        place_from_json(value["origin"]),
        place_from_json(value["destination"]),
        tuple(place_from_json(p) for p in value.get("waypoints", [])),
    )


def _ride_from_row(row: dict[str, Any], occurrences: Sequence[Occurrence]) -> Ride:
    return Ride(
        id=int(row["id"]),
        uri=row["uri"],
        url=row["url"],
        local=bool(row["local"]),
        actor_id=int(row["actor_id"]),
        coop_uri=row["coop_uri"],
        coop=row["coop"],
        role=Role(row["role"]),
        origin=Place(row["origin_lat"], row["origin_lon"], row["origin_label"]),
        destination=Place(row["destination_lat"], row["destination_lon"], row["destination_label"]),
        waypoints=tuple(place_from_json(p) for p in json.loads(row["waypoints"])),
        exact=_exact_from(row["exact"]),
        departure=clock.from_text(row["departure"]),
        utc_offset_minutes=int(row["utc_offset_minutes"]),
        margin_minutes=int(row["margin_minutes"]),
        seats=int(row["seats"]),
        price=price_from_parts(row["price_kind"], row["price_amount"], row["price_currency"]),
        preferences=preferences_from_json(json.loads(row["preferences"])),
        max_detour_km=float(row["max_detour_km"]),
        trip_km=float(row["trip_km"]),
        schedule=schedule_from_json(json.loads(row["schedule"])) if row["schedule"] else None,
        status=RideStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        occurrences=tuple(occurrences),
    )


def _as_stored(ride: Ride, row: dict[str, Any]) -> Ride:
    """Return `ride` as `get` reads it back once stored, without reading it.

    `row` holds what the row kept or chose: id, local, actor_id, exact, created_at. The rest
    goes through the same text forms as a read: stored occurrences come back by day, a
    schedule's time to the minute, a price's amount through its decimal text.
    """
    return replace(
        ride,
        id=int(row["id"]),
        local=bool(row["local"]),
        actor_id=int(row["actor_id"]),
        exact=_exact_from(row["exact"]),
        created_at=row["created_at"],
        price=price_from_parts(ride.price.kind.value, str(ride.price.amount), ride.price.currency),
        schedule=schedule_from_json(schedule_json(ride.schedule)) if ride.schedule else None,
        occurrences=tuple(sorted(ride.occurrences, key=attrgetter("day"))),
    )


def _occurrence_from_row(row: dict[str, Any]) -> Occurrence:
    return Occurrence(
        day=date.fromisoformat(row["day"]),
        departure=clock.from_text(row["departure"]),
        seats_left=int(row["seats_left"]),
        status=RideStatus(row["status"]),
    )


def _booking_from_row(row: dict[str, Any]) -> Booking:
    return Booking(
        id=int(row["id"]),
        uri=row["uri"],
        offer_uri=row["offer_uri"],
        ride_id=int(row["ride_id"]),
        day=date.fromisoformat(row["day"]),
        rider_id=int(row["rider_id"]),
        driver_id=int(row["driver_id"]),
        seats=int(row["seats"]),
        status=BookingStatus(row["status"]),
        pickup=place_from_json(json.loads(row["pickup"])) if row["pickup"] else None,
        dropoff=place_from_json(json.loads(row["dropoff"])) if row["dropoff"] else None,
        message=row["message"],
        reason=row["reason"],
        urgent=bool(row["urgent"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message_from_row(row: dict[str, Any]) -> Message:
    return Message(
        int(row["id"]),
        row["uri"],
        int(row["booking_id"]),
        int(row["author_id"]),
        row["text"],
        row["created_at"],
    )


def _ride_values(ride: Ride) -> tuple[Any, ...]:
    return (
        ride.id,
        ride.uri,
        ride.url,
        int(ride.local),
        ride.actor_id,
        ride.coop_uri,
        ride.coop,
        ride.role.value,
        ride.origin.lat,
        ride.origin.lon,
        ride.origin.label,
        ride.destination.lat,
        ride.destination.lon,
        ride.destination.label,
        json.dumps([place_json(p) for p in ride.waypoints]),
        _exact_json(ride.exact),
        clock.to_text(ride.departure),
        ride.utc_offset_minutes,
        ride.margin_minutes,
        ride.seats,
        ride.price.kind.value,
        str(ride.price.amount),
        ride.price.currency,
        json.dumps(preferences_json(ride.preferences)),
        ride.max_detour_km,
        ride.trip_km,
        json.dumps(schedule_json(ride.schedule)) if ride.schedule else None,
        ride.status.value,
        ride.created_at,
        ride.updated_at,
    )


_PLACEHOLDERS = ", ".join(f"${i}" for i in range(1, 31))
# A partner's Update replaces what it publishes; the exact route (ours to know only when we
# are a party) and the row's identity stay.
_UPDATABLE = [
    column
    for column in (c.strip() for c in _RIDE_COLUMNS.split(","))
    if column not in {"id", "uri", "url", "local", "actor_id", "exact", "created_at"}
]
_ASSIGNMENTS = ", ".join(f"{c} = excluded.{c}" for c in _UPDATABLE)


class RideHead(NamedTuple):
    """What decides how a partner's ride that arrives again is handled."""

    id: int
    local: bool
    actor_id: int
    status: RideStatus


class RideRepository:
    """Stored rides and their trips; seats are taken and given back one trip at a time."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, ride: Ride) -> None:
        """Store a new ride with its trips."""
        await self.db.execute(
            f"INSERT INTO rides ({_RIDE_COLUMNS}) VALUES ({_PLACEHOLDERS})", *_ride_values(ride)
        )
        await self.replace_occurrences(ride.id, ride.occurrences)

    async def upsert_remote(self, ride: Ride) -> int:
        """Store or refresh a partner's ride by its uri; return its local id."""
        return (await self.save_remote(ride)).id

    async def save_remote(self, ride: Ride, *, new: bool = False) -> Ride:
        """Store or refresh a partner's ride by its uri; return it as stored (not re-read).

        `new`: no ride had this uri a moment ago and `ride.id` is fresh. A row that comes back
        with that id was inserted just now, so it has no trips to delete (a round trip less).
        """
        row = await self.db.fetchrow(
            f"INSERT INTO rides ({_RIDE_COLUMNS}) VALUES ({_PLACEHOLDERS}) "
            f"ON CONFLICT (uri) DO UPDATE SET url = excluded.url, {_ASSIGNMENTS} "
            "RETURNING id, local, actor_id, exact, created_at",
            *_ride_values(ride),
        )
        if row is None:  # an upsert always returns its row
            raise FedicoopError(f"ride {ride.uri} was not stored")
        stored = _as_stored(ride, row)
        if new and stored.id == ride.id:
            await self._insert_occurrences(stored.id, stored.occurrences)
        else:
            await self.replace_occurrences(stored.id, stored.occurrences)
        return stored

    async def live_of_partner(self, coop_uri: str) -> list[tuple[int, str, int]]:
        """Return (id, uri, author id) of a partner co-op's open or full rides stored here."""
        rows = await self.db.fetch(
            "SELECT id, uri, actor_id FROM rides WHERE local = 0 AND coop_uri = $1 "
            "AND status IN ('open', 'full') ORDER BY id",
            coop_uri,
        )
        return [(int(r["id"]), str(r["uri"]), int(r["actor_id"])) for r in rows]

    async def rehome(
        self, ride_id: int, uri: str, old_author: int, new_author: int, coop_uri: str
    ) -> None:
        """Give a partner's ride the id, author and co-op it has since its co-op moved.

        The row (and every booking pointing at it) stays: only where it lives changes.
        """
        await self.db.execute(
            "UPDATE rides SET uri = $2, actor_id = $3, coop_uri = $4 WHERE id = $1",
            ride_id,
            uri,
            new_author,
            coop_uri,
        )
        for column in ("driver_id", "rider_id"):  # the author drives an offer, rides a request
            await self.db.execute(
                f"UPDATE bookings SET {column} = $3 WHERE ride_id = $1 AND {column} = $2",
                ride_id,
                old_author,
                new_author,
            )

    async def head(self, uri: str) -> RideHead | None:
        """Return a ride's local id, whether it is ours, its author and status, by uri."""
        row = await self.db.fetchrow(
            "SELECT id, local, actor_id, status FROM rides WHERE uri = $1", uri
        )
        if row is None:
            return None
        return RideHead(
            int(row["id"]), bool(row["local"]), int(row["actor_id"]), RideStatus(row["status"])
        )

    async def replace_occurrences(self, ride_id: int, occurrences: Sequence[Occurrence]) -> None:
        """Make a ride's stored trips exactly these, writing only what changed.

        An Update usually moves one trip's seats: the other trips' rows (and index entries)
        stay untouched, which keeps the inbox's commits small.
        """
        days = [o.day.isoformat() for o in occurrences]
        marks = ", ".join(f"${i}" for i in range(2, len(days) + 2))
        if days:
            await self.db.execute(
                f"DELETE FROM ride_occurrences WHERE ride_id = $1 AND day NOT IN ({marks})",
                ride_id,
                *days,
            )
        else:
            await self.db.execute("DELETE FROM ride_occurrences WHERE ride_id = $1", ride_id)
        await self.db.executemany(
            "INSERT INTO ride_occurrences (ride_id, day, departure, seats_left, status) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ride_id, day) DO UPDATE SET "
            "departure = excluded.departure, seats_left = excluded.seats_left, "
            "status = excluded.status WHERE ride_occurrences.departure <> excluded.departure "
            "OR ride_occurrences.seats_left <> excluded.seats_left "
            "OR ride_occurrences.status <> excluded.status",
            [
                (ride_id, o.day.isoformat(), clock.to_text(o.departure), o.seats_left, o.status)
                for o in occurrences
            ],
        )

    async def _insert_occurrences(self, ride_id: int, occurrences: Sequence[Occurrence]) -> None:
        await self.db.executemany(
            "INSERT INTO ride_occurrences (ride_id, day, departure, seats_left, status) "
            "VALUES ($1, $2, $3, $4, $5)",
            [
                (ride_id, o.day.isoformat(), clock.to_text(o.departure), o.seats_left, o.status)
                for o in occurrences
            ],
        )

    async def add_occurrences(self, ride_id: int, occurrences: Sequence[Occurrence]) -> None:
        """Add trips a rolling horizon brought in (existing dates are left alone)."""
        await self.db.executemany(
            "INSERT INTO ride_occurrences (ride_id, day, departure, seats_left, status) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ride_id, day) DO NOTHING",
            [
                (ride_id, o.day.isoformat(), clock.to_text(o.departure), o.seats_left, o.status)
                for o in occurrences
            ],
        )

    async def _occurrences(self, ride_ids: Sequence[int]) -> dict[int, list[Occurrence]]:
        found: dict[int, list[Occurrence]] = {ride_id: [] for ride_id in ride_ids}
        # Bounded lists: asyncpg takes at most 32,767 arguments, some SQLite builds 32,766.
        for start in range(0, len(ride_ids), _IDS_PER_QUERY):
            chunk = ride_ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
            rows = await self.db.fetch(
                "SELECT ride_id, day, departure, seats_left, status FROM ride_occurrences "
                f"WHERE ride_id IN ({marks}) ORDER BY ride_id, day",
                *chunk,
            )
            for row in rows:
                found[int(row["ride_id"])].append(_occurrence_from_row(row))
        return found

    async def _rides(self, rows: list[dict[str, Any]]) -> list[Ride]:
        occurrences = await self._occurrences([int(row["id"]) for row in rows])
        return [_ride_from_row(row, occurrences[int(row["id"])]) for row in rows]

    async def get(self, ride_id: int) -> Ride | None:
        """Return a ride by local id."""
        rows = await self.db.fetch(f"SELECT {_RIDE_COLUMNS} FROM rides WHERE id = $1", ride_id)
        rides = await self._rides(rows)
        return rides[0] if rides else None

    async def by_uri(self, uri: str) -> Ride | None:
        """Return a ride by its ActivityPub id."""
        rows = await self.db.fetch(f"SELECT {_RIDE_COLUMNS} FROM rides WHERE uri = $1", uri)
        rides = await self._rides(rows)
        return rides[0] if rides else None

    async def many(self, ride_ids: Sequence[int]) -> dict[int, Ride]:
        """Return rides by local id (missing ones left out)."""
        if not ride_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(ride_ids)))
        rows = await self.db.fetch(
            f"SELECT {_RIDE_COLUMNS} FROM rides WHERE id IN ({marks})", *ride_ids
        )
        return {ride.id: ride for ride in await self._rides(rows)}

    async def by_actor(self, actor_ids: Sequence[int], limit: int = 100) -> list[Ride]:
        """Return rides these actors published, newest first."""
        if not actor_ids:
            return []
        marks = ", ".join(f"${i + 1}" for i in range(len(actor_ids)))
        rows = await self.db.fetch(
            f"SELECT {_RIDE_COLUMNS} FROM rides WHERE actor_id IN ({marks}) "
            f"ORDER BY id DESC LIMIT {int(limit)}",
            *actor_ids,
        )
        return await self._rides(rows)

    async def live(
        self, role: Role | None = None, *, local: bool | None = None, regular: bool | None = None
    ) -> list[Ride]:
        """Return every open or full ride (regular: only those with, or without, a schedule)."""
        sql = f"SELECT {_RIDE_COLUMNS} FROM rides WHERE status IN ($1, $2)"
        args: list[Any] = list(LIVE_STATUSES)
        if role is not None:
            args.append(role.value)
            sql += f" AND role = ${len(args)}"
        if local is not None:
            args.append(int(local))
            sql += f" AND local = ${len(args)}"
        if regular is not None:
            sql += " AND schedule IS NOT NULL" if regular else " AND schedule IS NULL"
        return await self._rides(await self.db.fetch(sql + " ORDER BY departure", *args))

    async def open_trips(self, after: str) -> list[dict[str, Any]]:
        """Return what the match index holds, one row per trip, in one query.

        The trips still open with seats left, leaving after `after` (stored time text), of
        open or full driver rides: the ride's id, coop, places, margin and detour limit, and
        the trip's day, departure and seats_left.
        """
        return await self.db.fetch(
            "SELECT r.id, r.coop, r.origin_lat, r.origin_lon, r.destination_lat, "
            "r.destination_lon, r.margin_minutes, r.max_detour_km, o.day, o.departure, "
            "o.seats_left FROM ride_occurrences o JOIN rides r ON r.id = o.ride_id "
            "WHERE o.status = $1 AND o.departure > $2 AND o.seats_left > 0 "
            "AND r.role = $3 AND r.status IN ($4, $5)",
            RideStatus.OPEN.value,
            after,
            Role.DRIVER.value,
            *LIVE_STATUSES,
        )

    async def set_status(self, ride_id: int, status: RideStatus) -> None:
        """Change a ride's status (and every trip still open or full with it, when final)."""
        stamp = clock.now_text()
        await self.db.execute(
            "UPDATE rides SET status = $2, updated_at = $3 WHERE id = $1", ride_id, status, stamp
        )
        if status in (RideStatus.CANCELLED, RideStatus.COMPLETED):
            await self.db.execute(
                "UPDATE ride_occurrences SET status = $2 WHERE ride_id = $1 AND status IN ($3, $4)",
                ride_id,
                status,
                *LIVE_STATUSES,
            )

    async def take_seats(self, ride_id: int, day: date, seats: int) -> bool:
        """Take seats on one trip if that many are left: one conditional UPDATE, race-free."""
        taken = await self.db.execute(
            "UPDATE ride_occurrences SET seats_left = seats_left - $3, "
            "status = CASE WHEN seats_left - $3 = 0 THEN 'full' ELSE status END "
            "WHERE ride_id = $1 AND day = $2 AND status = 'open' AND seats_left >= $3",
            ride_id,
            day.isoformat(),
            seats,
        )
        return taken == 1

    async def give_back_seats(self, ride_id: int, day: date, seats: int) -> None:
        """Give seats back to a trip (a cancelled accepted booking), never above those offered."""
        # Capped: a cancellation handled twice over must not mint seats the car does not have.
        offered = "(SELECT seats FROM rides WHERE rides.id = $1)"
        await self.db.execute(
            f"UPDATE ride_occurrences SET seats_left = CASE WHEN seats_left + $3 > {offered} "
            f"THEN {offered} ELSE seats_left + $3 END, "
            "status = CASE WHEN status = 'full' THEN 'open' ELSE status END "
            "WHERE ride_id = $1 AND day = $2",
            ride_id,
            day.isoformat(),
            seats,
        )

    async def touch(self, ride_id: int) -> None:
        """Mark a ride changed (its document's `updated`)."""
        await self.db.execute(
            "UPDATE rides SET updated_at = $2 WHERE id = $1", ride_id, clock.now_text()
        )

    async def expire_past(self, before: str) -> list[int]:
        """Expire open or full trips that left before `before`; return rides now all past."""
        await self.db.execute(
            "UPDATE ride_occurrences SET status = 'expired' WHERE departure < $1 "
            "AND status IN ($2, $3)",
            before,
            *LIVE_STATUSES,
        )
        rows = await self.db.fetch(
            "SELECT id FROM rides r WHERE status IN ($1, $2) AND schedule IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM ride_occurrences o WHERE o.ride_id = r.id AND o.status IN ($1, $2))",
            *LIVE_STATUSES,
        )
        ids = [int(row["id"]) for row in rows]
        for ride_id in ids:
            await self.db.execute(
                "UPDATE rides SET status = 'expired', updated_at = $2 WHERE id = $1",
                ride_id,
                clock.now_text(),
            )
        return ids


class BookingRepository:
    """Stored bookings (both sides keep one), their messages and reviews."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, booking: Booking) -> None:
        """Store a booking."""
        await self.db.execute(
            f"INSERT INTO bookings ({_BOOKING_COLUMNS}) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            booking.id,
            booking.uri,
            booking.offer_uri,
            booking.ride_id,
            booking.day.isoformat(),
            booking.rider_id,
            booking.driver_id,
            booking.seats,
            booking.status.value,
            json.dumps(place_json(booking.pickup)) if booking.pickup else None,
            json.dumps(place_json(booking.dropoff)) if booking.dropoff else None,
            booking.message,
            booking.reason,
            int(booking.urgent),
            booking.created_at,
            booking.updated_at,
        )

    async def get(self, booking_id: int) -> Booking | None:
        """Return a booking by local id."""
        row = await self.db.fetchrow(
            f"SELECT {_BOOKING_COLUMNS} FROM bookings WHERE id = $1", booking_id
        )
        return _booking_from_row(row) if row else None

    async def by_uri(self, uri: str) -> Booking | None:
        """Return a booking by its ActivityPub id or by the Offer that carried it."""
        row = await self.db.fetchrow(
            f"SELECT {_BOOKING_COLUMNS} FROM bookings WHERE uri = $1 OR offer_uri = $1", uri
        )
        return _booking_from_row(row) if row else None

    async def for_actor(
        self, actor_id: int, *, ride_id: int | None = None, role: str | None = None
    ) -> list[Booking]:
        """Return bookings an actor is party to (role: driver or rider), newest first."""
        if role == "driver":
            where, args = "driver_id = $1", [actor_id]
        elif role == "rider":
            where, args = "rider_id = $1", [actor_id]
        else:
            where, args = "(driver_id = $1 OR rider_id = $1)", [actor_id]
        if ride_id is not None:
            args.append(ride_id)
            where += f" AND ride_id = ${len(args)}"
        rows = await self.db.fetch(
            f"SELECT {_BOOKING_COLUMNS} FROM bookings WHERE {where} ORDER BY id DESC LIMIT 200",
            *args,
        )
        return [_booking_from_row(row) for row in rows]

    async def for_ride(self, ride_id: int, statuses: Sequence[BookingStatus] = ()) -> list[Booking]:
        """Return a ride's bookings (optionally only in these statuses)."""
        rows = await self.db.fetch(
            f"SELECT {_BOOKING_COLUMNS} FROM bookings WHERE ride_id = $1 ORDER BY id", ride_id
        )
        bookings = [_booking_from_row(row) for row in rows]
        return [b for b in bookings if not statuses or b.status in statuses]

    async def set_status(
        self,
        booking_id: int,
        expected: BookingStatus,
        status: BookingStatus,
        *,
        reason: str = "",
        urgent: bool = False,
    ) -> bool:
        """Move a booking on if it is still `expected`; return whether this call moved it."""
        changed = await self.db.execute(
            "UPDATE bookings SET status = $3, reason = $4, urgent = $5, updated_at = $6 "
            "WHERE id = $1 AND status = $2",
            booking_id,
            expected.value,
            status.value,
            reason,
            int(urgent),
            clock.now_text(),
        )
        return changed == 1

    async def add_message(self, booking_id: int, uri: str, author_id: int, text: str) -> Message:
        """Store a message of the thread (idempotent by uri); return the stored message."""
        await self.db.execute(
            "INSERT INTO booking_messages (id, uri, booking_id, author_id, text, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (uri) DO NOTHING",
            new_id(),
            uri,
            booking_id,
            author_id,
            text,
            clock.now_text(),
        )
        # A redelivery inserted nothing: answer with the row that is there, not a phantom.
        row = await self.db.fetchrow(
            f"SELECT {_MESSAGE_COLUMNS} FROM booking_messages WHERE uri = $1", uri
        )
        if row is None:
            raise FedicoopError(f"message {uri} vanished as it was stored")
        return _message_from_row(row)

    async def messages(self, booking_id: int) -> list[Message]:
        """Return a booking's thread, oldest first."""
        rows = await self.db.fetch(
            f"SELECT {_MESSAGE_COLUMNS} FROM booking_messages WHERE booking_id = $1 ORDER BY id",
            booking_id,
        )
        return [_message_from_row(row) for row in rows]

    async def add_review(self, review: Review) -> bool:
        """Store a review; False when this author already reviewed this booking."""
        added = await self.db.execute(
            "INSERT INTO ride_reviews (id, uri, booking_id, author_id, subject_id, rating, text, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            review.id,
            review.uri,
            review.booking_id,
            review.author_id,
            review.subject_id,
            review.rating,
            review.text,
            review.created_at,
        )
        return added == 1

    async def reviews_of(self, subject_id: int) -> list[Review]:
        """Return the reviews about an actor, newest first."""
        rows = await self.db.fetch(
            "SELECT id, uri, booking_id, author_id, subject_id, rating, text, created_at "
            "FROM ride_reviews WHERE subject_id = $1 ORDER BY id DESC",
            subject_id,
        )
        return [
            Review(
                int(r["id"]),
                r["uri"],
                int(r["booking_id"]),
                int(r["author_id"]),
                int(r["subject_id"]),
                int(r["rating"]),
                r["text"],
                r["created_at"],
            )
            for r in rows
        ]


class SavedSearchRepository:
    """Members' standing searches."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(self, account_id: int, query: dict[str, Any]) -> SavedSearch:
        """Store a search."""
        search = SavedSearch(new_id(), account_id, query, clock.now_text())
        await self.db.execute(
            "INSERT INTO saved_searches (id, account_id, query, created_at) "
            "VALUES ($1, $2, $3, $4)",
            search.id,
            account_id,
            json.dumps(query),
            search.created_at,
        )
        return search

    async def for_account(self, account_id: int) -> list[SavedSearch]:
        """Return a member's searches."""
        rows = await self.db.fetch(
            "SELECT id, account_id, query, created_at FROM saved_searches "
            "WHERE account_id = $1 ORDER BY id",
            account_id,
        )
        return [_search(row) for row in rows]

    async def all(self) -> list[SavedSearch]:
        """Return every saved search (they are few: one list per member)."""
        rows = await self.db.fetch(
            "SELECT id, account_id, query, created_at FROM saved_searches ORDER BY id"
        )
        return [_search(row) for row in rows]

    async def delete(self, account_id: int, search_id: int) -> bool:
        """Delete a member's search; False when it is not theirs or gone."""
        deleted = await self.db.execute(
            "DELETE FROM saved_searches WHERE id = $1 AND account_id = $2", search_id, account_id
        )
        return deleted == 1


def _search(row: dict[str, Any]) -> SavedSearch:
    return SavedSearch(
        int(row["id"]), int(row["account_id"]), json.loads(row["query"]), row["created_at"]
    )
