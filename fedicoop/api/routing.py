"""Route registration where `/path` and `/path/` both answer, as Mastodon clients expect."""

from typing import Any

from aiohttp import web


def route(app: web.Application, method: str, path: str, handler: Any) -> None:
    """Register a handler at a path and at the path with a trailing slash."""
    app.router.add_route(method, path, handler)
    if not path.endswith("/"):
        app.router.add_route(method, path + "/", handler)
