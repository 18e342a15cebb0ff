"""Mastodon API relationships: follow, block, mute, follow requests, familiar followers."""

from typing import Any

from aiohttp import web

from fedicoop.api.accounts_routes import accounts_response, path_actor, presenter
from fedicoop.api.auth import require
from fedicoop.api.pagination import page_of
from fedicoop.api.params import read_params
from fedicoop.api.routing import route
from fedicoop.errors import NotFound
from fedicoop.social import moderation, publishing
from fedicoop.social.profile import visible_actor
from fedicoop.storage.account_queries import AccountQueries
from fedicoop.storage.accounts import AccountRecord
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.notifications import ReactionRepository
from fedicoop.storage.views import ViewRepository
from fedicoop.web.keys import FEDERATION, INSTANCE


async def relationships_of(
    db: Executor, me: ActorRecord, account_id: int, targets: list[ActorRecord]
) -> list[dict[str, Any]]:
    """Return Mastodon Relationship entities between the caller and each target."""
    follows = FollowRepository(db)
    reactions = ReactionRepository(db)
    muted = await ViewRepository(db).viewer_set("muted", account_id, [t.id for t in targets])
    result = []
    for target in targets:
        out = await follows.get(me.id, target.id)
        back = await follows.get(target.id, me.id)
        following = out is not None and out.state == "accepted"
        result.append(
            {
                "id": str(target.id),
                "following": following,
                "showing_reblogs": following,
                "notifying": False,
                "languages": None,
                "followed_by": back is not None and back.state == "accepted",
                "blocking": await reactions.is_blocked(me.id, target.id),
                "blocked_by": await reactions.is_blocked(target.id, me.id),
                "muting": target.id in muted,
                "muting_notifications": target.id in muted,
                "muting_expires_at": None,
                "requested": out is not None and out.state == "pending",
                "requested_by": back is not None and back.state == "pending",
                "domain_blocking": False,
                "endorsed": False,
                "note": "",
            }
        )
    return result


async def _relationship(
    request: web.Request, account: AccountRecord, me: ActorRecord, target: ActorRecord
) -> web.Response:
    db = request.app[INSTANCE].db
    return web.json_response((await relationships_of(db, me, account.id, [target]))[0])


async def _targets(db: Executor, values: list[Any]) -> list[ActorRecord]:
    """Return the visible accounts among requested ids (unknown ones are left out)."""
    found = []
    for value in values[:40]:
        try:
            found.append(await visible_actor(db, str(value)))
        except NotFound:
            continue
    return found


async def relationships(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/relationships?id[]=."""
    account, me = (await require(request, "read:follows")).user()
    db = request.app[INSTANCE].db
    targets = await _targets(db, (await read_params(request)).items("id"))
    return web.json_response(await relationships_of(db, me, account.id, targets))


async def follow_account(request: web.Request) -> web.Response:
    """POST /api/v1/accounts/:id/follow: follow (remote: pending until their Accept)."""
    account, me = (await require(request, "write:follows")).user()
    target = await path_actor(request)
    await moderation.follow(request.app[FEDERATION], me, target)
    return await _relationship(request, account, me, target)


async def unfollow_account(request: web.Request) -> web.Response:
    """POST /api/v1/accounts/:id/unfollow (also withdraws a pending request)."""
    account, me = (await require(request, "write:follows")).user()
    target = await path_actor(request)
    await publishing.unfollow(request.app[FEDERATION], me, target)
    return await _relationship(request, account, me, target)


async def block_account(request: web.Request) -> web.Response:
    """POST /api/v1/accounts/:id/block."""
    account, me = (await require(request, "write:blocks")).user()
    target = await path_actor(request)
    await publishing.block(request.app[FEDERATION], me, target)
    return await _relationship(request, account, me, target)


async def unblock_account(request: web.Request) -> web.Response:
    """POST /api/v1/accounts/:id/unblock: forget the block and send Undo(Block)."""
    account, me = (await require(request, "write:blocks")).user()
    target = await path_actor(request)
    await moderation.unblock(request.app[FEDERATION], me, target)
    return await _relationship(request, account, me, target)


async def mute_account(request: web.Request) -> web.Response:
    """POST /api/v1/accounts/:id/mute: hide their posts from the caller (never federated)."""
    account, me = (await require(request, "write:mutes")).user()
    target = await path_actor(request)
    await moderation.mute(request.app[INSTANCE].db, account.id, me, target)
    return await _relationship(request, account, me, target)


async def unmute_account(request: web.Request) -> web.Response:
    """POST /api/v1/accounts/:id/unmute."""
    account, me = (await require(request, "write:mutes")).user()
    target = await path_actor(request)
    await moderation.unmute(request.app[INSTANCE].db, account.id, target)
    return await _relationship(request, account, me, target)


async def follow_requests(request: web.Request) -> web.Response:
    """GET /api/v1/follow_requests: who waits for the caller's approval."""
    auth = await require(request, "read:follows")
    _, me = auth.user()
    page = page_of(await read_params(request), default=40, most=80)
    listed = await AccountQueries(request.app[INSTANCE].db).follow_page(
        me.id, page, direction="in", state="pending"
    )
    return await accounts_response(request, auth, listed.actors, listed.cursors)


async def _answer_request(request: web.Request, accept: bool) -> web.Response:
    account, me = (await require(request, "write:follows")).user()
    follower = await path_actor(request)
    await moderation.answer_follow_request(request.app[FEDERATION], me, follower, accept)
    return await _relationship(request, account, me, follower)


async def authorize_request(request: web.Request) -> web.Response:
    """POST /api/v1/follow_requests/:id/authorize."""
    return await _answer_request(request, True)


async def reject_request(request: web.Request) -> web.Response:
    """POST /api/v1/follow_requests/:id/reject."""
    return await _answer_request(request, False)


async def familiar_followers(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/familiar_followers?id[]=: whom I follow that follows them."""
    auth = await require(request, "read:follows")
    _, me = auth.user()
    db = request.app[INSTANCE].db
    show = presenter(request, auth)
    queries = AccountQueries(db)
    result = []
    for target in await _targets(db, (await read_params(request)).items("id")):
        accounts = await show.accounts(await queries.familiar_followers(me.id, target.id))
        result.append({"id": str(target.id), "accounts": accounts})
    return web.json_response(result)


def setup(app: web.Application) -> None:
    """Add this module's routes."""
    route(app, "GET", "/api/v1/accounts/relationships", relationships)
    route(app, "GET", "/api/v1/accounts/familiar_followers", familiar_followers)
    route(app, "GET", "/api/v1/follow_requests", follow_requests)
    route(app, "POST", r"/api/v1/follow_requests/{id:\d+}/authorize", authorize_request)
    route(app, "POST", r"/api/v1/follow_requests/{id:\d+}/reject", reject_request)
    for action, handler in (
        ("follow", follow_account),
        ("unfollow", unfollow_account),
        ("block", block_account),
        ("unblock", unblock_account),
        ("mute", mute_account),
        ("unmute", unmute_account),
    ):
        route(app, "POST", rf"/api/v1/accounts/{{id:\d+}}/{action}", handler)
