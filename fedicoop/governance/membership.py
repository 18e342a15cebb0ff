"""Joining and leaving a co-op: applications, invitations, approval, roles.

People apply with a short motivation (from the API, or from a Mastodon app's sign-up), or
come with an invitation an admin made, which approves them at once. Admins approve or refuse
applications; `fedicoop member add` approves too. Members may leave; their account is kept
(suspended) with its data, and they may be approved again.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fedicoop import clock
from fedicoop.accounts.model import Role, Status
from fedicoop.accounts.service import add_account, set_status
from fedicoop.errors import Conflict, Forbidden, Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.instance import Instance
from fedicoop.oauth.service import OAuthError, verify_login
from fedicoop.storage.accounts import AccountRecord, AccountRepository

MAX_MOTIVATION = 2000
INVITE_DAYS = 14


@dataclass(frozen=True)
class Application:
    """Someone asking to join, and what became of it."""

    id: int
    account_id: int
    username: str
    motivation: str
    state: str  # pending, approved, refused
    created_at: str
    decided_at: str | None


async def _application(instance: Instance, application_id: int) -> Application:
    row = await instance.db.fetchrow(
        "SELECT p.id, p.account_id, a.username, p.motivation, p.state, p.created_at, "
        "p.decided_at FROM applications p JOIN accounts a ON a.id = p.account_id "
        "WHERE p.id = $1",
        application_id,
    )
    if row is None:
        raise NotFound("no such application")
    return Application(**row)


async def list_applications(instance: Instance, state: str | None = "pending") -> list[Application]:
    """Return applications, newest first (all states when `state` is None)."""
    sql = (
        "SELECT p.id, p.account_id, a.username, p.motivation, p.state, p.created_at, "
        "p.decided_at FROM applications p JOIN accounts a ON a.id = p.account_id"
    )
    if state is None:
        rows = await instance.db.fetch(sql + " ORDER BY p.id DESC LIMIT 200")
    else:
        rows = await instance.db.fetch(
            sql + " WHERE p.state = $1 ORDER BY p.id DESC LIMIT 200", state
        )
    return [Application(**row) for row in rows]


def _motivation(value: Any) -> str:
    text = value or ""
    if not isinstance(text, str) or len(text) > MAX_MOTIVATION:
        raise Invalid(f"motivation must be text of at most {MAX_MOTIVATION}", field="motivation")
    return text.strip()


async def apply(
    instance: Instance,
    *,
    username: str,
    password: str,
    motivation: Any = "",
    email: str | None = None,
    invite: str | None = None,
) -> tuple[AccountRecord, Application]:
    """Ask to join: an applicant account, or a member straight away with a valid invitation."""
    text = _motivation(motivation)
    if not isinstance(password, str) or not password:
        raise Invalid("password is required", field="password")
    invited = False
    if invite:
        invited = await _use_invite(instance, invite)
        if not invited:
            raise Invalid("this invitation is unknown, used up or expired", field="invite")
    account, _ = await add_account(
        instance,
        username,
        password=password,
        email=email,
        status=Status.ACTIVE if invited else Status.APPLICANT,
    )
    application_id = new_id()
    stamp = clock.now_text()
    await instance.db.execute(
        "INSERT INTO applications (id, account_id, motivation, state, created_at, decided_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        application_id,
        account.id,
        text,
        "approved" if invited else "pending",
        stamp,
        stamp if invited else None,
    )
    return account, await _application(instance, application_id)


async def check_former_member(
    instance: Instance, username: str, password: str, address: str
) -> AccountRecord:
    """Return a non-member's account when the password is right (guessing is rate-limited)."""
    try:
        return await verify_login(instance, username, password, address)
    except OAuthError:
        raise Conflict(
            f"the name {username!r} is taken; if it is yours, check the password"
        ) from None


async def reapply(instance: Instance, account: AccountRecord, motivation: Any) -> Application:
    """A former member (or an applicant) asks again."""
    if account.status == Status.ACTIVE:
        raise Conflict("you are already a member")
    pending = [a for a in await list_applications(instance) if a.account_id == account.id]
    if pending:
        raise Conflict("your application is waiting for an admin")
    application_id = new_id()
    await instance.db.execute(
        "INSERT INTO applications (id, account_id, motivation, state, created_at) "
        "VALUES ($1, $2, $3, 'pending', $4)",
        application_id,
        account.id,
        _motivation(motivation),
        clock.now_text(),
    )
    return await _application(instance, application_id)


