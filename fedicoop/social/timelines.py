"""Home timelines, written on arrival (fan-out on write) so reading one is a single range scan."""

from fedicoop.social.addressing import Visibility
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord


async def _local_audience(
    db: Executor, author: ActorRecord, obj: ObjectRecord, *, followers: bool
) -> list[int]:
    """Return the local account ids whose home timeline should show this."""
    accounts: set[int] = set()
    if followers:
        rows = await db.fetch(
            "SELECT c.id FROM follows f JOIN accounts c ON c.actor_id = f.follower_id "
            "WHERE f.followee_id = $1 AND f.state = 'accepted'",
            author.id,
        )
        accounts.update(int(row["id"]) for row in rows)
    rows = await db.fetch(
        "SELECT c.id FROM mentions m JOIN accounts c ON c.actor_id = m.actor_id "
        "WHERE m.object_id = $1",
        obj.id,
    )
    accounts.update(int(row["id"]) for row in rows)
    if author.local:
        own = await db.fetchval("SELECT id FROM accounts WHERE actor_id = $1", author.id)
        if own is not None:
            accounts.add(int(own))
    return sorted(accounts)


async def fan_out_status(db: Executor, author: ActorRecord, obj: ObjectRecord) -> int:
    """Put a new status on the home timelines that should show it; return how many."""
    if obj.deleted_at:
        return 0
    to_followers = obj.visibility != Visibility.DIRECT
    # A reply to someone you do not follow only reaches you when you are mentioned, as on
    # Mastodon; followers of the author still see it.
    audience = await _local_audience(db, author, obj, followers=to_followers)
    await _insert(db, [(account, obj.id, obj.id, None) for account in audience])
    return len(audience)


async def fan_out_boost(
    db: Executor, booster: ActorRecord, obj: ObjectRecord, boost_id: int
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
    return len(audience)


async def _insert(db: Executor, rows: list[tuple[int, int, int, int | None]]) -> None:
    if rows:
        await db.executemany(
            "INSERT INTO timeline (account_id, id, object_id, reblog_id) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING",
            rows,
        )


async def remove_from_timelines(db: Executor, object_id: int) -> None:
    """Take a deleted status (and its boosts) off every home timeline."""
    await db.execute("DELETE FROM timeline WHERE object_id = $1", object_id)


async def remove_boost(db: Executor, boost_id: int) -> None:
    """Take an undone boost off every home timeline."""
    await db.execute("DELETE FROM timeline WHERE id = $1 AND reblog_id = $1", boost_id)


async def home(
    db: Executor, account_id: int, *, max_id: int, since_id: int, min_id: int | None, limit: int
) -> list[tuple[int, int, int | None]]:
    """Return (entry id, object id, boost id) newest first, within the page window."""
    if min_id is not None:
        rows = await db.fetch(
            "SELECT id, object_id, reblog_id FROM timeline WHERE account_id = $1 AND id > $2 "
            "AND id < $3 ORDER BY id ASC LIMIT $4",
            account_id,
            min_id,
            max_id,
            limit,
        )
        rows.reverse()
    else:
        rows = await db.fetch(
            "SELECT id, object_id, reblog_id FROM timeline WHERE account_id = $1 AND id < $2 "
            "AND id > $3 ORDER BY id DESC LIMIT $4",
            account_id,
            max_id,
            since_id,
            limit,
        )
    return [(int(r["id"]), int(r["object_id"]), r["reblog_id"]) for r in rows]
