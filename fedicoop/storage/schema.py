"""Which schema revision the code expects, read without importing Alembic (~29 MB resident)."""

import re
from functools import cache
from pathlib import Path

from fedicoop.storage.database import Database

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision\s*=\s*"([^"]+)"', re.MULTILINE)


@cache
def head_revision() -> str:
    """Return the newest migration: the one no other migration builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if match := _REVISION.search(text):
            revisions.add(match.group(1))
        if match := _DOWN.search(text):
            parents.add(match.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must form one line, found heads {sorted(heads)}")
    return heads.pop()


async def current_revision(db: Database) -> str | None:
    """Return the revision recorded in the database, or None before the first migration."""
    try:
        value = await db.fetchval("SELECT version_num FROM alembic_version")
    except Exception:  # no alembic_version table yet: an empty database
        return None
    return str(value) if value is not None else None
