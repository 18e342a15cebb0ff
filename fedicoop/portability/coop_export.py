"""A whole co-op, exported on its old host and imported under a new domain.

`export_coop` writes what `backup` writes (every table from one snapshot, media, config; mode
0600, encrypted with a passphrase when one is given) plus `coop-export.json`: the inventory of
every kind of data (counts and domain-independent hashes) and the sha256 of every file, signed
with the instance actor's Ed25519 key. `import_coop` checks that signature against the key the
old host publishes (so a forged or altered export is refused), restores the rows with every
local URL rewritten to the new domain (`rebase`), signs local documents again, names each old
account as an alias of its new self (so `Move` is accepted everywhere), records the map from
old ids to new ones (FEP-1580 style), and recomputes the inventory to show nothing was lost.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedicoop import clock
from fedicoop.activitypub import integrity, proofs
from fedicoop.activitypub.fetch import FetchError, SafeFetcher
from fedicoop.config import load_config, validate_domain
from fedicoop.errors import Conflict, Invalid, Unavailable
from fedicoop.instance import open_instance
from fedicoop.portability import backup as backups
from fedicoop.portability.inventory import Kind, differences, inventory
from fedicoop.portability.rebase import SIGNED_COLUMNS, Rebase, signed_by
from fedicoop.storage.actors import ActorRepository
from fedicoop.storage.database import Database, Executor
from fedicoop.storage.migration_map import MigrationMapRepository

FORMAT = "fedicoop-coop-export/1"
STATEMENT = "coop-export.json"
# Tables whose rows have their own ActivityPub id, recorded in the published map.
MAPPED = ("actors", "objects", "rides", "bookings", "proposals", "roster_snapshots", "ballots")
Progress = Callable[[str], None]
FEDICOOP_NS = "https://fedicoop.org/ns#"


@dataclass(frozen=True)
class Imported:
    """What an import brought and whether its inventory matches the export's."""

    old_origin: str
    new_origin: str
    rows: int
    media_files: int
    mapped: int
    resigned: int
    inventory: dict[str, Kind]
    differences: list[str]


def integrity_digest(data: bytes) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(data).hexdigest()


