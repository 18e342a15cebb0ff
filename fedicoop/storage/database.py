"""One small async database interface over SQLite (sqlite3) and PostgreSQL (asyncpg).

SQL is written once, with PostgreSQL's `$1` placeholders; the SQLite side rewrites them to
SQLite's numbered `?1` form. Repositories use only what both engines understand
(`ON CONFLICT`, `RETURNING`, integer booleans, text timestamps) and branch on `dialect`
for the rare statement that has no common form (`FOR UPDATE SKIP LOCKED`).

A *unit of work* (`Database.unit_of_work`) is a transaction that every statement of the
task that opened it joins, whatever repository or service sends it: inbox processing uses
one to settle a whole batch of activities with one commit. Inside it, `transaction()`
becomes a savepoint.
"""

import asyncio
import contextlib
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from fedicoop.errors import Conflict, Unavailable

Row = dict[str, Any]
T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\$(\d+)")
# How long a statement waits for another process's write lock (the CLI, a second worker).
SQLITE_BUSY_TIMEOUT_MS = 10_000
_SQLITE_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


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


class Transaction(Executor):
    """Statements inside one open transaction, which can be rolled back in parts."""

    _savepoints = 0  # how many are open: names repeat, so statements stay cached
    # Statements that may have changed something, or failed (which aborts a PostgreSQL
    # transaction): while it stays the same, a block of work can be dropped without a rollback.
    changes = 0

    def _count(self, sql: str, *, reading: bool) -> None:
        if not (reading and sql.lstrip()[:6].upper() == "SELECT"):
            self.changes += 1

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator["Transaction"]:
        """Undo only this block's statements when it raises (the transaction goes on)."""
        self._savepoints += 1
        name = f"fedicoop_sp{self._savepoints}"
        try:
            await self.execute(f"SAVEPOINT {name}")
            try:
                yield self
                # PostgreSQL refuses RELEASE when a statement failed inside the block (the
                # transaction is aborted up to the savepoint); that counts as the block failing.
                await self.execute(f"RELEASE SAVEPOINT {name}")
            except BaseException:
                await self.execute(f"ROLLBACK TO SAVEPOINT {name}")
                await self.execute(f"RELEASE SAVEPOINT {name}")
                raise
        finally:
            self._savepoints -= 1


@dataclass(frozen=True)
class _Ambient:
    """The unit of work a task has open: which database, which transaction."""

    database: "Database"
    transaction: Transaction
    task: "asyncio.Task[Any] | None"


# Context variables are copied into tasks created inside the block; `task` keeps those tasks
# out of a transaction that may be committed before they run.
_AMBIENT: ContextVar[_Ambient | None] = ContextVar("fedicoop_unit_of_work", default=None)


