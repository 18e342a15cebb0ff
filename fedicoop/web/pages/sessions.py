"""Who is logged in on the web pages, and the CSRF token every form carries.

Sessions are signed cookies, not rows: `account id . issued at . HMAC`, the HMAC keyed by a
key derived from the instance secret and computed over the account's password hash too.
Why not a table: nothing to migrate or sweep, a backup restored elsewhere keeps members
logged in, and the co-op's other writers (migrations are numbered by several hands at once)
are left alone. What server-side rows would add is revoking one session; here changing the
password revokes every session of the account (the hash is in the MAC), a suspended or
removed member is refused on the next request (the account is read each time), and a
session lasts `SESSION_DAYS` at most. Logging out clears the cookie.

CSRF: a random `fc_csrf` cookie (HttpOnly, SameSite=Lax) is set on the first page; each form
carries HMAC(key, that cookie) and a POST without the matching token is refused with 403. A
cross-site page can neither read the cookie nor compute the token, and SameSite=Lax already
keeps the session cookie off cross-site POSTs (defence in depth). The login form is covered
too, which stops login CSRF (logging a victim into the attacker's account).
"""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from fedicoop.accounts.model import Role, Status
from fedicoop.instance import Instance
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository

SESSION_COOKIE = "fc_session"
CSRF_COOKIE = "fc_csrf"
CSRF_FIELD = "csrf_token"
SESSION_DAYS = 14
_SESSION_SECONDS = SESSION_DAYS * 86400
CSRF_SEED = web.RequestKey("fedicoop.pages.csrf_seed", str)
FRESH_SEED = web.RequestKey("fedicoop.pages.fresh_seed", bool)


@dataclass(frozen=True)
class Member:
    """The logged-in member: their account and their Person actor."""

    account: AccountRecord
    actor: ActorRecord

    @property
    def is_admin(self) -> bool:
        """Return whether this member is one of the co-op's admins."""
        return self.account.role == Role.ADMIN


def _key(instance: Instance, purpose: str) -> bytes:
    return hmac.new(
        instance.config.secret.encode(), f"fedicoop web {purpose} v1".encode(), hashlib.sha256
    ).digest()


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cookie_options(instance: Instance) -> dict[str, object]:
    """Return the flags of every cookie we set: HttpOnly, SameSite=Lax, Secure outside --dev."""
    return {"httponly": True, "samesite": "Lax", "secure": not instance.config.dev, "path": "/"}


def session_value(instance: Instance, account: AccountRecord, issued: int | None = None) -> str:
    """Return the signed cookie value that logs `account` in."""
    issued = int(time.time()) if issued is None else issued
    payload = f"{account.id}.{issued}"
    return f"{payload}.{_mac(_key(instance, 'session'), f'{payload}.{account.password_hash}')}"


def log_in(response: web.StreamResponse, instance: Instance, account: AccountRecord) -> None:
    """Set the session cookie on a response."""
    response.set_cookie(
        SESSION_COOKIE,
        session_value(instance, account),
        max_age=_SESSION_SECONDS,
        **cookie_options(instance),  # type: ignore[arg-type]
    )


def log_out(response: web.StreamResponse) -> None:
    """Clear the session cookie."""
    response.del_cookie(SESSION_COOKIE, path="/")


async def current_member(request: web.Request, instance: Instance) -> Member | None:
    """Return the member the session cookie names, None if absent, forged, stale or inactive."""
    value = request.cookies.get(SESSION_COOKIE, "")
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    account_id, issued = int(parts[0]), int(parts[1])
    if not 0 <= time.time() - issued <= _SESSION_SECONDS:
        return None
    account = await AccountRepository(instance.db).get(account_id)
    if account is None or account.status != Status.ACTIVE:
        return None  # a suspended or removed member is out at once
    expected = session_value(instance, account, issued)
    if not hmac.compare_digest(expected.encode(), value.encode()):
        return None
    actor = await ActorRepository(instance.db).get(account.actor_id)
    return None if actor is None else Member(account, actor)


def csrf_seed(request: web.Request) -> tuple[str, bool]:
    """Return this browser's CSRF cookie value and whether it is new (to be set)."""
    seed = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(seed) <= 100 and seed.replace("-", "").replace("_", "").isalnum():
        return seed, False
    return secrets.token_urlsafe(32), True


def csrf_token(instance: Instance, seed: str) -> str:
    """Return the token forms carry for a CSRF cookie value."""
    return _mac(_key(instance, "csrf"), seed)


def csrf_valid(instance: Instance, seed: str, token: str) -> bool:
    """Return whether a form's token matches the browser's CSRF cookie (constant time)."""
    return hmac.compare_digest(csrf_token(instance, seed).encode(), token.encode())


def set_csrf_cookie(response: web.StreamResponse, instance: Instance, seed: str) -> None:
    """Set the CSRF cookie (for the browser session only)."""
    response.set_cookie(CSRF_COOKIE, seed, **cookie_options(instance))  # type: ignore[arg-type]
