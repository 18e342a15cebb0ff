"""The schema head read without Alembic agrees with Alembic's own answer."""

from fedicoop.storage import migrate, schema
from fedicoop.storage.database import Database


def test_head_matches_alembic() -> None:
    assert schema.head_revision() == migrate.head_revision()


async def test_current_revision_of_a_migrated_database(db: Database) -> None:
    assert await schema.current_revision(db) == migrate.head_revision()
