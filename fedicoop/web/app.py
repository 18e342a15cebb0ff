"""The aiohttp application factory: typed state, middleware, routes from each package."""

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from fedicoop.errors import Unavailable
from fedicoop.instance import Instance
from fedicoop.web.errors import error_middleware
from fedicoop.web.keys import INSTANCE

log = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    """Answer 200 when the database answers, 503 otherwise."""
    instance = request.app[INSTANCE]
    try:
        await instance.db.fetchval("SELECT 1")
    except Exception as error:
        raise Unavailable(f"database unreachable: {error}") from error
    return web.json_response({"status": "ok", "domain": instance.domain})


def create_app(instance: Instance) -> web.Application:
    """Build the web application for one instance."""
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=max(instance.config.max_body_bytes, 16 * 1024 * 1024),
    )
    app[INSTANCE] = instance
    app.router.add_get("/health", health)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        log.info("instance ready", extra={"domain": instance.domain})
        yield
        await instance.close()

    app.cleanup_ctx.append(lifecycle)
    return app
