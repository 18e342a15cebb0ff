"""Shared fixtures: a migrated database on each engine, fresh for every test."""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from fedicoop.storage import migrate
from fedicoop.storage.database import Database, open_database

PG_ADMIN_URL = os.environ.get("FEDICOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ENGINES = ["sqlite", "postgresql"]


def _pg_reachable() -> str | None:
    """Return None when PostgreSQL answers, else why not."""

    async def probe() -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """Create one migrated PostgreSQL database for the session and drop it afterwards."""
    reason = _pg_reachable()
    if reason:
        message = f"PostgreSQL at {PG_ADMIN_URL} unreachable ({reason})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: under CI=true this must not pass as a skip")
        pytest.skip(f"!!! {message}: PostgreSQL tests SKIPPED !!!")
    name = f"fedicoop_test_{uuid.uuid4().hex[:12]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    asyncio.run(migrate.upgrade(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per session; each test gets a copy (migrations take time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate.upgrade(f"sqlite:///{path}"))
    return path


async def _truncate_all(db: Database) -> None:
    rows = await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'alembic_version'"
    )
    if rows:
        names = ", ".join(f'"{row["tablename"]}"' for row in rows)
        await db.execute(f"TRUNCATE {names} CASCADE")


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Return the URL of an empty, migrated database of the engine the test asks for."""
    engine = getattr(request, "param", "sqlite")
    if engine == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    target = tmp_path / "fedicoop.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """Open the test's database (PostgreSQL: emptied first)."""
    database = await open_database(database_url)
    if database.dialect == "postgresql":
        await _truncate_all(database)
    yield database
    await database.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test marked `both_engines` once on SQLite and once on PostgreSQL."""
    if metafunc.definition.get_closest_marker("both_engines") and "database_url" in (
        metafunc.fixturenames
    ):
        metafunc.parametrize("database_url", ENGINES, indirect=True)


@pytest.fixture(scope="session")
def _rsa_key_pool() -> list[object]:
    """A few real RSA-2048 key pairs made once: generating one per actor dominated test setup."""
    from fedicoop.activitypub.keys import generate_rsa_keypair

    return [generate_rsa_keypair() for _ in range(8)]


@pytest.fixture(autouse=True)
def _fast_instance_setup(monkeypatch: pytest.MonkeyPatch, _rsa_key_pool: list[object]) -> None:
    """Make in-process instance setup cheap: pooled keys and a light argon2id cost.

    Both stay real (RSA-2048 keys, argon2id hashes that verify); only the cost of making them
    changes. Server processes started by the federation tests keep the production settings.
    """
    import itertools

    from argon2 import PasswordHasher

    from fedicoop.accounts import passwords, service

    keys = itertools.cycle(_rsa_key_pool)
    monkeypatch.setattr(service, "generate_rsa_keypair", lambda: next(keys))
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database for one test, and drop it after."""
    name = f"fedicoop_restore_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
