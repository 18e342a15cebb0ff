"""Visibility ↔ ActivityStreams addressing, the way Mastodon maps them."""

from collections.abc import Iterable
from enum import StrEnum

from fedicoop.activitypub.documents import PUBLIC
from fedicoop.errors import Invalid

PUBLIC_FORMS = frozenset({PUBLIC, "as:Public", "Public"})


class Visibility(StrEnum):
    """Who may see a post."""

    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"  # followers only
    DIRECT = "direct"


def parse_visibility(value: str) -> Visibility:
    """Return a Visibility or raise Invalid naming the choices."""
    try:
        return Visibility(value)
    except ValueError as error:
        choices = ", ".join(v.value for v in Visibility)
        raise Invalid(f"visibility must be one of {choices}", field="visibility") from error


def address(
    visibility: Visibility, followers_uri: str, mentioned: Iterable[str], groups: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """Return (to, cc) for a post; mentioned actors and addressed groups always receive it."""
    mentioned = list(dict.fromkeys(mentioned))
    groups = list(dict.fromkeys(groups))
    if visibility is Visibility.PUBLIC:
        return [PUBLIC, *groups], [followers_uri, *mentioned]
    if visibility is Visibility.UNLISTED:
        return [followers_uri, *groups], [PUBLIC, *mentioned]
    if visibility is Visibility.PRIVATE:
        return [followers_uri, *groups], list(mentioned)
    return [*mentioned, *groups], []


def visibility_of(to: Iterable[str], cc: Iterable[str], followers_uri: str | None) -> Visibility:
    """Infer a received post's visibility from its addressing."""
    to_set, cc_set = set(to), set(cc)
    if to_set & PUBLIC_FORMS:
        return Visibility.PUBLIC
    if cc_set & PUBLIC_FORMS:
        return Visibility.UNLISTED
    if followers_uri and followers_uri in to_set | cc_set:
        return Visibility.PRIVATE
    if any(address.endswith("/followers") for address in to_set | cc_set):
        return Visibility.PRIVATE
    return Visibility.DIRECT
