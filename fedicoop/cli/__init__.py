"""The `fedicoop` command line."""

from fedicoop.cli.main import main

__all__ = ["main"]
