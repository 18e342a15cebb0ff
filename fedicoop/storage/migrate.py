"""Versioned schema migrations (Alembic), applied by `fedicoop init` and `fedicoop db upgrade`."""

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fedicoop.errors import Unavailable
from fedicoop.storage.database import engine_of, redact

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _async_url(url: str) -> str:
    """Name the async driver SQLAlchemy should use for a database URL."""
    if engine_of(url) == "sqlite":
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


async def _run(url: str, action: Any) -> Any:
    engine = create_async_engine(_async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(action)
    except (OperationalError, DBAPIError, OSError) as error:
        raise Unavailable(f"cannot reach database {redact(url)}: {error}") from error
    finally:
        await engine.dispose()


def _upgrade_sync(url: str, revision: str = "head") -> str:
    config = _alembic_config()

    def action(connection: Connection) -> str:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return str(MigrationContext.configure(connection).get_current_revision())

    result: str = asyncio.run(_run(url, action))
    return result


async def upgrade(url: str, revision: str = "head") -> str:
    """Apply pending migrations (up to `revision`); return the revision the database is at."""
    # Alembic drives its own event loop through SQLAlchemy; give it a thread of its own.
    return await asyncio.to_thread(_upgrade_sync, url, revision)


async def tables_in_order(url: str) -> dict[str, list[str]]:
    """Return the tables and their columns, each table after those its foreign keys name."""

    def action(connection: Connection) -> dict[str, list[str]]:
        metadata = MetaData()
        metadata.reflect(bind=connection)
        return {
            table.name: [column.name for column in table.columns]
            for table in metadata.sorted_tables
            if table.name != "alembic_version"
        }

    def run() -> dict[str, list[str]]:
        result: dict[str, list[str]] = asyncio.run(_run(url, action))
        return result

    return await asyncio.to_thread(run)


def head_revision() -> str:
    """Return the newest migration this code ships."""
    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


async def current_revision(url: str) -> str | None:
    """Return the revision the database is at, or None before the first migration."""

    def action(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    def run() -> str | None:
        result: str | None = asyncio.run(_run(url, action))
        return result

    return await asyncio.to_thread(run)
