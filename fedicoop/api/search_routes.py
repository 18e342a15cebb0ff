"""Mastodon API: GET /api/v2/search — accounts, statuses and hashtags."""

from typing import Any

from aiohttp import web

from fedicoop.api.auth import optional_auth
from fedicoop.api.entities import Presenter
from fedicoop.api.params import read_params
from fedicoop.api.routing import route
from fedicoop.api.timelines_routes import viewer_of
from fedicoop.errors import Invalid, NotAuthorized
from fedicoop.social.search import KINDS, SearchQuery, TagUsage, search
from fedicoop.web.keys import FEDERATION, INSTANCE


def tag_entity(base_url: str, tag: TagUsage, *, signed_in: bool) -> dict[str, Any]:
    """Render a Tag entity with its daily history (counts as strings, as Mastodon sends)."""
    entity: dict[str, Any] = {
        "name": tag.name,
        "url": f"{base_url}/tags/{tag.name}",
        "history": [
            {"day": str(day.day), "uses": str(day.uses), "accounts": str(day.accounts)}
            for day in tag.history
        ],
    }
    if signed_in:
        entity["following"] = False
    return entity


async def search_v2(request: web.Request) -> web.Response:
    """GET /api/v2/search?q=&type=&resolve=&limit=&offset=&following=&account_id=."""
    auth = await optional_auth(request)
    if auth is not None:
        auth.require("read:search")
    params = await read_params(request)
    viewer = viewer_of(auth)
    resolve = params.boolean("resolve")
    offset = params.integer("offset", 0) or 0
    # Fetching from elsewhere and paging are for members only, as on Mastodon 4.
    if viewer.account_id is None and resolve:
        raise NotAuthorized(
            "Search queries that resolve remote resources are not supported without authentication"
        )
    if viewer.account_id is None and offset:
        raise NotAuthorized("Search queries pagination is not supported without authentication")
    kind = params.text("type")
    if kind and kind not in KINDS:
        raise Invalid("type must be accounts, statuses or hashtags", field="type")
    account_text = params.text("account_id")
    query = SearchQuery(
        text=params.text("q", "") or "",
        kinds=frozenset({kind}) if kind else KINDS,
        resolve=resolve,
        limit=params.integer("limit", 20, lo=1, hi=40) or 20,
        offset=offset,
        following=params.boolean("following"),
        account_id=int(account_text) if account_text and account_text.isdigit() else None,
        viewer_actor_id=viewer.actor_id,
    )
    found = await search(request.app[FEDERATION], query)
    instance = request.app[INSTANCE]
    presenter = Presenter(instance, viewer)
    return web.json_response(
        {
            "accounts": await presenter.accounts(found.accounts),
            "statuses": await presenter.statuses(found.statuses),
            "hashtags": [
                tag_entity(instance.config.base_url, tag, signed_in=viewer.account_id is not None)
                for tag in found.hashtags
            ],
        }
    )


def setup(app: web.Application) -> None:
    """Add the search route (GET /api/v1/accounts/search lives with the accounts routes)."""
    route(app, "GET", "/api/v2/search", search_v2)
