"""Joining a co-op: applications, invitations, leaving, roles (and Mastodon's sign-up)."""

from typing import Any

from aiohttp import web

from fedicoop.accounts.model import Status
from fedicoop.api.auth import optional_auth, require
from fedicoop.api.params import read_params
from fedicoop.api.rides_routes import PREFIX, _id, _json_body
from fedicoop.api.routing import route
from fedicoop.errors import Forbidden, Invalid
from fedicoop.governance import membership
from fedicoop.governance.membership import Application
from fedicoop.oauth.service import issue_for_account
from fedicoop.storage.accounts import AccountRepository
from fedicoop.web.client_address import client_address
from fedicoop.web.keys import INSTANCE


def _application_json(application: Application) -> dict[str, Any]:
    return {
        "id": str(application.id),
        "username": application.username,
        "motivation": application.motivation,
        "state": application.state,
        "created_at": application.created_at,
        "decided_at": application.decided_at,
    }


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{name} must be text", field=name)
    return value


async def apply(request: web.Request) -> web.Response:
    """POST /applications: ask to join (a new account), or ask again (a former member)."""
    instance = request.app[INSTANCE]
    body = await _json_body(request)
    auth = await optional_auth(request)
    if auth is not None and auth.account is not None:
        application = await membership.reapply(instance, auth.account, body.get("motivation"))
        return web.json_response(_application_json(application), status=201)
    username = _text(body, "username")
    if not username:
        raise Invalid("username is required", field="username")
    existing = await AccountRepository(instance.db).by_username(username)
    if existing is not None and existing.status != Status.ACTIVE:
        # A former member (or an applicant) asks again: their password proves who they are.
        account = await membership.check_former_member(
            instance, username, _text(body, "password") or "", client_address(request)
        )
        application = await membership.reapply(instance, account, body.get("motivation"))
        return web.json_response(_application_json(application), status=201)
    _, application = await membership.apply(
        instance,
        username=username,
        password=_text(body, "password") or "",
        motivation=body.get("motivation"),
        email=_text(body, "email"),
        invite=_text(body, "invite"),
    )
    return web.json_response(_application_json(application), status=201)


async def list_applications(request: web.Request) -> web.Response:
    """GET /applications?state=pending|approved|refused|all (admins)."""
    auth = await require(request, "admin:read", user=True)
    account, _ = auth.user()
    if account.role != "admin":
        raise Forbidden("only admins see applications")
    state = request.query.get("state", "pending")
    if state not in ("pending", "approved", "refused", "all"):
        raise Invalid("state must be pending, approved, refused or all", field="state")
    found = await membership.list_applications(
        request.app[INSTANCE], None if state == "all" else state
    )
    return web.json_response([_application_json(a) for a in found])


def _decision(approve: bool) -> Any:
    async def handler(request: web.Request) -> web.Response:
        auth = await require(request, "admin:write")
        account, _ = auth.user()
        application = await membership.decide(
            request.app[INSTANCE], account, _id(request), approve=approve
        )
        return web.json_response(_application_json(application))

    handler.__doc__ = f"POST /applications/{{id}}/{'approve' if approve else 'refuse'} (admins)."
    return handler


async def invite(request: web.Request) -> web.Response:
    """POST /invites {max_uses?, days?}: an invitation link (admins)."""
    auth = await require(request, "admin:write")
    account, _ = auth.user()
    body = await _json_body(request)
    made = await membership.create_invite(
        request.app[INSTANCE],
        account,
        max_uses=body.get("max_uses", 1),
        days=body.get("days", membership.INVITE_DAYS),
    )
    return web.json_response(made, status=201)


async def leave(request: web.Request) -> web.Response:
    """POST /membership/leave: stop being a member (the account and its data are kept)."""
    auth = await require(request, "write")
    account, _ = auth.user()
    left = await membership.leave(request.app[INSTANCE], account)
    return web.json_response({"username": left.username, "status": left.status})


async def list_members(request: web.Request) -> web.Response:
    """GET /members: the co-op's members and their roles (members only)."""
    await require(request, "read")
    instance = request.app[INSTANCE]
    found = await membership.members(instance)
    return web.json_response(
        [
            {"username": m.username, "acct": f"{m.username}@{instance.domain}", "role": m.role}
            for m in found
        ]
    )


async def set_role(request: web.Request) -> web.Response:
    """POST /members/{username}/role {role}: admin or member (admins)."""
    auth = await require(request, "admin:write")
    account, _ = auth.user()
    body = await _json_body(request)
    updated = await membership.set_role(
        request.app[INSTANCE], account, request.match_info["username"], body.get("role")
    )
    return web.json_response({"username": updated.username, "role": updated.role})


async def mastodon_sign_up(request: web.Request) -> web.Response:
    """POST /api/v1/accounts: Mastodon's sign-up; here it is an application to join."""
    auth = await require(request, "write:accounts", user=False)
    params = await read_params(request)
    if not params.boolean("agreement"):
        raise Invalid("you must accept the co-op's rules", field="agreement")
    instance = request.app[INSTANCE]
    account, _ = await membership.apply(
        instance,
        username=params.text("username") or "",
        password=params.text("password") or "",
        motivation=params.text("reason") or "",
        email=params.text("email"),
        invite=params.text("invite_code"),
    )
    grant = await issue_for_account(instance, auth.app, account.id)
    return web.json_response(
        {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "scope": grant.scopes,
            "created_at": grant.created_at,
        }
    )


def setup(app: web.Application) -> None:
    """Add the membership routes."""
    route(app, "POST", f"{PREFIX}/applications", apply)
    route(app, "GET", f"{PREFIX}/applications", list_applications)
    route(app, "POST", f"{PREFIX}/applications/{{id}}/approve", _decision(True))
    route(app, "POST", f"{PREFIX}/applications/{{id}}/refuse", _decision(False))
    route(app, "POST", f"{PREFIX}/invites", invite)
    route(app, "POST", f"{PREFIX}/membership/leave", leave)
    route(app, "GET", f"{PREFIX}/members", list_members)
    route(app, "POST", f"{PREFIX}/members/{{username}}/role", set_role)
    route(app, "POST", "/api/v1/accounts", mastodon_sign_up)
