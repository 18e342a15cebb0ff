"""A member's account migration: aliases (`alsoKnownAs`) and the move to another account."""

from aiohttp import web

from fedicoop.api.auth import require
from fedicoop.api.entities import Presenter, Viewer
from fedicoop.api.params import read_params
from fedicoop.api.rides_routes import PREFIX
from fedicoop.api.routing import route
from fedicoop.portability import deletion, move
from fedicoop.web.keys import FEDERATION, INSTANCE


async def list_aliases(request: web.Request) -> web.Response:
    """GET /account/aliases: the accounts this one says it was (its alsoKnownAs)."""
    auth = await require(request, "read:accounts")
    _, actor = auth.user()
    return web.json_response({"aliases": list(actor.also_known_as)})


async def add_alias(request: web.Request) -> web.Response:
    """POST /account/aliases {acct}: name a former account, before it moves here."""
    auth = await require(request, "write:accounts")
    _, actor = auth.user()
    params = await read_params(request)
    updated = await move.add_alias(request.app[FEDERATION], actor, params.text("acct") or "")
    return web.json_response({"aliases": list(updated.also_known_as)})


async def move_account(request: web.Request) -> web.Response:
    """POST /account/move {target}: move to an account listing this one; answer the Account."""
    auth = await require(request, "write:accounts")
    account, actor = auth.user()
    params = await read_params(request)
    moved = await move.move_account(request.app[FEDERATION], actor, params.text("target") or "")
    presenter = Presenter(request.app[INSTANCE], Viewer(account_id=account.id, actor_id=actor.id))
    return web.json_response(await presenter.account(moved))


async def delete_account(request: web.Request) -> web.Response:
    """DELETE /account {password}: leave for good; data erased after a 30-day grace period."""
    auth = await require(request, "write:accounts")
    account, actor = auth.user()
    params = await read_params(request)
    deleted = await deletion.delete_account(
        request.app[FEDERATION], account, actor, params.text("password") or ""
    )
    return web.json_response(
        {
            "username": deleted.username,
            "status": deleted.status,
            "erase_after": await request.app[INSTANCE].db.fetchval(
                "SELECT erase_after FROM accounts WHERE id = $1", deleted.id
            ),
        }
    )


def setup(app: web.Application) -> None:
    """Add the account migration routes."""
    route(app, "GET", f"{PREFIX}/account/aliases", list_aliases)
    route(app, "POST", f"{PREFIX}/account/aliases", add_alias)
    route(app, "POST", f"{PREFIX}/account/move", move_account)
    route(app, "DELETE", f"{PREFIX}/account", delete_account)
