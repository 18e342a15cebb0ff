"""Mastodon's OAuth scopes: parsing, validation, and whether a grant covers a need."""

from fedicoop.errors import Invalid

TOP_LEVEL = frozenset({"read", "write", "follow", "push", "profile", "admin:read", "admin:write"})
READ_SUBSCOPES = frozenset(
    {
        "accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists", "mutes",
        "notifications", "rides", "search", "statuses",
    }
)  # fmt: skip
WRITE_SUBSCOPES = frozenset(
    {
        "accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows",
        "lists", "media", "mutes", "notifications", "reports", "rides", "statuses",
    }
)  # fmt: skip
ALL_SCOPES = (
    TOP_LEVEL | {f"read:{s}" for s in READ_SUBSCOPES} | {f"write:{s}" for s in WRITE_SUBSCOPES}
)
# The deprecated `follow` scope grants these, as on Mastodon.
FOLLOW_GRANTS = frozenset(
    {"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"}
)


def parse_scopes(text: str | None, default: str = "read") -> frozenset[str]:
    """Split a space- or plus-separated scope string; refuse unknown scopes."""
    words = (text or default).replace("+", " ").split()
    unknown = [word for word in words if word not in ALL_SCOPES]
    if unknown:
        raise Invalid(f"unknown scope {unknown[0]!r}", field="scope")
    return frozenset(words or default.split())


def covers(granted: frozenset[str], required: str) -> bool:
    """Return whether granted scopes include `required` (e.g. `read` covers `read:statuses`)."""
    if required in granted:
        return True
    top = required.split(":", 1)[0]
    if ":" in required and top in granted and not required.startswith("admin:"):
        return True
    if required in FOLLOW_GRANTS and "follow" in granted:
        return True
    return required == "profile" and "read" in granted


def subset(requested: frozenset[str], allowed: frozenset[str]) -> bool:
    """Return whether every requested scope is within what an app registered."""
    return all(covers(allowed, scope) for scope in requested)


def text(scopes: frozenset[str]) -> str:
    """Render scopes as the space-separated string tokens carry."""
    order = sorted(scopes, key=lambda s: (":" in s, s))
    return " ".join(order)
