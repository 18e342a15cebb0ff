"""Time in one format: timezone-aware UTC, stored as fixed-width ISO 8601 text."""

from datetime import UTC, datetime


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    """Format a time so that text order equals time order (stored in the database)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_text(text: str) -> datetime:
    """Parse a stored or ActivityStreams time (any ISO 8601 with offset or Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def now_text() -> str:
    """Return the current time as stored text."""
    return to_text(now())


def as2_time(moment: datetime) -> str:
    """Format a time the way ActivityStreams documents carry it (seconds, Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
