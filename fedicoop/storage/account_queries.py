"""Read-only account listings for the client API: follows, profile posts, search, peers.

Every listing of accounts leaves out local members who are not active (applicants,
suspended): they are not shown to anyone, whichever list would name them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fedicoop.storage.actors import ActorRecord, actor_from_row
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord, object_from_row

# Local members who are not active (applicants, suspended) are not shown to anyone.
_HIDDEN_LOCAL = (
    "NOT EXISTS (SELECT 1 FROM accounts c WHERE c.actor_id = a.id AND c.status <> 'active')"
)


class Window(Protocol):
    """The slice of an id-ordered list a client asked for (api.pagination.Page is one)."""

    @property
    def max_id(self) -> int:
        """Only ids below this one."""

    @property
    def since_id(self) -> int:
        """Only ids above this one (newest first)."""

    @property
    def min_id(self) -> int | None:
        """The oldest ids just above this one, when set."""

    @property
    def limit(self) -> int:
        """At most this many rows."""

    @property
    def ascending(self) -> bool:
        """Whether min_id asks for the oldest rows first."""


@dataclass(frozen=True)
class ActorPage:
    """Actors in list order, with the follow row id of each one (the page cursor)."""

    actors: list[ActorRecord]
    cursors: list[int]


@dataclass(frozen=True)
class StatusQuery:
    """Which of an author's own posts a profile lists."""

    author_id: int
    visibilities: Sequence[str]
    only_media: bool = False
    exclude_replies: bool = False
    pinned: bool = False
    hashtag: str = ""


@dataclass(frozen=True)
class ProfileBoost:
    """A boost shown on the booster's profile: its row id is its status id."""

    id: int
    actor_id: int
    object_id: int
    uri: str
    created_at: str


def _window(column: str, window: Window, args: list[Any]) -> tuple[str, str]:
    """Add a page window on `column` to `args`; return the WHERE fragment and ORDER BY."""
    if window.ascending:
        args += [window.min_id, window.max_id]
        return f"{column} > ${len(args) - 1} AND {column} < ${len(args)}", f"{column} ASC"
    args += [window.max_id, window.since_id]
    return f"{column} < ${len(args) - 1} AND {column} > ${len(args)}", f"{column} DESC"


def _marks(args: list[Any], values: Sequence[Any]) -> str:
    start = len(args) + 1
    args += values
    return ", ".join(f"${i}" for i in range(start, start + len(values)))


