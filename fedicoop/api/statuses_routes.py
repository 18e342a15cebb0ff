"""Mastodon API: statuses, polls, bookmarks and favourites.

A status id is an `objects.id`; the id of a boost is its `announces` row id, and acting on
a boost (favourite, bookmark…) acts on the boosted status, as on Mastodon.
"""

import re
from typing import Any

from aiohttp import web

from fedicoop.activitypub.runtime import Federation
from fedicoop.api.auth import optional_auth, require
from fedicoop.api.entities import Boost, Presenter, Viewer
from fedicoop.api.pagination import link_header, page_of
from fedicoop.api.params import Params, read_params
from fedicoop.api.routing import route
from fedicoop.errors import Forbidden, Invalid, NotFound
from fedicoop.governance.service import GovernanceService
from fedicoop.oauth.service import Auth
from fedicoop.social import marks, polls, publishing, status_access
from fedicoop.social.addressing import parse_visibility
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.objects import ObjectRecord, ObjectRepository
from fedicoop.storage.views import ViewRepository
from fedicoop.web.keys import FEDERATION, INSTANCE

RECORD_NOT_FOUND = "Record not found"
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}([-_][a-zA-Z0-9]{2,8})?$")


# Reading the request ----------------------------------------------------------------------


def _path_id(request: web.Request, key: str = "id") -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 19:
        raise NotFound(RECORD_NOT_FOUND)
    return int(raw)


async def _reader(request: web.Request, scope: str) -> Auth | None:
    """Return the caller for a public read; a token, when sent, must carry the scope."""
    auth = await optional_auth(request)
    if auth is not None:
        auth.require(scope)
    return auth


def _presenter(request: web.Request, auth: Auth | None) -> Presenter:
    viewer = Viewer()
    if auth is not None and auth.account is not None and auth.actor is not None:
        viewer = Viewer(account_id=auth.account.id, actor_id=auth.actor.id)
    return Presenter(request.app[INSTANCE], viewer)


def _actor_of(auth: Auth | None) -> ActorRecord | None:
    return auth.actor if auth is not None else None


def _ids(values: list[Any], field: str) -> list[int]:
    ids = []
    for value in values:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 19:
            raise Invalid(f"Validation failed: {field} {text!r} is not an id", field=field)
        ids.append(int(text))
    return ids


def _language(value: str | None) -> str | None:
    """Keep an ISO 639 code; anything else falls back to no language, as Mastodon does."""
    value = (value or "").strip()
    return value if LANGUAGE_RE.match(value) else None


def _poll_draft(params: Params) -> polls.PollDraft | None:
    poll = params.nested("poll")
    if not poll.values:
        return None
    return polls.validate_draft(
        poll.items("options"),
        poll.integer("expires_in"),
        multiple=poll.boolean("multiple"),
        hide_totals=poll.boolean("hide_totals"),
    )


async def _status(request: web.Request, status_id: int, viewer: ActorRecord | None) -> ObjectRecord:
    """Return the status (or the status a boost shows) the viewer may see, else 404."""
    db = request.app[INSTANCE].db
    objects = ObjectRepository(db)
    record = await objects.get(status_id)
    if record is None:
        boost = await marks.find_boost(db, boost_id=status_id)
        record = await objects.by_uri(boost.object_uri) if boost else None
    if record is None or not await status_access.may_view(db, record, viewer):
        raise NotFound(RECORD_NOT_FOUND)
    return record


async def _render(request: web.Request, auth: Auth | None, record: ObjectRecord) -> web.Response:
    return web.json_response(await _presenter(request, auth).status(record))


# Statuses ---------------------------------------------------------------------------------


