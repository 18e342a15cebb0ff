"""What an admin may change about the co-op while it runs: its name, description and language.

The name and the language live in fedicoop.toml (read once at start, then kept in memory): the
change is written to the file and to the running config at once, so no restart is needed.
The name and the description are also the co-op Group's profile: they go out to followers and
partner co-ops as an `Update`. The domain, the handle and the database are not editable here:
changing them moves the co-op (`fedicoop move-coop`).
"""

from dataclasses import dataclass, replace

from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.sanitize import html_to_text, text_to_html
from fedicoop.errors import Invalid
from fedicoop.social.profile import publish_profile
from fedicoop.storage.actors import ActorRepository

LANGUAGES = ("en", "fr")
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000


@dataclass(frozen=True)
class CoopSettings:
    """The co-op's editable settings."""

    name: str
    description: str
    language: str


async def current_settings(federation: Federation) -> CoopSettings:
    """Return the settings as they stand (the description from the Group's profile)."""
    group = await federation.group_actor()
    stored = await ActorRepository(federation.instance.db).get(group.id or 0)
    summary = (stored or group).summary or ""
    config = federation.instance.config
    return CoopSettings(config.name, html_to_text(summary).strip(), config.language)


def check_settings(name: str, description: str, language: str) -> CoopSettings:
    """Return the settings cleaned up, or raise Invalid naming the field."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise Invalid(f"the name needs 1–{MAX_NAME_CHARS} characters", field="name")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise Invalid(
            f"the description holds at most {MAX_DESCRIPTION_CHARS} characters",
            field="description",
        )
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return CoopSettings(name, description, language)


async def update_settings(federation: Federation, wanted: CoopSettings) -> CoopSettings:
    """Check, save (file and running config) and federate the co-op's new settings."""
    settings = check_settings(wanted.name, wanted.description, wanted.language)
    config = federation.instance.config
    config.name = settings.name
    config.language = settings.language
    config.save()
    group = await federation.group_actor()
    actors = ActorRepository(federation.instance.db)
    stored = await actors.get(group.id or 0) or group
    updated = replace(
        stored,
        display_name=settings.name,
        summary=text_to_html(settings.description) if settings.description else "",
    )
    if (updated.display_name, updated.summary) != (stored.display_name, stored.summary):
        await publish_profile(federation, await actors.update_profile(updated))
    return settings
