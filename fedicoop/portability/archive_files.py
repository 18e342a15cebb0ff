"""The member archive as files: Mastodon's layout, its CSVs, and a bounded reader for both.

Mastodon's backup (app/services/backup_service.rb) is a zip — a .tar.gz before 4.2 — holding
`actor.json`, `outbox.json` (an OrderedCollection of Create/Announce activities),
`likes.json`, `bookmarks.json` (OrderedCollections of post ids), `avatar.*`, `header.*` and
the media under `media_attachments/`. Its CSV exports (app/models/export.rb) are separate
downloads named after their controllers: `following_accounts.csv`, `blocked_accounts.csv`,
`muted_accounts.csv`, `blocked_domains.csv`, `bookmarks.csv`. A fedicoop archive is that
layout plus the CSVs and `fedicoop/*.json` (rides, bookings, proposals, ballots), and
`fedicoop/manifest.json`: the sha256 of every other file, signed by the exporting instance.
"""

import csv
import io
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from fedicoop.errors import Invalid

ACTOR = "actor.json"
OUTBOX = "outbox.json"
LIKES = "likes.json"
BOOKMARKS = "bookmarks.json"
MEDIA_PREFIX = "media_attachments/"
FEDICOOP_PREFIX = "fedicoop/"
MANIFEST = "fedicoop/manifest.json"
RIDES = "fedicoop/rides.json"
BOOKINGS = "fedicoop/bookings.json"
PROPOSALS = "fedicoop/proposals.json"
BALLOTS = "fedicoop/ballots.json"

# A hostile archive is a zip bomb or a million tiny members; real ones are far below these.
MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
MAX_CSV_ROWS = 20_000  # Mastodon's ROWS_PROCESSING_LIMIT (app/models/form/import.rb)


class CsvKind(StrEnum):
    """The CSV files Mastodon exports and imports (BulkImport types)."""

    FOLLOWING = "following"
    BLOCKING = "blocking"
    MUTING = "muting"
    DOMAIN_BLOCKING = "domain_blocking"
    BOOKMARKS = "bookmarks"


# File names: Mastodon's export controllers (Settings::Exports::*Controller, `controller_name`).
CSV_FILES: dict[CsvKind, str] = {
    CsvKind.FOLLOWING: "following_accounts.csv",
    CsvKind.BLOCKING: "blocked_accounts.csv",
    CsvKind.MUTING: "muted_accounts.csv",
    CsvKind.DOMAIN_BLOCKING: "blocked_domains.csv",
    CsvKind.BOOKMARKS: "bookmarks.csv",
}
# Headers as Export writes them: only following and muting have a header row.
CSV_HEADERS: dict[CsvKind, list[str] | None] = {
    CsvKind.FOLLOWING: ["Account address", "Show boosts", "Notify on new posts", "Languages"],
    CsvKind.BLOCKING: None,
    CsvKind.MUTING: ["Account address", "Hide notifications"],
    CsvKind.DOMAIN_BLOCKING: None,
    CsvKind.BOOKMARKS: None,
}
# Form::Import::KNOWN_FIRST_HEADERS: a first row starting otherwise is data, not a header.
_KNOWN_FIRST_HEADERS = frozenset({"Account address", "#domain", "#uri", "List name"})
_ADDRESS_KINDS = frozenset({CsvKind.FOLLOWING, CsvKind.BLOCKING, CsvKind.MUTING})


