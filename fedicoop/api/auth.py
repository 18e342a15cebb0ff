"""Bearer tokens on API requests: who is calling, with what scopes."""

from aiohttp import web

from fedicoop.errors import NotAuthorized
from fedicoop.oauth.service import Auth, authenticate
from fedicoop.web.keys import INSTANCE

# The caller, looked up once per request. Optional[Auth] is not a class, so a holder is stored.
AUTH_KEY = web.RequestKey("fedicoop.auth", tuple)


def bearer_of(request: web.Request) -> str | None:
    """Return the token from `Authorization: Bearer`, or `access_token` (streaming clients)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.query.get("access_token") or None


async def optional_auth(request: web.Request) -> Auth | None:
    """Return the caller's Auth, None when anonymous; a bad token is still an error."""
    if AUTH_KEY in request:
        cached: Auth | None = request[AUTH_KEY][0]
        return cached
    token = bearer_of(request)
    auth = await authenticate(request.app[INSTANCE], token) if token else None
    request[AUTH_KEY] = (auth,)
    return auth


async def require(request: web.Request, scope: str, *, user: bool = True) -> Auth:
    """Return the caller's Auth, checking the scope (and that a user is behind the token)."""
    auth = await optional_auth(request)
    if auth is None:
        raise NotAuthorized("The access token is invalid")
    auth.require(scope)
    if user:
        auth.user()
    return auth
