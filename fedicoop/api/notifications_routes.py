"""Mastodon API: notifications — list with filters, show one, dismiss one, clear all."""

from typing import Any

from aiohttp import web

from fedicoop.api.auth import require
from fedicoop.api.entities import Presenter, api_time
from fedicoop.api.pagination import link_header, page_of
from fedicoop.api.params import Params, read_params
from fedicoop.api.routing import route
from fedicoop.api.timelines_routes import viewer_of
from fedicoop.errors import NotFound
from fedicoop.storage.notifications import NotificationRecord, NotificationRepository
from fedicoop.web.keys import INSTANCE

TYPES = frozenset(
    {
        "mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update",
        "admin.sign_up", "admin.report", "severed_relationships", "moderation_warning",
    }
)  # fmt: skip
# Types whose entity carries the status they are about (the others have none).
WITH_STATUS = frozenset({"mention", "status", "reblog", "favourite", "poll", "update"})


async def render_notifications(
    presenter: Presenter, records: list[NotificationRecord]
) -> list[dict[str, Any]]:
    """Render Notification entities; drop those whose account or status is gone.

    Rides and governance notifications have their own API (/api/fedicoop/v1/notifications):
    a Mastodon app would not know what to do with them, here or in the stream.
    """
    records = [r for r in records if r.type in TYPES]
    views = presenter.views
    actors = await views.actors(r.from_actor_id for r in records if r.from_actor_id is not None)
    ordered = list(actors.values())
    accounts = dict(zip((a.id for a in ordered), await presenter.accounts(ordered), strict=True))
    found = await views.objects_by_uri(
        r.object_uri for r in records if r.type in WITH_STATUS and r.object_uri
    )
    objects = await views.objects(object_id for object_id, _ in found.values())
    live = [o for o in objects.values() if not o.deleted_at]
    statuses = {int(s["id"]): s for s in await presenter.statuses(live)}
    rendered: list[dict[str, Any]] = []
    for record in records:
        account = accounts.get(record.from_actor_id or 0)
        if account is None:
            continue
        entity: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "group_key": f"ungrouped-{record.id}",
            "created_at": api_time(record.created_at),
            "account": account,
        }
        if record.type in WITH_STATUS:
            object_id = found.get(record.object_uri or "", (0, 0))[0]
            status = statuses.get(object_id)
            if status is None:
                continue  # the post was deleted: Mastodon drops the notification with it
            entity["status"] = status
        rendered.append(entity)
    return rendered


def _types(params: Params, key: str) -> list[str]:
    return [str(value) for value in params.items(key) if str(value) in TYPES]


def _notification_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit():
        raise NotFound("Record not found")
    return int(text)


async def list_notifications(request: web.Request) -> web.Response:
    """GET /api/v1/notifications: newest first, filtered by types[], exclude_types[], account."""
    auth = await require(request, "read:notifications")
    account, _ = auth.user()
    params = await read_params(request)
    page = page_of(params, default=40, most=80)
    types = _types(params, "types")
    if params.items("types") and not types:
        return web.json_response([])  # only unknown types asked for: nothing matches
    from_account = params.text("account_id")
    if from_account is not None and not from_account.isdigit():
        return web.json_response([])
    instance = request.app[INSTANCE]
    records = await NotificationRepository(instance.db).list(
        account.id,
        # Ride and booking notifications have their own API: Mastodon apps would choke on them.
        types=types or sorted(TYPES),
        exclude_types=_types(params, "exclude_types"),
        from_actor_id=int(from_account) if from_account else None,
        max_id=page.max_id,
        since_id=page.since_id,
        min_id=page.min_id,
        limit=page.limit,
    )
    body = await render_notifications(Presenter(instance, viewer_of(auth)), records)
    return web.json_response(body, headers=link_header(request, [r.id for r in records]))


async def get_notification(request: web.Request) -> web.Response:
    """GET /api/v1/notifications/:id."""
    auth = await require(request, "read:notifications")
    account, _ = auth.user()
    instance = request.app[INSTANCE]
    record = await NotificationRepository(instance.db).get(account.id, _notification_id(request))
    rendered = (
        await render_notifications(Presenter(instance, viewer_of(auth)), [record]) if record else []
    )
    if not rendered:
        raise NotFound("Record not found")
    return web.json_response(rendered[0])


async def dismiss_notification(request: web.Request) -> web.Response:
    """POST /api/v1/notifications/:id/dismiss."""
    auth = await require(request, "write:notifications")
    account, _ = auth.user()
    repository = NotificationRepository(request.app[INSTANCE].db)
    if not await repository.dismiss(account.id, _notification_id(request)):
        raise NotFound("Record not found")
    return web.json_response({})


async def dismiss_legacy(request: web.Request) -> web.Response:
    """POST /api/v1/notifications/dismiss with an `id` parameter (before Mastodon 3.1)."""
    auth = await require(request, "write:notifications")
    account, _ = auth.user()
    notification_id = (await read_params(request)).integer("id")
    repository = NotificationRepository(request.app[INSTANCE].db)
    if notification_id is None or not await repository.dismiss(account.id, notification_id):
        raise NotFound("Record not found")
    return web.json_response({})


async def clear_notifications(request: web.Request) -> web.Response:
    """POST /api/v1/notifications/clear: dismiss them all."""
    auth = await require(request, "write:notifications")
    account, _ = auth.user()
    await NotificationRepository(request.app[INSTANCE].db).clear(account.id)
    return web.json_response({})


def setup(app: web.Application) -> None:
    """Add the notification routes."""
    route(app, "GET", "/api/v1/notifications", list_notifications)
    route(app, "POST", "/api/v1/notifications/clear", clear_notifications)
    route(app, "POST", "/api/v1/notifications/dismiss", dismiss_legacy)
    route(app, "GET", "/api/v1/notifications/{id}", get_notification)
    route(app, "POST", "/api/v1/notifications/{id}/dismiss", dismiss_notification)
