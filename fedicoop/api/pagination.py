"""Mastodon's `Link` pagination with max_id / since_id / min_id."""

from dataclasses import dataclass

from aiohttp import web
from yarl import URL

from fedicoop.api.params import Params
from fedicoop.web.keys import INSTANCE

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """The window a client asked for."""

    max_id: int
    since_id: int
    min_id: int | None
    limit: int

    @property
    def ascending(self) -> bool:
        """min_id asks for the oldest items just above it (then shown newest first)."""
        return self.min_id is not None


def page_of(params: Params, *, default: int = 20, most: int = 40) -> Page:
    """Read max_id, since_id, min_id and limit."""
    return Page(
        max_id=params.integer("max_id", MAX_ID) or MAX_ID,
        since_id=params.integer("since_id", 0) or 0,
        min_id=params.integer("min_id"),
        limit=params.integer("limit", default, lo=1, hi=most) or default,
    )


def link_header(request: web.Request, ids: list[int]) -> dict[str, str]:
    """Return a Link header pointing to older (next) and newer (prev) pages, absolute URLs."""
    if not ids:
        return {}
    # Absolute URLs on our public origin (not the socket's), so they work behind a proxy.
    public = URL(request.app[INSTANCE].config.base_url + request.path)
    base = public.with_query(
        [(k, v) for k, v in request.query.items() if k not in ("max_id", "since_id", "min_id")]
    )
    next_url = base.update_query(max_id=str(min(ids)))
    prev_url = base.update_query(min_id=str(max(ids)))
    return {"Link": f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'}
