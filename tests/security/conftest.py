"""The co-op every hostile-input test attacks: a fresh in-process instance, and mallory.

mallory is a remote actor on `remote.test` whose key the co-op already holds, so a request
she signs passes the signature check and reaches the rule under test.
"""

from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from tests.activitypub.remote import REMOTE_ORIGIN, Coop, RemoteActor, add_remote_actor, start_coop


@pytest.fixture
async def coop(
    tmp_path: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    """Serve a fresh co-op on a loopback socket, on each engine the test runs on."""
    return await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)


@pytest.fixture
async def mallory(coop: Coop) -> RemoteActor:
    """A remote attacker whose key the co-op knows."""
    return await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/mallory")