async def create_status(request: web.Request) -> web.Response:
    """POST /api/v1/statuses: publish a status (with media or a poll), once per Idempotency-Key."""
    auth = await require(request, "write:statuses")
    account, actor = auth.user()
    instance = request.app[INSTANCE]
    params = await read_params(request)
    visibility = parse_visibility(params.text("visibility") or "public")
    draft = _poll_draft(params)
    media_ids = _ids(params.items("media_ids"), "media_ids")
    spoiler = (params.text("spoiler_text") or "").strip()
    parent: ObjectRecord | None = None
    reply_to = params.text("in_reply_to_id")
    if reply_to:
        if not reply_to.isdigit():
            raise NotFound(RECORD_NOT_FOUND)
        parent = await _status(request, int(reply_to), actor)
    key = (request.headers.get("Idempotency-Key") or "").strip()[:200]
    object_id: int | None = None
    if key:
        claim = await publishing.claim_idempotency_key(instance.db, account.id, key)
        if claim.existing:
            made = await ObjectRepository(instance.db).get(claim.object_id)
            assert made is not None
            return await _render(request, auth, made)
        object_id = claim.object_id
    try:
        posted = await publishing.post_note(
            request.app[FEDERATION],
            actor,
            params.text("status") or "",
            visibility=visibility,
            in_reply_to=parent.uri if parent else None,
            summary=spoiler,
            sensitive=params.boolean("sensitive") or bool(spoiler),
            language=_language(params.text("language")),
            poll=draft,
            media_ids=media_ids,
            object_id=object_id,
        )
    except BaseException:
        if key and object_id is not None:
            await publishing.release_idempotency_key(instance.db, account.id, key, object_id)
        raise
    return await _render(request, auth, posted.object)


async def get_status(request: web.Request) -> web.Response:
    """GET /api/v1/statuses/:id (a boost id shows the boost wrapping its status)."""
    auth = await _reader(request, "read:statuses")
    status_id = _path_id(request)
    db = request.app[INSTANCE].db
    record = await _status(request, status_id, _actor_of(auth))
    if record.id != status_id:
        boost = await marks.find_boost(db, boost_id=status_id)
        assert boost is not None
        return web.json_response(await _boost_entity(request, auth, boost, record))
    return await _render(request, auth, record)


async def get_statuses(request: web.Request) -> web.Response:
    """GET /api/v1/statuses?id[]=…: the visible ones among several statuses."""
    auth = await _reader(request, "read:statuses")
    params = await read_params(request)
    found: list[ObjectRecord] = []
    for status_id in _ids(params.items("id"), "id")[:40]:
        try:
            found.append(await _status(request, status_id, _actor_of(auth)))
        except NotFound:
            continue
    unique = list({record.id: record for record in found}.values())
    return web.json_response(await _presenter(request, auth).statuses(unique))


async def _boost_entity(
    request: web.Request, auth: Auth | None, boost: marks.BoostRecord, record: ObjectRecord
) -> dict[str, Any]:
    shown = Boost(boost.id, boost.actor_id, record.id, boost.uri, boost.created_at)
    rendered = await _presenter(request, auth).statuses([], boosts={boost.id: shown})
    return rendered[0]


async def _own_status(request: web.Request, actor: ActorRecord) -> ObjectRecord:
    """Return one of the caller's live statuses; anyone else's is 'not found', as on Mastodon."""
    record = await ObjectRepository(request.app[INSTANCE].db).get(_path_id(request))
    if record is None or record.deleted_at or record.actor_id != actor.id:
        raise NotFound(RECORD_NOT_FOUND)
    return record


async def delete_status(request: web.Request) -> web.Response:
    """DELETE /api/v1/statuses/:id: returns the status with its source `text` (for redraft)."""
    auth = await require(request, "write:statuses")
    _, actor = auth.user()
    record = await _own_status(request, actor)
    entity = await _presenter(request, auth).status(record)
    entity["text"] = publishing.source_text(record)
    await publishing.delete_note(request.app[FEDERATION], actor, record.uri)
    return web.json_response(entity)


async def edit_status(request: web.Request) -> web.Response:
    """PUT /api/v1/statuses/:id: edit text, warning, media and poll; federates an Update."""
    auth = await require(request, "write:statuses")
    _, actor = auth.user()
    record = await _own_status(request, actor)
    params = await read_params(request)
    spoiler = params.text("spoiler_text")
    edited = await publishing.edit_note(
        request.app[FEDERATION],
        actor,
        record.id,
        text=params.text("status"),
        summary=spoiler.strip() if spoiler is not None else None,
        sensitive=params.boolean("sensitive") if "sensitive" in params else None,
        language=_language(params.text("language")) if "language" in params else None,
        media_ids=_ids(params.items("media_ids"), "media_ids"),
        poll=_poll_draft(params),
    )
    return await _render(request, auth, edited)


async def status_source(request: web.Request) -> web.Response:
    """GET /api/v1/statuses/:id/source: the plain text to edit."""
    auth = await require(request, "read:statuses")
    record = await _status(request, _path_id(request), _actor_of(auth))
    return web.json_response(
        {
            "id": str(record.id),
            "text": publishing.source_text(record),
            "spoiler_text": record.summary,
        }
    )


