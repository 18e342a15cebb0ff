"""OAuth 2 rules: app registration, authorization codes with PKCE, grants, revocation."""

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fedicoop import clock
from fedicoop.accounts.model import Status
from fedicoop.accounts.passwords import verify_password
from fedicoop.errors import Forbidden, Invalid, NotAuthorized
from fedicoop.instance import Instance
from fedicoop.oauth import scopes as scope_rules
from fedicoop.oauth.ratelimit import RateLimiter
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.oauth import AppRecord, CodeRecord, OAuthRepository, TokenRecord

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
# Ten wrong passwords per account or thirty per address in 15 minutes, then wait.
ACCOUNT_LIMITER = RateLimiter(limit=10, window=900)
ADDRESS_LIMITER = RateLimiter(limit=30, window=900)


class OAuthError(Invalid):
    """An RFC 6749 error: `error` is the code clients switch on."""

    status = 400

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = error
        self.status = status


@dataclass(frozen=True)
class Grant:
    """A token just issued."""

    access_token: str
    refresh_token: str | None
    scopes: str
    created_at: int


@dataclass(frozen=True)
class Auth:
    """Who is calling, with which app and scopes."""

    token: TokenRecord
    app: AppRecord
    scopes: frozenset[str]
    account: AccountRecord | None
    actor: ActorRecord | None

    def require(self, scope: str) -> None:
        """Raise Forbidden unless the token carries a scope covering `scope`."""
        if not scope_rules.covers(self.scopes, scope):
            raise Forbidden("This action is outside the authorized scopes")

    def user(self) -> tuple[AccountRecord, ActorRecord]:
        """Return the account and actor, or raise when the token has no user."""
        if self.account is None or self.actor is None:
            raise Forbidden("This method requires an authenticated user")
        return self.account, self.actor


def _redirect_uris(text: str) -> list[str]:
    uris = text.split()
    for uri in uris:
        if uri != OOB and "://" not in uri:
            raise Invalid(f"invalid redirect URI {uri!r}", field="redirect_uris")
        if uri.lower().startswith(("javascript:", "data:")):
            raise Invalid("redirect URIs cannot be scripts", field="redirect_uris")
    if not uris:
        raise Invalid("redirect_uris is required", field="redirect_uris")
    return uris


async def register_app(
    instance: Instance, name: str, redirect_uris: str, scopes: str | None, website: str | None
) -> AppRecord:
    """Register a client app."""
    if not name.strip():
        raise Invalid("client_name is required", field="client_name")
    uris = _redirect_uris(redirect_uris)
    granted = scope_rules.parse_scopes(scopes)
    return await OAuthRepository(instance.db).add_app(
        client_id=secrets.token_urlsafe(32),
        client_secret=secrets.token_urlsafe(32),
        name=name.strip()[:200],
        website=website or None,
        redirect_uris="\n".join(uris),
        scopes=scope_rules.text(granted),
    )


async def client(instance: Instance, client_id: str, client_secret: str | None = None) -> AppRecord:
    """Return the app a client id names; check its secret when given."""
    app = await OAuthRepository(instance.db).app_by_client_id(client_id or "")
    if app is None or (
        client_secret is not None and not secrets.compare_digest(app.client_secret, client_secret)
    ):
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return app


async def check_password(
    instance: Instance, login: str, password: str, address: str
) -> AccountRecord:
    """Return the active account a login and password open, counting failures against guessing."""
    account = await verify_login(instance, login, password, address)
    if account.status != Status.ACTIVE:
        raise Forbidden(f"this account is {account.status}: it cannot log in")
    return account


async def verify_login(
    instance: Instance, login: str, password: str, address: str
) -> AccountRecord:
    """Return the account a login and password name, whatever its standing (rate-limited)."""
    keys = (f"login:{login.lower()}",)
    ADDRESS_LIMITER.check(f"ip:{address}")
    ACCOUNT_LIMITER.check(*keys)
    account = await AccountRepository(instance.db).by_login(login)
    valid = account is not None and await asyncio.to_thread(
        verify_password, account.password_hash, password
    )
    if not valid or account is None:
        ACCOUNT_LIMITER.hit(*keys)
        ADDRESS_LIMITER.hit(f"ip:{address}")
        raise OAuthError("invalid_grant", "Invalid username or password", 400)
    return account


