"""What members keep around statuses: pins (featured), bookmarks, and who liked or boosted.

Lists here page by a cursor (max_id / since_id / min_id) as Mastodon's `Link` headers do;
each row comes back as (cursor, item id) so the interface can build the next link.
"""

import json
from dataclasses import dataclass
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Invalid
from fedicoop.social.addressing import Visibility
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord

MAX_PINS = 5  # Mastodon's default


@dataclass(frozen=True)
class Window:
    """The slice of a list a client asked for (ids are cursors, newest first)."""

    max_id: int = 2**63 - 1
    since_id: int = 0
    min_id: int | None = None
    limit: int = 20


async def _page(db: Executor, sql: str, args: list[Any], window: Window) -> list[tuple[int, int]]:
    """Run `SELECT cursor, item … WHERE …` within a window; return (cursor, item) newest first."""
    n = len(args)
    bounds = f"AND cursor > ${n + 1} AND cursor < ${n + 2}"
    if window.min_id is not None:
        rows = await db.fetch(
            f"{sql} {bounds} ORDER BY cursor ASC LIMIT ${n + 3}",
            *args,
            window.min_id,
            window.max_id,
            window.limit,
        )
        rows.reverse()
    else:
        rows = await db.fetch(
            f"{sql} {bounds} ORDER BY cursor DESC LIMIT ${n + 3}",
            *args,
            window.since_id,
            window.max_id,
            window.limit,
        )
    return [(int(row["cursor"]), int(row["item"])) for row in rows]


# Pins -------------------------------------------------------------------------------------


async def pin(
    federation: Federation, account_id: int, author: ActorRecord, record: ObjectRecord
) -> None:
    """Feature one of our own public posts on our profile (Add to the featured collection)."""
    if record.actor_id != author.id or not record.local:
        raise Invalid("Validation failed: Someone else's post cannot be pinned")
    if record.visibility == Visibility.DIRECT:
        raise Invalid(
            "Validation failed: Posts that are only visible to mentioned users cannot be pinned"
        )
    if record.visibility == Visibility.PRIVATE:
        # The featured collection is public: a followers-only post cannot appear in it.
        raise Invalid("Validation failed: Only public posts can be pinned")
    db = federation.instance.db
    if await db.fetchval(
        "SELECT 1 FROM pins WHERE account_id = $1 AND object_id = $2", account_id, record.id
    ):
        return
    count = int(await db.fetchval("SELECT count(*) FROM pins WHERE account_id = $1", account_id))
    if count >= MAX_PINS:
        raise Invalid("Validation failed: You have already pinned the maximum number of posts")
    added = await db.execute(
        "INSERT INTO pins (account_id, object_id, created_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        account_id,
        record.id,
        clock.now_text(),
    )
    if added:
        await _feature(federation, author, "Add", record.uri)


async def unpin(
    federation: Federation, account_id: int, author: ActorRecord, record: ObjectRecord
) -> None:
    """Stop featuring a post (Remove from the featured collection)."""
    removed = await federation.instance.db.execute(
        "DELETE FROM pins WHERE account_id = $1 AND object_id = $2", account_id, record.id
    )
    if removed:
        await _feature(federation, author, "Remove", record.uri)


async def _feature(federation: Federation, author: ActorRecord, kind: str, uri: str) -> None:
    """Tell followers the featured collection changed, as Mastodon does (Add/Remove + target)."""
    activity = {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": kind,
        "actor": author.uri,
        "object": uri,
        "target": author.featured_uri,
        "to": [PUBLIC],
        "cc": [author.followers_uri],
    }
    await federation.publish(activity, author)


async def pinned_documents(db: Executor, actor_id: int) -> list[dict[str, Any]]:
    """Return the live public posts a local actor pinned, newest pin first, as served."""
    rows = await db.fetch(
        "SELECT o.raw FROM pins p JOIN accounts a ON a.id = p.account_id "
        "JOIN objects o ON o.id = p.object_id WHERE a.actor_id = $1 AND o.deleted_at IS NULL "
        "AND o.visibility IN ('public', 'unlisted') ORDER BY p.created_at DESC, o.id DESC",
        actor_id,
    )
    documents = []
    for row in rows:
        document: dict[str, Any] = json.loads(row["raw"])
        document.pop("@context", None)
        documents.append(document)
    return documents


# Bookmarks and favourites -----------------------------------------------------------------


async def bookmark(db: Executor, account_id: int, record: ObjectRecord) -> None:
    """Keep a post in a member's private bookmarks (nobody else is told)."""
    await db.execute(
        "INSERT INTO bookmarks (account_id, object_id, created_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        account_id,
        record.id,
        clock.now_text(),
    )


async def unbookmark(db: Executor, account_id: int, record: ObjectRecord) -> None:
    """Drop a post from a member's bookmarks."""
    await db.execute(
        "DELETE FROM bookmarks WHERE account_id = $1 AND object_id = $2", account_id, record.id
    )


async def bookmarked(db: Executor, account_id: int, window: Window) -> list[tuple[int, int]]:
    """Return (cursor, object id) of a member's live bookmarks; the cursor is the status id."""
    return await _page(
        db,
        "SELECT * FROM (SELECT b.object_id AS cursor, b.object_id AS item FROM bookmarks b "
        "JOIN objects o ON o.id = b.object_id WHERE b.account_id = $1 "
        "AND o.deleted_at IS NULL) AS marked WHERE 1 = 1",
        [account_id],
        window,
    )


async def favourited(db: Executor, actor_id: int, window: Window) -> list[tuple[int, int]]:
    """Return (like id, object id) of the live posts an actor liked, newest like first."""
    return await _page(
        db,
        "SELECT * FROM (SELECT l.id AS cursor, o.id AS item FROM likes l "
        "JOIN objects o ON o.uri = l.object_uri WHERE l.actor_id = $1 "
        "AND o.deleted_at IS NULL) AS liked WHERE 1 = 1",
        [actor_id],
        window,
    )


async def reactors(
    db: Executor, table: str, object_uri: str, window: Window
) -> list[tuple[int, int]]:
    """Return (reaction id, actor id) of who liked (`likes`) or boosted (`announces`) a post."""
    assert table in ("likes", "announces")
    return await _page(
        db,
        f"SELECT * FROM (SELECT id AS cursor, actor_id AS item FROM {table} "
        "WHERE object_uri = $1) AS reacted WHERE 1 = 1",
        [object_uri],
        window,
    )


# Boosts seen as statuses ------------------------------------------------------------------


@dataclass(frozen=True)
class BoostRecord:
    """A boost as a status of its own: its id is the announces row id."""

    id: int
    actor_id: int
    object_uri: str
    uri: str
    created_at: str


async def find_boost(
    db: Executor, *, boost_id: int | None = None, actor_id: int = 0, object_uri: str = ""
) -> BoostRecord | None:
    """Return a boost by its id, or the one an actor made of a post."""
    if boost_id is not None:
        row = await db.fetchrow("SELECT * FROM announces WHERE id = $1", boost_id)
    else:
        row = await db.fetchrow(
            "SELECT * FROM announces WHERE actor_id = $1 AND object_uri = $2", actor_id, object_uri
        )
    return BoostRecord(**row) if row else None
