"""Count and hash every kind of a co-op's data, whatever its domain, to show a move lost nothing.

`inventory` turns each table into a row count and a hash of its rows with the instance's own
origin and domain replaced by placeholders, so the same co-op on `old.example` and on
`new.example` yields the same figures, and any row lost, added or changed on the way does not.
Signed documents are hashed without their proof: a move signs local documents again (new
proof, same content). What a move changes by design is left out and listed here.
"""

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fedicoop.portability.rebase import Rebase

# The host's own machinery, not the co-op's data: queues, peers' health, the map a move adds,
# and counters derived from the posts and follows (counted again on restore).
NOT_COMPARED = frozenset(
    {"deliveries", "hosts", "migration_map", "alembic_version", "account_stats"}
)
# A moved account gains its old self as an alias (which updates it).
IGNORED_COLUMNS = {"actors": frozenset({"also_known_as", "updated_at"})}
PLACEHOLDER = "https://origin.invalid"


@dataclass(frozen=True)
class Kind:
    """One kind of data: how many rows, and a hash of them all."""

    count: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        """Return the figures as JSON."""
        return {"count": self.count, "sha256": self.sha256}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$base64": base64.b64encode(bytes(value)).decode()}
    return value


def _normal(value: Any, placeholders: list[Rebase]) -> Any:
    value = _plain(value)
    if not isinstance(value, str):
        return value
    text = value
    for placeholder in placeholders:
        text = placeholder.text(text)
    if text.startswith("{") and '"proof"' in text:
        try:
            document = json.loads(text)
        except ValueError:
            return text
        if isinstance(document, dict):
            document.pop("proof", None)
            return json.dumps(document, sort_keys=True, ensure_ascii=False)
    return text


def hash_rows(table: str, rows: Iterable[Mapping[str, Any]], origins: list[str]) -> Kind:
    """Return the count and domain-independent hash of a table's rows.

    `origins`: the co-op's origin, then any it had before (a partner's signed document keeps
    naming the old one).
    """
    placeholders = [Rebase.between(origin, PLACEHOLDER) for origin in origins]
    ignored = IGNORED_COLUMNS.get(table, frozenset())
    lines = sorted(
        json.dumps(
            {c: _normal(v, placeholders) for c, v in row.items() if c not in ignored},
            sort_keys=True,
            ensure_ascii=False,
        )
        for row in rows
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return Kind(len(lines), digest.hexdigest())


def inventory(
    tables: Mapping[str, Iterable[Mapping[str, Any]]],
    origins: list[str],
    media: Mapping[str, str],
) -> dict[str, Kind]:
    """Return the figures of every compared table, plus the media files (name → sha256)."""
    figures = {
        table: hash_rows(table, rows, origins)
        for table, rows in tables.items()
        if table not in NOT_COMPARED
    }
    digest = hashlib.sha256()
    for name in sorted(media):
        digest.update(f"{name} {media[name]}\n".encode())
    figures["media files"] = Kind(len(media), digest.hexdigest())
    return dict(sorted(figures.items()))


def differences(before: Mapping[str, Any], after: Mapping[str, Kind]) -> list[str]:
    """Return one line per kind whose count or hash differs (before: figures as JSON)."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            lines.append(f"{name}: only {'after' if old is None else 'before'} the move")
        elif old["count"] != new.count:
            lines.append(f"{name}: {old['count']} rows before, {new.count} after")
        elif old["sha256"] != new.sha256:
            lines.append(f"{name}: {new.count} rows, but their content changed")
    return lines
