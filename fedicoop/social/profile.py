"""Member profiles: who can be seen and found, what a profile lists, how a member edits theirs.

Account ids are actor row ids: the co-op Group is an account too. Local members who are not
active (applicants, suspended) are not shown to anyone.
"""

import json
import re
from dataclasses import asdict, dataclass, replace

from fedicoop import clock
from fedicoop.activitypub.documents import ACTOR_CONTEXT, PUBLIC, actor_document
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.sanitize import text_to_html
from fedicoop.errors import Invalid, NotFound
from fedicoop.media import service as media
from fedicoop.storage.account_queries import AccountQueries, ProfileBoost, StatusQuery, Window
from fedicoop.storage.accounts import AccountRecord, AccountRepository, SettingsRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Executor
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.objects import ObjectRecord

DISPLAY_NAME_LIMIT = 100
NOTE_LIMIT = 2000
MAX_FIELDS = 4
FIELD_NAME_LIMIT = 255
FIELD_VALUE_LIMIT = 255
PRIVACY_CHOICES = ("public", "unlisted", "private", "direct")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
RECORD_NOT_FOUND = "Record not found"


# Who can be seen ------------------------------------------------------------------------------


async def visible_actor(db: Executor, account_id: str) -> ActorRecord:
    """Return the actor an account id names, unless it is hidden (NotFound)."""
    if not account_id.isdigit() or len(account_id) > 19:
        raise NotFound(RECORD_NOT_FOUND)
    actor = await ActorRepository(db).get(int(account_id))
    if actor is None:
        raise NotFound(RECORD_NOT_FOUND)
    if actor.local and actor.type == "Person":
        account = await AccountRepository(db).by_actor(actor.id)
        if account is None or account.status != "active":
            raise NotFound(RECORD_NOT_FOUND)
    return actor


async def find_by_handle(db: Executor, acct: str, local_domain: str) -> ActorRecord:
    """Return the known account `user` or `user@domain` names, without WebFinger."""
    username, _, domain = acct.partition("@")
    actor = await ActorRepository(db).by_handle(username, (domain or local_domain).lower())
    if actor is None or actor.type == "Application":
        raise NotFound(RECORD_NOT_FOUND)
    return await visible_actor(db, str(actor.id))


@dataclass(frozen=True)
class AccountSearch:
    """An account search: `text` is a handle (`user`, `user@domain`) or part of a name."""

    text: str
    limit: int = 40
    offset: int = 0
    following: bool = False
    resolve: bool = False


async def search_accounts(
    federation: Federation, searcher: ActorRecord, search: AccountSearch
) -> list[ActorRecord]:
    """Find known accounts; resolve a full handle remotely when nothing here matches."""
    username, _, domain = search.text.partition("@")
    actors = await AccountQueries(federation.instance.db).search(
        username,
        domain,
        followed_by=searcher.id if search.following else None,
        limit=search.limit,
        offset=search.offset,
    )
    if not actors and domain and search.offset == 0 and search.resolve:
        try:
            actors = [await federation.resolver.actor_by_handle(search.text)]
        except (NotFound, Invalid):
            actors = []  # an unknown handle is no result, not an error
    return actors


# What a profile lists -------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusFilter:
    """The filters a client puts on a profile's posts (`tagged` as sent, `#` allowed)."""

    only_media: bool = False
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    pinned: bool = False
    tagged: str | None = None


@dataclass(frozen=True)
class ProfileStatuses:
    """One page of a profile: posts and boosts, and their status ids newest first."""

    statuses: list[ObjectRecord]
    boosts: list[ProfileBoost]
    ids: list[int]


async def _can_see_private(db: Executor, viewer: ActorRecord | None, author: ActorRecord) -> bool:
    """Followers-only posts show to the author and to accepted followers."""
    if viewer is None:
        return False
    if viewer.id == author.id:
        return True
    follow = await FollowRepository(db).get(viewer.id, author.id)
    return follow is not None and follow.state == "accepted"


async def profile_statuses(
    db: Executor,
    author: ActorRecord,
    viewer: ActorRecord | None,
    filters: StatusFilter,
    window: Window,
) -> ProfileStatuses:
    """Return one page of an author's posts and boosts, as the viewer may see them."""
    private = await _can_see_private(db, viewer, author)
    queries = AccountQueries(db)
    query = StatusQuery(
        author_id=author.id,
        visibilities=["public", "unlisted", *(["private"] if private else [])],
        only_media=filters.only_media,
        exclude_replies=filters.exclude_replies,
        pinned=filters.pinned,
        hashtag=(filters.tagged or "").lstrip("#").lower(),
    )
    objects = await queries.statuses(query, window)
    boosts: list[ProfileBoost] = []
    # Boosts are not the author's own media, pins or hashtags: any of those filters drops them.
    if not (filters.only_media or filters.pinned or filters.exclude_reblogs or filters.tagged):
        boosts = await queries.public_boosts(author.id, window)
    entries = sorted(
        [*((o.id, o) for o in objects), *((b.id, b) for b in boosts)],
        key=lambda entry: entry[0],
        reverse=not window.ascending,
    )[: window.limit]
    return ProfileStatuses(
        statuses=[item for _, item in entries if isinstance(item, ObjectRecord)],
        boosts=[item for _, item in entries if isinstance(item, ProfileBoost)],
        ids=sorted((entry_id for entry_id, _ in entries), reverse=True),
    )


