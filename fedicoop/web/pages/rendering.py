"""Jinja2 templates for the member and admin pages, and what every page is given."""

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Forbidden, NotAuthorized
from fedicoop.instance import Instance
from fedicoop.web.keys import FEDERATION, INSTANCE
from fedicoop.web.pages.i18n import Translator
from fedicoop.web.pages.sessions import CSRF_FIELD, Member, csrf_token

PREFIX = "/app"
# Autoescape everything: member-written titles, messages and place names reach these pages.
ENVIRONMENT = Environment(
    loader=PackageLoader("fedicoop.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ASSETS = {"pages.css": "text/css", "pages.js": "text/javascript"}


@dataclass(frozen=True)
class PageState:
    """What the pages middleware learnt about a request before its handler runs."""

    lang: str
    lang_chosen: bool
    csrf_seed: str
    fresh_seed: bool
    member: Member | None


PAGE_STATE = web.RequestKey("fedicoop.pages.state", PageState)


def require_member(request: web.Request) -> Member:
    """Return the logged-in member; NotAuthorized sends the browser to the login page."""
    member = request[PAGE_STATE].member
    if member is None:
        raise NotAuthorized("Log in first")
    return member


def require_admin(request: web.Request) -> Member:
    """Return the logged-in admin, or raise Forbidden for a member who is not one."""
    member = require_member(request)
    if not member.is_admin:
        raise Forbidden("Only the co-op's admins see this page")
    return member


def instance_of(request: web.Request) -> Instance:
    """Return the instance (the pages are a sub-application; its state is the parent's)."""
    return request.config_dict[INSTANCE]


def federation_of(request: web.Request) -> Federation:
    """Return the federation runtime."""
    return request.config_dict[FEDERATION]


def moment(value: str | datetime | None) -> str:
    """Show an ISO time as "2026-11-27 08:00 UTC" (pages.js rewrites it in local time)."""
    if value is None or value == "":
        return ""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when.strftime("%Y-%m-%d %H:%M UTC")


ENVIRONMENT.filters["moment"] = moment


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """Render a page with the language, the member, the CSRF token and the co-op's name."""
    state = request[PAGE_STATE]
    instance = instance_of(request)
    token = csrf_token(instance, state.csrf_seed)
    page = ENVIRONMENT.get_template(template).render(
        lang=state.lang,
        t=Translator(state.lang),
        member=state.member,
        csrf_input=Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
        coop_name=instance.config.name,
        path=request.path,
        switch_url=_switch_url(request, "en" if state.lang == "fr" else "fr"),
        prefix=PREFIX,
        **context,
    )
    return web.Response(text=page, content_type="text/html", status=status)


def _switch_url(request: web.Request, lang: str) -> str:
    """Return this page in the other language (a form's answer switches on the start page)."""
    if request.method != "GET":
        return f"{PREFIX}/?lang={lang}"
    return str(request.rel_url.update_query(lang=lang))


def see_other(location: str) -> web.Response:
    """Answer a form post with 303 See Other, so reloading does not post it again."""
    return web.Response(status=303, headers={"Location": location})


async def asset(request: web.Request) -> web.Response:
    """GET /app/assets/{name}: the one stylesheet and the one small script."""
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    text = resources.files("fedicoop.web").joinpath("templates", name).read_text("utf-8")
    return web.Response(
        text=text,
        content_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )
