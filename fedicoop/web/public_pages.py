"""A member's or a post's address opened in a browser: a page, in the pages' look and languages.

Servers asking for the same address get the ActivityStreams document (see
`activitypub_routes`); people get who the member is and their recent public posts, or the
post itself, as plain text (remote HTML is sanitised, and shown here as text all the same).
"""

from typing import Any

from aiohttp import web

from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.objects import ObjectRecord
from fedicoop.storage.views import ViewRepository
from fedicoop.web.keys import INSTANCE
from fedicoop.web.pages import pages_middleware
from fedicoop.web.pages.rendering import render

RECENT = 10


def _post(record: ObjectRecord) -> dict[str, Any]:
    return {
        "text": html_to_text(record.content),
        "warning": html_to_text(record.summary) if record.summary else "",
        "published": record.published,
        "url": record.url or record.uri,
    }


async def actor_page(request: web.Request, actor: ActorRecord) -> web.StreamResponse:
    """Answer a browser asking for a member or the co-op's Group."""

    async def page(request: web.Request) -> web.StreamResponse:
        db = request.app[INSTANCE].db
        records = await ViewRepository(db).public_posts_of(actor.id, RECENT)
        return render(
            request,
            "actor.html",
            actor=actor,
            about=html_to_text(actor.summary or ""),
            group=actor.type == "Group",
            posts=[_post(r) for r in records],
        )

    return await pages_middleware(request, page)


async def post_page(request: web.Request, record: ObjectRecord) -> web.StreamResponse:
    """Answer a browser asking for one of our public posts."""

    async def page(request: web.Request) -> web.StreamResponse:
        db = request.app[INSTANCE].db
        author = (await ViewRepository(db).actors([record.actor_id])).get(record.actor_id)
        return render(request, "post.html", post=_post(record), author=author)

    return await pages_middleware(request, page)
