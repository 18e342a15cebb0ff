"""Wire every Mastodon API module into the application."""

from aiohttp import web

from fedicoop.api import (
    account_archive_routes,
    account_routes,
    accounts_routes,
    governance_routes,
    instance_routes,
    media_routes,
    membership_routes,
    misc_routes,
    notifications_routes,
    oauth_routes,
    rides_routes,
    search_routes,
    statuses_routes,
    streaming_routes,
    timelines_routes,
)


def setup(app: web.Application) -> None:
    """Add the OAuth and client API routes."""
    for module in (
        oauth_routes,
        instance_routes,
        accounts_routes,
        statuses_routes,
        timelines_routes,
        notifications_routes,
        search_routes,
        media_routes,
        misc_routes,
        streaming_routes,
        rides_routes,
        governance_routes,
        membership_routes,
        account_routes,
        account_archive_routes,
    ):
        module.setup(app)
