"""Logging in and out of the pages (the same account and password as the OAuth login)."""

from aiohttp import web

from fedicoop.errors import Invalid
from fedicoop.oauth.service import check_password
from fedicoop.web.client_address import client_address
from fedicoop.web.pages.rendering import (
    PAGE_STATE,
    PREFIX,
    instance_of,
    render,
    require_member,
    see_other,
)
from fedicoop.web.pages.sessions import log_in, log_out


def _next(value: object) -> str:
    """Return a local page to go to after logging in; never another site (open redirect)."""
    text = value if isinstance(value, str) else ""
    if text.startswith(f"{PREFIX}/") and not text.startswith("//") and "\\" not in text:
        return text
    return f"{PREFIX}/"


async def login_page(request: web.Request) -> web.Response:
    """GET /app/login: the login form."""
    if request[PAGE_STATE].member is not None:
        return see_other(_next(request.query.get("next")))
    return render(request, "login.html", next=_next(request.query.get("next")), login_error=None)


async def login(request: web.Request) -> web.Response:
    """POST /app/login: check the password (rate-limited like OAuth's) and set the session."""
    instance = instance_of(request)
    form = await request.post()
    username = str(form.get("username", "")).strip()
    target = _next(form.get("next"))
    try:
        account = await check_password(
            instance, username, str(form.get("password", "")), client_address(request)
        )
    except Invalid as error:
        return render(
            request, "login.html", status=error.status, next=target, login_error=error.message
        )
    response = see_other(target)
    log_in(response, instance, account)
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /app/logout: clear the session (a POST with a CSRF token, not a link)."""
    response = see_other(f"{PREFIX}/login")
    log_out(response)
    return response


async def home(request: web.Request) -> web.Response:
    """GET /app/: where a member starts: rides, votes and, for admins, the members."""
    require_member(request)
    return render(request, "home.html")


def routes(app: web.Application) -> None:
    """Add the login routes and the member's home."""
    app.router.add_get("/", home)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