class Database(Executor):
    """A connection pool that can also open transactions."""

    url: str

    @abstractmethod
    def transaction(self) -> Any:
        """Return an async context manager yielding an Executor bound to one transaction."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Transaction]:
        """Open a transaction that every statement of this task joins until the block ends."""
        joined = self.joined()
        if joined is not None:
            async with joined.savepoint() as inner:
                yield inner
            return
        async with self.transaction() as tx:
            token = _AMBIENT.set(_Ambient(self, tx, asyncio.current_task()))
            try:
                yield tx
            finally:
                _AMBIENT.reset(token)

    def joined(self) -> Transaction | None:
        """Return the unit of work the current task has open on this database, if any."""
        ambient = _AMBIENT.get()
        if ambient is None or ambient.database is not self:
            return None
        if ambient.task is not asyncio.current_task():
            return None
        return ambient.transaction


class SqliteDatabase(Database):
    """SQLite through one connection (WAL, foreign keys on), writes serialised.

    Statements run on the event loop's own thread: an indexed read or write takes 5-30 µs
    there, against ~200 µs of CPU for a hand-off to a worker thread and back (aiosqlite),
    which made the hand-offs the largest cost of inbox processing. Only a statement that
    finds the write lock held by another process (`SQLITE_BUSY`) waits for it, with a
    timeout, on a worker thread, so the event loop never blocks on another process.
    """

    dialect = "sqlite"

    def __init__(
        self, url: str, connection: sqlite3.Connection, reader: sqlite3.Connection | None = None
    ) -> None:
        self.url = url
        self._connection = connection
        # Plain SELECTs outside a transaction: WAL lets them read while the writer holds its
        # connection, so a timeline page never queues behind an inbox batch (a 30-minute soak
        # measured reads at p50 ~50 ms that way, against ~6 ms for the page itself).
        self._reader = reader
        # Held by a transaction across awaits, and while a statement waits on a worker thread.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> "SqliteDatabase":
        """Open the file named by a sqlite:/// URL (a writing and a read-only connection)."""
        path = sqlite_path(url)
        try:
            connection = await asyncio.to_thread(_sqlite_connect, path)
            reader = await asyncio.to_thread(_sqlite_connect_reader, path)
        except sqlite3.Error as error:
            raise Unavailable(f"cannot open SQLite database {path}: {error}") from error
        return cls(url, connection, reader)

    async def execute(self, sql: str, *args: Any) -> int:
        joined = self.joined()
        if joined is not None:
            return await joined.execute(sql, *args)
        return await self._call(lambda connection: _sqlite_execute(connection, sql, args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        joined = self.joined()
        if joined is not None:
            return await joined.executemany(sql, rows)
        listed = list(rows)
        await self._call(lambda connection: _sqlite_executemany_atomic(connection, sql, listed))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        joined = self.joined()
        if joined is not None:
            return await joined.fetch(sql, *args)
        if self._reader is not None and _is_plain_read(sql):
            try:
                return _sqlite_fetch(self._reader, sql, args)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                # A checkpoint or recovery in the way: read through the writer, patiently.
        return await self._call(lambda connection: _sqlite_fetch(connection, sql, args))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        joined = self.joined()
        if joined is not None:
            async with joined.savepoint() as inner:
                yield inner
            return
        async with self._lock:
            try:
                await self._call_locked(_sqlite_begin)
                yield _SqliteTransaction(self._connection)
                await self._call_locked(_sqlite_commit)
            except BaseException:
                _sqlite_rollback(self._connection)
                raise

    async def close(self) -> None:
        async with self._lock:
            self._connection.close()
            if self._reader is not None:
                self._reader.close()

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` now unless a transaction holds the connection; then wait for it."""
        if not self._lock.locked():
            # No await before `work` runs: no other task can take the connection meanwhile.
            try:
                return work(self._connection)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
        async with self._lock:
            return await self._call_locked(work)

    async def _call_locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` with the lock held; wait on a thread while another process writes."""
        try:
            return work(self._connection)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
        waiting = asyncio.ensure_future(
            asyncio.to_thread(_sqlite_patiently, self._connection, work)
        )
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread still uses the connection: keep the lock until it is done with it.
            await asyncio.wait([waiting])
            raise


class _SqliteTransaction(Transaction):
    """Statements inside an open SQLite transaction (the database lock is already held)."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> int:
        self._count(sql, reading=False)
        return _sqlite_execute(self._connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._count(sql, reading=False)
        self._connection.executemany(_to_sqlite(sql), list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return _sqlite_fetch(self._connection, sql, args)
        finally:
            self._count(sql, reading=True)


def _sqlite_connect(path: str) -> sqlite3.Connection:
    """Open and configure a connection (on a worker thread: it may wait for a lock)."""
    connection = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,  # used by the event loop and, when busy, a worker thread
        timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        cached_statements=512,
    )
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        # Read the file through the page cache of the OS rather than copying each page:
        # loading the rides index from 100,000 trips takes a third less CPU.
        "PRAGMA mmap_size=268435456",
    ):
        connection.execute(pragma)
    # From here on, statements on the event loop fail fast instead of waiting for a lock.
    connection.execute("PRAGMA busy_timeout=0")
    return connection


def _sqlite_connect_reader(path: str) -> sqlite3.Connection:
    """Open the read-only connection plain SELECTs use (on a worker thread)."""
    connection = sqlite3.connect(
        f"file:{path}?mode=ro",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=512,
    )
    connection.execute("PRAGMA mmap_size=268435456")
    connection.execute("PRAGMA busy_timeout=0")
    return connection


def _is_plain_read(sql: str) -> bool:
    """Return whether a statement only reads (a SELECT; never UPDATE … RETURNING)."""
    return sql.lstrip()[:6].upper() == "SELECT"


def _busy(error: sqlite3.OperationalError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_BUSY_CODES


def _sqlite_patiently(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` allowing it to wait for the write lock (on a worker thread)."""
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    try:
        return work(connection)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def _sqlite_begin(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")


def _sqlite_commit(connection: sqlite3.Connection) -> None:
    connection.execute("COMMIT")


def _sqlite_rollback(connection: sqlite3.Connection) -> None:
    # Some errors (a full disk, an interrupt) have already rolled the transaction back.
    if connection.in_transaction:
        connection.execute("ROLLBACK")


def _sqlite_execute(connection: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    try:
        cursor = connection.execute(_to_sqlite(sql), args)
    except sqlite3.IntegrityError as error:
        raise Conflict(f"conflicts with existing data: {error}") from error
    return cursor.rowcount


def _sqlite_executemany_atomic(
    connection: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]
) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(_to_sqlite(sql), rows)
    except BaseException:
        _sqlite_rollback(connection)
        raise
    connection.execute("COMMIT")


def _sqlite_fetch(connection: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    try:
        cursor = connection.execute(_to_sqlite(sql), args)
        rows = cursor.fetchall()
    except sqlite3.IntegrityError as error:
        raise Conflict(f"conflicts with existing data: {error}") from error
    if not rows:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


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
                # asyncpg caches prepared statements; after five runs PostgreSQL would switch to
                # a generic plan that ignores the IN-list values (a viewer's likes: a full scan).
                server_settings={"plan_cache_mode": "force_custom_plan"},
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as error:
            raise Unavailable(f"cannot connect to PostgreSQL at {redact(url)}: {error}") from error
        return cls(url, pool)

    async def execute(self, sql: str, *args: Any) -> int:
        joined = self.joined()
        if joined is not None:
            return await joined.execute(sql, *args)
        with _unreachable_is_unavailable():
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection:
                return await _pg_execute(connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        joined = self.joined()
        if joined is not None:
            return await joined.executemany(sql, rows)
        with _unreachable_is_unavailable():
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection:
                await connection.executemany(sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        joined = self.joined()
        if joined is not None:
            return await joined.fetch(sql, *args)
        with _unreachable_is_unavailable():
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection:
                return await _pg_fetch(connection, sql, args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        joined = self.joined()
        if joined is not None:
            async with joined.savepoint() as inner:
                yield inner
            return
        # Only the database's own failures become 503: an error of the work done inside
        # the transaction (an OSError writing a file, say) stays what it is.
        with _unreachable_is_unavailable():
            connection = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT)
        try:
            transaction = connection.transaction()
            with _unreachable_is_unavailable():
                await transaction.start()
            try:
                yield _PostgresTransaction(connection)
            except BaseException:
                with contextlib.suppress(*_UNREACHABLE, asyncpg.PostgresError):
                    await transaction.rollback()
                raise
            with _unreachable_is_unavailable():
                await transaction.commit()
        finally:
            await self._pool.release(connection)

    async def close(self) -> None:
        await self._pool.close()


# How long a request waits for a pooled connection before the server answers 503.
ACQUIRE_TIMEOUT = 10.0
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


@contextmanager
def _unreachable_is_unavailable() -> Iterator[None]:
    """Turn a lost or refused database connection into Unavailable (503, Retry-After)."""
    try:
        yield
    except _UNREACHABLE as error:
        raise Unavailable(
            f"the database is unreachable ({type(error).__name__}); retry in a few seconds",
            retry_after=5,
        ) from error


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a pooled connection as it is: transactions are always closed by their context."""


class _PostgresTransaction(Transaction):
    """Statements on the one connection that holds a PostgreSQL transaction."""

    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> int:
        self._count(sql, reading=False)
        with _unreachable_is_unavailable():
            return await _pg_execute(self._connection, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._count(sql, reading=False)
        with _unreachable_is_unavailable():
            await self._connection.executemany(sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            with _unreachable_is_unavailable():
                return await _pg_fetch(self._connection, sql, args)
        except BaseException:
            self.changes += 1  # a failed statement aborts the whole transaction
            raise
        finally:
            self._count(sql, reading=True)


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