# Compose defaults ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostingDefaults:
    """A member's compose defaults (Mastodon's `source` and preferences)."""

    privacy: str = "public"
    sensitive: bool = False
    language: str | None = None


def _posting_key(account_id: int) -> str:
    return f"account.{account_id}.posting"


async def posting_defaults(db: Executor, account_id: int) -> PostingDefaults:
    """Return a member's compose defaults (kept in the settings table)."""
    raw = await SettingsRepository(db).get(_posting_key(account_id))
    if not raw:
        return PostingDefaults()
    stored = json.loads(raw)
    return PostingDefaults(
        privacy=str(stored.get("privacy", "public")),
        sensitive=bool(stored.get("sensitive", False)),
        language=stored.get("language") or None,
    )


# Editing one's own profile ----------------------------------------------------------------


class _NotSent:
    """Marks a parameter the client did not send (where a sent null is an error)."""


NOT_SENT = _NotSent()


@dataclass(frozen=True)
class PostingChoice:
    """Compose defaults as sent: None keeps the current value, language "" clears it."""

    privacy: str | None = None
    language: str | None = None
    sensitive: bool | None = None


@dataclass(frozen=True)
class ProfileEdit:
    """What a member sent to change their profile; None (or NOT_SENT) changes nothing."""

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    fields: object = NOT_SENT
    posting: PostingChoice | None = None
    avatar: bytes | None = None
    header: bytes | None = None


def _plain(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def parse_fields(raw: object) -> tuple[tuple[str, str], ...]:
    """Check profile fields (form `[0][name]` keys or a JSON list) and render their values."""
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


def _checked_text(value: str | None, key: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise Invalid(f"{key} holds at most {limit} characters", field=key)
    return value


def _posting_changes(choice: PostingChoice, current: PostingDefaults) -> PostingDefaults:
    privacy = choice.privacy or current.privacy
    if privacy not in PRIVACY_CHOICES:
        raise Invalid(
            f"source[privacy] must be one of {', '.join(PRIVACY_CHOICES)}", field="source"
        )
    sent_language = (current.language or "") if choice.language is None else choice.language
    language = sent_language or None
    if language is not None and not _LANGUAGE_RE.match(language):
        raise Invalid("source[language] must be an ISO 639 language code", field="source")
    sensitive = current.sensitive if choice.sensitive is None else choice.sensitive
    return PostingDefaults(privacy=privacy, sensitive=sensitive, language=language)


async def edit_profile(
    federation: Federation, account: AccountRecord, actor: ActorRecord, edit: ProfileEdit
) -> ActorRecord:
    """Check and store a member's profile edit, then federate Update; return the new actor."""
    instance = federation.instance
    display_name = _checked_text(edit.display_name, "display_name", DISPLAY_NAME_LIMIT)
    note = _checked_text(edit.note, "note", NOTE_LIMIT)
    fields = None if isinstance(edit.fields, _NotSent) else parse_fields(edit.fields)
    posting = None
    if edit.posting is not None:
        posting = _posting_changes(edit.posting, await posting_defaults(instance.db, account.id))
    images: dict[str, str] = {}
    for kind, data in (("avatar", edit.avatar), ("header", edit.header)):
        if data is not None:
            images[kind] = await media.store_profile_image(instance, data, kind)
    updated = replace(
        actor,
        display_name=actor.display_name if display_name is None else " ".join(display_name.split()),
        summary=actor.summary if note is None else text_to_html(note),
        locked=actor.locked if edit.locked is None else edit.locked,
        avatar_url=images.get("avatar", actor.avatar_url),
        header_url=images.get("header", actor.header_url),
        fields=fields if fields is not None else actor.fields,
    )
    updated = await ActorRepository(instance.db).update_profile(updated)
    if posting is not None:
        await SettingsRepository(instance.db).put(
            _posting_key(account.id), json.dumps(asdict(posting))
        )
    for kind, old in (("avatar", actor.avatar_url), ("header", actor.header_url)):
        if kind in images:
            media.forget_profile_image(instance, old)
    await publish_profile(federation, updated)
    return updated


async def publish_profile(federation: Federation, actor: ActorRecord) -> None:
    """Send Update(actor) to the actor's followers, as Mastodon does after a profile edit."""
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
