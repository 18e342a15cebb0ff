"""The fedicoop rides API under /api/fedicoop/v1 (documented in api/openapi/fedicoop-v1.json)."""

import json
from importlib import resources
from typing import Any

from aiohttp import web

from fedicoop.api.auth import optional_auth, require
from fedicoop.api.params import read_params
from fedicoop.api.rides_entities import RidePresenter
from fedicoop.api.routing import route
from fedicoop.errors import Invalid, NotFound
from fedicoop.oauth.service import Auth
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.model import RideStatus
from fedicoop.rides.service import RideService, parse_search
from fedicoop.storage.notifications import NotificationRepository
from fedicoop.storage.rides import RideRepository, SavedSearchRepository
from fedicoop.web.keys import FEDERATION, INSTANCE

PREFIX = "/api/fedicoop/v1"
RIDE_NOTIFICATIONS = (
    "booking_request", "booking_accepted", "booking_rejected", "booking_cancelled",
    "booking_completed", "booking_message", "ride_cancelled", "ride_match", "ride_review",
    "proposal_opened", "proposal_closing", "proposal_closed", "ballot_rejected",
)  # fmt: skip


def _services(request: web.Request) -> tuple[RideService, BookingService]:
    rides = RideService.of(request.app[FEDERATION])
    return rides, BookingService.of(rides)


def _id(request: web.Request, name: str = "id") -> int:
    text = request.match_info[name]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("Record not found")
    return int(text)


