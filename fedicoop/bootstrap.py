"""`fedicoop init`: create an instance directory, its database, the co-op Group and an admin."""

from dataclasses import dataclass
from pathlib import Path

from fedicoop.accounts.service import add_account, create_local_actor
from fedicoop.config import (
    CONFIG_NAME,
    SQLITE_NAME,
    InstanceConfig,
    default_sqlite_url,
    slugify,
    validate_domain,
    validate_handle,
)
from fedicoop.errors import Conflict, Invalid
from fedicoop.instance import Instance
from fedicoop.storage import migrate
from fedicoop.storage.actors import ActorRepository
from fedicoop.storage.database import engine_of, open_database


@dataclass(frozen=True)
class InitResult:
    """What `init` made and must tell the admin."""

    config: InstanceConfig
    group_acct: str
    admin_username: str
    admin_password: str


async def init_instance(
    directory: Path,
    *,
    domain: str,
    name: str,
    handle: str | None = None,
    database: str | None = None,
    dev: bool = False,
    admin_username: str = "admin",
    admin_password: str | None = None,
) -> InitResult:
    """Create a new instance; refuse to touch a directory that already holds one."""
    directory = directory.resolve()
    if (directory / CONFIG_NAME).exists():
        raise Conflict(f"{directory} already holds a fedicoop instance; refusing to overwrite it")
    if not name.strip():
        raise Invalid("the co-op needs a name (--name)")
    group_handle = validate_handle(handle or slugify(name))
    if admin_username == group_handle:
        admin_username = "administrator"
    url = database or default_sqlite_url(directory)
    try:
        engine_of(url)
    except ValueError as error:
        raise Invalid(str(error)) from error
    config = InstanceConfig(
        directory=directory,
        domain=validate_domain(domain),
        name=name.strip(),
        handle=group_handle,
        database=url,
        dev=dev,
    )
    directory.mkdir(parents=True, exist_ok=True)
    try:
        await migrate.upgrade(url)
        db = await open_database(url)
        instance = Instance(config=config, db=db)
        try:
            if await ActorRepository(db).local_by_type("Group"):
                raise Conflict("that database already holds a co-op; give each instance its own")
            async with db.transaction() as tx:
                await create_local_actor(instance, tx, config.domain, "Application")
                await create_local_actor(instance, tx, group_handle, "Group", display_name=name)
            admin, password = await add_account(
                instance, admin_username, password=admin_password, admin=True
            )
        finally:
            await db.close()
    except BaseException:
        if database is None:
            for suffix in ("", "-wal", "-shm"):
                (directory / f"{SQLITE_NAME}{suffix}").unlink(missing_ok=True)
        raise
    config.save()
    return InitResult(
        config=config,
        group_acct=f"{group_handle}@{config.domain}",
        admin_username=admin.username,
        admin_password=password,
    )
