"""Mastodon API accounts: own profile, profiles, statuses, followers, search, relationships.

Account ids are actor row ids, as strings: the co-op Group is an account (`group: true`).
The rules (who is shown, what a profile lists, profile edits) live in fedicoop.social.profile.
"""

from typing import Any

from aiohttp import web

from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.api.auth import optional_auth, require
from fedicoop.api.entities import Boost, Presenter, Viewer
from fedicoop.api.pagination import link_header, page_of
from fedicoop.api.params import Params, read_params
from fedicoop.api.routing import route
from fedicoop.errors import Forbidden, Invalid, NotAuthorized
from fedicoop.media.images import MAX_UPLOAD_BYTES
from fedicoop.oauth import scopes as scope_rules
from fedicoop.oauth.service import Auth
from fedicoop.social import profile
from fedicoop.storage.account_queries import AccountQueries
from fedicoop.storage.accounts import AccountRecord
from fedicoop.storage.actors import ActorRecord
from fedicoop.web.keys import FEDERATION, INSTANCE

# Helpers shared by the account endpoints -----------------------------------------------------


def presenter(request: web.Request, auth: Auth | None) -> Presenter:
    """Return a presenter seeing what the caller sees."""
    viewer = Viewer()
    if auth is not None and auth.account is not None and auth.actor is not None:
        viewer = Viewer(account_id=auth.account.id, actor_id=auth.actor.id)
    return Presenter(request.app[INSTANCE], viewer)


async def path_actor(request: web.Request) -> ActorRecord:
    """Return the account named by `{id}` in the path."""
    return await profile.visible_actor(request.app[INSTANCE].db, request.match_info["id"])


async def accounts_response(
    request: web.Request, auth: Auth | None, actors: list[ActorRecord], cursor_ids: list[int]
) -> web.Response:
    """Render accounts with a Link header built from the cursor ids (follow row ids)."""
    body = await presenter(request, auth).accounts(actors)
    return web.json_response(body, headers=link_header(request, cursor_ids))


# Own profile --------------------------------------------------------------------------------


async def credential_account(
    request: web.Request, auth: Auth, account: AccountRecord, actor: ActorRecord
) -> dict[str, Any]:
    """Render the caller's own account with `source` and `role` (CredentialAccount)."""
    db = request.app[INSTANCE].db
    entity = await presenter(request, auth).account(actor)
    defaults = await profile.posting_defaults(db, account.id)
    pending = await AccountQueries(db).count_follow_requests(actor.id)
    entity["source"] = {
        "privacy": defaults.privacy,
        "sensitive": defaults.sensitive,
        "language": defaults.language or "",
        "note": html_to_text(actor.summary),
        "fields": [
            {"name": name, "value": html_to_text(value), "verified_at": None}
            for name, value in actor.fields
        ],
        "follow_requests_count": pending,
        "hide_collections": False,
        "discoverable": True,
        "indexable": True,
        "attribution_domains": [],
    }
    admin = account.role == "admin"
    entity["role"] = {
        "id": "3" if admin else "-99",
        "name": "Admin" if admin else "",
        "permissions": "1" if admin else "0",
        "color": "",
        "highlighted": admin,
    }
    return entity


