"""`fedicoop backup DIR FILE` and `fedicoop restore FILE DIR`."""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from fedicoop.errors import Invalid
from fedicoop.portability import backup as backups

PASSPHRASE_ENV = "FEDICOOP_BACKUP_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)


def register(commands: Any) -> None:
    """Add backup and restore."""
    backup = commands.add_parser(
        "backup",
        help="write the whole instance (database, keys, media, config) to one file",
        description="Back up an instance, even while it runs: every table from one consistent "
        "snapshot, the media and the config, in an engine-neutral archive (mode 0600). It "
        "holds private keys and password hashes: give a passphrase to encrypt it.",
    )
    backup.add_argument("directory", metavar="DIR")
    backup.add_argument("file", metavar="FILE")
    passphrase_options(backup)
    backup.set_defaults(run=run_backup)
    restore = commands.add_parser(
        "restore",
        help="recreate an instance from a backup in a new directory",
        description="Restore a backup into a new directory, on SQLite (default) or on the "
        "PostgreSQL database named by --database, whatever engine the backup came from. The "
        "restored instance keeps its domain, actors, keys and pending deliveries.",
    )
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("directory", metavar="DIR")
    restore.add_argument(
        "--database", metavar="URL", help="postgresql://… (default: SQLite inside DIR)"
    )
    passphrase_options(restore)
    restore.set_defaults(run=run_restore)


def passphrase_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file",
        metavar="PATH",
        help=f"read the encryption passphrase from this file (or set {PASSPHRASE_ENV})",
    )


def passphrase(args: argparse.Namespace) -> str | None:
    if args.passphrase_file:
        try:
            text = Path(args.passphrase_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise Invalid(f"cannot read the passphrase file: {error}") from error
        if not text:
            raise Invalid("the passphrase file is empty")
        return text
    return os.environ.get(PASSPHRASE_ENV) or None


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def run_backup(args: argparse.Namespace) -> int:
    """Write the backup and say what it holds."""
    summary = await backups.backup(
        args.directory, args.file, passphrase=passphrase(args), progress=progress
    )
    rows = sum(summary.rows.values())
    print(f"backed up {rows} rows in {len(summary.rows)} tables and {summary.media_files} media "
          f"files (schema {summary.revision}) to {args.file}")  # fmt: skip
    if summary.encrypted:
        print("encrypted with your passphrase: keep it, the backup cannot be read without it")
    else:
        print("NOT encrypted: the file holds private keys and password hashes; keep it safe "
              f"(give --passphrase-file or {PASSPHRASE_ENV} to encrypt)")  # fmt: skip
    return 0


async def run_restore(args: argparse.Namespace) -> int:
    """Restore and say what came back."""
    summary = await backups.restore(
        args.file,
        args.directory,
        database=args.database,
        passphrase=passphrase(args),
        progress=progress,
    )
    rows = sum(summary.rows.values())
    print(f"restored {rows} rows and {summary.media_files} media files into {args.directory} "
          f"(schema {summary.revision})")  # fmt: skip
    print(f"start it with: fedicoop serve {args.directory}")
    return 0
