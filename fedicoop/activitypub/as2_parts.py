"""Small AS2 sub-objects: keys, profile fields, attachments, tags and poll options.

Each `*_from` reader takes a raw property value in any shape seen in the wild and returns the
usable items, silently skipping the ones it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from fedicoop.activitypub.as2_values import (
    as_list,
    first_str,
    first_url,
    id_of,
    localized,
    non_negative_int,
    str_or_none,
    types_of,
)

__all__ = [
    "Attachment",
    "Emoji",
    "Hashtag",
    "LinkTag",
    "Mention",
    "Multikey",
    "PollOption",
    "ProfileField",
    "PublicKey",
    "Tags",
    "attachments_from",
    "multikeys_from",
    "poll_options_from",
    "profile_fields_from",
    "public_keys_from",
    "quote_url_from",
    "tags_from",
]

# The media types an FEP-e232 object link uses to point at another AS2 object (a quote).
AS2_MEDIA_TYPES: Final = frozenset(
    {
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "application/activity+json",
    }
)


class Part(BaseModel):
    """Base of the sub-objects: immutable, unknown keys dropped (the parent keeps the raw dict)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class PublicKey(Part):
    """An actor's RSA key for HTTP signatures (`publicKey`, security v1)."""

    id: str
    owner: str | None = None
    public_key_pem: str | None = None


class Multikey(Part):
    """An FEP-521a `assertionMethod` entry (Ed25519 for object proofs)."""

    id: str
    controller: str | None = None
    public_key_multibase: str | None = None


class ProfileField(Part):
    """A profile metadata row (`PropertyValue` in the actor's `attachment`); value is HTML."""

    name: str
    value: str


class Attachment(Part):
    """A media attachment of a post; `name` is the alt text."""

    type: str
    url: str
    media_type: str | None = None
    name: str | None = None
    blurhash: str | None = None
    width: int | None = None
    height: int | None = None


class Mention(Part):
    """A `Mention` tag: `href` is the mentioned actor, `name` is how the text shows it."""

    href: str
    name: str | None = None


class Hashtag(Part):
    """A `Hashtag` tag; `name` usually includes the leading `#`."""

    name: str
    href: str | None = None


class Emoji(Part):
    """A custom emoji: `name` is the `:shortcode:`, `icon_url` the image to show."""

    name: str
    icon_url: str | None = None
    id: str | None = None


class LinkTag(Part):
    """A `Link` tag (FEP-e232 object link, e.g. a quoted post)."""

    href: str
    media_type: str | None = None
    name: str | None = None
    rel: list[str] = []


class PollOption(Part):
    """A choice of a `Question` with its vote count (`replies.totalItems`)."""

    name: str
    votes: int | None = None


class Tags(Part):
    """The `tag` property split by kind."""

    mentions: list[Mention] = []
    hashtags: list[Hashtag] = []
    emojis: list[Emoji] = []
    links: list[LinkTag] = []


def public_keys_from(value: Any) -> list[PublicKey]:
    """Read `publicKey`: one object, a list of them, or only the key's IRI."""
    keys = []
    for item in as_list(value):
        key_id = id_of(item)
        if key_id is None:
            continue
        if isinstance(item, Mapping):
            keys.append(
                PublicKey(
                    id=key_id,
                    owner=id_of(item.get("owner")),
                    public_key_pem=first_str(item.get("publicKeyPem")),
                )
            )
        else:
            keys.append(PublicKey(id=key_id))
    return keys


def multikeys_from(value: Any) -> list[Multikey]:
    """Read `assertionMethod`, keeping embedded `Multikey` entries."""
    keys = []
    for item in as_list(value):
        key_id = id_of(item)
        if key_id is None or not isinstance(item, Mapping) or "Multikey" not in types_of(item):
            continue
        keys.append(
            Multikey(
                id=key_id,
                controller=id_of(item.get("controller")),
                public_key_multibase=first_str(item.get("publicKeyMultibase")),
            )
        )
    return keys


def profile_fields_from(value: Any) -> list[ProfileField]:
    """Read the `PropertyValue` rows of an actor's `attachment`."""
    fields = []
    for item in as_list(value):
        if isinstance(item, Mapping) and "PropertyValue" in types_of(item):
            name, _, _ = localized(item, "name")
            field_value = first_str(item.get("value"))
            if name is not None and field_value is not None:
                fields.append(ProfileField(name=name, value=field_value))
    return fields


def attachments_from(value: Any) -> list[Attachment]:
    """Read a post's media attachments (Document, Image, Video, Audio, Link…)."""
    attachments = []
    for item in as_list(value):
        if isinstance(item, str):
            attachments.append(Attachment(type="Link", url=item))
            continue
        if not isinstance(item, Mapping) or "PropertyValue" in types_of(item):
            continue
        url = first_url(item.get("url"), prefer_media_type=None) or first_url(item.get("href"))
        if url is None:
            continue
        types = types_of(item)
        name, _, _ = localized(item, "name")
        attachments.append(
            Attachment(
                type=types[0] if types else "Document",
                url=url,
                media_type=str_or_none(item.get("mediaType")),
                name=name,
                blurhash=str_or_none(item.get("blurhash")),
                width=non_negative_int(item.get("width")),
                height=non_negative_int(item.get("height")),
            )
        )
    return attachments


def tags_from(value: Any) -> Tags:
    """Read `tag` (a list or, from some servers, a single object) into mentions, hashtags…"""
    mentions: list[Mention] = []
    hashtags: list[Hashtag] = []
    emojis: list[Emoji] = []
    links: list[LinkTag] = []
    for item in as_list(value):
        if not isinstance(item, Mapping):
            continue
        types = types_of(item)
        href = first_url(item.get("href"), prefer_media_type=None)
        name = first_str(item.get("name"))
        if "Mention" in types and href:
            mentions.append(Mention(href=href, name=name))
        elif "Hashtag" in types and name:
            hashtags.append(Hashtag(name=name, href=href))
        elif "Emoji" in types and name:
            icon = item.get("icon")
            icon_url = first_url(icon.get("url") if isinstance(icon, Mapping) else icon)
            emojis.append(Emoji(name=name, icon_url=icon_url, id=id_of(item)))
        elif "Link" in types and href:
            rels = [rel for rel in as_list(item.get("rel")) if isinstance(rel, str)]
            media_type = str_or_none(item.get("mediaType"))
            links.append(LinkTag(href=href, media_type=media_type, name=name, rel=rels))
    return Tags(mentions=mentions, hashtags=hashtags, emojis=emojis, links=links)


def poll_options_from(value: Any) -> list[PollOption]:
    """Read `oneOf`/`anyOf`: Notes whose `name` is the choice and `replies.totalItems` the votes."""
    options = []
    for item in as_list(value):
        if not isinstance(item, Mapping):
            continue
        name, _, _ = localized(item, "name")
        if name is None:
            continue
        replies = item.get("replies")
        votes = (
            non_negative_int(replies.get("totalItems")) if isinstance(replies, Mapping) else None
        )
        options.append(PollOption(name=name, votes=votes))
    return options


def quote_url_from(doc: Mapping[str, Any], links: list[LinkTag]) -> str | None:
    """Find the quoted post: Misskey `quoteUrl`/`_misskey_quote`, Fedibird `quoteURL`, FEP-e232."""
    for key in ("quoteUrl", "quoteURL", "quoteUri", "_misskey_quote", "quote"):
        url = id_of(doc.get(key))
        if url is not None:
            return url
    for link in links:
        if link.media_type in AS2_MEDIA_TYPES:
            return link.href
    return None
