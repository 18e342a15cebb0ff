"""The hot-path reader of compacted ActivityStreams 2.0: actors, objects and activities.

`parse_actor`, `parse_object`, `parse_activity` (and `parse_any`, which picks by `type`) turn a
decoded JSON document into a frozen pydantic model with plain Python values: one id per
reference, lists for addressing, text picked from language maps, datetimes in UTC. Odd shapes
from the wild (a single object where a list is usual, a list of Images as `icon`, a Link where a
URL is usual, `null`s) are read as well as they can be; only a document that is not usable at
all raises `InvalidActivity`. Every raw key stays readable, under its AS2 name, in `model_extra`
(for extension properties such as our own `seats` or Misskey's `_misskey_content`).

Nothing here checks origins or signatures, and `content`/`summary`/`name` are the sender's raw
HTML: callers apply the origin checks and `sanitize.sanitize_html` before trusting or showing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from fedicoop.activitypub.as2_models import (
    ACTIVITY_TYPES,
    ACTOR_TYPES,
    MAX_NESTING,
    Activity,
    Actor,
    AS2Document,
    InvalidActivity,
    ObjectDoc,
)
from fedicoop.activitypub.as2_parts import (
    Attachment,
    Emoji,
    Hashtag,
    LinkTag,
    Mention,
    Multikey,
    PollOption,
    ProfileField,
    PublicKey,
    attachments_from,
    multikeys_from,
    poll_options_from,
    profile_fields_from,
    public_keys_from,
    quote_url_from,
    tags_from,
)
from fedicoop.activitypub.as2_values import (
    PUBLIC_ADDRESSES,
    as_list,
    first_str,
    first_url,
    id_of,
    ids_of,
    is_public,
    localized,
    non_negative_int,
    origin_of,
    parse_datetime,
    same_origin,
    str_or_none,
    types_of,
)

__all__ = [
    "ACTIVITY_TYPES",
    "ACTOR_TYPES",
    "PUBLIC_ADDRESSES",
    "AS2Document",
    "Activity",
    "Actor",
    "Attachment",
    "Emoji",
    "Hashtag",
    "InvalidActivity",
    "LinkTag",
    "Mention",
    "Multikey",
    "ObjectDoc",
    "PollOption",
    "ProfileField",
    "PublicKey",
    "as_list",
    "first_str",
    "first_url",
    "id_of",
    "ids_of",
    "is_public",
    "localized",
    "origin_of",
    "parse_activity",
    "parse_actor",
    "parse_any",
    "parse_object",
    "same_origin",
]


def _primary_type(types: list[str], preferred: frozenset[str]) -> str:
    return next((kind for kind in types if kind in preferred), types[0])


def _first_dict(value: Any) -> dict[str, Any] | None:
    first = as_list(value)[:1]
    return dict(first[0]) if first and isinstance(first[0], Mapping) else None


def _true(value: Any) -> bool:
    return value is True


_Model = TypeVar("_Model", bound=AS2Document)


def _first_id(value: Any) -> str | None:
    return next(iter(ids_of(value)), None)


def _build(model: type[_Model], raw: Mapping[str, Any], fields: dict[str, Any]) -> _Model:
    # Raw keys stay as extras under their AS2 names; a raw key spelled like one of our fields is
    # replaced by the normalised value, so a sender cannot inject e.g. `shared_inbox` directly.
    merged = {key: value for key, value in raw.items() if key not in model.model_fields}
    merged.update(fields)
    try:
        return model.model_validate(merged)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise InvalidActivity(f"{model.__name__} {raw.get('id')!r}: {problems}") from None


def _require_mapping(doc: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise InvalidActivity(f"{what} must be a JSON object, not {type(doc).__name__}")
    return doc


def _common(raw: Mapping[str, Any], types: list[str], preferred: frozenset[str]) -> dict[str, Any]:
    return {
        "id": id_of(raw.get("id")),
        "type": _primary_type(types, preferred),
        "types": types,
        "published": parse_datetime(raw.get("published")),
    }


def _addressing(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: ids_of(raw.get(key)) for key in ("to", "cc", "bto", "bcc", "audience")}


def parse_actor(doc: Any, languages: Sequence[str] = ()) -> Actor:
    """Read an actor document; raises InvalidActivity unless it has an id and an actor type."""
    raw = _require_mapping(doc, "actor")
    types = types_of(raw)
    if not ACTOR_TYPES.intersection(types):
        raise InvalidActivity(f"actor {raw.get('id')!r} has type {types!r}, not an actor type")
    if id_of(raw.get("id")) is None:
        raise InvalidActivity("actor has no id")
    endpoints = raw.get("endpoints")
    shared_inbox = id_of(endpoints.get("sharedInbox")) if isinstance(endpoints, Mapping) else None
    name, _, _ = localized(raw, "name", languages)
    summary, _, _ = localized(raw, "summary", languages)
    discoverable = raw.get("discoverable")
    fields = _common(raw, types, ACTOR_TYPES) | {
        "preferred_username": first_str(raw.get("preferredUsername")),
        "name": name,
        "summary": summary,
        "inbox": id_of(raw.get("inbox")),
        "outbox": id_of(raw.get("outbox")),
        "followers": id_of(raw.get("followers")),
        "following": id_of(raw.get("following")),
        "featured": id_of(raw.get("featured")),
        # Misskey also repeats sharedInbox at the top level; endpoints is the standard place.
        "shared_inbox": shared_inbox or id_of(raw.get("sharedInbox")),
        "public_keys": public_keys_from(raw.get("publicKey")),
        "assertion_method": multikeys_from(raw.get("assertionMethod")),
        "icon_url": _image_url(raw.get("icon")),
        "image_url": _image_url(raw.get("image")),
        "url": first_url(raw.get("url")),
        "manually_approves_followers": _true(raw.get("manuallyApprovesFollowers")),
        "discoverable": discoverable if isinstance(discoverable, bool) else None,
        "moved_to": id_of(raw.get("movedTo")),
        "also_known_as": ids_of(raw.get("alsoKnownAs")),
        "profile_fields": profile_fields_from(raw.get("attachment")),
        "emojis": tags_from(raw.get("tag")).emojis,
    }
    return _build(Actor, raw, fields)


def _image_url(value: Any) -> str | None:
    """Pick an avatar/header URL; PeerTube sends several sizes, of which we take the largest."""
    images = [item for item in as_list(value) if isinstance(item, Mapping | str)]
    images.sort(key=_image_width, reverse=True)
    for image in images:
        url = first_url(image.get("url") if isinstance(image, Mapping) else image, None)
        if url is not None:
            return url
    return None


def _image_width(image: Mapping[str, Any] | str) -> int:
    return (non_negative_int(image.get("width")) or 0) if isinstance(image, Mapping) else 0


def _attributed_to(value: Any) -> tuple[str | None, list[str]]:
    """The author: Lemmy/PeerTube list a Person and a Group (channel); the Person is the author."""
    ids = ids_of(value)
    person = next(
        (
            id_of(item)
            for item in as_list(value)
            if isinstance(item, Mapping) and "Person" in types_of(item)
        ),
        None,
    )
    return (person or (ids[0] if ids else None)), ids


def parse_object(doc: Any, languages: Sequence[str] = ()) -> ObjectDoc:
    """Read a non-actor object; raises InvalidActivity if it is not a JSON object with a type."""
    raw = _require_mapping(doc, "object")
    types = types_of(raw)
    if not types:
        raise InvalidActivity(f"object {raw.get('id')!r} has no type")
    author, authors = _attributed_to(raw.get("attributedTo"))
    content, language, content_map = localized(raw, "content", languages)
    name, _, name_map = localized(raw, "name", languages)
    summary, _, summary_map = localized(raw, "summary", languages)
    tags = tags_from(raw.get("tag"))
    closed = raw.get("closed")
    closed_at = parse_datetime(closed)
    fields = (
        _common(raw, types, frozenset())
        | _addressing(raw)
        | {
            "attributed_to": author,
            "attributed_to_ids": authors,
            "name": name,
            "name_map": name_map,
            "summary": summary,
            "summary_map": summary_map,
            "content": content,
            "content_map": content_map,
            "language": language,
            "media_type": str_or_none(raw.get("mediaType")),
            "in_reply_to": _first_id(raw.get("inReplyTo")),
            "updated": parse_datetime(raw.get("updated")),
            "url": first_url(raw.get("url")),
            "sensitive": _true(raw.get("sensitive")),
            "attachments": attachments_from(raw.get("attachment")),
            "mentions": tags.mentions,
            "hashtags": tags.hashtags,
            "emojis": tags.emojis,
            "links": tags.links,
            "one_of": poll_options_from(raw.get("oneOf")),
            "any_of": poll_options_from(raw.get("anyOf")),
            "end_time": parse_datetime(raw.get("endTime")),
            "start_time": parse_datetime(raw.get("startTime")),
            "closed": closed is True,
            "closed_at": closed_at,
            "voters_count": non_negative_int(raw.get("votersCount")),
            "quote_url": quote_url_from(raw, tags.links),
        }
    )
    return _build(ObjectDoc, raw, fields)


def parse_activity(doc: Any, languages: Sequence[str] = ()) -> Activity:
    """Read an activity and any object it embeds; raises InvalidActivity without type or actor."""
    return _parse_activity(doc, languages, depth=0)


def _parse_activity(doc: Any, languages: Sequence[str], depth: int) -> Activity:
    raw = _require_mapping(doc, "activity")
    if depth > MAX_NESTING:
        raise InvalidActivity(f"activities nested more than {MAX_NESTING} deep")
    types = types_of(raw)
    if not types:
        raise InvalidActivity(f"activity {raw.get('id')!r} has no type")
    actor = _first_id(raw.get("actor"))
    if actor is None:
        raise InvalidActivity(f"{types[0]} {raw.get('id')!r} has no actor")
    object_dict = _first_dict(raw.get("object"))
    embedded = None
    if object_dict is not None and types_of(object_dict):
        try:
            embedded = _parse_any(object_dict, languages, depth + 1)
        except InvalidActivity as error:
            raise InvalidActivity(f"{types[0]} {raw.get('id')!r}: object: {error}") from None
    object_ids = ids_of(raw.get("object"))
    content, _, _ = localized(raw, "content", languages)
    name, _, _ = localized(raw, "name", languages)
    summary, _, _ = localized(raw, "summary", languages)
    fields = (
        _common(raw, types, ACTIVITY_TYPES)
        | _addressing(raw)
        | {
            "actor": actor,
            "object_id": object_ids[0] if object_ids else None,
            "object_ids": object_ids,
            "object_dict": object_dict,
            "object": embedded,
            "target_id": _first_id(raw.get("target")),
            "target_dict": _first_dict(raw.get("target")),
            "result_id": _first_id(raw.get("result")),
            "result_dict": _first_dict(raw.get("result")),
            "instrument_id": _first_id(raw.get("instrument")),
            "instrument_dict": _first_dict(raw.get("instrument")),
            "name": name,
            "summary": summary,
            "content": content,
        }
    )
    return _build(Activity, raw, fields)


def parse_any(doc: Any, languages: Sequence[str] = ()) -> Actor | Activity | ObjectDoc:
    """Read a document as an Actor, Activity or ObjectDoc according to its `type`."""
    return _parse_any(doc, languages, depth=0)


def _parse_any(doc: Any, languages: Sequence[str], depth: int) -> Actor | Activity | ObjectDoc:
    types = types_of(_require_mapping(doc, "document"))
    if ACTOR_TYPES.intersection(types):
        return parse_actor(doc, languages)
    if ACTIVITY_TYPES.intersection(types):
        return _parse_activity(doc, languages, depth)
    return parse_object(doc, languages)
