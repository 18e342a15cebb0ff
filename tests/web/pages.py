"""What page tests do again and again: read a form's CSRF token, log in, find a member."""

import re

from fedicoop.accounts.service import add_account
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from tests.activitypub.remote import Coop

ADMIN_PASSWORD = "correct horse battery staple"
MEMBER_PASSWORD = "long enough pw"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf(coop: Coop, path: str = "/app/login") -> str:
    """Open a page and return the CSRF token its forms carry."""
    response = await coop.client.get(path)
    match = TOKEN.search(await response.text())
    assert match, f"{path} has no CSRF token"
    return match.group(1)


async def log_in(coop: Coop, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    """Log in through the login form."""
    token = await csrf(coop)
    response = await coop.client.post(
        "/app/login",
        data={"csrf_token": token, "username": username, "password": password, "next": "/app/"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()


async def member(coop: Coop, username: str) -> tuple[AccountRecord, ActorRecord]:
    """Return a member's account and actor, adding the member when missing."""
    account = await AccountRepository(coop.db).by_username(username)
    if account is None:
        account, _ = await add_account(coop.instance, username, password=MEMBER_PASSWORD)
    actor = await ActorRepository(coop.db).get(account.actor_id)
    assert actor is not None
    return account, actor
