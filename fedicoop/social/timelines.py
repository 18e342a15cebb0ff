"""Timelines: home timelines written on arrival (fan-out on write, so reading one is a single
range scan), public and hashtag timelines read from the objects themselves, and the live
events streaming clients receive when a timeline changes.
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fedicoop.activitypub.processing import HeldEvents
from fedicoop.social.addressing import Visibility
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord, object_from_row
from fedicoop.streaming import PUBLIC as PUBLIC_STREAM
from fedicoop.streaming import (
    PUBLIC_LOCAL,
    PUBLIC_REMOTE,
    LocalStreamBus,
    StreamBus,
    hashtag_stream,
    user_stream,
)


@dataclass(frozen=True)
class Entry:
    """One home timeline row: a status (id = object id) or a boost of one (id = boost id)."""

    id: int
    object_id: int
    boost_id: int | None = None

    @property
    def reference(self) -> str:
        """Return the entry as a streaming event payload: `object` or `object/boost`."""
        if self.boost_id is None:
            return str(self.object_id)
        return f"{self.object_id}/{self.boost_id}"

    @classmethod
    def from_reference(cls, text: str) -> "Entry":
        """Read an entry back from `reference` (raises ValueError on anything else)."""
        object_part, _, boost_part = text.partition("/")
        object_id = int(object_part)
        if not boost_part:
            return cls(object_id, object_id)
        boost_id = int(boost_part)
        return cls(boost_id, object_id, boost_id)


@dataclass(frozen=True)
class PublicScope:
    """Which public posts a public or hashtag timeline shows, and to whom."""

    local: bool = False
    remote: bool = False
    only_media: bool = False
    viewer_account_id: int | None = None
    viewer_actor_id: int | None = None


@dataclass(frozen=True)
class TagQuery:
    """A hashtag timeline: the tag, plus Mastodon's any[] / all[] / none[] refinements."""

    tag: str
    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()


# Writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownAudience:
    """What a caller already looked up about a new status's local audience."""

    followers: tuple[int, ...]  # local account ids following the author
    mentioned_actors: tuple[int, ...]  # actor ids the status mentions (local or not)


async def _local_audience(
    db: Executor,
    author: ActorRecord,
    obj: ObjectRecord,
    *,
    followers: bool,
    known: KnownAudience | None = None,
) -> list[int]:
    """Return the local account ids whose home timeline should show this."""
    if known is not None:
        accounts = set(known.followers) if followers else set()
        if known.mentioned_actors:
            marks = ", ".join(f"${i}" for i in range(1, len(known.mentioned_actors) + 1))
            rows = await db.fetch(
                f"SELECT id FROM accounts WHERE actor_id IN ({marks})", *known.mentioned_actors
            )
            accounts.update(int(row["id"]) for row in rows)
    else:
        mentioned = (
            "SELECT c.id FROM mentions m JOIN accounts c ON c.actor_id = m.actor_id "
            "WHERE m.object_id = $1"
        )
        if followers:
            # One statement for both audiences: this runs for every post received.
            rows = await db.fetch(
                f"{mentioned} UNION SELECT c.id FROM follows f JOIN accounts c "
                "ON c.actor_id = f.follower_id WHERE f.followee_id = $2 AND f.state = 'accepted'",
                obj.id,
                author.id,
            )
        else:
            rows = await db.fetch(mentioned, obj.id)
        accounts = {int(row["id"]) for row in rows}
    if author.local:
        own = await db.fetchval("SELECT id FROM accounts WHERE actor_id = $1", author.id)
        if own is not None:
            accounts.add(int(own))
    return sorted(accounts)


async def fan_out_status(
    db: Executor,
    author: ActorRecord,
    obj: ObjectRecord,
    *,
    streams: StreamBus | None = None,
    known: KnownAudience | None = None,
) -> int:
    """Put a new status on the home timelines that should show it; return how many.

    With `streams`, live clients hear of it at once. Inside a transaction, leave `streams`
    out and call `stream_status` after the commit, so nobody is told of an unwritten row.
    `known` spares the look-ups of followers and mentions when the caller made them.
    """
    if obj.deleted_at:
        return 0
    to_followers = obj.visibility != Visibility.DIRECT
    # A reply to someone you do not follow only reaches you when you are mentioned, as on
    # Mastodon; followers of the author still see it.
    audience = await _local_audience(db, author, obj, followers=to_followers, known=known)
    await _insert(db, [(account, obj.id, obj.id, None) for account in audience])
    if streams is not None and not _nobody_listens(streams):
        await stream_status(streams, db, obj)
    return len(audience)


def _nobody_listens(streams: StreamBus) -> bool:
    """Return whether no live client is connected at all (finding whom to tell is then wasted)."""
    if isinstance(streams, HeldEvents):
        streams = streams.bus
    return isinstance(streams, LocalStreamBus) and streams.listener_count() == 0