async def _json_body(request: web.Request) -> dict[str, Any]:
    """Return the request's JSON object (or form fields), {} for an empty body."""
    if request.content_type == "application/json":
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except json.JSONDecodeError as error:
            raise Invalid(f"the body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise Invalid("the JSON body must be an object")
        return body
    params = await read_params(request)
    return {k: v for k, v in params.values.items() if k not in request.query}


def _presenter(request: web.Request, auth: Auth | None) -> RidePresenter:
    _, bookings = _services(request)
    return RidePresenter(bookings, auth.actor if auth else None)


async def create_ride(request: web.Request) -> web.Response:
    """POST /rides: publish a ride offer or request."""
    auth = await require(request, "write:rides")
    _, actor = auth.user()
    rides, _ = _services(request)
    ride = await rides.create(actor, await _json_body(request))
    return web.json_response(await _presenter(request, auth).ride(ride), status=201)


async def get_ride(request: web.Request) -> web.Response:
    """GET /rides/{id}: one ride, local or from a partner (public; exact places to parties)."""
    auth = await optional_auth(request)
    rides, _ = _services(request)
    ride = await rides.get(_id(request))
    return web.json_response(await _presenter(request, auth).ride(ride))


async def cancel_ride(request: web.Request) -> web.Response:
    """DELETE /rides/{id}: cancel one of my rides (its riders are told)."""
    auth = await require(request, "write:rides")
    _, actor = auth.user()
    rides, _ = _services(request)
    body = await _json_body(request)
    reason = body.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > 500:
        raise Invalid("reason must be text of at most 500 characters", field="reason")
    ride = await rides.cancel(actor, _id(request), reason)
    return web.json_response(await _presenter(request, auth).ride(ride))


async def list_rides(request: web.Request) -> web.Response:
    """GET /rides?mine=true: my rides; without mine, the open rides this instance knows."""
    auth = await require(request, "read:rides")
    _, actor = auth.user()
    presenter = _presenter(request, auth)
    repository = RideRepository(request.app[INSTANCE].db)
    mine = request.query.get("mine", "")
    if mine.lower() in ("true", "1"):
        rides = await repository.by_actor([actor.id or 0])
        _, bookings = _services(request)
        booked = {b.ride_id for b in await bookings.bookings.for_actor(actor.id or 0)}
        known = {ride.id for ride in rides}
        extra = await repository.many(sorted(booked - known))
        rides = sorted([*rides, *extra.values()], key=lambda r: r.id, reverse=True)
    elif mine:
        raise Invalid("mine must be true", field="mine")
    else:
        rides = [r for r in await repository.live() if r.status is RideStatus.OPEN][:100]
    return web.json_response(await presenter.rides(rides))


async def search_rides(request: web.Request) -> web.Response:
    """GET /rides/search: rides from every partner co-op that fit, best first."""
    auth = await require(request, "read:rides")
    rides, _ = _services(request)
    query = parse_search(dict(request.query))
    limit_text = request.query.get("limit", "20")
    if not limit_text.isdigit():
        raise Invalid("limit must be a number", field="limit")
    found = await rides.search(query, min(40, max(1, int(limit_text))))
    presenter = _presenter(request, auth)
    return web.json_response([await presenter.found(f) for f in found])


async def book_ride(request: web.Request) -> web.Response:
    """POST /rides/{id}/bookings: ask for seats."""
    auth = await require(request, "write:rides")
    _, actor = auth.user()
    _, bookings = _services(request)
    booking = await bookings.request(actor, _id(request), await _json_body(request))
    return web.json_response(await _presenter(request, auth).booking(booking), status=201)


async def list_bookings(request: web.Request) -> web.Response:
    """GET /bookings: bookings I am party to (?ride_id=, ?as=driver|rider)."""
    auth = await require(request, "read:rides")
    _, actor = auth.user()
    _, bookings = _services(request)
    role = request.query.get("as")
    if role not in (None, "driver", "rider"):
        raise Invalid("as must be driver or rider", field="as")
    ride_text = request.query.get("ride_id")
    if ride_text is not None and not ride_text.isdigit():
        raise Invalid("ride_id must be a ride id", field="ride_id")
    found = await bookings.bookings.for_actor(
        actor.id or 0, ride_id=int(ride_text) if ride_text else None, role=role
    )
    presenter = _presenter(request, auth)
    return web.json_response([await presenter.booking(b) for b in found])


async def get_booking(request: web.Request) -> web.Response:
    """GET /bookings/{id}."""
    auth = await require(request, "read:rides")
    _, actor = auth.user()
    _, bookings = _services(request)
    booking = await bookings.get_for(actor, _id(request))
    return web.json_response(await _presenter(request, auth).booking(booking))


def _transition(action: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        auth = await require(request, "write:rides")
        _, actor = auth.user()
        _, bookings = _services(request)
        booking_id = _id(request)
        body = await _json_body(request)
        if action == "accept":
            booking = await bookings.accept(actor, booking_id)
        elif action == "reject":
            booking = await bookings.reject(actor, booking_id, body)
        elif action == "cancel":
            booking = await bookings.cancel(actor, booking_id, body)
        else:
            booking = await bookings.finish(actor, booking_id, happened=action == "complete")
        return web.json_response(await _presenter(request, auth).booking(booking))

    handler.__doc__ = f"POST /bookings/{{id}}/{action}."
    return handler


async def list_messages(request: web.Request) -> web.Response:
    """GET /bookings/{id}/messages: the thread between rider and driver."""
    auth = await require(request, "read:rides")
    _, actor = auth.user()
    _, bookings = _services(request)
    messages = await bookings.messages(actor, _id(request))
    presenter = _presenter(request, auth)
    return web.json_response([await presenter.message(m) for m in messages])


async def post_message(request: web.Request) -> web.Response:
    """POST /bookings/{id}/messages {text}."""
    auth = await require(request, "write:rides")
    _, actor = auth.user()
    _, bookings = _services(request)
    message = await bookings.post_message(actor, _id(request), await _json_body(request))
    return web.json_response(await _presenter(request, auth).message(message), status=201)


async def post_review(request: web.Request) -> web.Response:
    """POST /bookings/{id}/review {rating, text}: after a completed trip, once."""
    auth = await require(request, "write:rides")
    _, actor = auth.user()
    _, bookings = _services(request)
    review = await bookings.review(actor, _id(request), await _json_body(request))
    return web.json_response(await _presenter(request, auth).review(review), status=201)


async def list_saved_searches(request: web.Request) -> web.Response:
    """GET /saved-searches."""
    auth = await require(request, "read:rides")
    account, _ = auth.user()
    searches = await SavedSearchRepository(request.app[INSTANCE].db).for_account(account.id)
    return web.json_response(
        [{"id": str(s.id), "query": s.query, "created_at": s.created_at} for s in searches]
    )


async def add_saved_search(request: web.Request) -> web.Response:
    """POST /saved-searches {origin, destination, departure?, seats?, role?, margin_minutes?}."""
    auth = await require(request, "write:rides")
    account, _ = auth.user()
    rides, _ = _services(request)
    saved = await rides.save_search(account.id, await _json_body(request))
    body_out = {"id": str(saved.id), "query": saved.query, "created_at": saved.created_at}
    return web.json_response(body_out, status=201)


async def delete_saved_search(request: web.Request) -> web.Response:
    """DELETE /saved-searches/{id}."""
    auth = await require(request, "write:rides")
    account, _ = auth.user()
    if not await SavedSearchRepository(request.app[INSTANCE].db).delete(account.id, _id(request)):
        raise NotFound("Record not found")
    return web.json_response({})


async def list_ride_notifications(request: web.Request) -> web.Response:
    """GET /notifications: what happened to my rides and bookings, newest first."""
    auth = await require(request, "read:rides")
    account, _ = auth.user()
    records = await NotificationRepository(request.app[INSTANCE].db).list(
        account.id, types=RIDE_NOTIFICATIONS, limit=80
    )
    presenter = _presenter(request, auth)
    body = []
    for record in records:
        source = await presenter.actor(record.from_actor_id) if record.from_actor_id else None
        body.append(
            {
                "id": str(record.id),
                "type": record.type,
                "created_at": record.created_at,
                "from": None if source is None else {"acct": f"{source.username}@{source.domain}"},
                "object": record.object_uri,
            }
        )
    return web.json_response(body)


async def openapi_document(request: web.Request) -> web.Response:
    """GET /openapi.json: this API's OpenAPI 3.1 description."""
    text = resources.files("fedicoop.api").joinpath("openapi/fedicoop-v1.json").read_text("utf-8")
    return web.Response(
        text=text, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"}
    )


def setup(app: web.Application) -> None:
    """Add the rides API routes."""
    route(app, "GET", f"{PREFIX}/openapi.json", openapi_document)
    route(app, "POST", f"{PREFIX}/rides", create_ride)
    route(app, "GET", f"{PREFIX}/rides", list_rides)
    route(app, "GET", f"{PREFIX}/rides/search", search_rides)
    route(app, "GET", f"{PREFIX}/rides/{{id}}", get_ride)
    route(app, "DELETE", f"{PREFIX}/rides/{{id}}", cancel_ride)
    route(app, "POST", f"{PREFIX}/rides/{{id}}/bookings", book_ride)
    route(app, "GET", f"{PREFIX}/bookings", list_bookings)
    route(app, "GET", f"{PREFIX}/bookings/{{id}}", get_booking)
    for action in ("accept", "reject", "cancel", "complete", "no-show"):
        route(app, "POST", f"{PREFIX}/bookings/{{id}}/{action}", _transition(action))
    route(app, "GET", f"{PREFIX}/bookings/{{id}}/messages", list_messages)
    route(app, "POST", f"{PREFIX}/bookings/{{id}}/messages", post_message)
    route(app, "POST", f"{PREFIX}/bookings/{{id}}/review", post_review)
    route(app, "GET", f"{PREFIX}/saved-searches", list_saved_searches)
    route(app, "POST", f"{PREFIX}/saved-searches", add_saved_search)
    route(app, "DELETE", f"{PREFIX}/saved-searches/{{id}}", delete_saved_search)
    route(app, "GET", f"{PREFIX}/notifications", list_ride_notifications)
