"""Repository of actors: local members, the co-op Group, the instance actor, remote actors."""

import json
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor, Row


@dataclass(frozen=True)
class ActorRecord:
    """One actor as stored (local or remote)."""

    uri: str
    type: str
    domain: str
    username: str | None = None
    local: bool = False
    display_name: str = ""
    summary: str = ""
    url: str | None = None
    inbox: str | None = None
    shared_inbox: str | None = None
    outbox: str | None = None
    followers_uri: str | None = None
    following_uri: str | None = None
    featured_uri: str | None = None
    key_id: str | None = None
    public_key_pem: str | None = None
    private_key_pem: str | None = field(default=None, repr=False)
    # Ed25519, for object integrity proofs (FEP-8b32): the secret as text, the public Multikey.
    ed25519_private_key: str | None = field(default=None, repr=False)
    ed25519_public_key: str | None = None
    locked: bool = False
    moved_to: str | None = None
    also_known_as: tuple[str, ...] = ()
    raw: str | None = None
    fetched_at: str | None = None
    avatar_url: str | None = None
    header_url: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    id: int = 0
    created_at: str = ""
    updated_at: str = ""

    @property
    def handle_name(self) -> str:
        """Return the username, or for an actor without one a name taken from its id.

        `preferredUsername` is optional in ActivityPub (fediverse-pasture's test actors have
        none); clients still need something readable rather than "None".
        """
        if self.username:
            return self.username
        tail = urlsplit(self.uri).path.rstrip("/").rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9_.-]", "", tail)[:64] or "actor"

    @property
    def acct(self) -> str:
        """Return user@host, the handle WebFinger resolves."""
        return f"{self.handle_name}@{self.domain}"

    @property
    def delivery_inbox(self) -> str | None:
        """Return the inbox to deliver to: the shared one when the server offers it."""
        return self.shared_inbox or self.inbox


_COLUMNS = [f.name for f in fields(ActorRecord)]
_INSERT = (
    f"INSERT INTO actors ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))})"
)


def _to_row(actor: ActorRecord) -> list[Any]:
    values: list[Any] = []
    for name in _COLUMNS:
        value = getattr(actor, name)
        if name in ("local", "locked"):
            value = int(value)
        elif name == "also_known_as":
            value = json.dumps(list(value))
        elif name == "fields":
            value = json.dumps([list(pair) for pair in value])
        values.append(value)
    return values


def _from_row(row: Row) -> ActorRecord:
    values = dict(row)
    values["local"] = bool(values["local"])
    values["locked"] = bool(values["locked"])
    values["also_known_as"] = tuple(json.loads(values["also_known_as"] or "[]"))
    values["fields"] = tuple(tuple(pair) for pair in json.loads(values["fields"] or "[]"))
    return ActorRecord(**values)


class ActorRepository:
    """Reads and writes actors."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, actor: ActorRecord) -> ActorRecord:
        """Store a new actor and return it with its id and timestamps."""
        stamp = clock.now_text()
        stored = replace(actor, id=actor.id or new_id(), created_at=stamp, updated_at=stamp)
        await self.db.execute(_INSERT, *_to_row(stored))
        return stored

    async def upsert_remote(self, actor: ActorRecord) -> ActorRecord:
        """Insert a remote actor or refresh the stored copy of it (same uri)."""
        existing = await self.by_uri(actor.uri)
        if existing is None:
            return await self.insert(actor)
        if existing.local:
            return existing
        updated = replace(
            actor, id=existing.id, created_at=existing.created_at, updated_at=clock.now_text()
        )
        names = [name for name in _COLUMNS if name != "id"]
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=1))
        values = [v for name, v in zip(_COLUMNS, _to_row(updated), strict=True) if name != "id"]
        # Another actor may already hold this username@domain (renamed remote account).
        await self.db.execute(
            "UPDATE actors SET username = NULL WHERE username = $1 AND domain = $2 AND id <> $3",
            updated.username,
            updated.domain,
            existing.id,
        )
        await self.db.execute(
            f"UPDATE actors SET {assignments} WHERE id = ${len(names) + 1}", *values, existing.id
        )
        return updated

    async def get(self, actor_id: int) -> ActorRecord | None:
        """Return an actor by row id."""
        row = await self.db.fetchrow("SELECT * FROM actors WHERE id = $1", actor_id)
        return _from_row(row) if row else None

    async def by_uri(self, uri: str) -> ActorRecord | None:
        """Return an actor by its ActivityPub id."""
        row = await self.db.fetchrow("SELECT * FROM actors WHERE uri = $1", uri)
        return _from_row(row) if row else None

    async def by_key_id(self, key_id: str) -> ActorRecord | None:
        """Return the actor owning a public key id."""
        row = await self.db.fetchrow("SELECT * FROM actors WHERE key_id = $1", key_id)
        return _from_row(row) if row else None

    async def by_handle(self, username: str, domain: str) -> ActorRecord | None:
        """Return an actor by username and domain (case-insensitive username)."""
        row = await self.db.fetchrow(
            "SELECT * FROM actors WHERE lower(username) = lower($1) AND domain = $2",
            username,
            domain,
        )
        return _from_row(row) if row else None

    async def local_by_type(self, actor_type: str) -> list[ActorRecord]:
        """Return local actors of one type (the Group, the instance Application)."""
        rows = await self.db.fetch(
            "SELECT * FROM actors WHERE local = 1 AND type = $1 ORDER BY id", actor_type
        )
        return [_from_row(row) for row in rows]

    async def set_moved(self, actor_id: int, moved_to: str | None) -> None:
        """Record that an actor moved to another account."""
        await self.db.execute(
            "UPDATE actors SET moved_to = $1, updated_at = $2 WHERE id = $3",
            moved_to,
            clock.now_text(),
            actor_id,
        )

    async def set_aliases(self, actor_id: int, aliases: list[str]) -> None:
        """Replace an actor's alsoKnownAs list."""
        await self.db.execute(
            "UPDATE actors SET also_known_as = $1, updated_at = $2 WHERE id = $3",
            json.dumps(aliases),
            clock.now_text(),
            actor_id,
        )

    async def update_profile(self, actor: ActorRecord) -> ActorRecord:
        """Store a local actor's edited public profile (name, bio, lock, images, fields)."""
        stamp = clock.now_text()
        await self.db.execute(
            "UPDATE actors SET display_name = $1, summary = $2, locked = $3, avatar_url = $4, "
            "header_url = $5, fields = $6, updated_at = $7 WHERE id = $8",
            actor.display_name,
            actor.summary,
            int(actor.locked),
            actor.avatar_url,
            actor.header_url,
            json.dumps([list(pair) for pair in actor.fields]),
            stamp,
            actor.id,
        )
        return replace(actor, updated_at=stamp)

    async def count_local(self, actor_type: str = "Person") -> int:
        """Return how many local actors of a type exist."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM actors WHERE local = 1 AND type = $1", actor_type
            )
        )


actor_from_row = _from_row
