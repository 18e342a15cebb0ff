"""Client API fixtures: an in-process co-op on a real loopback socket, and tokens for members.

`api_app` serves a fresh `--dev` instance whose domain is exactly the test server's host:port,
with no background loops (call `api_app.process()` to run the inbox). `token_for(username,
scopes)` creates the member when needed and returns a token from the password grant, the way
a client such as Mastodon.py logs in. `auth_headers` are the admin's, with every scope.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.accounts.service import add_account
from fedicoop.activitypub.runtime import Federation
from fedicoop.instance import Instance
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from tests.activitypub.remote import Coop, start_coop

PASSWORD = "correct horse battery staple"  # the admin's, and every member's made here
ALL_SCOPES = "read write follow push"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon-api"

TokenFor = Callable[..., Awaitable[str]]


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ApiApp:
    """A served instance, its client, and the OAuth app tests log in through."""

    coop: Coop
    _client_credentials: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def client(self) -> TestClient[Any, Any]:
        return self.coop.client

    @property
    def instance(self) -> Instance:
        return self.coop.instance

    @property
    def federation(self) -> Federation:
        return self.coop.federation

    @property
    def db(self) -> Any:
        return self.coop.db

    @property
    def domain(self) -> str:
        return self.coop.domain

    @property
    def base_url(self) -> str:
        return self.coop.base_url

    async def member(self, username: str = "admin") -> tuple[AccountRecord, ActorRecord]:
        """Return a member's account and actor, creating the member (password PASSWORD)."""
        account = await AccountRepository(self.db).by_username(username)
        if account is None:
            account, _ = await add_account(self.instance, username, password=PASSWORD)
        actor = await ActorRepository(self.db).get(account.actor_id)
        assert actor is not None
        return account, actor

    async def client_credentials(self) -> tuple[str, str]:
        """Register one client app (every scope) and return its id and secret."""
        if self._client_credentials is None:
            response = await self.client.post(
                "/api/v1/apps",
                json={
                    "client_name": "fedicoop tests",
                    "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                    "scopes": ALL_SCOPES,
                },
            )
            assert response.status == 200, await response.text()
            body = await response.json()
            self._client_credentials = (body["client_id"], body["client_secret"])
        return self._client_credentials

    async def token(self, username: str = "admin", scopes: str = ALL_SCOPES) -> str:
        """Log a member in with the password grant and return the access token."""
        await self.member(username)
        client_id, client_secret = await self.client_credentials()
        response = await self.client.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "client_id": client_id,
                "client_secret": client_secret,
                "username": username,
                "password": PASSWORD,
                "scope": scopes,
            },
        )
        assert response.status == 200, await response.text()
        return str((await response.json())["access_token"])

    async def process(self) -> int:
        """Run the inbox processor until nothing is pending (local deliveries included)."""
        return await self.coop.process()


@pytest.fixture
async def api_app(
    tmp_path: Path,
    database_url: str,
    db: Any,  # empties a PostgreSQL database before init (init refuses one holding a co-op)
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> ApiApp:
    """Serve a fresh instance on a free port, its domain matching the server's host:port."""
    coop = await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)
    return ApiApp(coop)


@pytest.fixture
def token_for(api_app: ApiApp) -> TokenFor:
    """Return `await token_for(username, scopes="read write follow push")` → access token."""

    async def issue(username: str = "admin", scopes: str = ALL_SCOPES) -> str:
        return await api_app.token(username, scopes)

    return issue


@pytest.fixture
async def auth_headers(api_app: ApiApp) -> dict[str, str]:
    """The admin's Authorization header, with every scope."""
    return bearer(await api_app.token("admin"))
