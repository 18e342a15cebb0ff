"""The one middleware that turns the exception family into JSON error bodies."""

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from fedicoop.errors import FedicoopError

log = logging.getLogger(__name__)


def error_body(message: str, *, field: str | None = None) -> dict[str, str]:
    """Return an error body in Mastodon's shape ({"error": ...}), naming the field if any."""
    body = {"error": message}
    if field:
        body["field"] = field
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure with JSON, never with text/plain or a traceback."""
    try:
        return await handler(request)
    except FedicoopError as error:
        retry_after = getattr(error, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            error_body(error.message, field=error.field), status=error.status, headers=headers
        )
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        reason = (
            error.text if error.text and error.text != f"{error.status}: {error.reason}" else None
        )
        return web.json_response(
            error_body(reason or error.reason), status=error.status, headers=_kept(error)
        )
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return web.json_response(error_body("internal server error"), status=500)


def _kept(error: web.HTTPException) -> dict[str, str]:
    """Keep headers a client needs from an aiohttp exception (Allow, Retry-After, Location)."""
    return {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After", "Location")}
