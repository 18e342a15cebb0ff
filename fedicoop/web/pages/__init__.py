"""Server-rendered pages for members and admins under /app, in French and English.

A sub-application with its own middleware: it reads the language, the session and the CSRF
cookie once, refuses a POST without a valid CSRF token, and turns the exception family into
HTML pages (the parent's middleware would answer JSON). Business rules stay in the services;
the handlers here only read forms, call them and render. The public pages outside /app (the
front page, /join) run through the same middleware with `with_pages`.
"""

from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from fedicoop.errors import FedicoopError, Forbidden, NotAuthorized
from fedicoop.web.pages import (
    admin,
    admin_coop,
    login,
    my_data,
    proposals,
    ride_alerts,
    ride_forms,
    rides,
)
from fedicoop.web.pages.i18n import LANG_COOKIE, Translator, negotiate
from fedicoop.web.pages.rendering import (
    PAGE_STATE,
    PREFIX,
    PageState,
    asset,
    instance_of,
    render,
    see_other,
)
from fedicoop.web.pages.sessions import (
    CSRF_FIELD,
    cookie_options,
    csrf_seed,
    csrf_valid,
    current_member,
    set_csrf_cookie,
)

# Pages only load what this server serves; no framing (clickjacking), no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@web.middleware
async def pages_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Language, session and CSRF in; HTML errors, cookies and security headers out."""
    instance = instance_of(request)
    lang, lang_chosen = negotiate(request, instance.config.language)
    seed, fresh = csrf_seed(request)
    member = await current_member(request, instance)
    request[PAGE_STATE] = PageState(lang, lang_chosen, seed, fresh, member)
    try:
        if request.method == "POST":
            form = await request.post()
            token = form.get(CSRF_FIELD)
            # A fresh seed means the browser sent no CSRF cookie: no token can match it.
            if fresh or not isinstance(token, str) or not csrf_valid(instance, seed, token):
                raise Forbidden("This form has expired or did not come from this site")
        response = await handler(request)
    except NotAuthorized:
        target = request.path_qs if request.method == "GET" else f"{PREFIX}/"
        response = see_other(f"{PREFIX}/login?next={quote(target, safe='')}")
    except web.HTTPNotFound:
        response = render(request, "error.html", status=404, message=t_not_found(request))
    except web.HTTPRequestEntityTooLarge:
        message = Translator(request[PAGE_STATE].lang)("too_large")
        response = render(request, "error.html", status=413, message=message)
    except FedicoopError as error:
        response = render(request, "error.html", status=error.status, message=error.message)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
    if fresh:
        set_csrf_cookie(response, instance, seed)
    if lang_chosen:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            **cookie_options(instance),  # type: ignore[arg-type]
        )
    response.headers.update(SECURITY_HEADERS)
    if member is not None and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def with_pages(handler: Handler) -> Handler:
    """Serve a public page outside /app (the front page, /join) the way the pages are served."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        return await pages_middleware(request, handler)

    wrapped.__doc__ = handler.__doc__
    return wrapped


def t_not_found(request: web.Request) -> str:
    """Say "no such page" in the page's language."""
    return Translator(request[PAGE_STATE].lang)("not_found")


def setup(app: web.Application) -> None:
    """Mount the pages under /app."""
    pages = web.Application(middlewares=[pages_middleware])
    pages.router.add_get("/assets/{name}", asset)
    for module in (login, rides, ride_forms, ride_alerts, proposals, admin, admin_coop, my_data):
        module.routes(pages)
    app.add_subapp(PREFIX, pages)
