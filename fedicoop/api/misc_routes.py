"""Mastodon API odds and ends: preferences, markers, reports, and the features kept empty.

Lists, filters, announcements, conversations, trends, followed tags and user domain blocks
are not kept by fedicoop: they answer an empty list so that clients work without them.
"""

from typing import Any

from aiohttp import web

from fedicoop.api.accounts_routes import presenter
from fedicoop.api.auth import require
from fedicoop.api.entities import api_time
from fedicoop.api.params import read_params
from fedicoop.api.routing import route
from fedicoop.errors import Invalid
from fedicoop.social import moderation
from fedicoop.social.profile import posting_defaults, visible_actor
from fedicoop.storage.database import Executor
from fedicoop.storage.markers import MarkerRepository
from fedicoop.web.keys import FEDERATION, INSTANCE

TIMELINES = ("home", "notifications")

# Path → scope a caller needs (None: public) for the features answered with an empty list.
EMPTY_LISTS: dict[str, str | None] = {
    "/api/v1/lists": "read:lists",
    "/api/v1/filters": "read:filters",
    "/api/v2/filters": "read:filters",
    "/api/v1/announcements": "read",
    "/api/v1/conversations": "read:statuses",
    "/api/v1/followed_tags": "read:follows",
    "/api/v1/domain_blocks": "read:blocks",
    "/api/v1/trends": None,
    "/api/v1/trends/tags": None,
    "/api/v1/trends/statuses": None,
    "/api/v1/trends/links": None,
}


def _empty_list(scope: str | None) -> Any:
    async def handler(request: web.Request) -> web.Response:
        if scope is not None:
            (await require(request, scope)).user()
        return web.json_response([])

    handler.__doc__ = f"GET: an empty list (needs {scope or 'nothing'})."
    return handler


async def preferences(request: web.Request) -> web.Response:
    """GET /api/v1/preferences: the member's compose and reading defaults."""
    account, _ = (await require(request, "read:accounts")).user()
    defaults = await posting_defaults(request.app[INSTANCE].db, account.id)
    return web.json_response(
        {
            "posting:default:visibility": defaults.privacy,
            "posting:default:sensitive": defaults.sensitive,
            "posting:default:language": defaults.language,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


# Markers -------------------------------------------------------------------------------------


async def _markers(db: Executor, account_id: int, timelines: list[str]) -> dict[str, Any]:
    """Render a member's markers as Mastodon's Marker entities, keyed by timeline."""
    return {
        marker.timeline: {
            "last_read_id": marker.last_read_id,
            "version": marker.version,
            "updated_at": api_time(marker.updated_at),
        }
        for marker in await MarkerRepository(db).get(account_id, timelines)
    }


async def get_markers(request: web.Request) -> web.Response:
    """GET /api/v1/markers?timeline[]=home&timeline[]=notifications."""
    account, _ = (await require(request, "read:statuses")).user()
    params = await read_params(request)
    wanted = [str(t) for t in params.items("timeline") if t in TIMELINES]
    return web.json_response(await _markers(request.app[INSTANCE].db, account.id, wanted))


async def save_markers(request: web.Request) -> web.Response:
    """POST /api/v1/markers: home[last_read_id], notifications[last_read_id]."""
    account, _ = (await require(request, "write:statuses")).user()
    params = await read_params(request)
    db = request.app[INSTANCE].db
    saved = []
    for timeline in TIMELINES:
        last_read_id = params.nested(timeline).text("last_read_id")
        if last_read_id is None:
            continue
        if not last_read_id.isdigit() or len(last_read_id) > 19:
            raise Invalid(f"{timeline}[last_read_id] must be a status or notification id")
        await MarkerRepository(db).save(account.id, timeline, last_read_id)
        saved.append(timeline)
    return web.json_response(await _markers(db, account.id, saved))


# Reports -------------------------------------------------------------------------------------


async def create_report(request: web.Request) -> web.Response:
    """POST /api/v1/reports: tell this co-op's admins; forward to a remote server if asked."""
    auth = await require(request, "write:reports")
    _, me = auth.user()
    params = await read_params(request)
    target = await visible_actor(request.app[INSTANCE].db, params.text("account_id") or "")
    draft = moderation.ReportDraft(
        comment=params.text("comment", "") or "",
        category=params.text("category"),
        rule_ids=[str(r) for r in params.items("rule_ids")],
        status_ids=[
            int(s) for s in params.items("status_ids") if str(s).isdigit() and len(str(s)) < 20
        ],
        forward=params.boolean("forward"),
    )
    report = await moderation.file_report(request.app[FEDERATION], me, target, draft)
    body = {
        "id": str(report.id),
        "action_taken": False,
        "action_taken_at": None,
        "category": report.category,
        "comment": report.comment,
        "forwarded": report.forwarded,
        "created_at": api_time(report.created_at),
        "status_ids": [str(status.id) for status in report.statuses],
        "rule_ids": report.rule_ids or None,
        "collection_ids": [],
        "target_account": await presenter(request, auth).account(target),
    }
    return web.json_response(body)


def setup(app: web.Application) -> None:
    """Add this module's routes."""
    route(app, "GET", "/api/v1/preferences", preferences)
    route(app, "GET", "/api/v1/markers", get_markers)
    route(app, "POST", "/api/v1/markers", save_markers)
    route(app, "POST", "/api/v1/reports", create_report)
    for path, scope in EMPTY_LISTS.items():
        route(app, "GET", path, _empty_list(scope))
