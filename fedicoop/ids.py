"""Row and URL ids: time-ordered 63-bit integers with random low bits.

Ids appear in ActivityPub URLs, so they must never repeat: a stale backup restored later
must not hand out an id that was already federated. Plain sequences would; ids made of
the clock plus random bits do not (and they sort by creation time, which Mastodon clients
rely on for pagination).
"""

import secrets
import threading
import time

_RANDOM_BITS = 16
_lock = threading.Lock()
_last = 0


def new_id() -> int:
    """Return a fresh id, strictly greater than any this process made before."""
    global _last
    candidate = (time.time_ns() // 1_000_000) << _RANDOM_BITS | secrets.randbits(_RANDOM_BITS)
    with _lock:
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate
    return candidate


def id_floor(epoch_ms: int) -> int:
    """Return the smallest id made at a given time (for time-based pagination)."""
    return epoch_ms << _RANDOM_BITS
