"""Booking seats across co-ops: request, accept, reject, cancel, complete; the thread; reviews.

The rider's instance makes the booking and its id, and sends it to the driver in an `Offer`.
The driver's instance holds the seats: accepting takes them with one conditional UPDATE of
the trip's row (`RideRepository.take_seats`), so requests racing in from several instances
can never oversell. Both instances keep the booking; each change is pushed to the other side
(`Accept`, `Reject`, `Undo`, `Update` of the Booking), and the seats left reach everyone with
the ride's `Update`.
"""

import json
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.documents import OBJECT_CONTEXT
from fedicoop.coops.partnership import active_partner_groups
from fedicoop.errors import Conflict, Forbidden, Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.rides import federation as ride_as
from fedicoop.rides.booking import BookingStatus, auto_complete_due, check_transition, urgent
from fedicoop.rides.model import MAX_SEATS, Place, RideStatus, Role
from fedicoop.rides.records import Booking, Message, Review, Ride, place_from_json, place_json
from fedicoop.rides.service import RideService, trip_arrival
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.notifications import NotificationRepository
from fedicoop.storage.rides import BookingRepository, RideRepository
from fedicoop.streaming import user_stream

MAX_MESSAGE_CHARS = 2000
MAX_REASON_CHARS = 500
MAX_REVIEW_CHARS = 1000
OPEN_STATUSES = (BookingStatus.PENDING, BookingStatus.ACCEPTED)


@dataclass(frozen=True)
class BookingRequest:
    """What a rider asks for: seats on one trip, where to be picked up and dropped off."""

    seats: int
    day: date | None
    pickup: Place | None
    dropoff: Place | None
    message: str


def parse_booking_request(data: dict[str, Any]) -> BookingRequest:
    """Read the JSON API's booking input; Invalid names the bad field."""
    if not isinstance(data, dict):
        raise Invalid("send a JSON object")
    seats = data.get("seats", 1)
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
        raise Invalid(f"seats must be a whole number 1–{MAX_SEATS}", field="seats")
    day = None
    if data.get("occurrence") not in (None, ""):
        text = str(data["occurrence"]).rpartition(":")[2]  # a date, or an occurrence key
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise Invalid("occurrence must be a date (YYYY-MM-DD)", field="occurrence") from None
    places = {}
    for name in ("pickup", "dropoff"):
        if data.get(name) is not None:
            try:
                places[name] = place_from_json(data[name])
            except Invalid as error:
                raise Invalid(f"{name}: {error}", field=name) from None
    message = data.get("message") or ""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        raise Invalid(f"message must be text of at most {MAX_MESSAGE_CHARS}", field="message")
    return BookingRequest(seats, day, places.get("pickup"), places.get("dropoff"), message)


def _reason(data: dict[str, Any] | None) -> str:
    reason = (data or {}).get("reason") or ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise Invalid(f"reason must be text of at most {MAX_REASON_CHARS}", field="reason")
    return reason


