"""Search: members by name, hashtags by prefix, posts and accounts by URL or handle.

Only a member may make the server fetch from elsewhere (`resolve`): an anonymous search must
not turn the co-op into a proxy that requests any URL on anyone's behalf.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

from fedicoop import clock
from fedicoop.activitypub.as2 import InvalidActivity
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import FedicoopError
from fedicoop.social.addressing import Visibility
from fedicoop.social.remote_posts import fetch_and_store
from fedicoop.storage.actors import ActorRecord, ActorRepository, actor_from_row
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord, object_from_row

KINDS = frozenset({"accounts", "statuses", "hashtags"})
HISTORY_DAYS = 7
HANDLE_RE = re.compile(r"^@?([\w.-]+)(?:@([\w.-]+(?::\d+)?))?$")
TAG_RE = re.compile(r"^#?(\w{1,64})$")


@dataclass(frozen=True)
class SearchQuery:
    """What a client searches for, and who asks."""

    text: str
    kinds: frozenset[str] = KINDS
    resolve: bool = False
    limit: int = 20
    offset: int = 0
    following: bool = False
    account_id: int | None = None
    viewer_actor_id: int | None = None


@dataclass(frozen=True)
class DayUsage:
    """How much a hashtag was used on one UTC day."""

    day: int  # the day's midnight, in seconds since the epoch
    uses: int
    accounts: int


@dataclass(frozen=True)
class TagUsage:
    """A hashtag found, with its use over the last days (newest first)."""

    name: str
    history: tuple[DayUsage, ...] = ()


@dataclass
class SearchResults:
    """Accounts, statuses and hashtags found."""

    accounts: list[ActorRecord] = field(default_factory=list)
    statuses: list[ObjectRecord] = field(default_factory=list)
    hashtags: list[TagUsage] = field(default_factory=list)


async def search(federation: Federation, query: SearchQuery) -> SearchResults:
    """Search what this server knows; with `resolve`, ask other servers too."""
    text = query.text.strip()
    results = SearchResults()
    if not text:
        return results
    if text.startswith(("https://", "http://")):
        await _by_url(federation, query, text, results)
        return results
    db = federation.instance.db
    handle = HANDLE_RE.match(text)
    if "accounts" in query.kinds:
        host = handle.group(2) if handle else None
        if handle and host and host.lower() != federation.instance.domain:
            found = await _remote_account(federation, f"{handle.group(1)}@{host}", query.resolve)
            results.accounts = [found] if found and query.offset == 0 else []
        else:
            prefix = handle.group(1) if handle else text.lstrip("@")
            results.accounts = await local_accounts(db, prefix, query)
    tag = TAG_RE.match(text)
    if "hashtags" in query.kinds and tag:
        results.hashtags = await hashtags(db, tag.group(1).lower(), query)
    return results


async def _remote_account(federation: Federation, handle: str, resolve: bool) -> ActorRecord | None:
    username, _, host = handle.partition("@")
    stored = await ActorRepository(federation.instance.db).by_handle(username, host.lower())
    if stored is not None or not resolve:
        return stored
    try:
        return await federation.resolver.actor_by_handle(handle)
    except FedicoopError:
        return None  # unknown or unreachable: an empty result, as on Mastodon


async def _by_url(
    federation: Federation, query: SearchQuery, url: str, results: SearchResults
) -> None:
    db = federation.instance.db
    row = await db.fetchrow(
        "SELECT * FROM objects WHERE (uri = $1 OR url = $1) AND deleted_at IS NULL", url
    )
    found_object = object_from_row(row) if row else None
    row = await db.fetchrow("SELECT * FROM actors WHERE uri = $1 OR url = $1", url)
    found_actor = actor_from_row(row) if row else None
    if found_object is None and found_actor is None and query.resolve:
        try:
            found_object = await fetch_and_store(federation, url)
            if found_object is None:
                found_actor = await federation.resolver.actor(url)
        except (FedicoopError, InvalidActivity):
            return  # not a post or an actor we can read: nothing found
    if query.offset:
        return
    if (
        "statuses" in query.kinds
        and found_object is not None
        and query.account_id in (None, found_object.actor_id)
        and await visible(db, found_object, query.viewer_actor_id)
    ):
        results.statuses = [found_object]
    if "accounts" in query.kinds and found_actor is not None:
        results.accounts = [found_actor]


def _like_prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def local_accounts(db: Executor, prefix: str, query: SearchQuery) -> list[ActorRecord]:
    """Return this co-op's members and Group whose username or a display name word starts so."""
    like = _like_prefix(prefix)
    args: list[object] = [like, "% " + like, prefix.lower()]
    following = ""
    if query.following:
        if query.viewer_actor_id is None:
            return []
        args.append(query.viewer_actor_id)
        following = (
            " AND EXISTS (SELECT 1 FROM follows f WHERE f.followee_id = a.id "
            f"AND f.follower_id = ${len(args)} AND f.state = 'accepted')"
        )
    args += [query.limit, query.offset]
    rows = await db.fetch(
        "SELECT a.* FROM actors a WHERE a.local = 1 AND a.type IN ('Person', 'Group') "
        "AND a.username IS NOT NULL AND (lower(a.username) LIKE $1 ESCAPE '\\' "
        "OR lower(a.display_name) LIKE $1 ESCAPE '\\' "
        "OR lower(a.display_name) LIKE $2 ESCAPE '\\') "
        # A suspended or not yet admitted member is not findable.
        "AND (a.type = 'Group' OR EXISTS (SELECT 1 FROM accounts c WHERE c.actor_id = a.id "
        f"AND c.status = 'active')){following} "
        f"ORDER BY CASE WHEN lower(a.username) = $3 THEN 0 ELSE 1 END, a.username "
        f"LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    return [actor_from_row(row) for row in rows]


async def hashtags(db: Executor, prefix: str, query: SearchQuery) -> list[TagUsage]:
    """Return hashtags used in public posts that start with `prefix`, most used first."""
    rows = await db.fetch(
        "SELECT h.name AS name, count(*) AS uses FROM hashtags h "
        "JOIN objects o ON o.id = h.object_id "
        "WHERE h.name LIKE $1 ESCAPE '\\' AND o.deleted_at IS NULL AND o.visibility = 'public' "
        "GROUP BY h.name ORDER BY CASE WHEN h.name = $2 THEN 0 ELSE 1 END, count(*) DESC, "
        "h.name LIMIT $3 OFFSET $4",
        _like_prefix(prefix),
        prefix,
        query.limit,
        query.offset,
    )
    names = [str(row["name"]) for row in rows]
    history = await tag_history(db, names)
    return [TagUsage(name, history.get(name, ())) for name in names]


async def tag_history(db: Executor, names: list[str]) -> dict[str, tuple[DayUsage, ...]]:
    """Return each hashtag's daily uses and distinct authors over the last days, newest first."""
    if not names:
        return {}
    today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in range(HISTORY_DAYS)]
    marks = ", ".join(f"${i}" for i in range(2, len(names) + 2))
    rows = await db.fetch(
        "SELECT h.name AS name, substr(o.published, 1, 10) AS day, count(*) AS uses, "
        "count(DISTINCT o.actor_id) AS accounts FROM hashtags h "
        "JOIN objects o ON o.id = h.object_id WHERE o.published >= $1 AND o.deleted_at IS NULL "
        f"AND o.visibility = 'public' AND h.name IN ({marks}) "
        "GROUP BY h.name, substr(o.published, 1, 10)",
        clock.to_text(days[-1]),
        *names,
    )
    counts = {(str(r["name"]), str(r["day"])): (int(r["uses"]), int(r["accounts"])) for r in rows}
    return {
        name: tuple(
            DayUsage(int(day.timestamp()), *counts.get((name, day.strftime("%Y-%m-%d")), (0, 0)))
            for day in days
        )
        for name in names
    }


async def visible(db: Executor, obj: ObjectRecord, viewer_actor_id: int | None) -> bool:
    """Return whether a viewer may see a status (public, theirs, mentioned, or a follower)."""
    if obj.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        return True
    if viewer_actor_id is None:
        return False
    if obj.actor_id == viewer_actor_id:
        return True
    mentioned = await db.fetchval(
        "SELECT 1 FROM mentions WHERE object_id = $1 AND actor_id = $2", obj.id, viewer_actor_id
    )
    if mentioned is not None:
        return True
    if obj.visibility != Visibility.PRIVATE:
        return False
    follows = await db.fetchval(
        "SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2 AND state = 'accepted'",
        viewer_actor_id,
        obj.actor_id,
    )
    return follows is not None
