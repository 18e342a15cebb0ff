"""Mastodon API: placeholder module, filled in by its owner."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this module's routes."""
