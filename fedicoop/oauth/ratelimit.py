"""A sliding-window limiter against password guessing (per account and per IP)."""

import time
from collections import defaultdict, deque

from fedicoop.errors import FedicoopError


class TooManyAttempts(FedicoopError):
    """Too many tries in the window (429, with Retry-After)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    """Allow `limit` events per key within `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def check(self, *keys: str) -> None:
        """Raise TooManyAttempts if any key is over its budget (counting nothing)."""
        now = time.monotonic()
        for key in keys:
            events = self._events[key]
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                retry = int(events[0] + self.window - now) + 1
                raise TooManyAttempts("too many login attempts; try again later", retry)

    def hit(self, *keys: str) -> None:
        """Count one failed attempt for each key."""
        now = time.monotonic()
        for key in keys:
            self._events[key].append(now)
