"""The co-op's public profile at `/`: about, members, partners, posts, open rides and votes.

Served like the member pages (same templates, languages, cookies and security headers), but
to anyone: it shows only what is public anyway. Rides show their places to within about
1 km, as their public documents do; posts are the members' public ones, as plain text.
"""

from typing import Any

from aiohttp import web

from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.api.rides_entities import RidePresenter
from fedicoop.coops.partnership import active_partner_groups
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.service import RideService
from fedicoop.social import timelines
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRepository
from fedicoop.storage.proposals import ProposalRepository
from fedicoop.web.keys import FEDERATION, INSTANCE
from fedicoop.web.pages import with_pages
from fedicoop.web.pages.rendering import render

SHOWN = 10
EXCERPT_CHARS = 500


async def _posts(request: web.Request) -> list[dict[str, Any]]:
    db = request.app[INSTANCE].db
    records = await timelines.public(
        db,
        timelines.PublicScope(local=True),
        max_id=2**63 - 1,
        since_id=0,
        min_id=None,
        limit=SHOWN,
    )
    actors = ActorRepository(db)
    posts = []
    for record in records:
        author = await actors.get(record.actor_id)
        text = html_to_text(record.content)
        posts.append(
            {
                "author": author.acct if author else "?",
                "text": text if len(text) <= EXCERPT_CHARS else f"{text[:EXCERPT_CHARS]}…",
                "url": record.url or record.uri,
                "published": record.published,
                "warning": record.summary if record.sensitive or record.summary else "",
            }
        )
    return posts


async def front_page(request: web.Request) -> web.Response:
    """Serve `/`: the co-op's public profile, in French or English."""
    instance = request.app[INSTANCE]
    federation = request.app[FEDERATION]
    group = await federation.group_actor()
    stored = await ActorRepository(instance.db).get(group.id or 0) or group
    rides = RideService.of(federation)
    presenter = RidePresenter(BookingService.of(rides), None)
    open_rides = (await rides.rides.live(local=True))[:SHOWN]
    proposals = [
        p for p in await ProposalRepository(instance.db).recent("open", limit=50) if p.local
    ]
    return render(
        request,
        "coop.html",
        group=group,
        about=html_to_text(stored.summary or ""),
        members=await AccountRepository(instance.db).count("active"),
        partners=await active_partner_groups(federation),
        posts=await _posts(request),
        rides=[await presenter.ride(ride) for ride in open_rides],
        proposals=proposals[:SHOWN],
        base_url=instance.config.base_url,
    )


def setup(app: web.Application) -> None:
    """Add the front page."""
    app.router.add_get("/", with_pages(front_page))