async def decide(
    instance: Instance, admin: AccountRecord, application_id: int, *, approve: bool
) -> Application:
    """Approve (the applicant becomes a member) or refuse an application."""
    if admin.role != Role.ADMIN:
        raise Forbidden("only an admin decides on applications")
    application = await _application(instance, application_id)
    if application.state != "pending":
        raise Conflict(f"this application was already {application.state}")
    changed = await instance.db.execute(
        "UPDATE applications SET state = $2, decided_by = $3, decided_at = $4 "
        "WHERE id = $1 AND state = 'pending'",
        application_id,
        "approved" if approve else "refused",
        admin.id,
        clock.now_text(),
    )
    if changed != 1:
        raise Conflict("this application was decided meanwhile")
    if approve:
        await set_status(instance, application.username, Status.ACTIVE)
    return await _application(instance, application_id)


async def settle_applications(
    instance: Instance, account: AccountRecord, *, approved: bool
) -> None:
    """Close an account's pending applications (an admin approved it some other way)."""
    await instance.db.execute(
        "UPDATE applications SET state = $2, decided_at = $3 WHERE account_id = $1 "
        "AND state = 'pending'",
        account.id,
        "approved" if approved else "refused",
        clock.now_text(),
    )


async def create_invite(
    instance: Instance, admin: AccountRecord, *, max_uses: Any = 1, days: Any = INVITE_DAYS
) -> dict[str, Any]:
    """Make an invitation link: whoever applies with it is approved."""
    if admin.role != Role.ADMIN:
        raise Forbidden("only an admin invites")
    for name, value, high in (("max_uses", max_uses, 1000), ("days", days, 365)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise Invalid(f"{name} must be a whole number 1–{high}", field=name)
    code = secrets.token_urlsafe(16)
    expires = clock.to_text(clock.now() + timedelta(days=days))
    await instance.db.execute(
        "INSERT INTO invites (code, created_by, max_uses, uses, expires_at, created_at) "
        "VALUES ($1, $2, $3, 0, $4, $5)",
        code,
        admin.id,
        max_uses,
        expires,
        clock.now_text(),
    )
    return {
        "code": code,
        "url": f"{instance.config.base_url}/join?invite={code}",
        "max_uses": max_uses,
        "expires_at": expires,
    }


async def invites(instance: Instance) -> list[dict[str, Any]]:
    """Return the invitations still usable (not used up, not expired), newest first."""
    rows = await instance.db.fetch(
        "SELECT code, max_uses, uses, expires_at, created_at FROM invites "
        "WHERE uses < max_uses AND (expires_at IS NULL OR expires_at > $1) "
        "ORDER BY created_at DESC",
        clock.now_text(),
    )
    return [{**row, "url": f"{instance.config.base_url}/join?invite={row['code']}"} for row in rows]


async def _use_invite(instance: Instance, code: str) -> bool:
    used = await instance.db.execute(
        "UPDATE invites SET uses = uses + 1 WHERE code = $1 AND uses < max_uses "
        "AND (expires_at IS NULL OR expires_at > $2)",
        code,
        clock.now_text(),
    )
    return used == 1


async def leave(instance: Instance, account: AccountRecord) -> AccountRecord:
    """A member leaves the co-op (the account is kept, suspended, and may come back)."""
    if account.status != Status.ACTIVE:
        raise Conflict("you are not a member")
    admins = [
        a
        for a in await AccountRepository(instance.db).list()
        if a.role == Role.ADMIN and a.status == Status.ACTIVE
    ]
    if account.role == Role.ADMIN and len(admins) == 1:
        raise Conflict("the last admin cannot leave: make another member admin first")
    return await set_status(instance, account.username, Status.SUSPENDED)


async def remove(instance: Instance, admin: AccountRecord, username: str) -> AccountRecord:
    """An admin removes a member: suspended, the account and its data kept, as on leaving."""
    if admin.role != Role.ADMIN:
        raise Forbidden("only an admin removes members")
    account = await AccountRepository(instance.db).by_username(username)
    if account is None:
        raise NotFound(f"no member {username!r}")
    if account.id == admin.id:
        raise Conflict("an admin cannot remove themselves: make another admin, then leave")
    if account.status != Status.ACTIVE:
        raise Conflict(f"{username} is not a member")
    return await set_status(instance, account.username, Status.SUSPENDED)


async def set_role(
    instance: Instance, admin: AccountRecord, username: str, role: Any
) -> AccountRecord:
    """Make a member admin, or an admin a member again."""
    if admin.role != Role.ADMIN:
        raise Forbidden("only an admin changes roles")
    if role not in (Role.ADMIN.value, Role.MEMBER.value):
        raise Invalid("role must be admin or member", field="role")
    repository = AccountRepository(instance.db)
    account = await repository.by_username(username)
    if account is None:
        raise NotFound(f"no member {username!r}")
    if account.id == admin.id and role == Role.MEMBER.value:
        raise Conflict("an admin cannot demote themselves")
    await repository.update(account.id, role=role)
    updated = await repository.get(account.id)
    assert updated is not None
    return updated


async def members(instance: Instance) -> list[AccountRecord]:
    """Return the active members."""
    return [a for a in await AccountRepository(instance.db).list() if a.status == Status.ACTIVE]
