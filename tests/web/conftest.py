"""A co-op served in this process, for the page tests."""

from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from tests.activitypub.remote import Coop, start_coop
from tests.api.conftest import api_app


@pytest.fixture
async def coop(
    tmp_path: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    return await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)


__all__ = ["api_app"]
