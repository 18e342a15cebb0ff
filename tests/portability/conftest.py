"""Fixtures for migration tests: the client API's (an in-process co-op, tokens for members),
and a fresh PostgreSQL database to restore or import into."""

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from tests.api.conftest import api_app, token_for
from tests.conftest import PG_ADMIN_URL

__all__ = ["api_app", "pg_database", "token_for"]


@pytest.fixture
def pg_database() -> Any:
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
