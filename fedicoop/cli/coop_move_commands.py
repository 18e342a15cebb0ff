"""`fedicoop export-coop`, `import-coop`, `move-coop` and `inventory`: a co-op to a new domain."""

import argparse
import json
from typing import Any

from fedicoop.cli.federation_commands import federation_for
from fedicoop.cli.portability_commands import (
    PASSPHRASE_ENV,
    passphrase_options,
    progress,
)
from fedicoop.cli.portability_commands import passphrase as read_passphrase
from fedicoop.instance import open_instance
from fedicoop.portability import coop_export, coop_move
from fedicoop.portability.inventory import Kind


def register(commands: Any) -> None:
    """Add export-coop, import-coop, move-coop and inventory."""
    export = commands.add_parser(
        "export-coop",
        help="write the whole co-op to one signed file, to move it to a new domain",
        description="Export the co-op (every table from one snapshot, keys, media, config) with "
        "an inventory of every kind of data, signed by this instance. It holds private keys "
        "and password hashes (mode 0600): give a passphrase to encrypt it. Then run "
        "import-coop on the new host and move-coop here.",
    )
    export.add_argument("directory", metavar="DIR")
    export.add_argument("file", metavar="FILE")
    passphrase_options(export)
    export.set_defaults(run=run_export)

    imported = commands.add_parser(
        "import-coop",
        help="recreate an exported co-op under a new domain",
        description="Check the export's signature against the old host, then recreate the "
        "co-op in a new directory with every local id rewritten to the new domain, each new "
        "account naming its old self as an alias, a map of old ids to new, and an inventory "
        "compared with the export's. Start the new instance, then run move-coop on the old host.",
    )
    imported.add_argument("file", metavar="FILE")
    imported.add_argument("directory", metavar="DIR")
    imported.add_argument("--domain", required=True, metavar="HOST[:PORT]")
    imported.add_argument(
        "--dev", action="store_true", help="serve over http and reach the old host on loopback"
    )
    imported.add_argument(
        "--database", metavar="URL", help="postgresql://… (default: SQLite inside DIR)"
    )
    imported.add_argument(
        "--trust-archive",
        action="store_true",
        help="the old host is gone: check the signature with the key inside the export "
        "(proves it was not altered, not who made it)",
    )
    passphrase_options(imported)
    imported.set_defaults(run=run_import)

    move = commands.add_parser(
        "move-coop",
        help="send Move for the Group and every member to the imported co-op, then redirect",
        description="Run on the old host once the new one serves the imported co-op: every "
        "member and the Group send Move to their followers (who follow the new accounts), "
        "partners move the partnership, and this host answers with movedTo and redirects.",
    )
    move.add_argument("directory", metavar="DIR")
    move.add_argument("--to", required=True, metavar="HOST[:PORT]")
    move.set_defaults(run=run_move)

    inventory = commands.add_parser(
        "inventory",
        help="count and hash every kind of the co-op's data (to compare before and after a move)",
        description="Print, for every kind of data, its count and a hash independent of the "
        "domain: the same co-op before and after a move prints the same figures.",
    )
    inventory.add_argument("directory", metavar="DIR")
    inventory.add_argument("--json", action="store_true", help="print JSON")
    inventory.add_argument(
        "--former-origin",
        action="append",
        default=[],
        metavar="URL",
        help="an origin the co-op had before (partners' signed documents still name it)",
    )
    inventory.set_defaults(run=run_inventory)


def _print_inventory(figures: dict[str, Kind]) -> None:
    width = max(len(name) for name in figures)
    for name, kind in figures.items():
        print(f"  {name:<{width}}  {kind.count:>7}  {kind.sha256[:16]}")


async def run_export(args: argparse.Namespace) -> int:
    """Export and show the inventory."""
    passphrase = read_passphrase(args)
    figures = await coop_export.export_coop(
        args.directory, args.file, passphrase=passphrase, progress=progress
    )
    print(f"exported the co-op to {args.file}, signed by this instance:")
    _print_inventory(figures)
    if passphrase:
        print("encrypted with your passphrase: keep it, the export cannot be read without it")
    else:
        print("NOT encrypted: the file holds private keys and password hashes; keep it safe "
              f"(give --passphrase-file or {PASSPHRASE_ENV} to encrypt)")  # fmt: skip
    print(f"next, on the new host: fedicoop import-coop {args.file} DIR --domain NEW_HOST")
    return 0


async def run_import(args: argparse.Namespace) -> int:
    """Import, compare the inventory, and say what to do next."""
    result = await coop_export.import_coop(
        args.file,
        args.directory,
        args.domain,
        dev=args.dev,
        database=args.database,
        passphrase=read_passphrase(args),
        trust_archive=args.trust_archive,
        progress=progress,
    )
    print(f"imported {result.rows} rows and {result.media_files} media files: "
          f"{result.old_origin} is now {result.new_origin}")  # fmt: skip
    print(f"{result.mapped} ids mapped from old to new; {result.resigned} signed documents "
          "signed again under the new domain")  # fmt: skip
    _print_inventory(result.inventory)
    if result.differences:
        print("the inventory differs from the export's:")
        for line in result.differences:
            print(f"  {line}")
        return 1
    print("every kind of data matches the export (counts and hashes)")
    print(f"next: fedicoop serve {args.directory}, then on the old host: "
          f"fedicoop move-coop OLD_DIR --to {args.domain}")  # fmt: skip
    return 0


async def run_move(args: argparse.Namespace) -> int:
    """Move every account and report who could not move."""
    async with federation_for(args.directory) as federation:
        result = await coop_move.move_coop(federation, args.to, progress=progress)
    print(f"{len(result.moved)} accounts sent Move to {result.new_origin}")
    for acct, reason in result.failed.items():
        print(f"  not moved: {acct}: {reason}")
    if result.failed:
        print("fix what is said above and run move-coop again (moved accounts are skipped)")
        return 1
    print("this host now answers with movedTo and redirects to the new domain")
    return 0


async def run_inventory(args: argparse.Namespace) -> int:
    """Print the inventory."""
    instance = await open_instance(args.directory)
    try:
        figures = await coop_export.current_inventory(
            instance.db, args.directory, args.former_origin
        )
    finally:
        await instance.close()
    if args.json:
        print(json.dumps({name: kind.as_json() for name, kind in figures.items()}, indent=2))
    else:
        _print_inventory(figures)
    return 0
