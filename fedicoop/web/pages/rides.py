"""My rides and bookings, one ride, and what members do to them: book, accept, cancel."""

from typing import Any

from aiohttp import web

from fedicoop import clock
from fedicoop.api.rides_entities import RidePresenter, party
from fedicoop.errors import Invalid, NotFound
from fedicoop.rides.booking import BookingStatus
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.model import RideStatus
from fedicoop.rides.service import RideService
from fedicoop.storage.rides import RideRepository
from fedicoop.web.pages.rendering import (
    PREFIX,
    federation_of,
    render,
    require_member,
    see_other,
)
from fedicoop.web.pages.sessions import Member

# What a page may say after a redirect (?done=...): only these, never text from the URL.
DONE = (
    "published",
    "booked",
    "accepted",
    "rejected",
    "cancelled",
    "ride_cancelled",
    "sent",
    "completed",
    "no_show",
    "reviewed",
)
BOOKING_ACTIONS = ("accept", "reject", "cancel")
BOOKABLE = (RideStatus.OPEN, RideStatus.FULL)


def _services(request: web.Request) -> tuple[RideService, BookingService]:
    rides = RideService.of(federation_of(request))
    return rides, BookingService.of(rides)


def _id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("Record not found")
    return int(text)


def _done(request: web.Request) -> str | None:
    done = request.query.get("done")
    return done if done in DONE else None


async def my_rides(request: web.Request) -> web.Response:
    """GET /app/rides: the rides I offered or asked for, requests to me, my bookings."""
    member = require_member(request)
    _, bookings = _services(request)
    presenter = RidePresenter(bookings, member.actor)
    repository = RideRepository(bookings.db)
    mine = await repository.by_actor([member.actor.id or 0])
    as_driver = await bookings.bookings.for_actor(member.actor.id or 0, role="driver")
    as_rider = await bookings.bookings.for_actor(member.actor.id or 0, role="rider")
    return render(
        request,
        "rides.html",
        done=_done(request),
        rides=await presenter.rides(mine),
        requests=[await presenter.booking(b) for b in as_driver],
        bookings=[await presenter.booking(b) for b in as_rider],
    )


async def _ride_page(
    request: web.Request, member: Member, ride_id: int, *, error: Invalid | None = None
) -> web.Response:
    rides, bookings = _services(request)
    ride = await rides.get(ride_id)
    presenter = RidePresenter(bookings, member.actor)
    own = ride.actor_id == member.actor.id
    mine = await bookings.bookings.for_actor(member.actor.id or 0, ride_id=ride.id)
    return render(
        request,
        "ride.html",
        status=error.status if error else 200,
        done=_done(request),
        error=error,
        ride=await presenter.ride(ride),
        own=own,
        can_book=not own and ride.role.value == "driver" and ride.status in BOOKABLE,
        bookings=[await presenter.booking(b) for b in mine],
    )


async def ride_page(request: web.Request) -> web.Response:
    """GET /app/rides/{id}: one ride, ours or a partner's, with its booking form."""
    member = require_member(request)
    return await _ride_page(request, member, _id(request))


async def book(request: web.Request) -> web.Response:
    """POST /app/rides/{id}/book: ask the driver for seats (across co-ops too)."""
    member = require_member(request)
    _, bookings = _services(request)
    form = await request.post()
    seats = str(form.get("seats", "1"))
    body: dict[str, Any] = {
        "seats": int(seats) if seats.isdigit() and len(seats) < 3 else seats,
        "message": str(form.get("message", "")),
    }
    try:
        await bookings.request(member.actor, _id(request), body)
    except Invalid as error:
        return await _ride_page(request, member, _id(request), error=error)
    return see_other(f"{PREFIX}/rides?done=booked")


async def cancel_ride(request: web.Request) -> web.Response:
    """POST /app/rides/{id}/cancel: cancel my ride; its riders are told."""
    member = require_member(request)
    rides, _ = _services(request)
    form = await request.post()
    await rides.cancel(member.actor, _id(request), str(form.get("reason", ""))[:500])
    return see_other(f"{PREFIX}/rides?done=ride_cancelled")


