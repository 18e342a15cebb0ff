"""Admins' pages about the co-op itself: partnerships, moderation, settings and invitations."""

from aiohttp import web

from fedicoop.coops import moderation, partnership
from fedicoop.coops.settings import CoopSettings, current_settings, update_settings
from fedicoop.errors import FedicoopError, Invalid, NotFound
from fedicoop.governance import membership
from fedicoop.web.pages.fields import whole_number
from fedicoop.web.pages.rendering import (
    PREFIX,
    federation_of,
    instance_of,
    render,
    require_admin,
    see_other,
)

DONE = (
    "partner_requested",
    "partner_approved",
    "partner_ended",
    "blocked",
    "unblocked",
    "resolved",
    "settings",
    "invited",
)


def _done(request: web.Request) -> str | None:
    done = request.query.get("done")
    return done if done in DONE else None


def _id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("Record not found")
    return int(text)


# --- partnerships ------------------------------------------------------------------------


async def _partners_page(
    request: web.Request, *, error: FedicoopError | None = None, handle: str = ""
) -> web.Response:
    require_admin(request)
    return render(
        request,
        "admin_partners.html",
        status=error.status if error else 200,
        error=error,
        done=_done(request),
        partners=await partnership.list_partners(federation_of(request)),
        handle=handle,
    )


async def partners_page(request: web.Request) -> web.Response:
    """GET /app/admin/partners: every partnership and its state; offer a new one."""
    return await _partners_page(request)


async def request_partner(request: web.Request) -> web.Response:
    """POST /app/admin/partners {handle}: offer partnership, or accept the co-op's offer."""
    require_admin(request)
    form = await request.post()
    handle = str(form.get("handle", "")).strip().removeprefix("@")
    try:
        if not handle:
            raise Invalid("give the co-op's handle (name@host)", field="handle")
        state = await partnership.add_partner(federation_of(request), handle)
    except FedicoopError as error:  # unknown handle, not a Group, ourselves
        return await _partners_page(request, error=error, handle=handle)
    done = "partner_approved" if state is partnership.PartnerState.ACTIVE else "partner_requested"
    return see_other(f"{PREFIX}/admin/partners?done={done}")


async def end_partner(request: web.Request) -> web.Response:
    """POST /app/admin/partners/end {handle}: end a partnership or withdraw/decline an offer."""
    require_admin(request)
    form = await request.post()
    await partnership.remove_partner(federation_of(request), str(form.get("handle", "")))
    return see_other(f"{PREFIX}/admin/partners?done=partner_ended")


# --- moderation --------------------------------------------------------------------------


async def _moderation_page(
    request: web.Request,
    *,
    error: FedicoopError | None = None,
    values: dict[str, str] | None = None,
) -> web.Response:
    require_admin(request)
    federation = federation_of(request)
    return render(
        request,
        "admin_moderation.html",
        status=error.status if error else 200,
        error=error,
        done=_done(request),
        blocks=await moderation.domain_blocks(federation),
        reports=await moderation.received_reports(federation),
        values=values or {},
    )


async def moderation_page(request: web.Request) -> web.Response:
    """GET /app/admin/moderation: blocked servers and the reports received."""
    return await _moderation_page(request)


async def block_domain(request: web.Request) -> web.Response:
    """POST /app/admin/moderation/blocks {domain, reason}: refuse everything from a server."""
    require_admin(request)
    form = await request.post()
    values = {"domain": str(form.get("domain", "")), "reason": str(form.get("reason", ""))}
    try:
        await moderation.block_domain(federation_of(request), values["domain"], values["reason"])
    except Invalid as error:
        return await _moderation_page(request, error=error, values=values)
    return see_other(f"{PREFIX}/admin/moderation?done=blocked")


async def unblock_domain(request: web.Request) -> web.Response:
    """POST /app/admin/moderation/blocks/remove {domain}: lift a block."""
    require_admin(request)
    form = await request.post()
    await moderation.unblock_domain(federation_of(request), str(form.get("domain", "")))
    return see_other(f"{PREFIX}/admin/moderation?done=unblocked")


async def resolve_report(request: web.Request) -> web.Response:
    """POST /app/admin/reports/{id}/resolve: mark a report as dealt with."""
    require_admin(request)
    await moderation.resolve_report(federation_of(request), _id(request))
    return see_other(f"{PREFIX}/admin/moderation?done=resolved")


# --- settings and invitations --------------------------------------------------------------


async def _settings_page(
    request: web.Request,
    *,
    error: FedicoopError | None = None,
    settings: CoopSettings | None = None,
) -> web.Response:
    require_admin(request)
    federation = federation_of(request)
    return render(
        request,
        "admin_settings.html",
        status=error.status if error else 200,
        error=error,
        done=_done(request),
        settings=settings or await current_settings(federation),
        invites=await membership.invites(instance_of(request)),
        group=await federation.group_actor(),
    )


async def settings_page(request: web.Request) -> web.Response:
    """GET /app/admin/settings: the co-op's name, description, language; invitations."""
    return await _settings_page(request)


async def save_settings(request: web.Request) -> web.Response:
    """POST /app/admin/settings {name, description, language}: saved and federated at once."""
    require_admin(request)
    form = await request.post()
    wanted = CoopSettings(
        str(form.get("name", "")), str(form.get("description", "")), str(form.get("language", ""))
    )
    try:
        await update_settings(federation_of(request), wanted)
    except Invalid as error:
        return await _settings_page(request, error=error, settings=wanted)
    return see_other(f"{PREFIX}/admin/settings?done=settings")


async def create_invite(request: web.Request) -> web.Response:
    """POST /app/admin/invites {max_uses, days}: a new invitation link, listed on the page."""
    admin = require_admin(request)
    form = await request.post()
    try:
        await membership.create_invite(
            instance_of(request),
            admin.account,
            max_uses=whole_number(form, "max_uses", 1),
            days=whole_number(form, "days", membership.INVITE_DAYS),
        )
    except Invalid as error:
        return await _settings_page(request, error=error)
    return see_other(f"{PREFIX}/admin/settings?done=invited")


def routes(app: web.Application) -> None:
    """Add the co-op admin routes."""
    app.router.add_get("/admin/partners", partners_page)
    app.router.add_post("/admin/partners", request_partner)
    app.router.add_post("/admin/partners/end", end_partner)
    app.router.add_get("/admin/moderation", moderation_page)
    app.router.add_post("/admin/moderation/blocks", block_domain)
    app.router.add_post("/admin/moderation/blocks/remove", unblock_domain)
    app.router.add_post(r"/admin/reports/{id:\d+}/resolve", resolve_report)
    app.router.add_get("/admin/settings", settings_page)
    app.router.add_post("/admin/settings", save_settings)
    app.router.add_post("/admin/invites", create_invite)
