"""Repository of local accounts (the people of the co-op) and instance settings."""

from dataclasses import dataclass, field, replace
from typing import Any

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor, Row


@dataclass(frozen=True)
class AccountRecord:
    """A local login: one member (or applicant) of the co-op, tied to a Person actor."""

    actor_id: int
    username: str
    password_hash: str = field(repr=False)
    role: str = "member"
    status: str = "active"
    email: str | None = None
    locale: str = "en"
    id: int = 0
    created_at: str = ""
    updated_at: str = ""


_COLUMNS = (
    "id, actor_id, username, email, password_hash, role, status, locale, created_at, updated_at"
)


def _from_row(row: Row) -> AccountRecord:
    return AccountRecord(**row)


class AccountRepository:
    """Reads and writes accounts."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, account: AccountRecord) -> AccountRecord:
        """Store a new account (Conflict if the username or email is taken)."""
        stamp = clock.now_text()
        stored = replace(account, id=account.id or new_id(), created_at=stamp, updated_at=stamp)
        await self.db.execute(
            f"INSERT INTO accounts ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            stored.id,
            stored.actor_id,
            stored.username,
            stored.email,
            stored.password_hash,
            stored.role,
            stored.status,
            stored.locale,
            stored.created_at,
            stored.updated_at,
        )
        return stored

    async def by_username(self, username: str) -> AccountRecord | None:
        """Return the account with a username (case-insensitive)."""
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM accounts WHERE lower(username) = lower($1)", username
        )
        return _from_row(row) if row else None

    async def by_login(self, login: str) -> AccountRecord | None:
        """Return the account whose username or email is `login`."""
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM accounts "
            "WHERE lower(username) = lower($1) OR lower(email) = lower($1)",
            login,
        )
        return _from_row(row) if row else None

    async def get(self, account_id: int) -> AccountRecord | None:
        """Return an account by id."""
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM accounts WHERE id = $1", account_id)
        return _from_row(row) if row else None

    async def by_actor(self, actor_id: int) -> AccountRecord | None:
        """Return the account behind a local actor."""
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM accounts WHERE actor_id = $1", actor_id
        )
        return _from_row(row) if row else None

    async def list(self) -> list[AccountRecord]:
        """Return every account, oldest first."""
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM accounts ORDER BY created_at, id")
        return [_from_row(row) for row in rows]

    async def update(self, account_id: int, **changes: Any) -> None:
        """Change some columns (role, status, password_hash, email, locale)."""
        allowed = {"role", "status", "password_hash", "email", "locale"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
        names = sorted(changes)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=1))
        await self.db.execute(
            f"UPDATE accounts SET {assignments}, updated_at = ${len(names) + 1} "
            f"WHERE id = ${len(names) + 2}",
            *[changes[name] for name in names],
            clock.now_text(),
            account_id,
        )

    async def count(self, status: str = "active") -> int:
        """Return how many accounts have a status."""
        return int(
            await self.db.fetchval("SELECT count(*) FROM accounts WHERE status = $1", status)
        )


class SettingsRepository:
    """Instance-wide key/value settings."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def get(self, key: str, default: str | None = None) -> str | None:
        """Return a setting's value."""
        value = await self.db.fetchval("SELECT value FROM settings WHERE key = $1", key)
        return default if value is None else str(value)

    async def put(self, key: str, value: str) -> None:
        """Set a setting."""
        await self.db.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )
