"""Saved searches: a member keeps a search and hears of every new ride that fits it.

The search page offers to save what it just searched; `RideService.save_search` checks it
and holds the per-member limit (the API calls the same). New rides that fit become
`ride_match` notifications, listed here with a link to each ride.
"""

from typing import Any

from aiohttp import web

from fedicoop.errors import Invalid, NotFound
from fedicoop.rides.service import RideService
from fedicoop.storage.notifications import NotificationRepository
from fedicoop.storage.rides import RideRepository, SavedSearchRepository
from fedicoop.web.pages.rendering import (
    PREFIX,
    federation_of,
    render,
    require_member,
    see_other,
)
from fedicoop.web.pages.sessions import Member

DONE = ("saved", "deleted")
ALERTS_SHOWN = 20


async def _alerts(rides: RideService, member: Member) -> list[dict[str, Any]]:
    """Return the latest ride_match notifications, each with the ride it points to."""
    records = await NotificationRepository(rides.db).list(
        member.account.id, types=("ride_match",), limit=ALERTS_SHOWN
    )
    repository = RideRepository(rides.db)
    alerts = []
    for record in records:
        ride = await repository.by_uri(record.object_uri or "")
        if ride is not None:
            alerts.append({"created_at": record.created_at, "ride": ride})
    return alerts


async def _page(
    request: web.Request, member: Member, *, error: Invalid | None = None
) -> web.Response:
    rides = RideService.of(federation_of(request))
    done = request.query.get("done")
    return render(
        request,
        "ride_alerts.html",
        status=error.status if error else 200,
        error=error,
        done=done if done in DONE else None,
        searches=await SavedSearchRepository(rides.db).for_account(member.account.id),
        alerts=await _alerts(rides, member),
    )


async def alerts_page(request: web.Request) -> web.Response:
    """GET /app/rides/alerts: my saved searches and the rides they found."""
    member = require_member(request)
    return await _page(request, member)


async def save_search(request: web.Request) -> web.Response:
    """POST /app/rides/alerts: keep the search the search page just ran."""
    member = require_member(request)
    form = await request.post()
    params: dict[str, Any] = {
        key: str(form.get(key, "") or "")
        for key in ("origin", "destination", "origin_label", "destination_label", "role")
    }
    params["seats"] = str(form.get("seats", "1") or "1")
    if not form.get("any_time"):
        params["departure"] = str(form.get("departure", "") or "")
    try:
        await RideService.of(federation_of(request)).save_search(member.account.id, params)
    except Invalid as error:
        return await _page(request, member, error=error)
    return see_other(f"{PREFIX}/rides/alerts?done=saved")


async def delete_search(request: web.Request) -> web.Response:
    """POST /app/rides/alerts/{id}/delete: stop hearing of rides for this search."""
    member = require_member(request)
    text = request.match_info["id"]
    repository = SavedSearchRepository(RideService.of(federation_of(request)).db)
    if len(text) > 19 or not await repository.delete(member.account.id, int(text)):
        raise NotFound("Record not found")
    return see_other(f"{PREFIX}/rides/alerts?done=deleted")


def routes(app: web.Application) -> None:
    """Add the saved search routes."""
    app.router.add_get("/rides/alerts", alerts_page)
    app.router.add_post("/rides/alerts", save_search)
    app.router.add_post(r"/rides/alerts/{id:\d+}/delete", delete_search)