class BookingService:
    """Every booking flow, on the rider's side and on the driver's."""

    def __init__(self, rides: RideService) -> None:
        self.rides = rides
        self.federation = rides.federation
        self.db = rides.db
        self.bookings = BookingRepository(self.db)
        self.actors = ActorRepository(self.db)

    # --- helpers ------------------------------------------------------------------------

    async def notify(self, actor_id: int, kind: str, source_id: int | None, uri: str) -> None:
        """Notify the member behind a local actor about a booking or a ride."""
        actor = await self.actors.get(actor_id)
        if actor is None or not actor.local:
            return
        account = await AccountRepository(self.db).by_actor(actor_id)
        if account is None:
            return
        notification_id = await NotificationRepository(self.db).add(
            account.id, kind, source_id, uri
        )
        await self.federation.streams.publish(
            user_stream(account.id), "notification", str(notification_id)
        )

    async def get_for(self, actor: ActorRecord, booking_id: int) -> Booking:
        """Return a booking the actor is party to (403 for anyone else)."""
        booking = await self.bookings.get(booking_id)
        if booking is None:
            raise NotFound("no such booking")
        if actor.id not in (booking.rider_id, booking.driver_id):
            raise Forbidden("this booking is between other members")
        return booking

    async def _other(self, booking: Booking, me: ActorRecord) -> ActorRecord:
        other_id = booking.driver_id if me.id == booking.rider_id else booking.rider_id
        other = await self.actors.get(other_id)
        if other is None:
            raise NotFound("the other party is gone")
        return other

    async def _send(self, sender: ActorRecord, to: ActorRecord, activity: dict[str, Any]) -> None:
        """Send an activity to the other party when they are on another instance."""
        if to.local:
            return
        document = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "actor": sender.uri,
            "to": [to.uri],
            **activity,
        }
        await self.federation.publish(document, sender, extra_recipients=[to])

    def _offer_ref(self, booking: Booking, rider: ActorRecord, ride: Ride) -> dict[str, Any]:
        return {
            "id": booking.offer_uri,
            "type": "Offer",
            "actor": rider.uri,
            "object": {
                "id": booking.uri,
                "type": "Booking",
                "attributedTo": rider.uri,
                "ride": ride.uri,
                "occurrence": booking.day.isoformat(),
                "seats": booking.seats,
            },
        }

    # --- the rider asks -----------------------------------------------------------------

    async def request(self, rider: ActorRecord, ride_id: int, data: dict[str, Any]) -> Booking:
        """Ask for seats on a ride (ours or a partner's)."""
        asked = parse_booking_request(data)
        ride = await self.rides.get(ride_id)
        if ride.role is not Role.DRIVER:
            raise Invalid("only a driver's ride can be booked", field="ride")
        if ride.actor_id == rider.id:
            raise Invalid("this is your own ride", field="ride")
        if ride.status not in (RideStatus.OPEN, RideStatus.FULL):
            raise Conflict(f"this ride is {ride.status}")
        if asked.day is None:
            # No date named: the next trip still open (a punctual ride has only one).
            upcoming = ride.next_occurrence
            if upcoming is None:
                raise Invalid("this ride has no trip left", field="occurrence")
            day = upcoming.day
        else:
            day = asked.day
        occurrence = ride.occurrence(day)
        if occurrence is None:
            raise Invalid("this ride has no trip on that date", field="occurrence")
        if occurrence.departure <= clock.now():
            raise Conflict("this trip has left")
        if occurrence.status is not RideStatus.OPEN or occurrence.seats_left < asked.seats:
            raise Conflict(f"not enough seats left ({occurrence.seats_left} left)")
        for mine in await self.bookings.for_actor(rider.id, ride_id=ride.id, role="rider"):
            if mine.day == day and mine.status in OPEN_STATUSES:
                raise Conflict("you already asked for seats on this trip")
        driver = await self.actors.get(ride.actor_id)
        if driver is None:
            raise NotFound("the driver is gone")
        booking_id = new_id()
        stamp = clock.now_text()
        booking = Booking(
            id=booking_id,
            uri=self.federation.instance.urls.booking(booking_id),
            offer_uri=self.federation.new_activity_uri(),
            ride_id=ride.id,
            day=day,
            rider_id=rider.id or 0,
            driver_id=driver.id or 0,
            seats=asked.seats,
            status=BookingStatus.PENDING,
            pickup=asked.pickup,
            dropoff=asked.dropoff,
            message=asked.message,
            reason="",
            urgent=urgent(occurrence.departure, clock.now()),
            created_at=stamp,
            updated_at=stamp,
        )
        await self.bookings.insert(booking)
        if driver.local:
            await self.notify(driver.id or 0, "booking_request", rider.id, booking.uri)
        else:
            offer = {
                "@context": OBJECT_CONTEXT,
                "id": booking.offer_uri,
                "type": "Offer",
                "actor": rider.uri,
                "object": ride_as.booking_object(
                    uri=booking.uri,
                    rider=rider,
                    ride=ride,
                    day=day,
                    seats=asked.seats,
                    pickup=asked.pickup,
                    dropoff=asked.dropoff,
                    message=asked.message,
                ),
                "target": ride.uri,
                "to": [driver.uri],
            }
            await self.federation.publish(offer, rider, extra_recipients=[driver])
        return booking

    async def _from_partner(self, rider: ActorRecord) -> bool:
        """Return whether a remote rider's server hosts a co-op we are actively partnered with."""
        for group in await active_partner_groups(self.federation):
            if group.domain == rider.domain:
                return True
        return False

    async def _asked_already(self, rider: ActorRecord, ride_id: int, day: date) -> bool:
        return any(
            b.day == day and b.status in OPEN_STATUSES
            for b in await self.bookings.for_actor(rider.id or 0, ride_id=ride_id, role="rider")
        )

    async def received_offer(self, offer: ride_as.BookingOffer, rider: ActorRecord) -> None:
        """The driver's side: a partner's member asks for seats on one of our rides."""
        if await self.bookings.by_uri(offer.uri) is not None:
            return  # a redelivery
        ride = await self.rides.rides.by_uri(offer.ride_uri)
        if ride is None or not ride.local or ride.role is not Role.DRIVER:
            return
        driver = await self.actors.get(ride.actor_id)
        if driver is None:
            return
        occurrence = ride.occurrence(offer.day)
        refusal = ""
        if not await self._from_partner(rider):
            # Rides reach partner co-ops only; a server we are not partnered with has no
            # business booking them (and a former partner no longer does).
            refusal = "bookings come from members of partner co-ops"
        elif ride.status not in (RideStatus.OPEN, RideStatus.FULL) or occurrence is None:
            refusal = "this trip is not offered"
        elif occurrence.departure <= clock.now():
            refusal = "this trip has left"
        elif await self._asked_already(rider, ride.id, offer.day):
            refusal = "you already asked for seats on this trip"
        elif occurrence.status is not RideStatus.OPEN or occurrence.seats_left < offer.seats:
            refusal = "not enough seats left"
        stamp = clock.now_text()
        booking = Booking(
            id=new_id(),
            uri=offer.uri,
            offer_uri=offer.offer_uri,
            ride_id=ride.id,
            day=offer.day,
            rider_id=rider.id or 0,
            driver_id=driver.id or 0,
            seats=offer.seats,
            status=BookingStatus.REJECTED if refusal else BookingStatus.PENDING,
            pickup=offer.pickup,
            dropoff=offer.dropoff,
            message=offer.message,
            reason=refusal,
            urgent=bool(occurrence) and urgent(occurrence.departure, clock.now()),  # type: ignore[union-attr]
            created_at=stamp,
            updated_at=stamp,
        )
        await self.bookings.insert(booking)
        if refusal:
            await self._send(
                driver,
                rider,
                {
                    "type": "Reject",
                    "object": self._offer_ref(booking, rider, ride),
                    "content": refusal,
                },
            )
            return
        await self.notify(driver.id or 0, "booking_request", rider.id, booking.uri)

    # --- the driver answers -------------------------------------------------------------

    async def accept(self, driver: ActorRecord, booking_id: int) -> Booking:
        """Accept a request: take its seats (409 when they are gone) and tell the rider."""
        booking = await self.get_for(driver, booking_id)
        if booking.driver_id != driver.id:
            raise Forbidden("only the driver accepts a booking")
        check_transition(booking.status, BookingStatus.ACCEPTED)
        async with self.db.transaction() as tx:
            # The seats and the status move together or not at all.
            if not await RideRepository(tx).take_seats(booking.ride_id, booking.day, booking.seats):
                raise Conflict("not enough seats left on this trip")
            if not await BookingRepository(tx).set_status(
                booking.id, BookingStatus.PENDING, BookingStatus.ACCEPTED
            ):
                raise Conflict("this booking changed meanwhile; reload it")
        ride = await self.rides.seats_changed(booking.ride_id)
        rider = await self._other(booking, driver)
        accepted = await self.get_for(driver, booking.id)
        result: dict[str, Any] = {"id": booking.uri, "type": "Booking", "status": "accepted"}
        if ride.exact is not None:
            # Exact places go to the two parties only, in an activity addressed to one of them.
            result["origin"] = ride_as.as_place(ride.exact.origin)
            result["destination"] = ride_as.as_place(ride.exact.destination)
        await self._send(
            driver,
            rider,
            {"type": "Accept", "object": self._offer_ref(booking, rider, ride), "result": result},
        )
        await self.notify(rider.id or 0, "booking_accepted", driver.id, booking.uri)
        return accepted

    async def reject(
        self, driver: ActorRecord, booking_id: int, data: dict[str, Any] | None
    ) -> Booking:
        """Turn a pending request down, with an optional reason the rider sees."""
        reason = _reason(data)
        booking = await self.get_for(driver, booking_id)
        if booking.driver_id != driver.id:
            raise Forbidden("only the driver rejects a booking")
        check_transition(booking.status, BookingStatus.REJECTED)
        if not await self.bookings.set_status(
            booking.id, BookingStatus.PENDING, BookingStatus.REJECTED, reason=reason
        ):
            raise Conflict("this booking changed meanwhile; reload it")
        rider = await self._other(booking, driver)
        ride = await self.rides.get(booking.ride_id)
        await self._send(
            driver,
            rider,
            {
                "type": "Reject",
                "object": self._offer_ref(booking, rider, ride),
                "content": escape(reason),
            },
        )
        await self.notify(rider.id or 0, "booking_rejected", driver.id, booking.uri)
        return await self.get_for(driver, booking.id)

    # --- either side cancels ------------------------------------------------------------

    async def cancel(
        self, me: ActorRecord, booking_id: int, data: dict[str, Any] | None
    ) -> Booking:
        """Cancel a pending or accepted booking; the other party is told why, urgently if late."""
        reason = _reason(data)
        booking = await self.get_for(me, booking_id)
        check_transition(booking.status, BookingStatus.CANCELLED)
        ride = await self.rides.get(booking.ride_id)
        occurrence = ride.occurrence(booking.day)
        late = occurrence is not None and urgent(occurrence.departure, clock.now())
        if not await self._cancel_here(booking, ride, reason=reason, late=late):
            raise Conflict("this booking changed meanwhile; reload it")
        other = await self._other(booking, me)
        rider = me if me.id == booking.rider_id else other
        if me.id == booking.rider_id:
            activity: dict[str, Any] = {
                "type": "Undo",
                "object": self._offer_ref(booking, rider, ride),
            }
        else:
            activity = {"type": "Reject", "object": self._offer_ref(booking, rider, ride)}
        activity |= {"content": escape(reason), "urgent": late}
        await self._send(me, other, activity)
        await self.notify(other.id or 0, "booking_cancelled", me.id, booking.uri)
        return await self.get_for(me, booking.id)

    async def _cancel_here(self, booking: Booking, ride: Ride, *, reason: str, late: bool) -> bool:
        """Mark a booking cancelled here; give its seats back when we hold them."""
        if not await self.bookings.set_status(
            booking.id, booking.status, BookingStatus.CANCELLED, reason=reason, urgent=late
        ):
            return False
        if booking.status is BookingStatus.ACCEPTED and ride.local:
            await self.rides.rides.give_back_seats(ride.id, booking.day, booking.seats)
            await self.rides.seats_changed(ride.id)
        await self.forget_exact(ride.id)
        return True

    async def forget_exact(self, ride_id: int) -> None:
        """Drop a partner's exact places once no booking of ours on that ride is accepted."""
        await self.db.execute(
            "UPDATE rides SET exact = NULL WHERE id = $1 AND local = 0 AND NOT EXISTS "
            "(SELECT 1 FROM bookings b WHERE b.ride_id = $1 AND b.status = 'accepted')",
            ride_id,
        )

    async def ride_cancelled(self, ride: Ride, author: ActorRecord, reason: str) -> None:
        """A ride was cancelled: cancel its open bookings and tell every rider."""
        for booking in await self.bookings.for_ride(ride.id, OPEN_STATUSES):
            occurrence = ride.occurrence(booking.day)
            late = occurrence is not None and urgent(occurrence.departure, clock.now())
            await self.bookings.set_status(
                booking.id,
                booking.status,
                BookingStatus.CANCELLED,
                reason=reason or "the ride was cancelled",
                urgent=late,
            )
            rider = await self.actors.get(booking.rider_id)
            if rider is None:
                continue
            if ride.local:
                await self._send(
                    author,
                    rider,
                    {
                        "type": "Reject",
                        "object": self._offer_ref(booking, rider, ride),
                        # Cancelled, also when still pending: both sides keep the same story.
                        "result": {"id": booking.uri, "type": "Booking", "status": "cancelled"},
                        "content": escape(reason or "the ride was cancelled"),
                        "urgent": late,
                    },
                )
            await self.notify(rider.id or 0, "ride_cancelled", author.id, ride.uri)

    # --- after the trip -----------------------------------------------------------------

    async def finish(self, me: ActorRecord, booking_id: int, happened: bool) -> Booking:
        """Say the trip happened (complete) or did not (no-show: cancelled, seats kept)."""
        booking = await self.get_for(me, booking_id)
        if booking.status is not BookingStatus.ACCEPTED:
            raise Conflict(f"a booking that is {booking.status} cannot be marked as travelled")
        ride = await self.rides.get(booking.ride_id)
        occurrence = ride.occurrence(booking.day)
        if occurrence is not None and occurrence.departure > clock.now():
            raise Conflict("this trip has not left yet")
        status = BookingStatus.COMPLETED if happened else BookingStatus.CANCELLED
        reason = "" if happened else "the trip did not happen"
        if not await self.bookings.set_status(
            booking.id, BookingStatus.ACCEPTED, status, reason=reason
        ):
            raise Conflict("this booking changed meanwhile; reload it")
        other = await self._other(booking, me)
        if me.id == booking.rider_id:
            # The rider's server made the booking: it may Update it.
            activity: dict[str, Any] = {
                "type": "Update",
                "object": {
                    "id": booking.uri,
                    "type": "Booking",
                    "status": status.value,
                    "content": escape(reason),
                },
            }
        else:
            # The driver's server may not Update an object of the rider's server (the inbox
            # refuses it, rightly): it answers the Offer again, with the trip's outcome.
            ride_ref = await self.rides.get(booking.ride_id)
            activity = {
                "type": "Accept" if happened else "Reject",
                "object": self._offer_ref(booking, other, ride_ref),
                "result": {"id": booking.uri, "type": "Booking", "status": status.value},
                "content": escape(reason),
            }
        await self._send(me, other, activity)
        kind = "booking_completed" if happened else "booking_cancelled"
        await self.notify(other.id or 0, kind, me.id, booking.uri)
        return await self.get_for(me, booking.id)

    async def status_pushed(
        self, sender: ActorRecord, uri: str, status: BookingStatus, reason: str
    ) -> None:
        """The other party marked the trip completed or not happened."""
        booking = await self.bookings.by_uri(uri)
        if booking is None or sender.id not in (booking.rider_id, booking.driver_id):
            return
        if booking.status is not BookingStatus.ACCEPTED or status not in (
            BookingStatus.COMPLETED,
            BookingStatus.CANCELLED,
        ):
            return
        ride = await self.rides.rides.get(booking.ride_id)
        occurrence = ride.occurrence(booking.day) if ride else None
        if occurrence is not None and occurrence.departure > clock.now():
            # As `finish` refuses locally: a trip closed before it left would open reviews
            # early, or cancel an accepted booking while its seats stay taken.
            return
        if await self.bookings.set_status(booking.id, booking.status, status, reason=reason):
            me = booking.driver_id if sender.id == booking.rider_id else booking.rider_id
            kind = "booking_completed" if status is BookingStatus.COMPLETED else "booking_cancelled"
            await self.notify(me, kind, sender.id, booking.uri)

    async def erase_exact_places(self) -> int:
        """Erase exact places of trips older than the co-op's retention; return rides erased.

        Exact pickup and drop-off points, and a driver's exact route, serve the trip and
        nothing after it: kept for good they would map where members live.
        """
        days = self.federation.instance.config.ride_exact_retention_days
        cutoff = clock.to_text(clock.now() - timedelta(days=days))
        # A ride's exact route goes once its last trip is older than the cutoff.
        erased = await self.db.execute(
            "UPDATE rides SET exact = NULL WHERE exact IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM ride_occurrences o WHERE o.ride_id = rides.id "
            "AND o.departure >= $1)",
            cutoff,
        )
        await self.db.execute(
            "UPDATE bookings SET pickup = NULL, dropoff = NULL WHERE (pickup IS NOT NULL OR "
            "dropoff IS NOT NULL) AND EXISTS (SELECT 1 FROM ride_occurrences o WHERE "
            "o.ride_id = bookings.ride_id AND o.day = bookings.day AND o.departure < $1)",
            cutoff,
        )
        return erased

    async def complete_due(self) -> None:
        """Complete accepted bookings some hours after arrival, unless a party objected;
        close requests nobody answered before the trip left."""
        now = clock.now()
        for row in await self.db.fetch(
            "SELECT id FROM bookings WHERE status = 'pending' AND day <= $1",
            now.date().isoformat(),
        ):
            booking = await self.bookings.get(int(row["id"]))
            ride = await self.rides.rides.get(booking.ride_id) if booking else None
            occurrence = ride.occurrence(booking.day) if ride and booking else None
            if booking is None or occurrence is None or occurrence.departure > now:
                continue
            await self.bookings.set_status(
                booking.id,
                BookingStatus.PENDING,
                BookingStatus.CANCELLED,
                reason="the trip left before the request was answered",
            )
        rows = await self.db.fetch(
            "SELECT id FROM bookings WHERE status = 'accepted' AND day <= $1",
            now.date().isoformat(),
        )
        for row in rows:
            booking = await self.bookings.get(int(row["id"]))
            if booking is None:
                continue
            ride = await self.rides.rides.get(booking.ride_id)
            occurrence = ride.occurrence(booking.day) if ride else None
            if ride is None or occurrence is None:
                continue
            if auto_complete_due(trip_arrival(ride, occurrence), now):
                await self.bookings.set_status(
                    booking.id, BookingStatus.ACCEPTED, BookingStatus.COMPLETED
                )

    # --- the thread ---------------------------------------------------------------------

    async def post_message(self, me: ActorRecord, booking_id: int, data: dict[str, Any]) -> Message:
        """Write to the other party of a booking (a direct message, federated)."""
        text = (data or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            raise Invalid("text is required", field="text")
        if len(text) > MAX_MESSAGE_CHARS:
            raise Invalid(f"text is longer than {MAX_MESSAGE_CHARS} characters", field="text")
        booking = await self.get_for(me, booking_id)
        other = await self._other(booking, me)
        message_id = new_id()
        uri = self.federation.instance.urls.booking_message(booking.id, message_id)
        message = await self.bookings.add_message(booking.id, uri, me.id or 0, text)
        link = escape(other.url or other.uri)
        mention = f'<a href="{link}" class="u-url mention">@{escape(other.username or "")}</a>'
        await self._send(
            me,
            other,
            {
                "type": "Create",
                "object": {
                    "id": uri,
                    "type": "Note",
                    "attributedTo": me.uri,
                    "to": [other.uri],
                    "booking": booking.uri,
                    "published": clock.as2_time(clock.now()),
                    "content": f"<p>{mention} {escape(text)}</p>",
                    "tag": [{"type": "Mention", "href": other.uri}],
                },
            },
        )
        await self.notify(other.id or 0, "booking_message", me.id, booking.uri)
        return message

    async def received_message(self, sender: ActorRecord, document: dict[str, Any]) -> None:
        """A message of a booking's thread arrived from the other party."""
        booking_uri = document.get("booking")
        uri = document.get("id")
        if not isinstance(booking_uri, str) or not isinstance(uri, str):
            return
        booking = await self.bookings.by_uri(booking_uri)
        if booking is None or sender.id not in (booking.rider_id, booking.driver_id):
            return
        text = ride_as.plain_text(document.get("content"))
        # The leading @mention is how Mastodon shows a DM; the thread needs only the words.
        if text.startswith("@"):
            text = text.partition(" ")[2]
        await self.bookings.add_message(booking.id, uri, sender.id or 0, text)
        other = booking.driver_id if sender.id == booking.rider_id else booking.rider_id
        await self.notify(other, "booking_message", sender.id, booking.uri)

    async def messages(self, me: ActorRecord, booking_id: int) -> list[Message]:
        """Return a booking's thread (parties only)."""
        booking = await self.get_for(me, booking_id)
        return await self.bookings.messages(booking.id)

    # --- reviews ------------------------------------------------------------------------

    async def review(self, me: ActorRecord, booking_id: int, data: dict[str, Any]) -> Review:
        """Review the other party of a completed trip, once."""
        rating = (data or {}).get("rating")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise Invalid("rating must be a whole number 1–5", field="rating")
        text = (data or {}).get("text") or ""
        if not isinstance(text, str) or len(text) > MAX_REVIEW_CHARS:
            raise Invalid(f"text must be at most {MAX_REVIEW_CHARS} characters", field="text")
        booking = await self.get_for(me, booking_id)
        if booking.status is not BookingStatus.COMPLETED:
            raise Conflict("a review is only possible after a completed trip")
        other = await self._other(booking, me)
        review_id = new_id()
        review = Review(
            review_id,
            self.federation.instance.urls.review(review_id),
            booking.id,
            me.id or 0,
            other.id or 0,
            rating,
            text,
            clock.now_text(),
        )
        if not await self.bookings.add_review(review):
            raise Conflict("you already reviewed this trip")
        await self._send(
            me,
            other,
            {
                "type": "Create",
                "object": {
                    "id": review.uri,
                    "type": "Review",
                    "attributedTo": me.uri,
                    "to": [other.uri],
                    "booking": booking.uri,
                    "rating": rating,
                    "content": escape(text),
                },
            },
        )
        await self.notify(other.id or 0, "ride_review", me.id, booking.uri)
        return review

    async def received_review(self, sender: ActorRecord, document: dict[str, Any]) -> None:
        """A review of one of our members' trips arrived."""
        booking = await self.bookings.by_uri(str(document.get("booking") or ""))
        uri = document.get("id")
        rating = document.get("rating")
        if (
            booking is None
            or not isinstance(uri, str)
            or sender.id
            not in (
                booking.rider_id,
                booking.driver_id,
            )
        ):
            return
        if booking.status is not BookingStatus.COMPLETED:
            return
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            return
        subject = booking.driver_id if sender.id == booking.rider_id else booking.rider_id
        await self.bookings.add_review(
            Review(
                new_id(),
                uri,
                booking.id,
                sender.id or 0,
                subject,
                rating,
                ride_as.plain_text(document.get("content"))[:MAX_REVIEW_CHARS],
                clock.now_text(),
            )
        )
        await self.notify(subject, "ride_review", sender.id, booking.uri)

    # --- answers from the driver's side, on the rider's ---------------------------------

    async def answered(
        self, sender: ActorRecord, offer_uri: str, verdict: str, reason: str, result: Any
    ) -> None:
        """The driver's instance accepted, rejected or cancelled one of our members' bookings."""
        booking = await self.bookings.by_uri(offer_uri)
        if booking is None or booking.driver_id != sender.id:
            return
        outcome = result.get("status") if isinstance(result, dict) else None
        if verdict == "Accept" and outcome == "completed":
            # The driver says the trip happened (checked: only once it has left).
            await self.status_pushed(sender, booking.uri, BookingStatus.COMPLETED, reason)
            return
        if verdict == "Accept":
            if await self.bookings.set_status(
                booking.id, BookingStatus.PENDING, BookingStatus.ACCEPTED
            ):
                await self._learn_exact(booking, result)
                await self.notify(booking.rider_id, "booking_accepted", sender.id, booking.uri)
            return
        # Reject: of a pending request it is a refusal, of an accepted one a cancellation,
        # unless the driver's server says which (a cancelled ride cancels pending requests).
        target = (
            BookingStatus.REJECTED
            if booking.status is BookingStatus.PENDING
            else BookingStatus.CANCELLED
        )
        if outcome == "cancelled":
            target = BookingStatus.CANCELLED
        if booking.status not in OPEN_STATUSES:
            return
        ride = await self.rides.get(booking.ride_id)
        occurrence = ride.occurrence(booking.day)
        late = occurrence is not None and urgent(occurrence.departure, clock.now())
        if await self.bookings.set_status(
            booking.id, booking.status, target, reason=reason, urgent=late
        ):
            kind = "booking_rejected" if target is BookingStatus.REJECTED else "booking_cancelled"
            await self.notify(booking.rider_id, kind, sender.id, booking.uri)
            await self.forget_exact(booking.ride_id)

    async def _learn_exact(self, booking: Booking, result: Any) -> None:
        if not isinstance(result, dict) or "origin" not in result or "destination" not in result:
            return
        try:
            origin = ride_as.place_from_as(result["origin"], "origin")
            destination = ride_as.place_from_as(result["destination"], "destination")
        except Invalid:
            return
        await self.db.execute(
            "UPDATE rides SET exact = $2 WHERE id = $1 AND local = 0",
            booking.ride_id,
            json.dumps(
                {
                    "origin": place_json(origin),
                    "destination": place_json(destination),
                    "waypoints": [],
                }
            ),
        )

    async def rider_withdrew(self, sender: ActorRecord, offer_uri: str, reason: str) -> None:
        """The driver's side: the rider cancelled their booking (Undo of the Offer)."""
        booking = await self.bookings.by_uri(offer_uri)
        if booking is None or booking.rider_id != sender.id or booking.status not in OPEN_STATUSES:
            return
        ride = await self.rides.get(booking.ride_id)
        occurrence = ride.occurrence(booking.day)
        late = occurrence is not None and urgent(occurrence.departure, clock.now())
        if await self._cancel_here(booking, ride, reason=reason, late=late):
            await self.notify(booking.driver_id, "booking_cancelled", sender.id, booking.uri)

    async def can_see_exact(self, viewer: ActorRecord | None, ride: Ride) -> bool:
        """Return whether a viewer may see a ride's exact places (author, accepted rider)."""
        if viewer is None:
            return False
        if viewer.id == ride.actor_id:
            return True
        for booking in await self.bookings.for_actor(viewer.id or 0, ride_id=ride.id, role="rider"):
            if booking.status in (BookingStatus.ACCEPTED, BookingStatus.COMPLETED):
                return True
        return False

    @staticmethod
    def of(rides: RideService) -> "BookingService":
        """Return the booking service installed next to a ride service."""
        service = rides.federation.components.get(BookingService)
        if not isinstance(service, BookingService):
            raise NotFound("bookings are not installed")
        return service


def install(rides: RideService) -> BookingService:
    """Create the booking service and plug it into the ride service's hooks."""
    service = BookingService(rides)
    rides.federation.components[BookingService] = service
    rides.on_cancelled.append(service.ride_cancelled)
    rides.on_maintain.append(service.complete_due)
    rides.on_maintain.append(service.erase_exact_places)
    return service
