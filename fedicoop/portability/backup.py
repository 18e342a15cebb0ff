"""Whole-instance backup and restore: database rows, keys, media and config in one archive.

The archive is engine-neutral: every table's rows as JSON lines, read in one transaction (a
consistent snapshot while the instance runs; on SQLite from a copy made with SQLite's online
backup API), so a SQLite backup restores onto PostgreSQL and back. Restoring creates the
schema at the backup's revision, loads the rows in foreign-key order, copies media, then
upgrades to this code's schema. Ids are time-based snowflakes, so
ids minted after a restore never collide with ids already federated from the old copy.

Backups hold private keys, password hashes and tokens: the file is written with mode 0600,
and encrypted (scrypt + Fernet) when a passphrase is given.
"""

import asyncio
import base64
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fedicoop import __version__, clock
from fedicoop.config import CONFIG_NAME, InstanceConfig, default_sqlite_url, load_config
from fedicoop.errors import Conflict, Invalid
from fedicoop.storage.database import Database, engine_of, open_database

FORMAT = "fedicoop-backup/1"
# Per-account counters, as migration 0009 first filled them.
ACCOUNT_STATS_BACKFILL = """
INSERT INTO account_stats (actor_id, statuses_count, followers_count, following_count,
                           last_status_at)
SELECT a.id,
       (SELECT count(*) FROM objects o WHERE o.actor_id = a.id AND o.deleted_at IS NULL),
       (SELECT count(*) FROM follows f WHERE f.followee_id = a.id AND f.state = 'accepted'),
       (SELECT count(*) FROM follows f WHERE f.follower_id = a.id AND f.state = 'accepted'),
       (SELECT max(o.published) FROM objects o WHERE o.actor_id = a.id AND o.deleted_at IS NULL)
FROM actors a
"""
ENCRYPTED_MAGIC = b"FEDICOOP-ENCRYPTED-BACKUP/1\n"
BATCH = 500
Progress = Callable[[str], None]
# Rewrites one row of a table as it is restored (None leaves the row out).
RowRewrite = Callable[[str, dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True)
class Summary:
    """What a backup or restore moved."""

    rows: dict[str, int]
    media_files: int
    encrypted: bool
    revision: str


def _key(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1)
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))


def _sqlite_snapshot(live: str, copy: Path) -> None:
    """Copy a live SQLite database consistently with `sqlite3.Connection.backup`."""
    source = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target, pages=1024)
    finally:
        target.close()
        source.close()


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$base64": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"cannot store {type(value).__name__} in a backup")


def _row_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$base64"}:
        return base64.b64decode(value["$base64"])
    return value


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


async def _dump_tables(db: Database, tables: list[str], progress: Progress) -> dict[str, bytes]:
    dumps: dict[str, bytes] = {}
    # One transaction: every table read from the same snapshot while the instance runs.
    async with db.transaction() as tx:
        for table in tables:
            rows = await tx.fetch(f"SELECT * FROM {table}")  # names from the schema
            lines = [json.dumps(dict(row), default=_json_value, ensure_ascii=False) for row in rows]
            dumps[table] = ("\n".join(lines) + ("\n" if lines else "")).encode()
            progress(f"  {table}: {len(rows)} rows")
    return dumps


@dataclass(frozen=True)
class Snapshot:
    """An instance read at one moment: its schema revision, table rows and media files."""

    config: InstanceConfig
    revision: str
    tables: list[str]
    dumps: dict[str, bytes]
    media: list[Path]


async def snapshot(config: InstanceConfig, progress: Progress = lambda _: None) -> Snapshot:
    """Read every table from one consistent snapshot, even while the instance runs."""
    # Alembic and SQLAlchemy (~29 MiB) load only for the commands that need them.
    from fedicoop.storage import migrate

    revision = await migrate.current_revision(config.database)
    if revision is None:
        raise Invalid("the database has no schema; nothing to back up")
    tables = list(await migrate.tables_in_order(config.database))
    with tempfile.TemporaryDirectory(prefix="fedicoop-backup-") as scratch:
        source = config.database
        if engine_of(source) == "sqlite":
            # SQLite's online backup API copies the live file page by page while the server
            # keeps writing; the rows are then read from that still copy.
            copy = Path(scratch) / "snapshot.db"
            progress("copying the SQLite database with its online backup API")
            await asyncio.to_thread(_sqlite_snapshot, source[len("sqlite:///") :], copy)
            source = f"sqlite:///{copy}"
        progress(f"reading {len(tables)} tables")
        db = await open_database(source)
        try:
            dumps = await _dump_tables(db, tables, progress)
        finally:
            await db.close()
    media = (
        sorted(p for p in config.media_dir.rglob("*") if p.is_file())
        if config.media_dir.exists()
        else []
    )
    return Snapshot(config, revision, tables, dumps, media)


