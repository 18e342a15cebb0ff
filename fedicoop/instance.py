"""An open instance: its configuration, database and URL builder, shared by every service."""

from dataclasses import dataclass
from pathlib import Path

from fedicoop.activitypub.urls import Urls
from fedicoop.config import InstanceConfig, load_config
from fedicoop.errors import Unavailable
from fedicoop.storage import schema
from fedicoop.storage.database import Database, open_database


@dataclass
class Instance:
    """Everything a service needs to act for one co-op."""

    config: InstanceConfig
    db: Database

    @property
    def urls(self) -> Urls:
        """Return the URL builder for this instance's origin."""
        return Urls(self.config.base_url)

    @property
    def domain(self) -> str:
        """Return host[:port]."""
        return self.config.domain

    async def close(self) -> None:
        """Release the database."""
        await self.db.close()


async def open_instance(directory: str | Path, *, check_schema: bool = True) -> Instance:
    """Open an initialised instance directory; refuse a database behind the code's schema."""
    config = load_config(directory)
    db = await open_database(config.database)
    if check_schema:
        current = await schema.current_revision(db)
        head = schema.head_revision()
        if current != head:
            await db.close()
            raise Unavailable(
                f"database schema is at {current or 'nothing'}, this fedicoop needs {head}: "
                f"run fedicoop db upgrade {directory}"
            )
    return Instance(config=config, db=db)
