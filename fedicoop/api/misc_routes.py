"""Mastodon API odds and ends: preferences, markers, reports, and the features kept empty.

Lists, filters, announcements, conversations, trends, followed tags and user domain blocks
are not kept by fedicoop: they answer an empty list so that clients work without them.
"""

from typing import Any

from aiohttp import web

from fedicoop import clock
from fedicoop.api.accounts_routes import posting_defaults, presenter, visible_actor
from fedicoop.api.auth import require
from fedicoop.api.entities import api_time
from fedicoop.api.instance_routes import rules_of
from fedicoop.api.params import read_params
from fedicoop.api.routing import route
from fedicoop.errors import Invalid
from fedicoop.ids import new_id
from fedicoop.social import publishing
from fedicoop.storage.database import Executor
from fedicoop.storage.notifications import ReportRepository
from fedicoop.storage.views import ViewRepository
from fedicoop.web.keys import FEDERATION, INSTANCE

TIMELINES = ("home", "notifications")
REPORT_CATEGORIES = ("spam", "legal", "violation", "other")
REPORT_COMMENT_LIMIT = 1000

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
    if not timelines:
        return {}
    marks = ", ".join(f"${i}" for i in range(2, len(timelines) + 2))
    rows = await db.fetch(
        "SELECT timeline, last_read_id, version, updated_at FROM markers "
        f"WHERE account_id = $1 AND timeline IN ({marks})",
        account_id,
        *timelines,
    )
    return {
        row["timeline"]: {
            "last_read_id": str(row["last_read_id"]),
            "version": int(row["version"]),
            "updated_at": api_time(row["updated_at"]),
        }
        for row in rows
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
        # The version counts saves, so a client can tell its marker is stale.
        await db.execute(
            "INSERT INTO markers (account_id, timeline, last_read_id, version, updated_at) "
            "VALUES ($1, $2, $3, 0, $4) ON CONFLICT (account_id, timeline) DO UPDATE SET "
            "last_read_id = excluded.last_read_id, version = markers.version + 1, "
            "updated_at = excluded.updated_at",
            account.id,
            timeline,
            last_read_id,
            clock.now_text(),
        )
        saved.append(timeline)
    return web.json_response(await _markers(db, account.id, saved))


# Reports -------------------------------------------------------------------------------------


async def create_report(request: web.Request) -> web.Response:
    """POST /api/v1/reports: tell this co-op's admins; forward to a remote server if asked."""
    auth = await require(request, "write:reports")
    _, me = auth.user()
    instance = request.app[INSTANCE]
    params = await read_params(request)
    target = await visible_actor(instance.db, params.text("account_id") or "")
    if target.id == me.id:
        raise Invalid("you cannot report yourself", field="account_id")
    comment = params.text("comment", "") or ""
    if len(comment) > REPORT_COMMENT_LIMIT:
        raise Invalid(f"comment holds at most {REPORT_COMMENT_LIMIT} characters", field="comment")
    rule_ids = [str(r) for r in params.items("rule_ids")]
    known_rules = {rule["id"] for rule in await rules_of(instance)}
    if any(rule not in known_rules for rule in rule_ids):
        raise Invalid("rule_ids does not reference valid rules", field="rule_ids")
    category = "violation" if rule_ids else (params.text("category") or "other")
    if category not in REPORT_CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(REPORT_CATEGORIES)}", field="category")
    wanted = [int(s) for s in params.items("status_ids") if str(s).isdigit() and len(str(s)) < 20]
    found = await ViewRepository(instance.db).objects(wanted)
    # Only the reported account's own posts: a report cannot drag in someone else's.
    statuses = [found[i] for i in wanted if i in found and found[i].actor_id == target.id]
    uris = [status.uri for status in statuses]
    report_uri = f"{instance.config.base_url}/reports/{new_id()}"
    await ReportRepository(instance.db).add(report_uri, me.uri, [target.uri, *uris], comment)
    forwarded = params.boolean("forward") and not target.local
    if forwarded:
        await publishing.report(request.app[FEDERATION], me, target, uris, comment)
    row = await instance.db.fetchrow(
        "SELECT id, created_at FROM reports WHERE activity_uri = $1", report_uri
    )
    assert row is not None
    body = {
        "id": str(row["id"]),
        "action_taken": False,
        "action_taken_at": None,
        "category": category,
        "comment": comment,
        "forwarded": forwarded,
        "created_at": api_time(row["created_at"]),
        "status_ids": [str(status.id) for status in statuses],
        "rule_ids": rule_ids or None,
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
