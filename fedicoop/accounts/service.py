"""Account services: create members and local actors, change membership."""

import asyncio
from dataclasses import dataclass

from fedicoop.accounts.model import Role, Status, check_transition, standing
from fedicoop.accounts.passwords import MIN_LENGTH, generate_password, hash_password
from fedicoop.activitypub import integrity
from fedicoop.activitypub.keys import generate_rsa_keypair
from fedicoop.config import validate_handle
from fedicoop.errors import Conflict, Invalid, NotFound
from fedicoop.instance import Instance
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Executor

RESERVED_USERNAMES = frozenset({"actor", "admin_api", "inbox", "api", "ns", "oauth", "users"})


@dataclass(frozen=True)
class AccountView:
    """An account as shown to admins."""

    username: str
    acct: str
    standing: str
    created_at: str


async def create_local_actor(
    instance: Instance,
    db: Executor,
    username: str,
    actor_type: str,
    *,
    display_name: str = "",
) -> ActorRecord:
    """Create a local actor with a fresh RSA key pair and every collection URL."""
    urls = instance.urls
    if await ActorRepository(db).by_handle(username, instance.domain):
        raise Conflict(f"the name {username!r} is already taken on {instance.domain}")
    keys = await asyncio.to_thread(generate_rsa_keypair)
    ed25519 = integrity.generate_key()
    uri = urls.actor(username) if actor_type != "Application" else urls.instance_actor()
    actor = ActorRecord(
        uri=uri,
        type=actor_type,
        domain=instance.domain,
        username=username,
        local=True,
        display_name=display_name or username,
        url=urls.profile(username) if actor_type != "Application" else instance.config.base_url,
        inbox=f"{uri}/inbox",
        shared_inbox=urls.shared_inbox(),
        outbox=f"{uri}/outbox",
        followers_uri=f"{uri}/followers",
        following_uri=f"{uri}/following",
        featured_uri=f"{uri}/collections/featured",
        key_id=urls.key_id(uri),
        public_key_pem=keys.public_pem,
        private_key_pem=keys.private_pem,
        ed25519_private_key=integrity.private_key_to_text(ed25519),
        ed25519_public_key=integrity.public_multikey(ed25519.public_key()),
    )
    return await ActorRepository(db).insert(actor)


async def add_account(
    instance: Instance,
    username: str,
    *,
    password: str | None = None,
    admin: bool = False,
    status: Status = Status.ACTIVE,
    email: str | None = None,
) -> tuple[AccountRecord, str]:
    """Create an account and its Person actor; return it with the (maybe generated) password."""
    validate_handle(username)
    if username in RESERVED_USERNAMES:
        raise Invalid(f"the name {username!r} is reserved", field="username")
    if password is not None and len(password) < MIN_LENGTH:
        raise Invalid(f"password too short: use at least {MIN_LENGTH} characters", field="password")
    if await AccountRepository(instance.db).by_username(username):
        raise Conflict(f"user {username!r} already exists")
    chosen = password or generate_password()
    password_hash = await asyncio.to_thread(hash_password, chosen)
    async with instance.db.transaction() as tx:
        actor = await create_local_actor(instance, tx, username, "Person")
        account = await AccountRepository(tx).insert(
            AccountRecord(
                actor_id=actor.id,
                username=username,
                password_hash=password_hash,
                role=Role.ADMIN if admin else Role.MEMBER,
                status=status,
                email=email,
                locale=instance.config.language,
            )
        )
    return account, chosen


async def list_accounts(instance: Instance) -> list[AccountView]:
    """Return every account with its standing in the co-op."""
    accounts = await AccountRepository(instance.db).list()
    return [
        AccountView(
            username=account.username,
            acct=f"{account.username}@{instance.domain}",
            standing=standing(account.role, account.status),
            created_at=account.created_at,
        )
        for account in accounts
    ]


async def get_account(instance: Instance, username: str) -> AccountRecord:
    """Return an account or raise NotFound."""
    account = await AccountRepository(instance.db).by_username(username)
    if account is None:
        raise NotFound(f"no user {username!r} on {instance.domain}")
    return account


async def set_status(instance: Instance, username: str, target: Status) -> AccountRecord:
    """Move an account along the membership lifecycle; same status again is a no-op."""
    account = await get_account(instance, username)
    current = Status(account.status)
    if current == target:
        return account
    check_transition(current, target)
    await AccountRepository(instance.db).update(account.id, status=target)
    return await get_account(instance, username)