def _like(text: str) -> str:
    """Escape a text for a LIKE pattern (lower-cased, `\\` as the escape character)."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AccountQueries:
    """Lists of accounts and of the posts on an account's profile."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def follow_page(
        self,
        actor_id: int,
        window: Window,
        *,
        direction: Literal["in", "out"],
        state: str = "accepted",
    ) -> ActorPage:
        """Return one page of an actor's followers (`in`) or followees (`out`), by follow id."""
        mine, other = (
            ("followee_id", "follower_id") if direction == "in" else ("follower_id", "followee_id")
        )
        args: list[Any] = [actor_id, state]
        where, order = _window("f.id", window, args)
        args.append(window.limit)
        rows = await self.db.fetch(
            f"SELECT f.id AS follow_id, a.* FROM follows f JOIN actors a ON a.id = f.{other} "
            f"WHERE f.{mine} = $1 AND f.state = $2 AND {where} AND {_HIDDEN_LOCAL} "
            f"ORDER BY {order} LIMIT ${len(args)}",
            *args,
        )
        if window.ascending:
            rows.reverse()
        cursors = [int(row.pop("follow_id")) for row in rows]
        return ActorPage([actor_from_row(row) for row in rows], cursors)

    async def count_follow_requests(self, actor_id: int) -> int:
        """Return how many follows of an actor wait for approval."""
        value = await self.db.fetchval(
            "SELECT count(*) FROM follows WHERE followee_id = $1 AND state = 'pending'", actor_id
        )
        return int(value or 0)

    async def familiar_followers(
        self, viewer_id: int, target_id: int, *, limit: int = 40
    ) -> list[ActorRecord]:
        """Return the actors the viewer follows who follow the target too."""
        rows = await self.db.fetch(
            "SELECT a.* FROM follows mine JOIN follows theirs "
            "ON theirs.follower_id = mine.followee_id JOIN actors a ON a.id = mine.followee_id "
            "WHERE mine.follower_id = $1 AND mine.state = 'accepted' "
            f"AND theirs.followee_id = $2 AND theirs.state = 'accepted' AND {_HIDDEN_LOCAL} "
            "ORDER BY a.id LIMIT $3",
            viewer_id,
            target_id,
            limit,
        )
        return [actor_from_row(row) for row in rows]

    async def statuses(self, query: StatusQuery, window: Window) -> list[ObjectRecord]:
        """Return one page of an author's own posts (not deleted), in window order."""
        args: list[Any] = [query.author_id]
        conditions = [
            "o.actor_id = $1",
            "o.deleted_at IS NULL",
            f"o.visibility IN ({_marks(args, query.visibilities)})",
        ]
        where, order = _window("o.id", window, args)
        conditions.append(where)
        if query.only_media:
            conditions.append("EXISTS (SELECT 1 FROM media m WHERE m.object_id = o.id)")
        if query.exclude_replies:
            # Replies to others go; a thread the author continues stays, as on Mastodon.
            conditions.append(
                "(o.in_reply_to IS NULL OR EXISTS (SELECT 1 FROM objects p "
                "WHERE p.uri = o.in_reply_to AND p.actor_id = o.actor_id))"
            )
        if query.pinned:
            conditions.append(
                "EXISTS (SELECT 1 FROM pins n JOIN accounts c ON c.id = n.account_id "
                "WHERE n.object_id = o.id AND c.actor_id = o.actor_id)"
            )
        if query.hashtag:
            args.append(query.hashtag)
            conditions.append(
                "EXISTS (SELECT 1 FROM hashtags h WHERE h.object_id = o.id "
                f"AND h.name = ${len(args)})"
            )
        args.append(window.limit)
        rows = await self.db.fetch(
            f"SELECT o.* FROM objects o WHERE {' AND '.join(conditions)} "
            f"ORDER BY {order} LIMIT ${len(args)}",
            *args,
        )
        return [object_from_row(row) for row in rows]

    async def public_boosts(self, actor_id: int, window: Window) -> list[ProfileBoost]:
        """Return one page of an actor's boosts of public or unlisted posts still there."""
        args: list[Any] = [actor_id]
        where, order = _window("b.id", window, args)
        args.append(window.limit)
        rows = await self.db.fetch(
            "SELECT b.id, b.actor_id, o.id AS object_id, b.uri, b.created_at FROM announces b "
            "JOIN objects o ON o.uri = b.object_uri WHERE b.actor_id = $1 "
            "AND o.deleted_at IS NULL AND o.visibility IN ('public', 'unlisted') "
            f"AND {where} ORDER BY {order} LIMIT ${len(args)}",
            *args,
        )
        return [ProfileBoost(**row) for row in rows]

    async def search(
        self,
        username: str,
        domain: str,
        *,
        followed_by: int | None = None,
        limit: int = 40,
        offset: int = 0,
    ) -> list[ActorRecord]:
        """Find accounts by username prefix and domain prefix, or by name when no domain.

        Local accounts come first, then by username; `followed_by` keeps only the accounts
        that actor follows.
        """
        args: list[Any] = [_like(username) + "%"]
        if domain:
            args.append(_like(domain) + "%")
            match = "lower(a.username) LIKE $1 ESCAPE '\\' AND a.domain LIKE $2 ESCAPE '\\'"
        else:
            args.append("%" + _like(username) + "%")
            match = (
                "(lower(a.username) LIKE $1 ESCAPE '\\' "
                "OR lower(a.display_name) LIKE $2 ESCAPE '\\')"
            )
        following = ""
        if followed_by is not None:
            args.append(followed_by)
            following = (
                f" AND EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ${len(args)} "
                "AND f.followee_id = a.id AND f.state = 'accepted')"
            )
        args += [limit, offset]
        rows = await self.db.fetch(
            f"SELECT a.* FROM actors a WHERE {match} AND a.type <> 'Application' "
            f"AND a.username IS NOT NULL AND {_HIDDEN_LOCAL}{following} "
            f"ORDER BY a.local DESC, lower(a.username), a.id "
            f"LIMIT ${len(args) - 1} OFFSET ${len(args)}",
            *args,
        )
        return [actor_from_row(row) for row in rows]

    async def remote_domains(self) -> list[str]:
        """Return the domains of the remote actors we know, sorted."""
        rows = await self.db.fetch(
            "SELECT DISTINCT domain FROM actors WHERE local = 0 ORDER BY domain"
        )
        return [str(row["domain"]) for row in rows]