async def authorize(
    instance: Instance,
    app: AppRecord,
    account: AccountRecord,
    redirect_uri: str,
    scope: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    """Issue an authorization code after the member consented."""
    if redirect_uri not in app.redirect_uris.split("\n"):
        raise OAuthError("invalid_request", "redirect_uri does not match a registered URI")
    requested = scope_rules.parse_scopes(scope, default=app.scopes)
    if not scope_rules.subset(requested, frozenset(app.scopes.split())):
        raise OAuthError("invalid_scope", "requested scopes exceed the app's registration")
    if code_challenge and (code_challenge_method or "plain") != "S256":
        raise OAuthError("invalid_request", "only the S256 code challenge method is supported")
    code = secrets.token_urlsafe(32)
    await OAuthRepository(instance.db).add_code(
        code,
        CodeRecord(
            app_id=app.id,
            account_id=account.id,
            scopes=scope_rules.text(requested),
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            code_challenge_method="S256" if code_challenge else None,
            expires_at=clock.to_text(clock.now() + CODE_LIFETIME),
            used=0,
        ),
    )
    return code


def _pkce_ok(code: CodeRecord, verifier: str | None) -> bool:
    if not code.code_challenge:
        return True
    if not verifier:
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return secrets.compare_digest(computed.decode(), code.code_challenge)


async def _issue(instance: Instance, app: AppRecord, account_id: int | None, scopes: str) -> Grant:
    token = secrets.token_urlsafe(32)
    refresh = secrets.token_urlsafe(32) if account_id is not None else None
    record = await OAuthRepository(instance.db).add_token(
        token, refresh, app.id, account_id, scopes
    )
    created = int(clock.from_text(record.created_at).timestamp())
    return Grant(token, refresh, scopes, created)


async def issue_for_account(instance: Instance, app: AppRecord, account_id: int) -> Grant:
    """Issue a token for an account that just signed up through an app (Mastodon's flow)."""
    return await _issue(instance, app, account_id, app.scopes)


async def exchange(
    instance: Instance,
    grant_type: str,
    params: dict[str, str],
    address: str,
) -> Grant:
    """Turn a grant (code, password, refresh token, client credentials) into a token."""
    app = await client(instance, params.get("client_id", ""), params.get("client_secret"))
    if grant_type == "authorization_code":
        code = await OAuthRepository(instance.db).take_code(params.get("code", ""))
        if (
            code is None
            or code.app_id != app.id
            or clock.from_text(code.expires_at) < clock.now()
            or code.redirect_uri != params.get("redirect_uri", code.redirect_uri)
        ):
            raise OAuthError("invalid_grant", "The authorization code is invalid or expired")
        if not _pkce_ok(code, params.get("code_verifier")):
            raise OAuthError("invalid_grant", "The code verifier does not match the challenge")
        return await _issue(instance, app, code.account_id, code.scopes)
    if grant_type == "password":
        account = await check_password(
            instance, params.get("username", ""), params.get("password", ""), address
        )
        requested = scope_rules.parse_scopes(params.get("scope"), default=app.scopes)
        if not scope_rules.subset(requested, frozenset(app.scopes.split())):
            raise OAuthError("invalid_scope", "requested scopes exceed the app's registration")
        return await _issue(instance, app, account.id, scope_rules.text(requested))
    if grant_type == "refresh_token":
        repository = OAuthRepository(instance.db)
        old = await repository.token_by_refresh(params.get("refresh_token", ""))
        if old is None or old.app_id != app.id:
            raise OAuthError("invalid_grant", "The refresh token is invalid")
        await repository.revoke(old.id)
        return await _issue(instance, app, old.account_id, old.scopes)
    if grant_type == "client_credentials":
        requested = scope_rules.parse_scopes(params.get("scope"), default="read")
        return await _issue(instance, app, None, scope_rules.text(requested))
    raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")


async def revoke(instance: Instance, params: dict[str, str]) -> None:
    """Revoke a token (RFC 7009: unknown tokens are not an error)."""
    app = await client(instance, params.get("client_id", ""), params.get("client_secret"))
    await OAuthRepository(instance.db).revoke_by_secret(app.id, params.get("token", ""))


async def authenticate(instance: Instance, bearer: str) -> Auth:
    """Return who a bearer token speaks for, or raise NotAuthorized."""
    repository = OAuthRepository(instance.db)
    token = await repository.token(bearer)
    if token is None:
        raise NotAuthorized("The access token is invalid")
    app = await repository.app(token.app_id)
    assert app is not None
    account = actor = None
    if token.account_id is not None:
        account = await AccountRepository(instance.db).get(token.account_id)
        if account is None or account.status != Status.ACTIVE:
            raise NotAuthorized("The access token is invalid")
        actor = await ActorRepository(instance.db).get(account.actor_id)
    return Auth(token, app, frozenset(token.scopes.split()), account, actor)
