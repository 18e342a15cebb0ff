"""Rate limits on the client API, OAuth and the inbox, with Retry-After, as Mastodon answers.

Budgets are per 5-minute window (fixed windows, counted in this process): per access token
(the member's account) and per client address on `/api/` and `/oauth/`, per client address
on inbox POSTs. The defaults follow Mastodon (300 per account, 1,500 per address) and leave
a busy peer room (10,000 inbox POSTs per address); a co-op changes them in fedicoop.toml.
Every API answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`;
one over budget gets 429 with `Retry-After` and a JSON error, and reaches no handler.
With several web processes each counts its own share (docs/architecture.md).
"""

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from fedicoop.errors import FedicoopError
from fedicoop.web.client_address import client_address
from fedicoop.web.keys import INSTANCE

WINDOW_SECONDS = 300
INBOX_PATH = re.compile(r"^/(inbox|actor/inbox|users/[^/]+/inbox)$")
PRUNE_EVERY = 10_000  # requests between sweeps of expired windows


class TooManyRequests(FedicoopError):
    """Over a rate limit (429, Retry-After)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Budget:
    """What is left of one key's window."""

    limit: int
    remaining: int
    reset_at: float  # epoch seconds


class Windows:
    """Fixed windows of WINDOW_SECONDS per key."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, count)
        self._seen = 0

    def take(self, key: str, limit: int, now: float) -> Budget:
        """Count one request for `key`; raise TooManyRequests when over `limit`."""
        window = int(now // WINDOW_SECONDS)
        reset_at = (window + 1) * WINDOW_SECONDS
        current, count = self._counts.get(key, (window, 0))
        if current != window:
            count = 0
        if count >= limit:
            raise TooManyRequests(
                "Too many requests: slow down and retry later", int(reset_at - now) + 1
            )
        self._counts[key] = (window, count + 1)
        self._seen += 1
        if self._seen % PRUNE_EVERY == 0:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        return Budget(limit, limit - count - 1, reset_at)


_WINDOWS = web.AppKey("rate_limit_windows", Windows)


def _token_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    # The token itself is never kept in memory: its hash names the account's budget.
    return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request against its budgets; refuse it when one is spent."""
    path = request.path
    is_inbox = request.method == "POST" and INBOX_PATH.match(path) is not None
    is_api = path.startswith(("/api/", "/oauth/")) and not path.startswith("/api/v1/streaming")
    if not (is_inbox or is_api):
        return await handler(request)
    config = request.app[INSTANCE].config
    windows = request.app[_WINDOWS]
    now = time.time()
    address = client_address(request)
    if is_inbox:
        windows.take(f"inbox:{address}", config.rate_limit("inbox"), now)
        return await handler(request)
    budget = windows.take(f"ip:{address}", config.rate_limit("ip"), now)
    token = _token_key(request)
    if token is not None:
        budget = windows.take(token, config.rate_limit("api"), now)
    response = await handler(request)
    if not response.prepared:
        response.headers["X-RateLimit-Limit"] = str(budget.limit)
        response.headers["X-RateLimit-Remaining"] = str(budget.remaining)
        response.headers["X-RateLimit-Reset"] = (
            datetime.fromtimestamp(budget.reset_at, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    return response


def setup(app: web.Application) -> None:
    """Install the limits (after the error middleware, which turns a refusal into JSON)."""
    app[_WINDOWS] = Windows()
    app.middlewares.append(rate_limit_middleware)
