"""Which language a page speaks (French or English), and its words in that language."""

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from fedicoop.web.pages.error_words import in_french
from fedicoop.web.pages.messages import MESSAGES

LANGUAGES = ("en", "fr")
LANG_COOKIE = "lang"


def _from_accept_language(header: str) -> str | None:
    """Return the first of our languages in an Accept-Language header, by quality."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def negotiate(request: web.Request, default: str) -> tuple[str, bool]:
    """Return the page's language and whether it was just chosen with ?lang= (to remember).

    Order: an explicit ?lang= switch, then the `lang` cookie it left, then the browser's
    Accept-Language, then the co-op's configured language.
    """
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANG_COOKIE, "")
    if remembered in LANGUAGES:
        return remembered, False
    browser = _from_accept_language(request.headers.get("Accept-Language", ""))
    if browser:
        return browser, False
    return (default if default in LANGUAGES else "en"), False


@dataclass(frozen=True)
class Translator:
    """The words of one language; templates call it as `t("key", name=...)`."""

    lang: str

    def __call__(self, key: str, **values: object) -> str:
        """Return the message `key` in this language, with `{name}` fields filled in."""
        entry = MESSAGES.get(key)
        if entry is None:
            raise KeyError(f"no message {key!r}")  # caught by the tests, never shown
        text = entry[LANGUAGES.index(self.lang)]
        return text.format(**values) if values else text

    def error(self, message: str) -> str:
        """Return a service's error message in this language when we know it, else as is."""
        return in_french(message) if self.lang == "fr" else message

    def has(self, key: str) -> bool:
        """Return whether a message exists (for words made from data, like a status)."""
        return key in MESSAGES


def translator(lang: str) -> Callable[..., str]:
    """Return the message function of a language."""
    return Translator(lang)