async def verify_credentials(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/verify_credentials (read:accounts or profile)."""
    auth = await optional_auth(request)
    if auth is None:
        raise NotAuthorized("The access token is invalid")
    if not (
        scope_rules.covers(auth.scopes, "read:accounts")
        or scope_rules.covers(auth.scopes, "profile")
    ):
        raise Forbidden("This action is outside the authorized scopes")
    account, actor = auth.user()
    return web.json_response(await credential_account(request, auth, account, actor))


def _sent_boolean(params: Params, key: str) -> bool | None:
    """Return a boolean parameter, or None when it was not sent (or sent empty)."""
    return None if params.values.get(key) in (None, "") else params.boolean(key)


def _profile_edit(params: Params) -> profile.ProfileEdit:
    """Read update_credentials parameters (the service checks them)."""
    source = params.nested("source")
    posting = None
    if source.values:
        posting = profile.PostingChoice(
            privacy=source.text("privacy"),
            language=source.text("language"),
            sensitive=_sent_boolean(source, "sensitive"),
        )
    images: dict[str, bytes] = {}
    for kind in ("avatar", "header"):
        upload = params.file(kind)
        if upload is not None:
            images[kind] = upload.file.read(MAX_UPLOAD_BYTES + 1)
    return profile.ProfileEdit(
        display_name=params.text("display_name"),
        note=params.text("note"),
        locked=_sent_boolean(params, "locked"),
        fields=(
            params.values["fields_attributes"]
            if "fields_attributes" in params
            else profile.NOT_SENT
        ),
        posting=posting,
        avatar=images.get("avatar"),
        header=images.get("header"),
    )


async def update_credentials(request: web.Request) -> web.Response:
    """PATCH /api/v1/accounts/update_credentials: edit the profile and federate Update."""
    auth = await require(request, "write:accounts")
    account, actor = auth.user()
    edit = _profile_edit(await read_params(request))
    updated = await profile.edit_profile(request.app[FEDERATION], account, actor, edit)
    return web.json_response(await credential_account(request, auth, account, updated))


# Other accounts -----------------------------------------------------------------------------


async def show_account(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id (public)."""
    auth = await optional_auth(request)
    actor = await path_actor(request)
    return web.json_response(await presenter(request, auth).account(actor))


async def account_statuses(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/statuses: posts and boosts, newest first, Link-paginated."""
    auth = await optional_auth(request)
    author = await path_actor(request)
    params = await read_params(request)
    filters = profile.StatusFilter(
        only_media=params.boolean("only_media"),
        exclude_replies=params.boolean("exclude_replies"),
        exclude_reblogs=params.boolean("exclude_reblogs"),
        pinned=params.boolean("pinned"),
        tagged=params.text("tagged"),
    )
    listed = await profile.profile_statuses(
        request.app[INSTANCE].db, author, auth.actor if auth else None, filters, page_of(params)
    )
    boosts = {
        boost.id: Boost(
            id=boost.id,
            actor_id=boost.actor_id,
            object_id=boost.object_id,
            uri=boost.uri,
            created_at=boost.created_at,
        )
        for boost in listed.boosts
    }
    rendered = await presenter(request, auth).statuses(listed.statuses, boosts)
    by_id = {entity["id"]: entity for entity in rendered}
    body = [by_id[str(entry_id)] for entry_id in listed.ids if str(entry_id) in by_id]
    return web.json_response(body, headers=link_header(request, listed.ids))


async def account_followers(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/followers (public), paginated by follow."""
    auth = await optional_auth(request)
    actor = await path_actor(request)
    page = page_of(await read_params(request), default=40, most=80)
    listed = await AccountQueries(request.app[INSTANCE].db).follow_page(
        actor.id, page, direction="in"
    )
    return await accounts_response(request, auth, listed.actors, listed.cursors)


async def account_following(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/following (public), paginated by follow."""
    auth = await optional_auth(request)
    actor = await path_actor(request)
    page = page_of(await read_params(request), default=40, most=80)
    listed = await AccountQueries(request.app[INSTANCE].db).follow_page(
        actor.id, page, direction="out"
    )
    return await accounts_response(request, auth, listed.actors, listed.cursors)


async def lookup(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/lookup?acct=: find a known account without WebFinger."""
    auth = await optional_auth(request)
    instance = request.app[INSTANCE]
    acct = ((await read_params(request)).text("acct") or "").strip()
    acct = acct.removeprefix("acct:").lstrip("@")
    if not acct:
        raise Invalid("acct is required", field="acct")
    actor = await profile.find_by_handle(instance.db, acct, instance.domain)
    return web.json_response(await presenter(request, auth).account(actor))


async def search_accounts(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/search?q=&resolve=&following=&limit=&offset=."""
    auth = await require(request, "read:accounts")
    _, me = auth.user()
    params = await read_params(request)
    query = (params.text("q") or "").strip().removeprefix("acct:").lstrip("@")
    if not query:
        return web.json_response([])
    search = profile.AccountSearch(
        text=query,
        limit=params.integer("limit", 40, lo=1, hi=80) or 40,
        offset=params.integer("offset", 0) or 0,
        following=params.boolean("following"),
        resolve=params.boolean("resolve"),
    )
    actors = await profile.search_accounts(request.app[FEDERATION], me, search)
    return web.json_response(await presenter(request, auth).accounts(actors))


def setup(app: web.Application) -> None:
    """Add this module's routes (fixed paths before `{id}`, which only matches digits)."""
    route(app, "GET", "/api/v1/accounts/verify_credentials", verify_credentials)
    route(app, "PATCH", "/api/v1/accounts/update_credentials", update_credentials)
    route(app, "GET", "/api/v1/accounts/lookup", lookup)
    route(app, "GET", "/api/v1/accounts/search", search_accounts)
    # Imported here: relationships_routes builds on this module's helpers.
    from fedicoop.api import relationships_routes

    relationships_routes.setup(app)
    route(app, "GET", r"/api/v1/accounts/{id:\d+}", show_account)
    route(app, "GET", r"/api/v1/accounts/{id:\d+}/statuses", account_statuses)
    route(app, "GET", r"/api/v1/accounts/{id:\d+}/followers", account_followers)
    route(app, "GET", r"/api/v1/accounts/{id:\d+}/following", account_following)