def _rows(dumps: dict[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [json.loads(line) for line in data.decode().splitlines() if line]
        for table, data in dumps.items()
    }


async def export_coop(
    directory: str | Path,
    file: str | Path,
    *,
    passphrase: str | None = None,
    progress: Progress = lambda _: None,
) -> dict[str, Kind]:
    """Write the co-op's signed export; return its inventory."""
    config = load_config(directory)
    target = Path(file)
    if target.exists():
        raise Conflict(f"{target} exists; refusing to overwrite an export")
    state = await backups.snapshot(config, progress)
    media = {
        f"media/{p.relative_to(config.media_dir).as_posix()}": integrity_digest(p.read_bytes())
        for p in state.media
    }
    figures = inventory(_rows(state.dumps), [config.base_url], media)
    files = {f"db/{t}.jsonl": integrity_digest(d) for t, d in state.dumps.items()} | media
    instance = await open_instance(directory)
    try:
        signer = (await ActorRepository(instance.db).local_by_type("Application"))[0]
        statement = {
            "@context": ["https://www.w3.org/ns/activitystreams", {"fedicoop": FEDICOOP_NS}],
            "type": "fedicoop:CoopExport",
            "format": FORMAT,
            "attributedTo": signer.uri,
            "origin": config.base_url,
            "published": clock.as2_time(clock.now()),
            "inventory": {name: kind.as_json() for name, kind in figures.items()},
            "files": files,
        }
        signed = await proofs.sign(instance.db, signer, statement)
    finally:
        await instance.close()
    progress("writing the archive")
    backups.write_archive(
        target,
        state,
        format_name=FORMAT,
        extra={STATEMENT: json.dumps(signed, indent=2, ensure_ascii=False).encode()},
        passphrase=passphrase,
        progress=progress,
    )
    return figures


async def _published_key(signer: str, method: str, dev: bool) -> Ed25519PublicKey:
    fetcher = SafeFetcher(dev=dev, user_agent="fedicoop-import-coop")
    try:
        document = await fetcher.get_activity(signer, signed=False)
    except FetchError as error:
        raise Unavailable(
            f"cannot reach {signer} to check the export's signature ({error}); run import-coop "
            "while the old host still answers, or pass --trust-archive if it is gone for good"
        ) from error
    finally:
        await fetcher.close()
    return integrity.find_multikey(document.data, method)


def _archived_key(archive: Any, checksums: dict[str, str], signer: str) -> Ed25519PublicKey:
    data = backups.member(archive, "db/actors.jsonl", checksums)
    for line in data.decode().splitlines():
        row = json.loads(line)
        if row.get("uri") == signer and row.get("ed25519_public_key"):
            return integrity.public_key_from_multikey(row["ed25519_public_key"])
    raise Invalid("the export does not hold its signer's key: it was altered")


async def check_export(
    file: str | Path, *, passphrase: str | None, dev: bool, trust_archive: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check an export's signature and files; return its manifest and signed statement."""
    with backups.open_archive(file, passphrase) as archive:
        manifest = backups.read_manifest(archive, (FORMAT,))
        checksums: dict[str, str] = manifest.get("sha256") or {}
        try:
            statement = json.loads(backups.member(archive, STATEMENT, checksums))
            method = integrity.verification_method_of(statement)
        except (ValueError, integrity.IntegrityError) as error:
            raise Invalid(f"the export's {STATEMENT} is not a signed statement: {error}") from None
        signer = method.split("#", 1)[0]
        origin = str(statement.get("origin") or "")
        if signer != statement.get("attributedTo") or not Rebase.between(origin, "").is_local(
            signer
        ):
            raise Invalid("the export is signed by another server than the one it comes from")
        if trust_archive:
            key = _archived_key(archive, checksums, signer)
        else:
            key = await _published_key(signer, method, dev)
        try:
            integrity.verify_object(statement, key)
        except integrity.IntegrityError as error:
            raise Invalid(
                f"the export's signature does not verify ({error}): it was altered or forged"
            ) from None
        files: dict[str, str] = statement.get("files") or {}
        listed = {name for name in checksums if name.startswith(("db/", "media/"))}
        if set(files) != listed or any(checksums[n] != files[n] for n in files):
            raise Invalid("the export's files differ from what its host signed: it was altered")
        return manifest, statement


async def import_coop(
    file: str | Path,
    directory: str | Path,
    domain: str,
    *,
    dev: bool = False,
    database: str | None = None,
    passphrase: str | None = None,
    trust_archive: bool = False,
    progress: Progress = lambda _: None,
) -> Imported:
    """Recreate an exported co-op under a new domain in a new directory."""
    domain = validate_domain(domain)
    progress("checking the export's signature")
    _, statement = await check_export(
        file, passphrase=passphrase, dev=dev, trust_archive=trust_archive
    )
    rebase = Rebase.between(statement["origin"], f"{'http' if dev else 'https'}://{domain}")
    if rebase.old_origin == rebase.new_origin:
        raise Invalid("that is the co-op's current domain: use fedicoop restore for a new host")
    summary = await backups.restore(
        file,
        directory,
        database=database,
        passphrase=passphrase,
        progress=progress,
        formats=(FORMAT,),
        rewrite=rebase.row,
        domain=domain,
        dev=dev,
    )
    instance = await open_instance(directory)
    try:
        progress("naming old accounts as aliases, recording the map of old ids")
        mapped = await _aliases_and_map(instance.db, rebase)
        progress("signing the co-op's own documents again under the new domain")
        resigned = await _resign(instance.db, rebase)
        figures = await current_inventory(instance.db, directory, [rebase.old_origin])
    finally:
        await instance.close()
    return Imported(
        rebase.old_origin,
        rebase.new_origin,
        sum(summary.rows.values()),
        summary.media_files,
        mapped,
        resigned,
        figures,
        differences(statement["inventory"], figures),
    )


async def current_inventory(
    db: Executor, directory: str | Path, former_origins: list[str] | None = None
) -> dict[str, Kind]:
    """Return the inventory of an instance as it is now."""
    # Alembic and SQLAlchemy (~29 MiB) load only for the commands that need them.
    from fedicoop.storage import migrate

    config = load_config(directory)
    tables = await migrate.tables_in_order(config.database)
    rows = {table: await db.fetch(f"SELECT * FROM {table}") for table in tables}  # schema names
    media = (
        {
            f"media/{p.relative_to(config.media_dir).as_posix()}": integrity_digest(p.read_bytes())
            for p in sorted(config.media_dir.rglob("*"))
            if p.is_file()
        }
        if config.media_dir.exists()
        else {}
    )
    return inventory(rows, [config.base_url, *(former_origins or [])], media)


async def _aliases_and_map(db: Database, rebase: Rebase) -> int:
    back = rebase.reverse
    actors = ActorRepository(db)
    for actor in await db.fetch("SELECT id, uri, also_known_as FROM actors WHERE local = 1"):
        old = back.text(actor["uri"])
        aliases = json.loads(actor["also_known_as"] or "[]")
        if old not in aliases:
            await actors.set_aliases(actor["id"], [*aliases, old])
    mapped = 0
    async with db.transaction() as tx:
        entries = MigrationMapRepository(tx)
        for table in MAPPED:
            for row in await tx.fetch(f"SELECT uri FROM {table}"):  # names from MAPPED
                if rebase.reverse.is_local(row["uri"]):
                    mapped += await entries.add(back.text(row["uri"]), row["uri"], table, None)
    return mapped


async def _resign(db: Executor, rebase: Rebase) -> int:
    actors = ActorRepository(db)
    count = 0
    for table, column in SIGNED_COLUMNS.items():
        rows = await db.fetch(f"SELECT id, {column} FROM {table}")  # names from SIGNED_COLUMNS
        for row in rows:
            text = row[column]
            signer_uri = signed_by(text) if isinstance(text, str) else None
            if signer_uri is None or not rebase.reverse.is_local(signer_uri):
                continue
            signer = await actors.by_uri(signer_uri)
            if signer is None:
                raise Invalid(f"the export lacks {signer_uri}, who signed a {table} row")
            document = json.loads(text)
            proof = document.pop("proof")
            created = datetime.fromisoformat(str(proof["created"]).replace("Z", "+00:00"))
            signed = await proofs.sign(db, signer, document, created=created)
            await db.execute(
                f"UPDATE {table} SET {column} = $2 WHERE id = $1",  # names from SIGNED_COLUMNS
                row["id"],
                json.dumps(signed, ensure_ascii=False),
            )
            count += 1
    return count