def write_csv(kind: CsvKind, rows: Iterable[list[str]]) -> bytes:
    """Write one of Mastodon's CSV exports (Ruby's CSV: CRLF-free, minimal quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = CSV_HEADERS[kind]
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


@dataclass(frozen=True)
class CsvRow:
    """One row of an imported CSV: an account address, a domain or a post id."""

    value: str
    show_boosts: bool = True
    hide_notifications: bool = True


def guess_csv_kind(name: str, data: bytes) -> CsvKind:
    """Tell which CSV this is from its headers, else its file name (Form::Import#guessed_type)."""
    first = data.decode("utf-8-sig", "replace").split("\n", 1)[0]
    if "Hide notifications" in first:
        return CsvKind.MUTING
    if any(h in first for h in ("Show boosts", "Notify on new posts", "Languages")):
        return CsvKind.FOLLOWING
    base = name.rsplit("/", 1)[-1]
    for prefix, kind in (
        ("mutes", CsvKind.MUTING),
        ("muted_accounts", CsvKind.MUTING),
        ("follows", CsvKind.FOLLOWING),
        ("following_accounts", CsvKind.FOLLOWING),
        ("blocks", CsvKind.BLOCKING),
        ("blocked_accounts", CsvKind.BLOCKING),
        ("domain_blocks", CsvKind.DOMAIN_BLOCKING),
        ("blocked_domains", CsvKind.DOMAIN_BLOCKING),
        ("bookmarks", CsvKind.BOOKMARKS),
    ):
        if base.startswith(prefix):
            return kind
    raise Invalid(
        f"cannot tell what {base!r} holds: name it like Mastodon's exports "
        f"({', '.join(CSV_FILES.values())}) or give its type"
    )


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("true", "t", "1", "yes", "y", "on")


def parse_csv(kind: CsvKind, data: bytes) -> list[CsvRow]:
    """Read a Mastodon CSV the way Form::Import does: header optional, blanks skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(f"the {kind} CSV is not UTF-8 text") from None
    lines = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    header: list[str] = []
    if lines and lines[0] and lines[0][0].strip() in _KNOWN_FIRST_HEADERS:
        header = [cell.strip() for cell in lines.pop(0)]
    if len(lines) > MAX_CSV_ROWS:
        raise Invalid(f"the {kind} CSV has over {MAX_CSV_ROWS} rows; split it and import each")
    column = {name: index for index, name in enumerate(header)}
    rows: list[CsvRow] = []
    for line in lines:

        def cell(name: str, line: list[str] = line) -> str | None:
            index = column.get(name)
            return line[index] if index is not None and index < len(line) else None

        value = (cell("Account address") or cell("#domain") or cell("#uri") or line[0]).strip()
        if kind in _ADDRESS_KINDS:
            value = value.removeprefix("@")
        elif kind is CsvKind.DOMAIN_BLOCKING:
            value = value.lower()
        if not value:
            continue
        rows.append(
            CsvRow(
                value,
                show_boosts=_flag(cell("Show boosts"), True),
                hide_notifications=_flag(cell("Hide notifications"), True),
            )
        )
    return rows


# --- reading an archive ----------------------------------------------------------------------


@dataclass
class ArchiveFiles:
    """Every regular file of an archive, read into memory under its normalised name."""

    files: dict[str, bytes] = field(default_factory=dict)
    container: str = "zip"

    def get(self, name: str) -> bytes | None:
        """Return a member's bytes, or None."""
        return self.files.get(name)

    def names(self) -> list[str]:
        """Return the member names, sorted."""
        return sorted(self.files)


def _normalise(name: str) -> str | None:
    """Return a safe relative member name, or None for directories and odd entries."""
    name = name.replace("\\", "/").lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    if not name or name.endswith("/"):
        return None
    # Nothing is written to disk under these names, but a `..` still has no business here.
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise Invalid(f"the archive names a file outside itself: {name!r}")
    return name


class _Budget:
    def __init__(self) -> None:
        self.members = 0
        self.total = 0

    def take(self, name: str, size: int) -> None:
        self.members += 1
        self.total += size
        if self.members > MAX_MEMBERS:
            raise Invalid(f"the archive holds over {MAX_MEMBERS} files; it is not an account")
        if size > MAX_MEMBER_BYTES:
            raise Invalid(f"{name} in the archive is larger than {MAX_MEMBER_BYTES >> 20} MB")
        if self.total > MAX_TOTAL_BYTES:
            raise Invalid(f"the archive unpacks to over {MAX_TOTAL_BYTES >> 30} GB")


def _read_zip(data: bytes) -> ArchiveFiles:
    budget = _Budget()
    archive = ArchiveFiles(container="zip")
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        for info in bundle.infolist():
            name = _normalise(info.filename)
            if name is None:
                continue
            budget.take(name, info.file_size)  # the declared size; reads stop there
            if name in archive.files:
                raise Invalid(f"the archive holds {name} twice")
            archive.files[name] = bundle.read(info)
    return archive


def _read_tar(data: bytes) -> ArchiveFiles:
    budget = _Budget()
    archive = ArchiveFiles(container="tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as bundle:
        for info in bundle:
            if not info.isfile():
                continue  # links and devices are never followed
            name = _normalise(info.name)
            if name is None:
                continue
            budget.take(name, info.size)
            extracted = bundle.extractfile(info)
            if extracted is None:
                continue
            if name in archive.files:
                raise Invalid(f"the archive holds {name} twice")
            archive.files[name] = extracted.read(info.size)
    return archive


def read_archive(data: bytes) -> ArchiveFiles:
    """Read a zip (Mastodon 4.2+, fedicoop) or .tar.gz (older Mastodon) archive."""
    if data.startswith(b"PK"):
        try:
            return _read_zip(data)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
            raise Invalid(f"the archive is not a readable zip file: {error}") from None
    if data.startswith(b"\x1f\x8b"):
        try:
            return _read_tar(data)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise Invalid(f"the archive is not a readable .tar.gz file: {error}") from None
    raise Invalid("not an account archive: expected a .zip or .tar.gz file")


def is_archive(data: bytes) -> bool:
    """Return whether bytes look like a zip or gzip file (rather than CSV text)."""
    return data.startswith((b"PK", b"\x1f\x8b"))
