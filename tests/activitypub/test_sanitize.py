"""sanitize_html keeps fediverse markup and nothing that runs; text helpers round-trip."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedicoop.activitypub.sanitize import LINK_REL, html_to_text, sanitize_html, text_to_html

ALLOWED_TAGS = {
    "p", "br", "a", "span", "strong", "em", "b", "i", "u", "s", "del",
    "code", "pre", "blockquote", "ul", "ol", "li",
}  # fmt: skip
ALLOWED_CLASSES = {"mention", "hashtag", "u-url", "h-card", "invisible", "ellipsis"}
ALLOWED_ATTRIBUTES = {"a": {"href", "rel", "class"}, "span": {"class"}}


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def assert_safe(html: str) -> None:
    """Every element, attribute, class and link in `html` is on the allowlist."""
    parser = _Structure()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.elements:
        assert tag in ALLOWED_TAGS, (tag, html)
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attrs, html)
        assert set((attrs.get("class") or "").split()) <= ALLOWED_CLASSES, (attrs, html)
        if tag == "a":
            assert attrs.get("rel") == LINK_REL
            href = (attrs.get("href") or "https:").strip().lower()
            assert href.startswith(("http:", "https:", "mailto:")), (href, html)
    # Idempotent: what we stored is exactly what a second pass would produce.
    assert sanitize_html(html) == html


MASTODON_POST = (
    '<p><span class="h-card" translate="no"><a href="https://mastodon.example/@alice" '
    'class="u-url mention">@<span>alice</span></a></span> look: '
    '<a href="https://example.org/a/very/long/path" target="_blank" rel="nofollow noopener">'
    '<span class="invisible">https://</span><span class="ellipsis">example.org/a/very</span>'
    '<span class="invisible">/long/path</span></a> '
    '<a href="https://mastodon.example/tags/coop" class="mention hashtag" rel="tag">'
    "#<span>coop</span></a></p>"
)


def test_mastodon_markup_survives_with_our_rel() -> None:
    # Given a real-shaped Mastodon post with a mention, a shortened link and a hashtag
    # When it is sanitized
    out = sanitize_html(MASTODON_POST)
    # Then microformat classes stay, rel is ours, target/translate are gone
    assert '<span class="h-card"><a href="https://mastodon.example/@alice"' in out
    assert 'class="u-url mention"' in out
    assert '<span class="invisible">https://</span>' in out
    assert 'class="mention hashtag"' in out
    assert "target=" not in out and "translate=" not in out
    assert out.count(f'rel="{LINK_REL}"') == 3
    assert_safe(out)


def test_unknown_classes_and_attributes_are_dropped() -> None:
    out = sanitize_html(
        '<p class="notice" id="x"><span class="btn h-card" data-x="1">hi</span></p>'
    )
    assert out == '<p><span class="h-card">hi</span></p>'


def test_headings_become_bold_paragraphs() -> None:
    out = sanitize_html('<h1 style="font-size:99px">Big</h1><h3>Small</h3><p>text</p>')
    assert out == "<p><strong>Big</strong></p><p><strong>Small</strong></p><p>text</p>"


def test_plain_formatting_is_kept() -> None:
    html = (
        "<p><strong>a</strong> <em>b</em> <b>c</b> <i>d</i> <u>e</u> <s>f</s> <del>g</del> "
        "<code>h</code></p><pre><code>x = 1</code></pre><blockquote><p>q</p></blockquote>"
        "<ul><li>one</li></ul><ol><li>two</li></ol><p>line<br>break</p>"
    )
    assert sanitize_html(html) == html


def test_mailto_links_are_kept_and_relative_links_lose_href() -> None:
    assert 'href="mailto:board@coop.example"' in sanitize_html(
        '<a href="mailto:board@coop.example">mail</a>'
    )
    assert "href" not in sanitize_html('<a href="/admin/delete">click</a>')


XSS_PAYLOADS = {
    "script": "<script>alert(1)</script>hello",
    "script-uppercase": "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>hello",
    "img-onerror": '<img src="x" onerror="alert(1)">hello',
    "event-on-allowed-tag": '<a href="https://ok.example" onclick="alert(1)" onmouseover=x>ok</a>',
    "javascript-url": '<a href="javascript:alert(1)">x</a>',
    "javascript-mixed-case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "javascript-entity": '<a href="&#106;avascript:alert(1)">x</a>',
    "javascript-tab": '<a href="java&#x09;script:alert(1)">x</a>',
    "javascript-leading-space": '<a href="  javascript:alert(1)">x</a>',
    "vbscript-url": '<a href="vbscript:msgbox(1)">x</a>',
    "data-url": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "data-img": '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    "style-attribute": '<p style="background:url(javascript:alert(1))">x</p>',
    "style-element": "<style>body{display:none}</style><p>x</p>",
    "iframe": '<iframe src="https://evil.example/"></iframe><p>x</p>',
    "svg-onload": "<svg onload=alert(1)><circle r=1 /></svg>x",
    "svg-script": "<svg><script>alert(1)</script></svg>x",
    "svg-xlink": '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "math-mxss": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "noscript-mxss": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "nested-script-split": "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "double-open": "<<script>script>alert(1)<</script>/script>",
    "comment-hidden": "<!--<img src=x onerror=alert(1)>--><p>x</p>",
    "conditional-comment": "<!--[if IE]><script>alert(1)</script><![endif]-->x",
    "template": "<template><script>alert(1)</script></template>x",
    "form": '<form action="javascript:alert(1)"><button>go</button></form>',
    "object-embed": '<object data="javascript:alert(1)"></object><embed src="x.swf">',
    "base-meta": '<base href="https://evil.example/"><meta http-equiv="refresh" content="0">',
    "attribute-breakout": "<a href=https://ok.example/ title='\"><script>alert(1)</script>'>x</a>",
    "unclosed-attribute": '<a href="https://ok.example/ onmouseover=alert(1) x="y">x</a>',
    "textarea-rawtext": "<textarea><img src=x onerror=alert(1)></textarea>",
    "null-byte": "<scr\x00ipt>alert(1)</scr\x00ipt>",
}


@pytest.mark.parametrize("payload", XSS_PAYLOADS.values(), ids=XSS_PAYLOADS.keys())
def test_xss_payloads_are_neutralised(payload: str) -> None:
    # Given a hostile fragment as a remote post's content
    # When it is sanitized
    out = sanitize_html(payload)
    # Then only allowlisted markup remains and nothing can execute
    assert_safe(out)
    lowered = out.lower()
    for marker in ("<script", "<img", "<svg", "<iframe", "<style", "<math", "javascript:"):
        assert marker not in lowered, (marker, out)


def test_script_and_style_content_is_removed_not_shown() -> None:
    assert sanitize_html("<p>a<script>alert(1)</script>b<style>p{}</style>c</p>") == "<p>abc</p>"


def test_empty_input() -> None:
    assert sanitize_html("") == ""
    assert html_to_text("") == ""
    assert text_to_html("") == ""
    assert text_to_html("\n \n") == ""


def test_html_to_text_reads_like_the_post() -> None:
    # Given a Mastodon post with a mention, entities, a list and a script
    html = (
        '<p>Hello <span class="h-card"><a href="https://x.example/@bob">@<span>bob</span></a>'
        "</span> &amp; welcome!</p><p>Line one<br>Line two</p><ul><li>a</li><li>b</li></ul>"
        "<script>evil()</script><p>  spaced\n   out  </p>"
    )
    # When it is turned into text
    text = html_to_text(html)
    # Then paragraphs are blank-line separated, <br> is a newline, no markup or script remains
    assert text == "Hello @bob & welcome!\n\nLine one\nLine two\n\na\nb\n\nspaced out"


def test_html_to_text_of_plain_text_unescapes() -> None:
    assert html_to_text("5 &lt; 6 &amp;&amp; 7 &gt; 3") == "5 < 6 && 7 > 3"


def test_text_to_html_escapes_and_makes_paragraphs() -> None:
    html = text_to_html("Hi <b>you</b> & co\nsecond line\n\n\nnew paragraph")
    assert html == ("<p>Hi &lt;b&gt;you&lt;/b&gt; &amp; co<br>second line</p><p>new paragraph</p>")


def test_text_to_html_links_bare_urls_without_trailing_punctuation() -> None:
    html = text_to_html("See https://coop.example/rides?from=a&to=b. (Or https://x.example/p_(1))!")
    assert html == (
        '<p>See <a href="https://coop.example/rides?from=a&amp;to=b" rel="nofollow noopener '
        'noreferrer">https://coop.example/rides?from=a&amp;to=b</a>. (Or <a href="https://x.'
        'example/p_(1)" rel="nofollow noopener noreferrer">https://x.example/p_(1)</a>)!</p>'
    )


def test_text_to_html_never_links_other_schemes_and_quotes_end_urls() -> None:
    html = text_to_html('javascript:alert(1) https://ok.example/"onmouseover="alert(1)')
    assert "javascript:alert(1) " in html and 'href="javascript' not in html
    assert 'href="https://ok.example/"' in html
    assert_safe(html)


def test_text_to_html_is_stable_under_sanitize() -> None:
    html = text_to_html("Ride to Lyon at 8:00 — https://coop.example/rides/42\nBring €5 & snacks")
    assert sanitize_html(html) == html


# Pieces that exercise linkification and escaping more often than random text would.
_TRICKY_PIECES = [
    "https://", "http://coop.example/", "a.b/c?d=1&e=2", "(", ")", "[", "]", ".", ",", "!",
    "&", "&amp;", "<", ">", '"', "'", "`", " ", "\n", "\n\n", "\r\n", "\xa0", "é", "x",
    "javascript:", "<script>", "mailto:a@b.c",
]  # fmt: skip
_MEMBER_TEXT = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200),
    st.lists(st.sampled_from(_TRICKY_PIECES), max_size=40).map("".join),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_MEMBER_TEXT)
def test_any_text_renders_to_safe_html_and_back(text: str) -> None:
    # Given any text a member might type
    html = text_to_html(text)
    # Then the HTML is within the allowlist and a second sanitizing pass changes nothing
    assert_safe(html)
    # And reading it back gives the same words (whitespace aside)
    typed = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    assert html_to_text(html).split() == typed.split()
