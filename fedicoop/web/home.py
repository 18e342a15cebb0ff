"""The instance's front page: who this co-op is and how to join in (full pages come later)."""

import html

from aiohttp import web

from fedicoop.storage.accounts import AccountRepository
from fedicoop.web.keys import FEDERATION, INSTANCE

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}}code{{background:#eee;padding:.1rem .3rem}}</style></head>
<body><main>
<h1>{name}</h1>
<p>{intro} <code>@{group}</code></p>
<p>{members}</p>
<p>{apps}</p>
</main></body></html>"""

TEXT = {
    "en": {
        "intro": "A co-operative on the fediverse. Follow it from any Mastodon-compatible app:",
        "members": "{count} members",
        "apps": "Members log in from any Mastodon app (Tusky, Ivory, Elk, Phanpy…) at {url}.",
    },
    "fr": {
        "intro": "Une coopérative sur le fédivers. "
        "Suivez-la depuis toute appli compatible Mastodon :",
        "members": "{count} membres",
        "apps": "Les membres se connectent depuis toute appli Mastodon (Tusky, Ivory, Elk, "
        "Phanpy…) à l'adresse {url}.",
    },
}


async def front_page(request: web.Request) -> web.Response:
    """Serve `/`: the co-op's name, handle and how members log in, in French or English."""
    instance = request.app[INSTANCE]
    group = await request.app[FEDERATION].group_actor()
    accept = request.headers.get("Accept-Language", instance.config.language)
    lang = "fr" if accept.lower().startswith("fr") else "en"
    text = TEXT[lang]
    count = await AccountRepository(instance.db).count("active")
    page = PAGE.format(
        lang=lang,
        name=html.escape(instance.config.name),
        intro=html.escape(text["intro"]),
        group=html.escape(group.acct),
        members=html.escape(text["members"].format(count=count)),
        apps=html.escape(text["apps"].format(url=instance.config.base_url)),
    )
    return web.Response(text=page, content_type="text/html")


def setup(app: web.Application) -> None:
    """Add the front page."""
    app.router.add_get("/", front_page)
