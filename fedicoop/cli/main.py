"""Parse `fedicoop COMMAND ...`, run it, and turn every failure into one line and an exit code."""

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fedicoop import __version__
from fedicoop.cli import (
    account_commands,
    coop_move_commands,
    devnet,
    federation_commands,
    instance_commands,
    portability_commands,
    process_commands,
    proposal_commands,
)
from fedicoop.errors import FedicoopError

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

EPILOG = """examples:
  fedicoop init ./velo --domain velo.example --name "Vélo Coop"
  fedicoop serve ./velo --port 8080
  fedicoop user add ./velo alice
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="fedicoop",
        description="Run a co-op's federated instance: social, rides and governance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fedicoop {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    instance_commands.register(commands)
    federation_commands.register(commands)
    proposal_commands.register(commands)
    portability_commands.register(commands)
    account_commands.register(commands)
    coop_move_commands.register(commands)
    process_commands.register(commands)
    devnet.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.run
    try:
        return asyncio.run(command(args))
    except FedicoopError as error:
        print(f"fedicoop: error: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
