"""Rides, bookings, messages and reviews as the fedicoop JSON API shows them."""

from collections.abc import Iterable
from typing import Any

from fedicoop.rides import federation as ride_as
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.pricing import cost_share
from fedicoop.rides.records import (
    Booking,
    Message,
    Occurrence,
    Review,
    Ride,
    place_json,
    preferences_json,
    price_json,
    schedule_json,
)
from fedicoop.rides.service import Found
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.rides import RideRepository


def party(actor: ActorRecord | None) -> dict[str, Any] | None:
    """Return who someone is: acct (user@host), display name, ActivityPub id."""
    if actor is None:
        return None
    return {
        "acct": f"{actor.username}@{actor.domain}",
        "display_name": actor.display_name or actor.username or "",
        "url": actor.uri,
    }


def occurrence_json(occurrence: Occurrence) -> dict[str, Any]:
    """Return one trip of a ride."""
    return {
        "occurrence": occurrence.day.isoformat(),
        "departure": occurrence.departure.isoformat().replace("+00:00", "Z"),
        "seats_left": occurrence.seats_left,
        "status": occurrence.status.value,
    }


class RidePresenter:
    """Renders entities for one viewer (exact places only for those entitled to them)."""

    def __init__(self, bookings: BookingService, viewer: ActorRecord | None) -> None:
        self.bookings = bookings
        self.viewer = viewer
        self.actors = ActorRepository(bookings.db)
        self.language = bookings.federation.instance.config.language
        self._actors: dict[int, ActorRecord | None] = {}

    async def actor(self, actor_id: int) -> ActorRecord | None:
        """Return an actor, read once per response."""
        if actor_id not in self._actors:
            self._actors[actor_id] = await self.actors.get(actor_id)
        return self._actors[actor_id]

    async def ride(self, ride: Ride) -> dict[str, Any]:
        """Return a Ride entity."""
        exact = ride.exact is not None and await self.bookings.can_see_exact(self.viewer, ride)
        origin, destination, waypoints = ride.origin, ride.destination, ride.waypoints
        if exact and ride.exact is not None:
            origin, destination = ride.exact.origin, ride.exact.destination
            waypoints = ride.exact.waypoints or waypoints
        upcoming = ride.next_occurrence
        return {
            "id": str(ride.id),
            "url": ride.uri,
            "coop": ride.coop,
            "local": ride.local,
            "role": ride.role.value,
            "author": party(await self.actor(ride.actor_id)),
            "summary": ride_as.summary(ride, self.language),
            "origin": place_json(origin),
            "destination": place_json(destination),
            "waypoints": [place_json(p) for p in waypoints],
            "exact": exact,
            "departure": (upcoming.departure if upcoming else ride.departure)
            .isoformat()
            .replace("+00:00", "Z"),
            "margin_minutes": ride.margin_minutes,
            "seats": ride.seats,
            "seats_left": upcoming.seats_left if upcoming else 0,
            "price": price_json(ride.price),
            "cost_per_seat": str(cost_share(ride.price, ride.trip_km)),
            "preferences": preferences_json(ride.preferences),
            "max_detour_km": ride.max_detour_km,
            "trip_km": round(ride.trip_km, 1),
            "schedule": schedule_json(ride.schedule) if ride.schedule else None,
            "occurrences": [occurrence_json(o) for o in ride.occurrences],
            "status": ride.status.value,
            "created_at": ride.created_at,
            "updated_at": ride.updated_at,
        }

    async def rides(self, rides: Iterable[Ride]) -> list[dict[str, Any]]:
        """Return Ride entities in order."""
        return [await self.ride(ride) for ride in rides]

    async def found(self, found: Found) -> dict[str, Any]:
        """Return a search result: the ride, the trip that fits, its detour and time gap."""
        return {
            "id": str(found.ride.id),
            "url": found.ride.uri,
            "coop": found.ride.coop,
            "detour_km": found.detour_km,
            "departure": found.occurrence.departure.isoformat().replace("+00:00", "Z"),
            "occurrence": found.occurrence.day.isoformat(),
            "time_difference_minutes": round(found.time_difference_minutes, 1),
            "score": round(found.score, 3),
            "ride": await self.ride(found.ride),
        }

    async def booking(self, booking: Booking) -> dict[str, Any]:
        """Return a Booking entity (its places only reach its two parties anyway)."""
        ride = await RideRepository(self.bookings.db).get(booking.ride_id)
        return {
            "id": str(booking.id),
            "url": booking.uri,
            "ride_id": str(booking.ride_id),
            "ride_url": ride.uri if ride else None,
            "occurrence": booking.day.isoformat(),
            "seats": booking.seats,
            "status": booking.status.value,
            "rider": party(await self.actor(booking.rider_id)),
            "driver": party(await self.actor(booking.driver_id)),
            "pickup": place_json(booking.pickup) if booking.pickup else None,
            "dropoff": place_json(booking.dropoff) if booking.dropoff else None,
            "message": booking.message,
            "reason": booking.reason,
            "urgent": booking.urgent,
            "created_at": booking.created_at,
            "updated_at": booking.updated_at,
        }

    async def message(self, message: Message) -> dict[str, Any]:
        """Return a Message entity."""
        return {
            "id": str(message.id),
            "booking_id": str(message.booking_id),
            "author": party(await self.actor(message.author_id)),
            "text": message.text,
            "created_at": message.created_at,
        }

    async def review(self, review: Review) -> dict[str, Any]:
        """Return a Review entity."""
        return {
            "id": str(review.id),
            "booking_id": str(review.booking_id),
            "author": party(await self.actor(review.author_id)),
            "subject": party(await self.actor(review.subject_id)),
            "rating": review.rating,
            "text": review.text,
            "created_at": review.created_at,
        }