async def fan_out_boost(
    db: Executor,
    booster: ActorRecord,
    obj: ObjectRecord,
    boost_id: int,
    *,
    streams: StreamBus | None = None,
) -> int:
    """Put a boost on the home timelines of the booster's local followers."""
    rows = await db.fetch(
        "SELECT c.id FROM follows f JOIN accounts c ON c.actor_id = f.follower_id "
        "WHERE f.followee_id = $1 AND f.state = 'accepted'",
        booster.id,
    )
    audience = {int(row["id"]) for row in rows}
    if booster.local:
        own = await db.fetchval("SELECT id FROM accounts WHERE actor_id = $1", booster.id)
        if own is not None:
            audience.add(int(own))
    await _insert(db, [(account, boost_id, obj.id, boost_id) for account in sorted(audience)])
    if streams is not None:
        # Boosts reach home timelines only; Mastodon's public streams never carry them.
        entry = Entry(boost_id, obj.id, boost_id)
        for account in await _holders(db, entry):
            await streams.publish(user_stream(account), "update", entry.reference)
    return len(audience)


async def _insert(db: Executor, rows: list[tuple[int, int, int, int | None]]) -> None:
    if rows:
        await db.executemany(
            "INSERT INTO timeline (account_id, id, object_id, reblog_id) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING",
            rows,
        )


async def _holders(db: Executor, entry: Entry) -> list[int]:
    """Return the accounts whose home timeline holds an entry."""
    rows = await db.fetch(
        "SELECT account_id FROM timeline WHERE object_id = $1 AND id = $2",
        entry.object_id,
        entry.id,
    )
    return [int(row["account_id"]) for row in rows]


async def stream_status(
    streams: StreamBus, db: Executor, obj: ObjectRecord, *, event: str = "update"
) -> None:
    """Tell live clients of a new (or, as `status.update`, edited) status wherever it shows."""
    if obj.deleted_at:
        return
    entry = Entry(obj.id, obj.id)
    for account in await _holders(db, entry):
        await streams.publish(user_stream(account), event, entry.reference)
    for stream in await _public_streams(db, obj):
        await streams.publish(stream, event, entry.reference)


async def _public_streams(db: Executor, obj: ObjectRecord) -> list[str]:
    """Return the public and hashtag streams that show a status."""
    if obj.visibility != Visibility.PUBLIC:
        return []
    streams: list[str] = []
    if not await _replies_to_someone_else(db, obj):
        streams += [PUBLIC_STREAM, PUBLIC_LOCAL if obj.local else PUBLIC_REMOTE]
    rows = await db.fetch("SELECT name FROM hashtags WHERE object_id = $1", obj.id)
    for row in rows:
        streams.append(hashtag_stream(str(row["name"])))
        if obj.local:
            streams.append(hashtag_stream(str(row["name"]), local=True))
    return streams


async def _replies_to_someone_else(db: Executor, obj: ObjectRecord) -> bool:
    if not obj.in_reply_to:
        return False
    parent_author = await db.fetchval(
        "SELECT actor_id FROM objects WHERE uri = $1", obj.in_reply_to
    )
    return parent_author is None or int(parent_author) != obj.actor_id


async def remove_from_timelines(
    db: Executor, object_id: int, *, streams: StreamBus | None = None
) -> None:
    """Take a deleted status (and its boosts) off every home timeline."""
    if streams is not None:
        rows = await db.fetch("SELECT account_id, id FROM timeline WHERE object_id = $1", object_id)
        for row in rows:
            await streams.publish(user_stream(int(row["account_id"])), "delete", str(row["id"]))
        found = await db.fetchrow("SELECT * FROM objects WHERE id = $1", object_id)
        if found is not None:
            # The row is already marked deleted: look at what it was, not whether it lives.
            record = object_from_row({**found, "deleted_at": None})
            for stream in await _public_streams(db, record):
                await streams.publish(stream, "delete", str(object_id))
    await db.execute("DELETE FROM timeline WHERE object_id = $1", object_id)


async def remove_boost(db: Executor, boost_id: int, *, streams: StreamBus | None = None) -> None:
    """Take an undone boost off every home timeline."""
    if streams is not None:
        rows = await db.fetch(
            "SELECT account_id FROM timeline WHERE id = $1 AND reblog_id = $1", boost_id
        )
        for row in rows:
            await streams.publish(user_stream(int(row["account_id"])), "delete", str(boost_id))
    await db.execute("DELETE FROM timeline WHERE id = $1 AND reblog_id = $1", boost_id)


# Reading --------------------------------------------------------------------------------------