async def status_context(request: web.Request) -> web.Response:
    """GET /api/v1/statuses/:id/context: ancestors and descendants the caller may see."""
    auth = await _reader(request, "read:statuses")
    viewer = _actor_of(auth)
    record = await _status(request, _path_id(request), viewer)
    db = request.app[INSTANCE].db
    if viewer is None:
        up, down, depth = (
            status_access.ANONYMOUS_ANCESTORS,
            status_access.ANONYMOUS_DESCENDANTS,
            status_access.ANONYMOUS_DEPTH,
        )
    else:
        up = down = depth = status_access.MEMBER_THREAD_LIMIT
    above = await status_access.ancestors(db, record, viewer, limit=up)
    below = await status_access.descendants(db, record, viewer, limit=down, depth=depth)
    presenter = _presenter(request, auth)
    return web.json_response(
        {
            "ancestors": await presenter.statuses(above),
            "descendants": await presenter.statuses(below),
        }
    )


# Favourites, boosts, bookmarks, pins --------------------------------------------------------


async def _acting(request: web.Request, scope: str) -> tuple[Auth, ActorRecord, ObjectRecord]:
    auth = await require(request, scope)
    _, actor = auth.user()
    return auth, actor, await _status(request, _path_id(request), actor)


async def favourite(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/favourite."""
    auth, actor, record = await _acting(request, "write:favourites")
    await publishing.react(request.app[FEDERATION], actor, "Like", record.uri)
    return await _render(request, auth, record)


async def unfavourite(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/unfavourite."""
    auth, actor, record = await _acting(request, "write:favourites")
    await publishing.unreact(request.app[FEDERATION], actor, "Like", record.uri)
    return await _render(request, auth, record)


async def reblog(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/reblog: returns the boost, wrapping the status."""
    auth, actor, record = await _acting(request, "write:statuses")
    federation: Federation = request.app[FEDERATION]
    try:
        await publishing.react(federation, actor, "Announce", record.uri)
    except Forbidden as error:
        raise Forbidden("This action is not allowed") from error
    boost = await marks.find_boost(federation.instance.db, actor_id=actor.id, object_uri=record.uri)
    if boost is None:
        raise NotFound(RECORD_NOT_FOUND)
    return web.json_response(await _boost_entity(request, auth, boost, record))


async def unreblog(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/unreblog: returns the status no longer boosted."""
    auth, actor, record = await _acting(request, "write:statuses")
    await publishing.unreact(request.app[FEDERATION], actor, "Announce", record.uri)
    return await _render(request, auth, record)


async def bookmark(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/bookmark."""
    auth, _, record = await _acting(request, "write:bookmarks")
    account, _ = auth.user()
    await marks.bookmark(request.app[INSTANCE].db, account.id, record)
    return await _render(request, auth, record)


async def unbookmark(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/unbookmark."""
    auth, _, record = await _acting(request, "write:bookmarks")
    account, _ = auth.user()
    await marks.unbookmark(request.app[INSTANCE].db, account.id, record)
    return await _render(request, auth, record)


async def pin(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/pin: feature an own public status (Mastodon: write:accounts)."""
    auth, actor, record = await _acting(request, "write:accounts")
    account, _ = auth.user()
    await marks.pin(request.app[FEDERATION], account.id, actor, record)
    return await _render(request, auth, record)


async def unpin(request: web.Request) -> web.Response:
    """POST /api/v1/statuses/:id/unpin."""
    auth, actor, record = await _acting(request, "write:accounts")
    account, _ = auth.user()
    await marks.unpin(request.app[FEDERATION], account.id, actor, record)
    return await _render(request, auth, record)


async def _reactors(request: web.Request, table: str) -> web.Response:
    auth = await _reader(request, "read:accounts")
    record = await _status(request, _path_id(request), _actor_of(auth))
    page = page_of(await read_params(request), default=40, most=80)
    window = marks.Window(page.max_id, page.since_id, page.min_id, page.limit)
    db = request.app[INSTANCE].db
    rows = await marks.reactors(db, table, record.uri, window)
    actors = await ViewRepository(db).actors(actor_id for _, actor_id in rows)
    ordered = [actors[actor_id] for _, actor_id in rows if actor_id in actors]
    accounts = await _presenter(request, auth).accounts(ordered)
    return web.json_response(accounts, headers=link_header(request, [c for c, _ in rows]))


async def favourited_by(request: web.Request) -> web.Response:
    """GET /api/v1/statuses/:id/favourited_by."""
    return await _reactors(request, "likes")


async def reblogged_by(request: web.Request) -> web.Response:
    """GET /api/v1/statuses/:id/reblogged_by."""
    return await _reactors(request, "announces")


# Polls ------------------------------------------------------------------------------------


async def _poll_entity(request: web.Request, auth: Auth | None, record: ObjectRecord) -> Any:
    entity = (await _presenter(request, auth).status(record))["poll"]
    if entity is None:
        raise NotFound(RECORD_NOT_FOUND)
    return entity


async def get_poll(request: web.Request) -> web.Response:
    """GET /api/v1/polls/:id (a poll id is its status id)."""
    auth = await _reader(request, "read:statuses")
    record = await _status(request, _path_id(request), _actor_of(auth))
    return web.json_response(await _poll_entity(request, auth, record))


async def vote(request: web.Request) -> web.Response:
    """POST /api/v1/polls/:id/votes {choices[]}."""
    auth = await require(request, "write:statuses")
    _, actor = auth.user()
    record = await _status(request, _path_id(request), actor)
    params = await read_params(request)
    choices = _ids(params.items("choices"), "choices")
    governance = GovernanceService.of(request.app[FEDERATION])
    proposal = await governance.proposals.by_uri(record.uri)
    if proposal is not None:
        # A co-op proposal: the vote becomes a signed ballot its host can check.
        account, _ = auth.user()
        await governance.poll_vote(account, actor, proposal, choices)
    else:
        await polls.vote(request.app[FEDERATION], actor, record, choices)
    return web.json_response(await _poll_entity(request, auth, record))


# Lists ------------------------------------------------------------------------------------


async def _listed(request: web.Request, auth: Auth, rows: list[tuple[int, int]]) -> web.Response:
    found = await ViewRepository(request.app[INSTANCE].db).objects(item for _, item in rows)
    ordered = [found[item] for _, item in rows if item in found]
    statuses = await _presenter(request, auth).statuses(ordered)
    return web.json_response(statuses, headers=link_header(request, [c for c, _ in rows]))


async def bookmarks(request: web.Request) -> web.Response:
    """GET /api/v1/bookmarks."""
    auth = await require(request, "read:bookmarks")
    account, _ = auth.user()
    page = page_of(await read_params(request))
    window = marks.Window(page.max_id, page.since_id, page.min_id, page.limit)
    rows = await marks.bookmarked(request.app[INSTANCE].db, account.id, window)
    return await _listed(request, auth, rows)


async def favourites(request: web.Request) -> web.Response:
    """GET /api/v1/favourites."""
    auth = await require(request, "read:favourites")
    _, actor = auth.user()
    page = page_of(await read_params(request))
    window = marks.Window(page.max_id, page.since_id, page.min_id, page.limit)
    rows = await marks.favourited(request.app[INSTANCE].db, actor.id, window)
    return await _listed(request, auth, rows)


def setup(app: web.Application) -> None:
    """Add this module's routes."""
    base = "/api/v1/statuses"
    route(app, "POST", base, create_status)
    route(app, "GET", base, get_statuses)
    route(app, "GET", base + "/{id}", get_status)
    route(app, "PUT", base + "/{id}", edit_status)
    route(app, "DELETE", base + "/{id}", delete_status)
    route(app, "GET", base + "/{id}/context", status_context)
    route(app, "GET", base + "/{id}/source", status_source)
    route(app, "GET", base + "/{id}/favourited_by", favourited_by)
    route(app, "GET", base + "/{id}/reblogged_by", reblogged_by)
    for name, handler in (
        ("favourite", favourite),
        ("unfavourite", unfavourite),
        ("reblog", reblog),
        ("unreblog", unreblog),
        ("bookmark", bookmark),
        ("unbookmark", unbookmark),
        ("pin", pin),
        ("unpin", unpin),
    ):
        route(app, "POST", f"{base}/{{id}}/{name}", handler)
    route(app, "GET", "/api/v1/polls/{id}", get_poll)
    route(app, "POST", "/api/v1/polls/{id}/votes", vote)
    route(app, "GET", "/api/v1/bookmarks", bookmarks)
    route(app, "GET", "/api/v1/favourites", favourites)
