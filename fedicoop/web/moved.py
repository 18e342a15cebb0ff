"""After `move-coop`: every address of the old host leads to the same path on the new one.

Actor documents stay here (they carry `movedTo`, which is how Mastodon and others learn of a
move, and their keys keep old signatures checkable); so do discovery, the inbox (late
deliveries and Undo of old follows still arrive) and the health check. Everything else a
client or server GETs, posts, rides, proposals, pages, is redirected permanently.
"""

import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from fedicoop.portability.coop_move import MOVED_TO
from fedicoop.storage.accounts import SettingsRepository
from fedicoop.web.keys import INSTANCE

STAYS = re.compile(r"^/(users/[^/]+|actor|health|ns|nodeinfo/.*|\.well-known/.*)$")
CACHE_SECONDS = 5.0
_CACHE = web.AppKey("moved_to_cache", dict)


async def _moved_to(request: web.Request) -> str | None:
    cache: dict[str, tuple[float, str | None]] = request.app[_CACHE]
    now = time.monotonic()
    seen = cache.get(MOVED_TO)
    if seen is None or now - seen[0] > CACHE_SECONDS:
        # Read at most every few seconds: `move-coop` runs in another process.
        value = await SettingsRepository(request.app[INSTANCE].db).get(MOVED_TO)
        seen = (now, value)
        cache[MOVED_TO] = seen
    return seen[1]


@web.middleware
async def moved_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Redirect reads of a moved co-op's addresses to its new domain."""
    if request.method in ("GET", "HEAD") and not STAYS.match(request.path):
        target = await _moved_to(request)
        if target:
            raise web.HTTPPermanentRedirect(target + request.path_qs)
    return await handler(request)


def setup(app: web.Application) -> None:
    """Install the redirecting middleware."""
    app[_CACHE] = {}
    app.middlewares.append(moved_middleware)
