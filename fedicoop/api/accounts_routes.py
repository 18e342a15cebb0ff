"""Mastodon API accounts: own profile, profiles, statuses, followers, search, relationships.

Account ids are actor row ids, as strings: the co-op Group is an account (`group: true`).
"""

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from aiohttp import web

from fedicoop import clock
from fedicoop.activitypub.documents import ACTOR_CONTEXT, PUBLIC, actor_document
from fedicoop.activitypub.sanitize import html_to_text, text_to_html
from fedicoop.api.auth import optional_auth, require
from fedicoop.api.entities import Boost, Presenter, Viewer
from fedicoop.api.pagination import Page, link_header, page_of
from fedicoop.api.params import Params, read_params
from fedicoop.api.routing import route
from fedicoop.errors import Forbidden, Invalid, NotAuthorized, NotFound
from fedicoop.media import service as media
from fedicoop.media.images import MAX_UPLOAD_BYTES
from fedicoop.oauth import scopes as scope_rules
from fedicoop.oauth.service import Auth
from fedicoop.storage.accounts import AccountRecord, AccountRepository, SettingsRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository, actor_from_row
from fedicoop.storage.database import Executor
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.objects import ObjectRecord, object_from_row
from fedicoop.web.keys import FEDERATION, INSTANCE

DISPLAY_NAME_LIMIT = 100
NOTE_LIMIT = 2000
MAX_FIELDS = 4
FIELD_NAME_LIMIT = 255
FIELD_VALUE_LIMIT = 255
PRIVACY_CHOICES = ("public", "unlisted", "private", "direct")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
# Local members who are not active (applicants, suspended) are not shown to anyone.
HIDDEN_LOCAL = (
    "NOT EXISTS (SELECT 1 FROM accounts c WHERE c.actor_id = a.id AND c.status <> 'active')"
)
RECORD_NOT_FOUND = "Record not found"


@dataclass(frozen=True)
class PostingDefaults:
    """A member's compose defaults (Mastodon's `source` and preferences)."""

    privacy: str = "public"
    sensitive: bool = False
    language: str | None = None


async def posting_defaults(db: Executor, account_id: int) -> PostingDefaults:
    """Return a member's compose defaults (kept in the settings table)."""
    raw = await SettingsRepository(db).get(f"account.{account_id}.posting")
    if not raw:
        return PostingDefaults()
    stored = json.loads(raw)
    return PostingDefaults(
        privacy=str(stored.get("privacy", "public")),
        sensitive=bool(stored.get("sensitive", False)),
        language=stored.get("language") or None,
    )


# Helpers shared by the account endpoints -----------------------------------------------------


def presenter(request: web.Request, auth: Auth | None) -> Presenter:
    """Return a presenter seeing what the caller sees."""
    viewer = Viewer()
    if auth is not None and auth.account is not None and auth.actor is not None:
        viewer = Viewer(account_id=auth.account.id, actor_id=auth.actor.id)
    return Presenter(request.app[INSTANCE], viewer)


async def visible_actor(db: Executor, actor_id: str) -> ActorRecord:
    """Return the actor an account id names, unless it is hidden (NotFound)."""
    if not actor_id.isdigit() or len(actor_id) > 19:
        raise NotFound(RECORD_NOT_FOUND)
    actor = await ActorRepository(db).get(int(actor_id))
    if actor is None:
        raise NotFound(RECORD_NOT_FOUND)
    if actor.local and actor.type == "Person":
        account = await AccountRepository(db).by_actor(actor.id)
        if account is None or account.status != "active":
            raise NotFound(RECORD_NOT_FOUND)
    return actor


async def path_actor(request: web.Request) -> ActorRecord:
    """Return the account named by `{id}` in the path."""
    return await visible_actor(request.app[INSTANCE].db, request.match_info["id"])


def window(column: str, page: Page, args: list[Any]) -> tuple[str, str]:
    """Add a page window on `column` to `args`; return the WHERE fragment and ORDER BY."""
    if page.ascending:
        args += [page.min_id, page.max_id]
        return f"{column} > ${len(args) - 1} AND {column} < ${len(args)}", f"{column} ASC"
    args += [page.max_id, page.since_id]
    return f"{column} < ${len(args) - 1} AND {column} > ${len(args)}", f"{column} DESC"


def _marks(args: list[Any], values: list[Any]) -> str:
    start = len(args) + 1
    args += values
    return ", ".join(f"${i}" for i in range(start, start + len(values)))


async def accounts_response(
    request: web.Request, auth: Auth | None, actors: list[ActorRecord], cursor_ids: list[int]
) -> web.Response:
    """Render accounts with a Link header built from the cursor ids (follow row ids)."""
    body = await presenter(request, auth).accounts(actors)
    return web.json_response(body, headers=link_header(request, cursor_ids))