class _Where:
    """Conditions and their arguments, numbered `$1, $2…` as they are added."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    def window(self, column: str, *, max_id: int, since_id: int, min_id: int | None) -> str:
        """Bound `column` by the page window; return the scan order (ASC for min_id)."""
        self.add(f"{column} < {self.arg(max_id)}")
        lower = max(since_id, min_id or 0)
        if lower:
            self.add(f"{column} > {self.arg(lower)}")
        return "ASC" if min_id is not None else "DESC"

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions) or "1 = 1"


async def home(
    db: Executor, account_id: int, *, max_id: int, since_id: int, min_id: int | None, limit: int
) -> list[Entry]:
    """Return a member's home timeline, newest first, within the page window.

    Statuses and boosts by accounts the member mutes or blocks (or that block the member)
    stay hidden even though they were written before the mute.
    """
    viewer_actor = await db.fetchval("SELECT actor_id FROM accounts WHERE id = $1", account_id)
    where = _Where()
    where.add(f"t.account_id = {where.arg(account_id)}")
    where.add("o.deleted_at IS NULL")
    where.add("(t.reblog_id IS NULL OR b.id IS NOT NULL)")
    where.add(
        f"NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = {where.arg(account_id)} "
        "AND m.target_id IN (o.actor_id, b.actor_id))"
    )
    viewer = where.arg(viewer_actor)
    where.add(
        f"NOT EXISTS (SELECT 1 FROM blocks k WHERE (k.actor_id = {viewer} "
        f"AND k.target_id IN (o.actor_id, b.actor_id)) OR (k.target_id = {viewer} "
        "AND k.actor_id IN (o.actor_id, b.actor_id)))"
    )
    order = where.window("t.id", max_id=max_id, since_id=since_id, min_id=min_id)
    rows = await db.fetch(
        "SELECT t.id, t.object_id, t.reblog_id FROM timeline t "
        "JOIN objects o ON o.id = t.object_id LEFT JOIN announces b ON b.id = t.reblog_id "
        f"WHERE {where.sql} ORDER BY t.id {order} LIMIT {where.arg(limit)}",
        *where.args,
    )
    if order == "ASC":
        rows.reverse()
    return [
        Entry(
            int(r["id"]),
            int(r["object_id"]),
            int(r["reblog_id"]) if r["reblog_id"] is not None else None,
        )
        for r in rows
    ]


async def public(
    db: Executor,
    scope: PublicScope,
    *,
    max_id: int,
    since_id: int,
    min_id: int | None,
    limit: int,
    tags: TagQuery | None = None,
) -> list[ObjectRecord]:
    """Return public statuses newest first: everything known, or only local / remote ones.

    The public timelines leave out replies to other people, as Mastodon's do; a hashtag
    timeline (`tags`) shows every public post carrying the tag.
    """
    where = _Where()
    where.add("o.visibility = 'public'")
    where.add("o.deleted_at IS NULL")
    if scope.local and not scope.remote:
        where.add("o.local = 1")
    elif scope.remote and not scope.local:
        where.add("o.local = 0")
    if scope.only_media:
        where.add("EXISTS (SELECT 1 FROM media m WHERE m.object_id = o.id)")
    if tags is None:
        where.add(
            "(o.in_reply_to IS NULL OR EXISTS (SELECT 1 FROM objects p "
            "WHERE p.uri = o.in_reply_to AND p.actor_id = o.actor_id))"
        )
    else:
        _tag_conditions(where, tags)
    if scope.viewer_actor_id is not None:
        viewer = where.arg(scope.viewer_actor_id)
        where.add(
            "NOT EXISTS (SELECT 1 FROM blocks k WHERE (k.actor_id = "
            f"{viewer} AND k.target_id = o.actor_id) OR (k.actor_id = o.actor_id "
            f"AND k.target_id = {viewer}))"
        )
    if scope.viewer_account_id is not None:
        where.add(
            "NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = "
            f"{where.arg(scope.viewer_account_id)} AND m.target_id = o.actor_id)"
        )
    order = where.window("o.id", max_id=max_id, since_id=since_id, min_id=min_id)
    rows = await db.fetch(
        f"SELECT o.* FROM objects o WHERE {where.sql} "
        f"ORDER BY o.id {order} LIMIT {where.arg(limit)}",
        *where.args,
    )
    if order == "ASC":
        rows.reverse()
    return [object_from_row(row) for row in rows]


def _tag_conditions(where: _Where, tags: TagQuery) -> None:
    def tagged(names: list[str]) -> str:
        marks = ", ".join(where.arg(name.lower()) for name in names)
        return f"EXISTS (SELECT 1 FROM hashtags h WHERE h.object_id = o.id AND h.name IN ({marks}))"

    where.add(tagged([tags.tag, *tags.any_of]))
    for name in tags.all_of:
        where.add(tagged([name]))
    if tags.none_of:
        where.add(f"NOT {tagged(list(tags.none_of))}")


async def hidden_from(
    db: Executor, viewer_account_id: int, viewer_actor_id: int, actor_ids: Collection[int]
) -> bool:
    """Return whether a viewer mutes or blocks any of these actors, or is blocked by one."""
    wanted = sorted(set(actor_ids))
    if not wanted:
        return False
    marks = ", ".join(f"${i}" for i in range(3, len(wanted) + 3))
    found = await db.fetchval(
        f"SELECT 1 FROM blocks WHERE (actor_id = $1 AND target_id IN ({marks})) "
        f"OR (target_id = $1 AND actor_id IN ({marks})) "
        f"UNION SELECT 1 FROM mutes WHERE account_id = $2 AND target_id IN ({marks})",
        viewer_actor_id,
        viewer_account_id,
        *wanted,
    )
    return found is not None
