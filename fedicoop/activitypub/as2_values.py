"""Lenient readers for single AS2 values: references, strings, language maps, dates, origins.

Compacted AS2 from the wild gives every property several shapes (a string, an object, a list of
either, null). These functions turn each shape into one plain Python value and never raise on
an odd shape: they return None or an empty list instead.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "PUBLIC_ADDRESSES",
    "as_list",
    "check_no_lone_surrogates",
    "first_str",
    "first_url",
    "id_of",
    "ids_of",
    "is_public",
    "localized",
    "non_negative_int",
    "origin_of",
    "parse_datetime",
    "same_origin",
    "str_or_none",
    "types_of",
]

# The special collection meaning "everyone". Mastodon writes the full IRI, some servers the
# compacted `as:Public` or bare `Public` (both legal under the AS2 context), and old Pleroma and
# Mastodon payloads the `http:` spelling.
PUBLIC_ADDRESSES: Final = frozenset(
    {
        "https://www.w3.org/ns/activitystreams#Public",
        "http://www.w3.org/ns/activitystreams#Public",
        "as:Public",
        "Public",
    }
)

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def as_list(value: Any) -> list[Any]:
    """Return `value` as a list: None gives [], a list or tuple is copied, anything else wrapped."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def str_or_none(value: Any) -> str | None:
    """Return `value` if it is a string, else None."""
    return value if isinstance(value, str) else None


def first_str(value: Any) -> str | None:
    """Return the first string in `value` (a string, a list, or a JSON-LD `{"@value": …}`)."""
    for item in as_list(value):
        if isinstance(item, str):
            return item
        if isinstance(item, Mapping) and isinstance(item.get("@value"), str):
            return str(item["@value"])
    return None


def id_of(value: Any) -> str | None:
    """Return the IRI a reference names: the string itself, or the `id` of an embedded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        ident = value.get("id")
        if isinstance(ident, str) and ident:
            return ident
    return None


def ids_of(value: Any) -> list[str]:
    """Return the IRIs of every reference in a single value or a list, skipping unusable items."""
    return [ident for item in as_list(value) if (ident := id_of(item)) is not None]


def types_of(value: Any) -> list[str]:
    """Return the `type` of an object as a list of strings (AS2 allows one or several)."""
    if not isinstance(value, Mapping):
        return []
    return [item for item in as_list(value.get("type")) if isinstance(item, str) and item]


def first_url(value: Any, prefer_media_type: str | None = "text/html") -> str | None:
    """Return a URL from a `url`/`href`-style value: a string, a Link, an object or a list.

    PeerTube and Mobilizon give lists of Links with media types; the HTML page is preferred.
    """
    candidates: list[tuple[str, str | None]] = []
    for item in as_list(value):
        if isinstance(item, str):
            candidates.append((item, None))
        elif isinstance(item, Mapping):
            target = item.get("href") if isinstance(item.get("href"), str) else item.get("url")
            if isinstance(target, str):
                candidates.append((target, str_or_none(item.get("mediaType"))))
            elif isinstance(target, list | Mapping):
                nested = first_url(target, prefer_media_type)
                if nested is not None:
                    candidates.append((nested, str_or_none(item.get("mediaType"))))
    candidates = [(url, media) for url, media in candidates if url]
    if not candidates:
        return None
    if prefer_media_type is not None:
        for url, media in candidates:
            if media == prefer_media_type:
                return url
    return candidates[0][0]


def _language_matches(tag: str, wanted: str) -> bool:
    tag, wanted = tag.lower(), wanted.lower()
    return tag == wanted or tag.split("-", 1)[0] == wanted.split("-", 1)[0]


def localized(
    doc: Mapping[str, Any], key: str, languages: Sequence[str] = ()
) -> tuple[str | None, str | None, dict[str, str]]:
    """Read a natural-language property and its `<key>Map`: (text, language, whole map).

    The plain property is the sender's default and wins when present; otherwise the map entry in
    the first of `languages` found, then the undetermined `und`, then the first entry.
    """
    raw_map = doc.get(key + "Map")
    language_map = (
        {lang: text for lang, text in raw_map.items() if isinstance(text, str)}
        if isinstance(raw_map, Mapping)
        else {}
    )
    plain = first_str(doc.get(key))
    if plain is not None:
        same = [lang for lang, text in language_map.items() if text == plain]
        return plain, (same[0] if len(same) == 1 else None), language_map
    if not language_map:
        return None, None, language_map
    for wanted in (*languages, "und"):
        for lang, text in language_map.items():
            if _language_matches(lang, wanted):
                return text, lang, language_map
    lang, text = next(iter(language_map.items()))
    return text, lang, language_map


def parse_datetime(value: Any) -> datetime | None:
    """Parse an xsd:dateTime leniently; a naive timestamp (old Pleroma) is taken as UTC."""
    text = first_str(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def non_negative_int(value: Any) -> int | None:
    """Return a count (width, votersCount, totalItems…) as an int, or None if unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if number >= 0 else None


def origin_of(url: str) -> str:
    """Return `scheme://host[:port]`, lowercased, default port dropped; "" if `url` has none.

    Origins decide which server may speak for an object, so every spelling of one host (case,
    default port, trailing dot, IDN) must compare equal and anything unparsable matches nothing.
    """
    if not isinstance(url, str):
        return ""
    # Only `scheme://netloc` decides, and urlsplit ends the netloc at the first / ? or #:
    # parse each server's prefix once, not every object id again.
    start = url.find("://")
    end = len(url)
    if start >= 0:
        for delimiter in "/?#":
            found = url.find(delimiter, start + 3)
            if 0 <= found < end:
                end = found
    return _origin_of(url[:end])


@functools.lru_cache(maxsize=8192)
def _origin_of(url: str) -> str:
    if "\\" in url:
        # URL-parser differential: Python reads "http://victim.test\@attacker.test/x" as on
        # attacker.test, browsers and WHATWG parsers as on victim.test. Such an id names no
        # origin, so an attacker cannot publish objects that other software shows as a
        # victim's (tests/security/test_inbox_forgery.py).
        return ""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def same_origin(a: str | None, b: str | None) -> bool:
    """Return True when both URLs have the same, non-empty origin."""
    if not a or not b:
        return False
    origin = origin_of(a)
    return bool(origin) and origin == origin_of(b)


def is_public(to: Any, cc: Any = None, *more: Any) -> bool:
    """Return True when any addressing field (`to`, `cc`, …) names the public collection."""
    for field in (to, cc, *more):
        for item in as_list(field):
            if id_of(item) in PUBLIC_ADDRESSES:
                return True
    return False


def check_no_lone_surrogates(raw: str | bytes, document: Any) -> None:
    r"""Raise ValueError when a decoded JSON document holds a lone UTF-16 surrogate.

    JSON's "\ud800" escape decodes to a code point no UTF-8 encoder accepts: such a string
    used to reach sanitising, logging or the database and fail there with UnicodeEncodeError,
    a 500 for any POST signed with a key whose actor document held one. Only a \uD800–\uDFFF
    escape in the raw text can produce one, so documents without that escape skip the walk.
    """
    if isinstance(raw, bytes):
        suspicious = b"\\ud" in raw or b"\\uD" in raw
    else:
        suspicious = "\\ud" in raw or "\\uD" in raw
    if not suspicious:
        return
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("the document holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from error
