"""One small async database interface over SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQL is written once, with PostgreSQL's `$1` placeholders; the SQLite side rewrites them to
SQLite's numbered `?1` form. Repositories use only what both engines understand
(`ON CONFLICT`, `RETURNING`, integer booleans, text timestamps) and branch on `dialect`
for the rare statement that has no common form (`FOR UPDATE SKIP LOCKED`).
"""

import asyncio
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from fedicoop.errors import Conflict, Unavailable

Row = dict[str, Any]

_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def _to_sqlite(sql: str) -> str:
    """Rewrite `$1` placeholders into SQLite's `?1`."""
    return _PLACEHOLDER.sub(r"?\1", sql)


class Executor(ABC):
    """What a repository can do: run statements, read rows."""

    dialect: str

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement and return the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of arguments."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Return every row a query yields."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Return the first row, or None."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Return the first column of the first row, or None."""
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None


class Database(Executor):
    """A connection pool that can also open transactions."""

    url: str

    @abstractmethod
    def transaction(self) -> Any:
        """Return an async context manager yielding an Executor bound to one transaction."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection."""


class SqliteDatabase(Database):
    """SQLite through one aiosqlite connection (WAL, foreign keys on), writes serialised."""

    dialect = "sqlite"

    def __init__(self, url: str, connection: aiosqlite.Connection) -> None:
        self.url = url
        self._connection = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> "SqliteDatabase":
        """Open the file named by a sqlite:/// URL."""
        path = sqlite_path(url)
        try:
            connection = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as error:
            raise Unavailable(f"cannot open SQLite database {path}: {error}") from error
        connection.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=10000",
        ):
            await connection.execute(pragma)
        return cls(url, connection)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._lock:
            return await _sqlite_execute(self._connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._lock:
            await _sqlite_executemany(self._connection, sql, rows, own_transaction=True)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            return await _sqlite_fetch(self._connection, sql, args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._connection)
            except BaseException:
                await self._connection.execute("ROLLBACK")
                raise
            await self._connection.execute("COMMIT")

    async def close(self) -> None:
        await self._connection.close()


class _SqliteTransaction(Executor):
    """Statements inside an open SQLite transaction (the database lock is already held)."""

    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> int:
        return await _sqlite_execute(self._connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await _sqlite_executemany(self._connection, sql, rows, own_transaction=False)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await _sqlite_fetch(self._connection, sql, args)


async def _sqlite_execute(connection: aiosqlite.Connection, sql: str, args: Sequence[Any]) -> int:
    try:
        cursor = await connection.execute(_to_sqlite(sql), args)
    except sqlite3.IntegrityError as error:
        raise Conflict(f"conflicts with existing data: {error}") from error
    return cursor.rowcount


async def _sqlite_executemany(
    connection: aiosqlite.Connection,
    sql: str,
    rows: Iterable[Sequence[Any]],
    *,
    own_transaction: bool,
) -> None:
    if own_transaction:
        await connection.execute("BEGIN IMMEDIATE")
    try:
        await connection.executemany(_to_sqlite(sql), list(rows))
    except BaseException:
        if own_transaction:
            await connection.execute("ROLLBACK")
        raise
    if own_transaction:
        await connection.execute("COMMIT")


async def _sqlite_fetch(
    connection: aiosqlite.Connection, sql: str, args: Sequence[Any]
) -> list[Row]:
    try:
        cursor = await connection.execute(_to_sqlite(sql), args)
    except sqlite3.IntegrityError as error:
        raise Conflict(f"conflicts with existing data: {error}") from error
    rows = await cursor.fetchall()
    return [dict(row) for row in rows]


class PostgresDatabase(Database):
    """PostgreSQL through an asyncpg pool."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> "PostgresDatabase":
        """Connect a pool to a postgresql:// URL."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=10,
                command_timeout=60,
                # We keep no session state, so skip the RESET round trip on every release.
                reset=_keep_session,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as error:
            raise Unavailable(f"cannot connect to PostgreSQL at {redact(url)}: {error}") from error
        return cls(url, pool)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._pool.acquire() as connection:
            return await _pg_execute(connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._pool.acquire() as connection:
            await connection.executemany(sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as connection:
            return await _pg_fetch(connection, sql, args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    async def close(self) -> None:
        await self._pool.close()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a pooled connection as it is: transactions are always closed by their context."""


class _PostgresTransaction(Executor):
    """Statements on the one connection that holds a PostgreSQL transaction."""

    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> int:
        return await _pg_execute(self._connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._connection.executemany(sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await _pg_fetch(self._connection, sql, args)


async def _pg_execute(connection: asyncpg.Connection, sql: str, args: Sequence[Any]) -> int:
    try:
        status = await connection.execute(sql, *args)
    except asyncpg.UniqueViolationError as error:
        raise Conflict(f"conflicts with existing data: {error}") from error
    # asyncpg returns the command tag, e.g. "UPDATE 3" or "INSERT 0 1".
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def _pg_fetch(connection: asyncpg.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    try:
        records = await connection.fetch(sql, *args)
    except asyncpg.UniqueViolationError as error:
        raise Conflict(f"conflicts with existing data: {error}") from error
    return [dict(record) for record in records]


def sqlite_path(url: str) -> str:
    """Return the file path of a sqlite:/// URL."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL: {url}")
    # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
    return url[len("sqlite:///") :]


def redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def engine_of(url: str) -> str:
    """Return 'sqlite' or 'postgresql' for a database URL, or raise ValueError."""
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise ValueError(f"unsupported database URL {redact(url)}: use sqlite:/// or postgresql://")


async def open_database(url: str) -> Database:
    """Open the database a URL names."""
    if engine_of(url) == "sqlite":
        Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
        return await SqliteDatabase.open(url)
    return await PostgresDatabase.open(url)
