"""`/join`: apply to become a member (or come in with an invitation), in French or English.

A public form, served like the member pages: the same languages, and the same CSRF scheme
(a cookie and a token the form carries; a POST without it gets 403), so another site cannot
file applications in a visitor's name.
"""

from aiohttp import web

from fedicoop.errors import FedicoopError
from fedicoop.governance import membership
from fedicoop.web.pages import with_pages
from fedicoop.web.pages.rendering import instance_of, render

FIELDS = ("username", "email", "motivation", "invite")


def _page(
    request: web.Request,
    *,
    values: dict[str, str],
    error: FedicoopError | None = None,
    joined: str | None = None,
) -> web.Response:
    return render(
        request,
        "join.html",
        status=error.status if error else 200,
        values=values,
        error=error,
        joined=joined,
        base_url=instance_of(request).config.base_url,
    )


async def join_page(request: web.Request) -> web.Response:
    """GET /join[?invite=CODE]: the application form."""
    return _page(request, values={"invite": request.query.get("invite", "")})


async def apply(request: web.Request) -> web.Response:
    """POST /join: apply (a plain form post; no script needed)."""
    instance = instance_of(request)
    form = await request.post()
    values = {name: str(form.get(name, "")) for name in FIELDS}
    try:
        _, application = await membership.apply(
            instance,
            username=values["username"],
            password=str(form.get("password", "")),
            motivation=values["motivation"],
            email=values["email"] or None,
            invite=values["invite"] or None,
        )
    except FedicoopError as error:  # the name is taken, a short password: said on the form
        return _page(request, values=values, error=error)
    joined = "approved" if application.state == "approved" else "pending"
    return _page(request, values={}, joined=joined)


def setup(app: web.Application) -> None:
    """Add the join page."""
    app.router.add_get("/join", with_pages(join_page))
    app.router.add_post("/join", with_pages(apply))