async def follow_page(
    db: Executor, page: Page, *, actor_id: int, direction: str, state: str = "accepted"
) -> tuple[list[ActorRecord], list[int]]:
    """Return one page of an actor's followers (`in`) or followees (`out`), by follow id."""
    mine, other = (
        ("followee_id", "follower_id") if direction == "in" else ("follower_id", "followee_id")
    )
    args: list[Any] = [actor_id, state]
    where, order = window("f.id", page, args)
    args.append(page.limit)
    rows = await db.fetch(
        f"SELECT f.id AS follow_id, a.* FROM follows f JOIN actors a ON a.id = f.{other} "
        f"WHERE f.{mine} = $1 AND f.state = $2 AND {where} AND {HIDDEN_LOCAL} "
        f"ORDER BY {order} LIMIT ${len(args)}",
        *args,
    )
    if page.ascending:
        rows.reverse()
    cursors = [int(row.pop("follow_id")) for row in rows]
    return [actor_from_row(row) for row in rows], cursors


# Own profile --------------------------------------------------------------------------------


async def credential_account(
    request: web.Request, auth: Auth, account: AccountRecord, actor: ActorRecord
) -> dict[str, Any]:
    """Render the caller's own account with `source` and `role` (CredentialAccount)."""
    db = request.app[INSTANCE].db
    entity = await presenter(request, auth).account(actor)
    defaults = await posting_defaults(db, account.id)
    pending = await db.fetchval(
        "SELECT count(*) FROM follows WHERE followee_id = $1 AND state = 'pending'", actor.id
    )
    entity["source"] = {
        "privacy": defaults.privacy,
        "sensitive": defaults.sensitive,
        "language": defaults.language or "",
        "note": html_to_text(actor.summary),
        "fields": [
            {"name": name, "value": html_to_text(value), "verified_at": None}
            for name, value in actor.fields
        ],
        "follow_requests_count": int(pending or 0),
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


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def parse_fields(params: Params) -> tuple[tuple[str, str], ...] | None:
    """Read `fields_attributes` (form `[0][name]` keys or a JSON list); None when absent."""
    if "fields_attributes" not in params:
        return None
    raw = params.values["fields_attributes"]
    if isinstance(raw, dict):
        keys = sorted(
            raw, key=lambda key: (not str(key).isdigit(), int(key) if str(key).isdigit() else 0)
        )
        rows = [raw[key] for key in keys]
    elif isinstance(raw, list):
        rows = raw
    else:
        raise Invalid(
            "fields_attributes must be a list of {name, value}", field="fields_attributes"
        )
    fields: list[tuple[str, str]] = []
    for row in rows:
        if not isinstance(row, dict):
            raise Invalid("each profile field needs a name and a value", field="fields_attributes")
        name = " ".join(_plain(row.get("name")).split())
        value = " ".join(_plain(row.get("value")).split())
        if not name and not value:
            continue  # an emptied row removes the field, as on Mastodon
        if len(name) > FIELD_NAME_LIMIT or len(value) > FIELD_VALUE_LIMIT:
            raise Invalid(
                f"a profile field name or value holds at most {FIELD_NAME_LIMIT} characters",
                field="fields_attributes",
            )
        # Names stay plain text; values are HTML with their links made clickable.
        value_html = text_to_html(value).removeprefix("<p>").removesuffix("</p>")
        fields.append((name, value_html))
    if len(fields) > MAX_FIELDS:
        raise Invalid(f"at most {MAX_FIELDS} profile fields", field="fields_attributes")
    return tuple(fields)


def _checked_text(params: Params, key: str, limit: int) -> str | None:
    value = params.text(key)
    if value is not None and len(value) > limit:
        raise Invalid(f"{key} holds at most {limit} characters", field=key)
    return value


def _posting_changes(params: Params, current: PostingDefaults) -> PostingDefaults | None:
    source = params.nested("source")
    if not source.values:
        return None
    privacy = source.text("privacy", current.privacy) or current.privacy
    if privacy not in PRIVACY_CHOICES:
        raise Invalid(
            f"source[privacy] must be one of {', '.join(PRIVACY_CHOICES)}", field="source"
        )
    language = source.text("language", current.language or "") or None
    if language is not None and not _LANGUAGE_RE.match(language):
        raise Invalid("source[language] must be an ISO 639 language code", field="source")
    sensitive = source.boolean("sensitive", current.sensitive)
    return PostingDefaults(privacy=privacy, sensitive=sensitive, language=language)


async def update_credentials(request: web.Request) -> web.Response:
    """PATCH /api/v1/accounts/update_credentials: edit the profile and federate Update."""
    auth = await require(request, "write:accounts")
    account, actor = auth.user()
    instance = request.app[INSTANCE]
    params = await read_params(request)
    display_name = _checked_text(params, "display_name", DISPLAY_NAME_LIMIT)
    note = _checked_text(params, "note", NOTE_LIMIT)
    fields = parse_fields(params)
    posting = _posting_changes(params, await posting_defaults(instance.db, account.id))
    images: dict[str, str] = {}
    for kind in ("avatar", "header"):
        upload = params.file(kind)
        if upload is not None:
            data = upload.file.read(MAX_UPLOAD_BYTES + 1)
            images[kind] = await media.store_profile_image(instance, data, kind)
    updated = replace(
        actor,
        display_name=actor.display_name if display_name is None else " ".join(display_name.split()),
        summary=actor.summary if note is None else text_to_html(note),
        locked=params.boolean("locked", actor.locked),
        avatar_url=images.get("avatar", actor.avatar_url),
        header_url=images.get("header", actor.header_url),
        fields=fields if fields is not None else actor.fields,
    )
    updated = await ActorRepository(instance.db).update_profile(updated)
    if posting is not None:
        await SettingsRepository(instance.db).put(
            f"account.{account.id}.posting", json.dumps(asdict(posting))
        )
    for kind, old in (("avatar", actor.avatar_url), ("header", actor.header_url)):
        if kind in images:
            media.forget_profile_image(instance, old)
    await publish_profile(request, updated)
    return web.json_response(await credential_account(request, auth, account, updated))


async def publish_profile(request: web.Request, actor: ActorRecord) -> None:
    """Send Update(actor) to the actor's followers, as Mastodon does after a profile edit."""
    federation = request.app[FEDERATION]
    document = {key: value for key, value in actor_document(actor).items() if key != "@context"}
    update = {
        "@context": ACTOR_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Update",
        "actor": actor.uri,
        "object": document,
        "to": [PUBLIC],
        "cc": [actor.followers_uri],
        "published": clock.as2_time(clock.now()),
    }
    await federation.publish(update, actor)


# Other accounts -----------------------------------------------------------------------------


async def show_account(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id (public)."""
    auth = await optional_auth(request)
    actor = await path_actor(request)
    return web.json_response(await presenter(request, auth).account(actor))


async def _can_see_private(db: Executor, viewer: ActorRecord | None, author: ActorRecord) -> bool:
    if viewer is None:
        return False
    if viewer.id == author.id:
        return True
    follow = await FollowRepository(db).get(viewer.id, author.id)
    return follow is not None and follow.state == "accepted"


async def _own_statuses(
    db: Executor, author: ActorRecord, params: Params, page: Page, *, private: bool
) -> list[ObjectRecord]:
    args: list[Any] = [author.id]
    visibilities = ["public", "unlisted", *(["private"] if private else [])]
    conditions = [
        "o.actor_id = $1",
        "o.deleted_at IS NULL",
        f"o.visibility IN ({_marks(args, visibilities)})",
    ]
    where, order = window("o.id", page, args)
    conditions.append(where)
    if params.boolean("only_media"):
        conditions.append("EXISTS (SELECT 1 FROM media m WHERE m.object_id = o.id)")
    if params.boolean("exclude_replies"):
        # Replies to others go; a thread the author continues stays, as on Mastodon.
        conditions.append(
            "(o.in_reply_to IS NULL OR EXISTS (SELECT 1 FROM objects p "
            "WHERE p.uri = o.in_reply_to AND p.actor_id = o.actor_id))"
        )
    if params.boolean("pinned"):
        conditions.append(
            "EXISTS (SELECT 1 FROM pins n JOIN accounts c ON c.id = n.account_id "
            "WHERE n.object_id = o.id AND c.actor_id = o.actor_id)"
        )
    tagged = (params.text("tagged") or "").lstrip("#").lower()
    if tagged:
        args.append(tagged)
        conditions.append(
            f"EXISTS (SELECT 1 FROM hashtags h WHERE h.object_id = o.id AND h.name = ${len(args)})"
        )
    args.append(page.limit)
    rows = await db.fetch(
        f"SELECT o.* FROM objects o WHERE {' AND '.join(conditions)} "
        f"ORDER BY {order} LIMIT ${len(args)}",
        *args,
    )
    return [object_from_row(row) for row in rows]


async def _boosts(db: Executor, author: ActorRecord, page: Page) -> list[Boost]:
    args: list[Any] = [author.id]
    where, order = window("b.id", page, args)
    args.append(page.limit)
    rows = await db.fetch(
        "SELECT b.id, b.actor_id, o.id AS object_id, b.uri, b.created_at FROM announces b "
        "JOIN objects o ON o.uri = b.object_uri WHERE b.actor_id = $1 AND o.deleted_at IS NULL "
        f"AND o.visibility IN ('public', 'unlisted') AND {where} "
        f"ORDER BY {order} LIMIT ${len(args)}",
        *args,
    )
    return [Boost(**row) for row in rows]


async def account_statuses(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/statuses: posts and boosts, newest first, Link-paginated."""
    auth = await optional_auth(request)
    db = request.app[INSTANCE].db
    author = await path_actor(request)
    params = await read_params(request)
    page = page_of(params)
    private = await _can_see_private(db, auth.actor if auth else None, author)
    objects = await _own_statuses(db, author, params, page, private=private)
    boosts: list[Boost] = []
    filtered = any(params.boolean(k) for k in ("only_media", "pinned", "exclude_reblogs"))
    if not filtered and not params.text("tagged"):
        boosts = await _boosts(db, author, page)
    entries = sorted(
        [*((o.id, o) for o in objects), *((b.id, b) for b in boosts)],
        key=lambda entry: entry[0],
        reverse=not page.ascending,
    )[: page.limit]
    ids = sorted((entry_id for entry_id, _ in entries), reverse=True)
    chosen_objects = [item for _, item in entries if isinstance(item, ObjectRecord)]
    chosen_boosts = {item.id: item for _, item in entries if isinstance(item, Boost)}
    rendered = await presenter(request, auth).statuses(chosen_objects, chosen_boosts)
    by_id = {entity["id"]: entity for entity in rendered}
    body = [by_id[str(entry_id)] for entry_id in ids if str(entry_id) in by_id]
    return web.json_response(body, headers=link_header(request, ids))


async def account_followers(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/followers (public), paginated by follow."""
    auth = await optional_auth(request)
    actor = await path_actor(request)
    page = page_of(await read_params(request), default=40, most=80)
    actors, cursors = await follow_page(
        request.app[INSTANCE].db, page, actor_id=actor.id, direction="in"
    )
    return await accounts_response(request, auth, actors, cursors)


async def account_following(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/:id/following (public), paginated by follow."""
    auth = await optional_auth(request)
    actor = await path_actor(request)
    page = page_of(await read_params(request), default=40, most=80)
    actors, cursors = await follow_page(
        request.app[INSTANCE].db, page, actor_id=actor.id, direction="out"
    )
    return await accounts_response(request, auth, actors, cursors)


async def lookup(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/lookup?acct=: find a known account without WebFinger."""
    auth = await optional_auth(request)
    instance = request.app[INSTANCE]
    acct = ((await read_params(request)).text("acct") or "").strip()
    acct = acct.removeprefix("acct:").lstrip("@")
    if not acct:
        raise Invalid("acct is required", field="acct")
    username, _, domain = acct.partition("@")
    actor = await ActorRepository(instance.db).by_handle(
        username, (domain or instance.domain).lower()
    )
    if actor is None or actor.type == "Application":
        raise NotFound(RECORD_NOT_FOUND)
    actor = await visible_actor(instance.db, str(actor.id))
    return web.json_response(await presenter(request, auth).account(actor))


def _like(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_accounts(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/search?q=&resolve=&following=&limit=&offset=."""
    auth = await require(request, "read:accounts")
    _, me = auth.user()
    instance = request.app[INSTANCE]
    params = await read_params(request)
    query = (params.text("q") or "").strip().removeprefix("acct:").lstrip("@")
    if not query:
        return web.json_response([])
    limit = params.integer("limit", 40, lo=1, hi=80) or 40
    offset = params.integer("offset", 0) or 0
    username, _, domain = query.partition("@")
    args: list[Any] = [_like(username) + "%"]
    if domain:
        args.append(_like(domain) + "%")
        match = "lower(a.username) LIKE $1 ESCAPE '\\' AND a.domain LIKE $2 ESCAPE '\\'"
    else:
        args.append("%" + _like(username) + "%")
        match = (
            "(lower(a.username) LIKE $1 ESCAPE '\\' OR lower(a.display_name) LIKE $2 ESCAPE '\\')"
        )
    following = ""
    if params.boolean("following"):
        args.append(me.id)
        following = (
            f" AND EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ${len(args)} "
            "AND f.followee_id = a.id AND f.state = 'accepted')"
        )
    args += [limit, offset]
    rows = await instance.db.fetch(
        f"SELECT a.* FROM actors a WHERE {match} AND a.type <> 'Application' "
        f"AND a.username IS NOT NULL AND {HIDDEN_LOCAL}{following} "
        f"ORDER BY a.local DESC, lower(a.username), a.id "
        f"LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    actors = [actor_from_row(row) for row in rows]
    if not actors and domain and offset == 0 and params.boolean("resolve"):
        try:
            actors = [await request.app[FEDERATION].resolver.actor_by_handle(query)]
        except (NotFound, Invalid):
            actors = []  # an unknown handle is no result, not an error
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
