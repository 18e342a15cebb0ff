"""`fedicoop export-account DIR USERNAME FILE` and `fedicoop import-account DIR USERNAME FILE`."""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from fedicoop.accounts.model import Status
from fedicoop.accounts.service import get_account
from fedicoop.activitypub.runtime import Federation
from fedicoop.cli.federation_commands import federation_for
from fedicoop.errors import Conflict, Invalid
from fedicoop.portability.account_import import ImportReport, import_file
from fedicoop.portability.archive import export_account
from fedicoop.portability.archive_files import CsvKind
from fedicoop.storage.accounts import AccountRecord
from fedicoop.storage.actors import ActorRecord, ActorRepository


def register(commands: Any) -> None:
    """Add export-account and import-account."""
    export = commands.add_parser(
        "export-account",
        help="write a member's archive (Mastodon's layout, plus rides and votes), signed",
        description="Write a member's archive: actor.json, outbox.json, likes.json, "
        "bookmarks.json, media and Mastodon's CSVs (follows, blocks, mutes, domain blocks, "
        "bookmarks), plus their rides, bookings, proposals and ballots. The instance signs it, "
        "so another co-op can check that nothing was changed. Mode 0600: it holds direct "
        "messages and exact ride addresses.",
    )
    export.add_argument("directory", metavar="DIR")
    export.add_argument("username", metavar="USERNAME")
    export.add_argument("file", metavar="FILE", help="where to write the .zip")
    export.set_defaults(run=run_export)
    imported = commands.add_parser(
        "import-account",
        help="import an archive or a Mastodon CSV into a member's account",
        description="Import a fedicoop archive (its signature is checked first), a Mastodon "
        "archive (accepted unsigned, in Mastodon's exact layout) or a Mastodon CSV export: "
        "follows are re-sent, blocks and mutes applied, posts copied with their dates and a "
        "link to the original (never sent out as new posts), open rides published again. "
        "Deliveries are queued; a running `fedicoop serve` sends them.",
    )
    imported.add_argument("directory", metavar="DIR")
    imported.add_argument("username", metavar="USERNAME")
    imported.add_argument("file", metavar="FILE", help="archive (.zip, .tar.gz) or .csv")
    imported.add_argument(
        "--type",
        choices=[kind.value for kind in CsvKind],
        help="what a CSV holds (default: told from its header or file name, as Mastodon does)",
    )
    imported.set_defaults(run=run_import)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _member(federation: Federation, username: str) -> tuple[AccountRecord, ActorRecord]:
    account = await get_account(federation.instance, username)
    if account.status != Status.ACTIVE:
        raise Invalid(
            f"@{username} is {account.status}, not an active member: "
            f"run fedicoop member add {federation.instance.config.directory} {username} first"
        )
    actor = await ActorRepository(federation.instance.db).get(account.actor_id)
    assert actor is not None
    return account, actor


async def run_export(args: argparse.Namespace) -> int:
    """Export and say what the archive holds."""
    target = Path(args.file)
    if target.exists():
        raise Conflict(f"{target} exists; refusing to overwrite it: give a new file name")
    async with federation_for(args.directory) as federation:
        account, actor = await _member(federation, args.username)
        exported = await export_account(federation, actor, account, progress=_progress)
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise Invalid(f"cannot write {target}: {error.strerror}") from error
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(exported.data)
    held = ", ".join(f"{count} {name}" for name, count in exported.counts.items() if count)
    print(f"exported @{actor.acct} to {target}: {held or 'an empty account'}")
    print(f"import it elsewhere with: fedicoop import-account DIR USERNAME {target}")
    return 0


def print_report(report: ImportReport) -> None:
    """Print what was imported, then what was left out and why."""
    print(f"imported from {report.origin}")
    done = ", ".join(f"{count} {name}" for name, count in report.imported.items() if count)
    print(f"  done: {done or 'nothing new'}")
    for reason, count in report.skipped.items():
        print(f"  not imported: {count} {reason}")
    for line in report.problems:
        print(f"  ! {line}")


async def run_import(args: argparse.Namespace) -> int:
    """Import and print the report."""
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise Invalid(f"cannot read {path}: {error.strerror}") from error
    async with federation_for(args.directory) as federation:
        account, actor = await _member(federation, args.username)
        report = await import_file(
            federation,
            actor,
            account,
            data,
            filename=path.name,
            kind=CsvKind(args.type) if args.type else None,
            progress=_progress,
        )
    print_report(report)
    return 0
