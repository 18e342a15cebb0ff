"""The aiohttp application factory: typed state, middleware, routes from each package."""

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from fedicoop.activitypub.runtime import Role
from fedicoop.api import setup as client_api
from fedicoop.errors import Unavailable
from fedicoop.instance import Instance
from fedicoop.services import build_federation
from fedicoop.web import (
    activitypub_routes,
    discovery,
    governance_documents,
    home,
    join,
    migration_map,
    moved,
    pages,
    ratelimit,
)
from fedicoop.web.errors import error_middleware
from fedicoop.web.keys import FEDERATION, INSTANCE

log = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    """Answer 200 when the database answers, 503 otherwise."""
    instance = request.app[INSTANCE]
    try:
        await instance.db.fetchval("SELECT 1")
    except Exception as error:
        raise Unavailable(f"database unreachable: {error}") from error
    return web.json_response({"status": "ok", "domain": instance.domain})


def create_app(
    instance: Instance, *, background: bool = True, role: Role = Role.ALL
) -> web.Application:
    """Build the web application for one instance (background: run inbox and delivery loops)."""
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=max(instance.config.max_body_bytes, 16 * 1024 * 1024),
    )
    federation = build_federation(instance)
    if role is not Role.ALL:
        federation.as_one_of_several(role)
    app[INSTANCE] = instance
    app[FEDERATION] = federation
    app.router.add_get("/health", health)
    ratelimit.setup(app)
    moved.setup(app)
    migration_map.setup(app)
    discovery.setup(app)
    activitypub_routes.setup(app)
    governance_documents.setup(app)
    client_api.setup(app)
    home.setup(app)
    join.setup(app)
    pages.setup(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if background:
            await federation.start()
        else:
            await federation.instance_actor()
        log.info("instance ready", extra={"domain": instance.domain})
        yield
        await federation.stop()
        await instance.close()

    app.cleanup_ctx.append(lifecycle)
    return app
