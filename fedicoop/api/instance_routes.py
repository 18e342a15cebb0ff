"""Mastodon API instance metadata: v1 and v2 instance, peers, rules, activity, emojis."""

from typing import Any

from aiohttp import web

from fedicoop import __version__
from fedicoop.api.entities import Presenter
from fedicoop.api.routing import route
from fedicoop.instance import Instance
from fedicoop.media.images import MAX_PIXELS, MAX_UPLOAD_BYTES, SUPPORTED_MIME_TYPES
from fedicoop.media.service import DESCRIPTION_LIMIT, MAX_ATTACHMENTS
from fedicoop.social import moderation
from fedicoop.social.notes import MAX_TEXT
from fedicoop.social.profile import (
    DISPLAY_NAME_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    MAX_FIELDS,
    NOTE_LIMIT,
)
from fedicoop.storage.account_queries import AccountQueries
from fedicoop.storage.accounts import AccountRepository, SettingsRepository
from fedicoop.storage.objects import ObjectRepository
from fedicoop.web.keys import INSTANCE

# The Mastodon version clients should expect; they parse the leading number to pick features.
MASTODON_VERSION = f"4.3.0 (compatible; fedicoop {__version__})"
SOURCE_URL = "https://fedicoop.org/source"
POLL_LIMITS = {
    "max_options": 4,
    "max_characters_per_option": 50,
    "min_expiration": 300,
    "max_expiration": 2_629_746,
}
CHARACTERS_RESERVED_PER_URL = 23


def _streaming_url(instance: Instance) -> str:
    return f"{'ws' if instance.config.dev else 'wss'}://{instance.domain}"


def _statuses_limits() -> dict[str, int]:
    return {
        "max_characters": MAX_TEXT,
        "max_media_attachments": MAX_ATTACHMENTS,
        "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL,
    }


def _media_limits() -> dict[str, Any]:
    return {
        "supported_mime_types": list(SUPPORTED_MIME_TYPES),
        "description_limit": DESCRIPTION_LIMIT,
        "image_size_limit": MAX_UPLOAD_BYTES,
        "image_matrix_limit": MAX_PIXELS,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    }


async def rules_of(instance: Instance) -> list[dict[str, Any]]:
    """Render the co-op's rules as Mastodon Rule entities."""
    return [
        {"id": rule.id, "text": rule.text, "hint": rule.hint, "translations": {}}
        for rule in await moderation.instance_rules(instance.db)
    ]


async def _description(instance: Instance) -> str:
    stored = await SettingsRepository(instance.db).get("instance.description")
    return stored or f"{instance.config.name}, a platform co-operative on the fediverse."


async def _contact_account(request: web.Request) -> dict[str, Any] | None:
    """Render the first active admin as the contact account."""
    instance = request.app[INSTANCE]
    actor = await moderation.contact_actor(instance.db)
    return None if actor is None else await Presenter(instance).account(actor)


async def _peers(instance: Instance) -> list[str]:
    return await AccountQueries(instance.db).remote_domains()


async def instance_v1(request: web.Request) -> web.Response:
    """GET /api/v1/instance (the deprecated shape many clients still read)."""
    instance = request.app[INSTANCE]
    users = await AccountRepository(instance.db).count("active")
    body = {
        "uri": instance.domain,
        "title": instance.config.name,
        "short_description": await _description(instance),
        "description": await _description(instance),
        "email": "",
        "version": MASTODON_VERSION,
        "urls": {"streaming_api": _streaming_url(instance)},
        "stats": {
            "user_count": users,
            "status_count": await ObjectRepository(instance.db).count_local(),
            "domain_count": len(await _peers(instance)),
        },
        "thumbnail": f"{instance.config.base_url}/static/header-missing.png",
        "languages": [instance.config.language],
        # Members join through the co-op's own admission, not through client apps.
        "registrations": False,
        "approval_required": True,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 0},
            "statuses": _statuses_limits(),
            "media_attachments": _media_limits(),
            "polls": POLL_LIMITS,
        },
        "contact_account": await _contact_account(request),
        "rules": await rules_of(instance),
    }
    return web.json_response(body)


async def instance_v2(request: web.Request) -> web.Response:
    """GET /api/v2/instance."""
    instance = request.app[INSTANCE]
    base = instance.config.base_url
    body = {
        "domain": instance.domain,
        "title": instance.config.name,
        "version": MASTODON_VERSION,
        "source_url": SOURCE_URL,
        "description": await _description(instance),
        "usage": {"users": {"active_month": await AccountRepository(instance.db).count("active")}},
        "thumbnail": {"url": f"{base}/static/header-missing.png", "blurhash": None, "versions": {}},
        "icon": [],
        "languages": [instance.config.language],
        "configuration": {
            "urls": {
                "streaming": _streaming_url(instance),
                "status": None,
                "about": base,
                "privacy_policy": None,
                "terms_of_service": None,
            },
            "vapid": {"public_key": ""},
            "accounts": {
                "max_featured_tags": 0,
                "max_pinned_statuses": 5,
                "max_profile_fields": MAX_FIELDS,
                "profile_field_name_limit": FIELD_NAME_LIMIT,
                "profile_field_value_limit": FIELD_VALUE_LIMIT,
                "max_display_name_length": DISPLAY_NAME_LIMIT,
                "max_note_length": NOTE_LIMIT,
            },
            "statuses": _statuses_limits(),
            "media_attachments": _media_limits(),
            "polls": POLL_LIMITS,
            "translation": {"enabled": False},
            "limited_federation": False,
        },
        "registrations": {
            "enabled": False,
            "approval_required": True,
            "reason_required": False,
            "message": None,
            "min_age": None,
            "url": None,
        },
        # Version 2 would promise grouped notifications (/api/v2/notifications), which clients
        # then call; fedicoop serves the v1 notifications only, so it says 1.
        "api_versions": {"mastodon": 1},
        "contact": {"email": "", "account": await _contact_account(request)},
        "rules": await rules_of(instance),
    }
    return web.json_response(body)


async def peers(request: web.Request) -> web.Response:
    """GET /api/v1/instance/peers: the domains of remote actors we know."""
    return web.json_response(await _peers(request.app[INSTANCE]))


async def rules(request: web.Request) -> web.Response:
    """GET /api/v1/instance/rules."""
    return web.json_response(await rules_of(request.app[INSTANCE]))


async def empty_list(request: web.Request) -> web.Response:
    """Answer an empty list (weekly activity, custom emojis: none kept here)."""
    return web.json_response([])


def setup(app: web.Application) -> None:
    """Add this module's routes."""
    route(app, "GET", "/api/v1/instance", instance_v1)
    route(app, "GET", "/api/v2/instance", instance_v2)
    route(app, "GET", "/api/v1/instance/peers", peers)
    route(app, "GET", "/api/v1/instance/rules", rules)
    route(app, "GET", "/api/v1/instance/activity", empty_list)
    route(app, "GET", "/api/v1/custom_emojis", empty_list)
