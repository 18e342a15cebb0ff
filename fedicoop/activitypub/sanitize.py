"""HTML in and out of federated posts: sanitize remote HTML, render local text, extract plain text.

Remote `content`, `summary` and `name` values are attacker-controlled HTML. Everything shown in a
page or handed to a Mastodon client goes through `sanitize_html` first; `html_to_text` gives the
plain text used for summaries, notifications and search; `text_to_html` renders what our own
members type.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser
from typing import Final

import nh3

__all__ = ["html_to_text", "sanitize_html", "text_to_html"]

LINK_REL: Final = "nofollow noopener noreferrer"

# The shape of a fediverse post: paragraphs, line breaks, links, light emphasis, lists, quotes and
# code. No images, media, forms, tables or inline styles: attachments carry media separately.
_ALLOWED_TAGS: Final = frozenset(
    {
        "p", "br", "a", "span", "strong", "em", "b", "i", "u", "s", "del",
        "code", "pre", "blockquote", "ul", "ol", "li",
    }
)  # fmt: skip

# Only the microformat classes Mastodon-compatible servers put in posts, so that mentions,
# hashtags and shortened links render as on the sender's server; any other class could pick up
# our page's CSS (e.g. a remote post styling itself as a system notice).
_ALLOWED_CLASSES: Final = frozenset(
    {"mention", "hashtag", "u-url", "h-card", "invisible", "ellipsis"}
)

# Removed together with their content: their text is code, styling or a second document, never
# prose, and an SVG or MathML island is where mutation-XSS tricks hide.
_DROP_WITH_CONTENT: Final = frozenset(
    {
        "script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "svg",
        "math", "noscript", "noembed", "noframes", "textarea", "title", "xmp", "select",
    }
)  # fmt: skip

_CLEANER: Final = nh3.Cleaner(
    tags=set(_ALLOWED_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    # `rel` is not taken from the sender: link_rel below overwrites it on every link. The empty
    # "*" entry removes ammonia's default global `lang` and `title`.
    attributes={"*": set(), "a": {"href"}},
    allowed_classes={"a": set(_ALLOWED_CLASSES), "span": set(_ALLOWED_CLASSES)},
    # javascript:, data:, vbscript: and every other scheme run code or smuggle content.
    url_schemes={"http", "https", "mailto"},
    # A relative link in a remote post would resolve against *our* host.
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)

# Headings are demoted to a bold paragraph (as Mastodon does) so a remote post cannot shout over
# the page; the renamed tags still go through the cleaner afterwards.
_HEADING_TAG = re.compile(r"<(/?)h[1-6](?=[\s/>])[^>]*>", re.IGNORECASE)


def _demote_heading(match: re.Match[str]) -> str:
    return "</strong></p>" if match.group(1) else "<p><strong>"


def sanitize_html(html: str) -> str:
    """Return remote HTML reduced to the allowlist above, safe to embed in our pages."""
    if not html:
        return ""
    return str(_CLEANER.clean(_HEADING_TAG.sub(_demote_heading, html)))


_BLOCK_TAGS: Final = frozenset(
    {
        "p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "tr", "section", "article", "header", "footer", "dl", "dt", "dd", "figure",
    }
)  # fmt: skip
_PARAGRAPH_BREAK: Final = "\x00"
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment, one paragraph per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARAGRAPH_BREAK if tag not in {"li", "dt", "dd", "tr"} else "\n")
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARAGRAPH_BREAK if tag not in {"li", "dt", "dd", "tr"} else "\n")
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        # Whitespace inside HTML prose is layout, not content; inside <pre> it is content.
        self.parts.append(data if self._pre_depth else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment: paragraphs split by a blank line, no markup."""
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    paragraphs = []
    for block in "".join(extractor.parts).split(_PARAGRAPH_BREAK):
        lines = [line.strip(" ") for line in block.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


# A bare web address; quotes and angle brackets end it because they never appear unescaped in a
# real URL and would otherwise let text break out of the href.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING_PUNCTUATION: Final = ".,;:!?*'\""
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}


def _trim_url(url: str) -> tuple[str, str]:
    """Split trailing punctuation off a matched URL: `(see https://x.org/a).` keeps `)` and `.`."""
    tail = ""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION:
            pass
        elif last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last]):
            pass
        else:
            break
        tail = last + tail
        url = url[:-1]
    return url, tail


def _escape(text: str, quote: bool = False) -> str:
    # Escape exactly as the HTML serializer behind nh3 does (it also spells U+00A0 `&nbsp;`), so
    # that our rendering is already in the canonical form sanitize_html would store.
    return escape(text, quote=quote).replace("\xa0", "&nbsp;")


def _is_linkable(url: str) -> bool:
    """True if the sanitizer would keep `url` as an href (it drops ones it cannot parse)."""
    probe = f'<a href="{_escape(url, quote=True)}"></a>'
    return "href=" in str(_CLEANER.clean(probe))


def _linkify(line: str) -> str:
    out: list[str] = []
    position = 0
    for match in _URL.finditer(line):
        url, tail = _trim_url(match.group(0))
        if not _is_linkable(url):
            continue
        out.append(_escape(line[position : match.start()]))
        out.append(f'<a href="{_escape(url, quote=True)}" rel="{LINK_REL}">{_escape(url)}</a>')
        out.append(_escape(tail))
        position = match.end()
    out.append(_escape(line[position:]))
    return "".join(out)


_BLANK_LINES = re.compile(r"\n[ \t]*\n+")
# C0 controls other than tab and newline (and DEL) are not allowed in HTML text.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_to_html(text: str) -> str:
    """Render plain text as HTML: escaped, blank lines make paragraphs, bare http(s) URLs linked."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    normalized = _CONTROL_CHARACTERS.sub("", normalized).strip("\n")
    if not normalized.strip():
        return ""
    paragraphs = []
    for block in _BLANK_LINES.split(normalized):
        if not block.strip():
            continue
        lines = block.strip("\n").split("\n")
        paragraphs.append("<p>" + "<br>".join(_linkify(line) for line in lines) + "</p>")
    return "".join(paragraphs)
