"""Admins' pages: the members, their roles, applications to approve or refuse, removal."""

from typing import Any

from aiohttp import web

from fedicoop.errors import NotFound
from fedicoop.governance import membership
from fedicoop.web.pages.rendering import (
    PREFIX,
    instance_of,
    render,
    require_admin,
    see_other,
)

DONE = ("approved", "refused", "removed", "role")


async def members_page(request: web.Request) -> web.Response:
    """GET /app/admin/members: pending applications, then the members and their roles."""
    require_admin(request)
    instance = instance_of(request)
    done = request.query.get("done")
    return render(
        request,
        "admin_members.html",
        applications=await membership.list_applications(instance, "pending"),
        members=await membership.members(instance),
        done=done if done in DONE else None,
    )


def _application_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("no such application")
    return int(text)


def _decision(approve: bool) -> Any:
    async def handler(request: web.Request) -> web.Response:
        admin = require_admin(request)
        await membership.decide(
            instance_of(request), admin.account, _application_id(request), approve=approve
        )
        return see_other(f"{PREFIX}/admin/members?done={'approved' if approve else 'refused'}")

    handler.__doc__ = f"POST /app/admin/applications/{{id}}/{'approve' if approve else 'refuse'}."
    return handler


async def remove_member(request: web.Request) -> web.Response:
    """POST /app/admin/members/{username}/remove: the member is suspended, data kept."""
    admin = require_admin(request)
    await membership.remove(instance_of(request), admin.account, request.match_info["username"])
    return see_other(f"{PREFIX}/admin/members?done=removed")


async def set_role(request: web.Request) -> web.Response:
    """POST /app/admin/members/{username}/role {role}: admin or member."""
    admin = require_admin(request)
    form = await request.post()
    await membership.set_role(
        instance_of(request), admin.account, request.match_info["username"], form.get("role")
    )
    return see_other(f"{PREFIX}/admin/members?done=role")


def routes(app: web.Application) -> None:
    """Add the admin routes."""
    app.router.add_get("/admin/members", members_page)
    app.router.add_post(r"/admin/applications/{id:\d+}/approve", _decision(True))
    app.router.add_post(r"/admin/applications/{id:\d+}/refuse", _decision(False))
    app.router.add_post("/admin/members/{username}/remove", remove_member)
    app.router.add_post("/admin/members/{username}/role", set_role)