def _booking_action(action: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        member = require_member(request)
        _, bookings = _services(request)
        form = await request.post()
        body = {"reason": str(form.get("reason", ""))}
        if action == "accept":
            await bookings.accept(member.actor, _id(request))
        elif action == "reject":
            await bookings.reject(member.actor, _id(request), body)
        else:
            await bookings.cancel(member.actor, _id(request), body)
        word = {"accept": "accepted", "reject": "rejected", "cancel": "cancelled"}[action]
        return see_other(f"{PREFIX}/rides?done={word}")

    handler.__doc__ = f"POST /app/bookings/{{id}}/{action}."
    return handler


async def _booking_page(
    request: web.Request, member: Member, *, error: Invalid | None = None
) -> web.Response:
    _, bookings = _services(request)
    booking = await bookings.get_for(member.actor, _id(request))
    presenter = RidePresenter(bookings, member.actor)
    thread = await bookings.messages(member.actor, booking.id)
    ride = await bookings.rides.get(booking.ride_id)
    occurrence = ride.occurrence(booking.day)
    left = occurrence is None or occurrence.departure <= clock.now()
    other_id = booking.driver_id if member.actor.id == booking.rider_id else booking.rider_id
    reviews = [
        review
        for subject in (booking.rider_id, booking.driver_id)
        for review in await bookings.bookings.reviews_of(subject)
        if review.booking_id == booking.id
    ]
    return render(
        request,
        "booking.html",
        status=error.status if error else 200,
        done=_done(request),
        error=error,
        booking=await presenter.booking(booking),
        messages=[await presenter.message(m) for m in thread],
        me=member.actor.id,
        can_finish=booking.status is BookingStatus.ACCEPTED and left,
        can_review=booking.status is BookingStatus.COMPLETED
        and not any(r.author_id == member.actor.id for r in reviews),
        other=party(await presenter.actor(other_id)),
        reviews=[await presenter.review(r) for r in reviews],
    )


async def booking_page(request: web.Request) -> web.Response:
    """GET /app/bookings/{id}: one booking and the thread between rider and driver."""
    member = require_member(request)
    return await _booking_page(request, member)


async def post_message(request: web.Request) -> web.Response:
    """POST /app/bookings/{id}/messages: write to the other party (federated as a DM)."""
    member = require_member(request)
    _, bookings = _services(request)
    form = await request.post()
    try:
        await bookings.post_message(member.actor, _id(request), {"text": str(form.get("text", ""))})
    except Invalid as error:
        return await _booking_page(request, member, error=error)
    return see_other(f"{PREFIX}/bookings/{_id(request)}?done=sent")


async def finish(request: web.Request) -> web.Response:
    """POST /app/bookings/{id}/finish {happened}: the trip took place, or it did not."""
    member = require_member(request)
    _, bookings = _services(request)
    form = await request.post()
    happened = form.get("happened") == "yes"
    await bookings.finish(member.actor, _id(request), happened=happened)
    return see_other(
        f"{PREFIX}/bookings/{_id(request)}?done={'completed' if happened else 'no_show'}"
    )


async def review(request: web.Request) -> web.Response:
    """POST /app/bookings/{id}/review {rating, text}: after a completed trip, once."""
    member = require_member(request)
    _, bookings = _services(request)
    form = await request.post()
    rating = str(form.get("rating", "") or "")
    body = {
        "rating": int(rating) if rating.isdigit() and len(rating) < 3 else rating,
        "text": str(form.get("text", "") or ""),
    }
    try:
        await bookings.review(member.actor, _id(request), body)
    except Invalid as error:
        return await _booking_page(request, member, error=error)
    return see_other(f"{PREFIX}/bookings/{_id(request)}?done=reviewed")


def routes(app: web.Application) -> None:
    """Add the ride and booking routes."""
    app.router.add_get("/rides", my_rides)
    app.router.add_get(r"/rides/{id:\d+}", ride_page)
    app.router.add_post(r"/rides/{id:\d+}/book", book)
    app.router.add_post(r"/rides/{id:\d+}/cancel", cancel_ride)
    app.router.add_get(r"/bookings/{id:\d+}", booking_page)
    app.router.add_post(r"/bookings/{id:\d+}/messages", post_message)
    app.router.add_post(r"/bookings/{id:\d+}/finish", finish)
    app.router.add_post(r"/bookings/{id:\d+}/review", review)
    for action in BOOKING_ACTIONS:
        app.router.add_post(rf"/bookings/{{id:\d+}}/{action}", _booking_action(action))
