"""Shared pieces of the hostile-input tests: refusals, table snapshots, XSS payloads.

A refusal is only half a test: each case also checks that nothing changed, by comparing the
row counts (and, where it matters, the rows themselves) before and after, with the inbox
processor run in between so that a request accepted by mistake would have taken effect.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

from aiohttp import ClientResponse

from tests.activitypub.remote import Coop

WATCHED_TABLES = (
    "inbox",
    "objects",
    "activities",
    "follows",
    "likes",
    "announces",
    "reports",
    "actors",
    "notifications",
)

# Active content as attackers write it: each must come back inert wherever it is shown.
XSS_PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "img-onerror": '<img src=x onerror="alert(2)">',
    "javascript-link": '<a href="javascript:alert(3)">x</a>',
    "svg-onload": "<svg/onload=alert(4)>",
    "iframe": '<iframe src="javascript:alert(5)"></iframe>',
    "event-attr": '<p onmouseover="alert(6)">hover</p>',
    "style-expression": '<div style="background:url(javascript:alert(7))">s</div>',
    "broken-out": '"><script>alert(8)</script>',
}
XSS_IDS = list(XSS_PAYLOADS)

# Elements that run code or load active content, wherever they appear.
ACTIVE_TAGS = frozenset(
    {"script", "iframe", "frame", "svg", "math", "object", "embed", "style", "form", "base"}
)


# The one script the HTML pages load themselves (time zones, local times; see base.html).
FIRST_PARTY_SCRIPTS = frozenset({"/app/assets/pages.js"})


class _ActiveContentFinder(HTMLParser):
    """Collect what a browser would run: active elements, event handlers, script URLs, styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if (
            tag == "script"
            and dict(attrs).get("src") in FIRST_PARTY_SCRIPTS
            and {name for name, _ in attrs} <= {"src", "defer"}
        ):
            return  # the pages' own frame, not content: payloads never load a same-site file
        if tag in ACTIVE_TAGS or (tag == "meta" and any(n == "http-equiv" for n, _ in attrs)):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            lowered = (value or "").strip().lower().replace("\t", "").replace("\n", "")
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.found.append(f"{tag}[{name}]")
            elif lowered.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.found.append(f"{tag}[{name}={value}]")

    handle_startendtag = handle_starttag


def active_content(html: str) -> list[str]:
    """Return the active content an HTML string carries (empty when it is inert)."""
    finder = _ActiveContentFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def inert(html: str) -> bool:
    """Return whether HTML we serve back would run nothing in a browser."""
    return not active_content(html)


def escaped_or_inert(served: str) -> bool:
    """For a whole page: no tag from the payloads survives unescaped."""
    return not active_content(served) and "<img src=x" not in served.lower()


def encode(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity).encode()


async def refused(response: ClientResponse, status: int) -> str:
    """Assert the status and a JSON error body; return the error message."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    return str(body["error"])


async def snapshot(coop: Coop, tables: tuple[str, ...] = WATCHED_TABLES) -> dict[str, int]:
    """Return the row count of each watched table."""
    return {table: await coop.count(table) for table in tables}
