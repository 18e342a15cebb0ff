"""The ride forms: offer or ask for a ride, and search rides of every partner co-op."""

from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from fedicoop.api.rides_entities import RidePresenter
from fedicoop.errors import Invalid
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.service import RideService, parse_search
from fedicoop.web.pages.fields import local_time, whole_number
from fedicoop.web.pages.places import PlaceField, resolve
from fedicoop.web.pages.rendering import (
    PAGE_STATE,
    PREFIX,
    federation_of,
    instance_of,
    render,
    require_member,
    see_other,
)

SEARCH_LIMIT = 20
PLACES = ("origin", "destination")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _price(form: MultiMapping[Any], currency: str) -> dict[str, str] | None:
    amount = str(form.get("price", "") or "").strip().replace(",", ".")
    if amount in ("", "0"):
        return None
    return {"kind": "fixed", "amount": amount, "currency": currency}


async def _places(
    request: web.Request, form: MultiMapping[Any], *, pick_first: bool
) -> list[PlaceField]:
    rides = RideService.of(federation_of(request))
    lang = request[PAGE_STATE].lang
    return [
        await resolve(rides.geocoder, name, form, lang=lang, pick_first=pick_first)
        for name in PLACES
    ]


def _offer_form(
    request: web.Request,
    form: MultiMapping[Any] | None,
    places: list[PlaceField],
    *,
    error: Invalid | None = None,
    status: int = 200,
) -> web.Response:
    values = {k: str(v) for k, v in (form or {}).items() if k != "csrf_token"}
    return render(
        request,
        "ride_new.html",
        status=status,
        values=values,
        places=places,
        error=error,
        currency=instance_of(request).config.currency,
    )


async def new_ride_page(request: web.Request) -> web.Response:
    """GET /app/rides/new: the form to offer a ride or ask for one."""
    require_member(request)
    return _offer_form(request, None, [PlaceField(name, "") for name in PLACES])


async def create_ride(request: web.Request) -> web.Response:
    """POST /app/rides/new: look the places up; once both are picked, publish the ride."""
    member = require_member(request)
    form = await request.post()
    places = await _places(request, form, pick_first=False)
    if form.get("action") != "publish" or any(p.chosen is None for p in places):
        return _offer_form(request, form, places)
    rides = RideService.of(federation_of(request))
    try:
        data: dict[str, Any] = {
            "role": "passenger" if form.get("role") == "passenger" else "driver",
            "origin": places[0].as_json(),
            "destination": places[1].as_json(),
            "departure": _iso(local_time(form, "departure", required=True)),
            "seats": whole_number(form, "seats", 1),
            "price": _price(form, rides.currency),
        }
        ride = await rides.create(member.actor, data)
    except Invalid as error:
        return _offer_form(request, form, places, error=error, status=422)
    return see_other(f"{PREFIX}/rides/{ride.id}?done=published")


async def search_page(request: web.Request) -> web.Response:
    """GET /app/rides/search: rides of ours and every partner co-op that fit, best first."""
    member = require_member(request)
    query = request.query
    places = await _places(request, query, pick_first=True)
    results: list[dict[str, Any]] | None = None
    error: Invalid | None = None
    save: dict[str, str] | None = None  # what the "alert me" form keeps of this search
    if all(p.chosen is not None for p in places):
        try:
            departure = local_time(query, "departure", required=False)
            params = {
                "origin": places[0].point,
                "destination": places[1].point,
                "departure": departure.isoformat() if departure else None,
                "seats": whole_number(query, "seats", 1),
                "role": "passenger" if query.get("role") == "passenger" else "driver",
            }
            rides = RideService.of(federation_of(request))
            found = await rides.search(parse_search(params), SEARCH_LIMIT)
            presenter = RidePresenter(BookingService.of(rides), member.actor)
            results = [await presenter.found(f) for f in found]
            save = {
                "origin": places[0].point,
                "destination": places[1].point,
                "origin_label": places[0].chosen.label if places[0].chosen else "",
                "destination_label": places[1].chosen.label if places[1].chosen else "",
                "departure": departure.isoformat() if departure else "",
                "seats": str(params["seats"]),
                "role": str(params["role"]),
            }
        except Invalid as error_found:
            error = error_found
    values = {k: str(v) for k, v in query.items()}
    return render(
        request,
        "ride_search.html",
        status=422 if error else 200,
        values=values,
        places=places,
        results=results,
        save=save,
        error=error,
    )


def routes(app: web.Application) -> None:
    """Add the ride form routes."""
    app.router.add_get("/rides/new", new_ride_page)
    app.router.add_post("/rides/new", create_ride)
    app.router.add_get("/rides/search", search_page)