def write_archive(
    target: Path,
    state: Snapshot,
    *,
    format_name: str = FORMAT,
    extra: dict[str, bytes] | None = None,
    passphrase: str | None = None,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Write a snapshot (and extra files) as one archive, mode 0600; return its manifest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        checksums = {}
        for table, data in state.dumps.items():
            _add(archive, f"db/{table}.jsonl", data)
            checksums[f"db/{table}.jsonl"] = hashlib.sha256(data).hexdigest()
        _add(archive, CONFIG_NAME, state.config.config_path.read_bytes())
        for index, path in enumerate(state.media, start=1):
            data = path.read_bytes()
            name = f"media/{path.relative_to(state.config.media_dir).as_posix()}"
            _add(archive, name, data)
            checksums[name] = hashlib.sha256(data).hexdigest()
            if index % 100 == 0:
                progress(f"  media: {index}/{len(state.media)} files")
        for name, data in (extra or {}).items():
            _add(archive, name, data)
            checksums[name] = hashlib.sha256(data).hexdigest()
        manifest = {
            "format": format_name,
            "fedicoop": __version__,
            "domain": state.config.domain,
            "base_url": state.config.base_url,
            "revision": state.revision,
            "tables": state.tables,
            "rows": {t: d.count(b"\n") for t, d in state.dumps.items()},
            "created_at": clock.now_text(),
            "sha256": checksums,
        }
        _add(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
    payload = buffer.getvalue()
    if passphrase:
        salt = os.urandom(16)
        payload = ENCRYPTED_MAGIC + salt + Fernet(_key(passphrase, salt)).encrypt(payload)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(payload)
    return manifest


async def backup(
    directory: str | Path,
    file: str | Path,
    *,
    passphrase: str | None = None,
    progress: Progress = lambda _: None,
) -> Summary:
    """Write an instance's database, media and config to one archive (mode 0600)."""
    config = load_config(directory)
    target = Path(file)
    if target.exists():
        raise Conflict(f"{target} exists; refusing to overwrite a backup")
    state = await snapshot(config, progress)
    manifest = write_archive(target, state, passphrase=passphrase, progress=progress)
    return Summary(manifest["rows"], len(state.media), bool(passphrase), state.revision)


def _open_archive(file: Path, passphrase: str | None) -> tarfile.TarFile:
    payload = file.read_bytes()
    if payload.startswith(ENCRYPTED_MAGIC):
        if not passphrase:
            raise Invalid("this backup is encrypted: give its passphrase (--passphrase-file)")
        salt = payload[len(ENCRYPTED_MAGIC) : len(ENCRYPTED_MAGIC) + 16]
        try:
            payload = Fernet(_key(passphrase, salt)).decrypt(payload[len(ENCRYPTED_MAGIC) + 16 :])
        except InvalidToken:
            raise Invalid("wrong passphrase, or the backup was altered") from None
    try:
        return tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz")
    except tarfile.TarError as error:
        raise Invalid(f"{file} is not a fedicoop backup: {error}") from None


def open_archive(file: str | Path, passphrase: str | None) -> tarfile.TarFile:
    """Open a backup or co-op export (decrypting it with the passphrase when it is encrypted)."""
    return _open_archive(Path(file), passphrase)


def read_manifest(archive: tarfile.TarFile, formats: tuple[str, ...] = (FORMAT,)) -> dict[str, Any]:
    """Return an archive's manifest, refusing formats the caller does not read."""
    try:
        manifest = json.loads(_member(archive, "manifest.json"))
    except ValueError:
        raise Invalid("the archive's manifest.json is not JSON: it was altered") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in formats:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise Invalid(f"unknown archive format {found!r}; expected {' or '.join(formats)}")
    return manifest


def member(archive: tarfile.TarFile, name: str, checksums: dict[str, str] | None = None) -> bytes:
    """Return one file of an archive, checking its sha256 when checksums are given."""
    return _member(archive, name, checksums)


def _member(archive: tarfile.TarFile, name: str, checksums: dict[str, str] | None = None) -> bytes:
    try:
        extracted = archive.extractfile(name)
    except KeyError:
        raise Invalid(f"the backup lacks {name}") from None
    if extracted is None:
        raise Invalid(f"the backup's {name} is not a file")
    data = extracted.read()
    if checksums is not None and hashlib.sha256(data).hexdigest() != checksums.get(name):
        raise Invalid(f"the backup's {name} is damaged (checksum mismatch)")
    return data


async def _load(
    db: Database,
    table: str,
    known: list[str],
    data: bytes,
    progress: Progress,
    rewrite: RowRewrite | None = None,
) -> int:
    rows = [json.loads(line) for line in data.decode().splitlines() if line]
    if rewrite is not None:
        rows = [r for r in (rewrite(table, row) for row in rows) if r is not None]
    if not rows:
        return 0
    columns = list(rows[0])
    # Names go into SQL: only the schema's own, never what an archive claims.
    if not set(columns) <= set(known):
        raise Invalid(f"the backup's {table} has columns this schema does not know")
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        await db.executemany(sql, [[_row_value(row.get(c)) for c in columns] for row in chunk])
    progress(f"  {table}: {len(rows)} rows")
    return len(rows)


async def restore(
    file: str | Path,
    directory: str | Path,
    *,
    database: str | None = None,
    passphrase: str | None = None,
    progress: Progress = lambda _: None,
    formats: tuple[str, ...] = (FORMAT,),
    rewrite: RowRewrite | None = None,
    domain: str | None = None,
    dev: bool | None = None,
) -> Summary:
    """Recreate an instance from a backup in a new directory (and database).

    `rewrite`, `domain` and `dev` serve a co-op moving to a new domain: each row is rewritten
    as it loads, and the config names the new domain.
    """
    # Alembic and SQLAlchemy (~29 MiB) load only for the commands that need them.
    from fedicoop.storage import migrate

    source = Path(file)
    target = Path(directory).resolve()
    if (target / CONFIG_NAME).exists():
        raise Conflict(f"{target} already holds a fedicoop instance; restore into a new directory")
    with _open_archive(source, passphrase) as archive:
        manifest = read_manifest(archive, formats)
        checksums: dict[str, str] = manifest["sha256"]
        old = load_config_text(_member(archive, CONFIG_NAME).decode(), target)
        url = database or default_sqlite_url(target)
        target.mkdir(parents=True, exist_ok=True)
        progress(f"creating the schema at revision {manifest['revision']}")
        await migrate.upgrade(url, manifest["revision"])
        schema = await migrate.tables_in_order(url)
        unknown = set(manifest["tables"]) - set(schema)
        if unknown:
            raise Invalid(f"the backup holds tables this schema does not know: {sorted(unknown)}")
        db = await open_database(url)
        rows: dict[str, int] = {}
        try:
            if await db.fetchval("SELECT COUNT(*) FROM actors"):
                raise Conflict("that database already holds data; restore into an empty one")
            progress("loading rows")
            async with db.unit_of_work():
                for table in (t for t in schema if t in manifest["tables"]):
                    data = _member(archive, f"db/{table}.jsonl", checksums)
                    rows[table] = await _load(db, table, schema[table], data, progress, rewrite)
                if "account_stats" in schema:
                    # Kept by triggers that fired again as posts and follows loaded, on top
                    # of the stored counts: counted once more, from the rows themselves.
                    await db.execute("DELETE FROM account_stats")
                    await db.execute(ACCOUNT_STATS_BACKFILL)
        finally:
            await db.close()
        media = [name for name in checksums if name.startswith("media/")]
        for name in media:
            path = (target / name).resolve()
            if not path.is_relative_to(target / "media"):
                raise Invalid(f"the backup names a media file outside media/: {name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_member(archive, name, checksums))
    revision = await migrate.upgrade(url)
    replace(
        old,
        directory=target,
        domain=domain or old.domain,
        database=url,
        dev=old.dev if dev is None else dev,
    ).save()
    return Summary(rows, len(media), passphrase is not None, revision)


def load_config_text(text: str, directory: Path) -> InstanceConfig:
    """Read a backed-up config file (its own directory does not exist yet)."""
    scratch = directory.parent / f".{directory.name}.restore-config"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        (scratch / CONFIG_NAME).write_text(text, encoding="utf-8")
        return load_config(scratch)
    finally:
        (scratch / CONFIG_NAME).unlink(missing_ok=True)
        scratch.rmdir()
