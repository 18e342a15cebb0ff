"""Repository of follow relations between actors (local or remote)."""

from dataclasses import dataclass, replace

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor, Row


@dataclass(frozen=True)
class FollowRecord:
    """`follower` follows `followee`; pending until the followee accepts."""

    follower_id: int
    followee_id: int
    uri: str
    state: str = "pending"
    id: int = 0
    created_at: str = ""


def _from_row(row: Row) -> FollowRecord:
    return FollowRecord(**row)


class FollowRepository:
    """Reads and writes follows."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def put(self, follow: FollowRecord) -> FollowRecord:
        """Store a follow, or refresh the uri and state of the existing one for this pair."""
        stored = replace(follow, id=follow.id or new_id(), created_at=clock.now_text())
        await self.db.execute(
            "INSERT INTO follows (id, follower_id, followee_id, uri, state, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (follower_id, followee_id) "
            "DO UPDATE SET uri = excluded.uri, state = CASE WHEN follows.state = 'accepted' "
            "THEN 'accepted' ELSE excluded.state END",
            stored.id,
            stored.follower_id,
            stored.followee_id,
            stored.uri,
            stored.state,
            stored.created_at,
        )
        found = await self.get(stored.follower_id, stored.followee_id)
        assert found is not None
        return found

    async def get(self, follower_id: int, followee_id: int) -> FollowRecord | None:
        """Return the follow between two actors."""
        row = await self.db.fetchrow(
            "SELECT * FROM follows WHERE follower_id = $1 AND followee_id = $2",
            follower_id,
            followee_id,
        )
        return _from_row(row) if row else None

    async def by_uri(self, uri: str) -> FollowRecord | None:
        """Return the follow created by a Follow activity."""
        row = await self.db.fetchrow("SELECT * FROM follows WHERE uri = $1", uri)
        return _from_row(row) if row else None

    async def accept(self, follower_id: int, followee_id: int) -> bool:
        """Mark a follow accepted; return whether one was pending."""
        changed = await self.db.execute(
            "UPDATE follows SET state = 'accepted' "
            "WHERE follower_id = $1 AND followee_id = $2 AND state = 'pending'",
            follower_id,
            followee_id,
        )
        return changed > 0

    async def delete(self, follower_id: int, followee_id: int) -> bool:
        """Remove a follow; return whether it existed."""
        changed = await self.db.execute(
            "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2",
            follower_id,
            followee_id,
        )
        return changed > 0

    async def follower_ids(
        self, followee_id: int, *, state: str = "accepted", limit: int = 1000, offset: int = 0
    ) -> list[int]:
        """Return ids of an actor's followers, oldest first."""
        rows = await self.db.fetch(
            "SELECT follower_id FROM follows WHERE followee_id = $1 AND state = $2 "
            "ORDER BY id LIMIT $3 OFFSET $4",
            followee_id,
            state,
            limit,
            offset,
        )
        return [int(row["follower_id"]) for row in rows]

    async def following_ids(
        self, follower_id: int, *, state: str = "accepted", limit: int = 1000, offset: int = 0
    ) -> list[int]:
        """Return ids of the actors someone follows, oldest first."""
        rows = await self.db.fetch(
            "SELECT followee_id FROM follows WHERE follower_id = $1 AND state = $2 "
            "ORDER BY id LIMIT $3 OFFSET $4",
            follower_id,
            state,
            limit,
            offset,
        )
        return [int(row["followee_id"]) for row in rows]

    async def count_followers(self, followee_id: int) -> int:
        """Return how many accepted followers an actor has."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM follows WHERE followee_id = $1 AND state = 'accepted'",
                followee_id,
            )
        )

    async def count_following(self, follower_id: int) -> int:
        """Return how many actors someone follows (accepted)."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM follows WHERE follower_id = $1 AND state = 'accepted'",
                follower_id,
            )
        )

    async def local_follower_ids(self, followee_id: int) -> list[int]:
        """Return ids of an actor's accepted followers that live on this instance."""
        rows = await self.db.fetch(
            "SELECT f.follower_id FROM follows f JOIN actors a ON a.id = f.follower_id "
            "WHERE f.followee_id = $1 AND f.state = 'accepted' AND a.local = 1",
            followee_id,
        )
        return [int(row["follower_id"]) for row in rows]

    async def remote_follower_inboxes(self, followee_id: int) -> list[str]:
        """Return the distinct inboxes (shared where offered) of remote accepted followers."""
        rows = await self.db.fetch(
            "SELECT DISTINCT COALESCE(a.shared_inbox, a.inbox) AS inbox FROM follows f "
            "JOIN actors a ON a.id = f.follower_id "
            "WHERE f.followee_id = $1 AND f.state = 'accepted' AND a.local = 0 "
            "AND COALESCE(a.shared_inbox, a.inbox) IS NOT NULL",
            followee_id,
        )
        return [str(row["inbox"]) for row in rows]
