"""Repository of OAuth apps, authorization codes and tokens (tokens stored hashed)."""

import hashlib
from dataclasses import dataclass

from fedicoop import clock
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor


def digest(secret: str) -> str:
    """Hash a bearer secret for storage: a leaked database does not leak usable tokens."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class AppRecord:
    """A registered client application."""

    id: int
    client_id: str
    client_secret: str
    name: str
    website: str | None
    redirect_uris: str
    scopes: str
    created_at: str


@dataclass(frozen=True)
class TokenRecord:
    """An access token (account_id None for client_credentials)."""

    id: int
    app_id: int
    account_id: int | None
    scopes: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class CodeRecord:
    """An authorization code waiting to be exchanged."""

    app_id: int
    account_id: int
    scopes: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: str
    used: int


class OAuthRepository:
    """Reads and writes apps, codes and tokens."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add_app(
        self, *, client_id: str, client_secret: str, name: str, website: str | None,
        redirect_uris: str, scopes: str,
    ) -> AppRecord:  # fmt: skip
        """Register an app."""
        record = AppRecord(
            new_id(), client_id, client_secret, name, website, redirect_uris, scopes,
            clock.now_text(),
        )  # fmt: skip
        await self.db.execute(
            "INSERT INTO oauth_apps (id, client_id, client_secret, name, website, redirect_uris, "
            "scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            record.id, record.client_id, record.client_secret, record.name, record.website,
            record.redirect_uris, record.scopes, record.created_at,
        )  # fmt: skip
        return record

    async def app_by_client_id(self, client_id: str) -> AppRecord | None:
        """Return an app by its client id."""
        row = await self.db.fetchrow("SELECT * FROM oauth_apps WHERE client_id = $1", client_id)
        return AppRecord(**row) if row else None

    async def app(self, app_id: int) -> AppRecord | None:
        """Return an app by row id."""
        row = await self.db.fetchrow("SELECT * FROM oauth_apps WHERE id = $1", app_id)
        return AppRecord(**row) if row else None

    async def add_code(self, code: str, record: CodeRecord) -> None:
        """Store an authorization code (hashed)."""
        await self.db.execute(
            "INSERT INTO oauth_codes (code_hash, app_id, account_id, scopes, redirect_uri, "
            "code_challenge, code_challenge_method, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            digest(code), record.app_id, record.account_id, record.scopes, record.redirect_uri,
            record.code_challenge, record.code_challenge_method, record.expires_at,
        )  # fmt: skip

    async def take_code(self, code: str) -> CodeRecord | None:
        """Return an unused code and mark it used in the same statement: a code works once."""
        row = await self.db.fetchrow(
            "UPDATE oauth_codes SET used = 1 WHERE code_hash = $1 AND used = 0 "
            "RETURNING app_id, account_id, scopes, redirect_uri, code_challenge, "
            "code_challenge_method, expires_at, used",
            digest(code),
        )
        return CodeRecord(**row) if row else None

    async def add_token(
        self, token: str, refresh: str | None, app_id: int, account_id: int | None, scopes: str
    ) -> TokenRecord:
        """Store a token (hashed) and its refresh token."""
        record = TokenRecord(new_id(), app_id, account_id, scopes, clock.now_text(), None)
        await self.db.execute(
            "INSERT INTO oauth_tokens (id, token_hash, refresh_hash, app_id, account_id, scopes, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            record.id, digest(token), digest(refresh) if refresh else None, app_id, account_id,
            scopes, record.created_at,
        )  # fmt: skip
        return record

    async def token(self, token: str) -> TokenRecord | None:
        """Return a live token."""
        row = await self.db.fetchrow(
            "SELECT id, app_id, account_id, scopes, created_at, revoked_at FROM oauth_tokens "
            "WHERE token_hash = $1 AND revoked_at IS NULL",
            digest(token),
        )
        return TokenRecord(**row) if row else None

    async def token_by_refresh(self, refresh: str) -> TokenRecord | None:
        """Return the live token a refresh token belongs to."""
        row = await self.db.fetchrow(
            "SELECT id, app_id, account_id, scopes, created_at, revoked_at FROM oauth_tokens "
            "WHERE refresh_hash = $1 AND revoked_at IS NULL",
            digest(refresh),
        )
        return TokenRecord(**row) if row else None

    async def revoke(self, token_id: int) -> None:
        """Revoke a token."""
        await self.db.execute(
            "UPDATE oauth_tokens SET revoked_at = $1 WHERE id = $2", clock.now_text(), token_id
        )

    async def revoke_by_secret(self, app_id: int, secret: str) -> None:
        """Revoke a token (or the token of a refresh token) of an app."""
        await self.db.execute(
            "UPDATE oauth_tokens SET revoked_at = $1 WHERE app_id = $2 "
            "AND (token_hash = $3 OR refresh_hash = $3)",
            clock.now_text(),
            app_id,
            digest(secret),
        )
