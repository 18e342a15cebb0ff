"""Mastodon API: the home, public (federated, local, remote) and hashtag timelines."""

from typing import Any

from aiohttp import web

from fedicoop.api.auth import optional_auth, require
from fedicoop.api.entities import Boost, Presenter, Viewer
from fedicoop.api.pagination import link_header, page_of
from fedicoop.api.params import Params, read_params
from fedicoop.api.routing import route
from fedicoop.oauth.service import Auth
from fedicoop.social import timelines
from fedicoop.social.timelines import Entry, PublicScope, TagQuery
from fedicoop.storage.notifications import ReactionRepository
from fedicoop.web.keys import INSTANCE

# Mastodon takes at most four extra tags in each of any[], all[] and none[].
MAX_EXTRA_TAGS = 4
MAX_TAG_LENGTH = 100


def viewer_of(auth: Auth | None) -> Viewer:
    """Return who is looking (anonymous when the token has no user)."""
    if auth is None or auth.account is None or auth.actor is None:
        return Viewer()
    return Viewer(account_id=auth.account.id, actor_id=auth.actor.id)


async def render_entries(presenter: Presenter, entries: list[Entry]) -> list[dict[str, Any]]:
    """Render home timeline entries in their order, boosts as reblogs of the boosted status."""
    objects = await presenter.views.objects(e.object_id for e in entries)
    rows = await ReactionRepository(presenter.instance.db).boosts(
        [e.boost_id for e in entries if e.boost_id is not None]
    )
    plain = [
        objects[e.object_id]
        for e in entries
        if e.boost_id is None and e.object_id in objects and not objects[e.object_id].deleted_at
    ]
    boosts: dict[int, Boost] = {}
    for entry in entries:
        row = rows.get(entry.boost_id) if entry.boost_id is not None else None
        boosted = objects.get(entry.object_id)
        if row is None or boosted is None or boosted.deleted_at:
            continue
        boosts[entry.id] = Boost(row.id, row.actor_id, entry.object_id, row.uri, row.created_at)
    rendered = {status["id"]: status for status in await presenter.statuses(plain, boosts)}
    return [rendered[str(e.id)] for e in entries if str(e.id) in rendered]


async def home_timeline(request: web.Request) -> web.Response:
    """GET /api/v1/timelines/home: what the member follows, boosts included, newest first."""
    auth = await require(request, "read:statuses")
    account, _ = auth.user()
    page = page_of(await read_params(request))
    instance = request.app[INSTANCE]
    entries = await timelines.home(
        instance.db,
        account.id,
        max_id=page.max_id,
        since_id=page.since_id,
        min_id=page.min_id,
        limit=page.limit,
    )
    body = await render_entries(Presenter(instance, viewer_of(auth)), entries)
    return web.json_response(body, headers=link_header(request, [e.id for e in entries]))


async def _public_page(request: web.Request, params: Params, tags: TagQuery | None) -> web.Response:
    auth = await optional_auth(request)
    if auth is not None:
        auth.require("read:statuses")
    viewer = viewer_of(auth)
    scope = PublicScope(
        local=params.boolean("local"),
        remote=params.boolean("remote"),
        only_media=params.boolean("only_media"),
        viewer_account_id=viewer.account_id,
        viewer_actor_id=viewer.actor_id,
    )
    page = page_of(params)
    instance = request.app[INSTANCE]
    objects = await timelines.public(
        instance.db,
        scope,
        max_id=page.max_id,
        since_id=page.since_id,
        min_id=page.min_id,
        limit=page.limit,
        tags=tags,
    )
    body = await Presenter(instance, viewer).statuses(objects)
    return web.json_response(body, headers=link_header(request, [o.id for o in objects]))


async def public_timeline(request: web.Request) -> web.Response:
    """GET /api/v1/timelines/public: public posts, all of them or local=true / remote=true."""
    return await _public_page(request, await read_params(request), None)


def _tag_names(params: Params, key: str) -> tuple[str, ...]:
    names = [_tag_name(str(value)) for value in params.items(key)]
    return tuple(name for name in names if name)[:MAX_EXTRA_TAGS]


def _tag_name(text: str) -> str:
    return text.strip().lstrip("#").lower()[:MAX_TAG_LENGTH]


async def tag_timeline(request: web.Request) -> web.Response:
    """GET /api/v1/timelines/tag/:hashtag: public posts with a hashtag (any[], all[], none[])."""
    params = await read_params(request)
    tag = _tag_name(request.match_info["hashtag"])
    if not tag:
        return web.json_response([])
    query = TagQuery(
        tag=tag,
        any_of=_tag_names(params, "any"),
        all_of=_tag_names(params, "all"),
        none_of=_tag_names(params, "none"),
    )
    return await _public_page(request, params, query)


def setup(app: web.Application) -> None:
    """Add the timeline routes."""
    route(app, "GET", "/api/v1/timelines/home", home_timeline)
    route(app, "GET", "/api/v1/timelines/public", public_timeline)
    route(app, "GET", "/api/v1/timelines/tag/{hashtag}", tag_timeline)
