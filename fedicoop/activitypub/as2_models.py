"""The AS2 read models: Actor, ObjectDoc, Activity, and the one error their readers raise.

Built by the readers in `as2.py`, which normalise every value first; see there for the rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

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
)
from fedicoop.activitypub.as2_values import is_public
from fedicoop.errors import Invalid

__all__ = [
    "ACTIVITY_TYPES",
    "ACTOR_TYPES",
    "MAX_NESTING",
    "AS2Document",
    "Activity",
    "Actor",
    "InvalidActivity",
    "ObjectDoc",
]

ACTOR_TYPES: Final = frozenset({"Person", "Group", "Service", "Application", "Organization"})

# AS2 activity types plus the extension activities servers send today. `Question` is an
# activity in AS2 but every server uses it as a poll object, so it is read as an object.
ACTIVITY_TYPES: Final = frozenset(
    {
        "Accept", "Add", "Announce", "Arrive", "Block", "Create", "Delete", "Dislike", "Flag",
        "Follow", "Ignore", "Invite", "Join", "Leave", "Like", "Listen", "Move", "Offer", "Read",
        "Reject", "Remove", "TentativeAccept", "TentativeReject", "Travel", "Undo", "Update",
        "View", "EmojiReact", "Lock", "LikeRequest", "ReplyRequest", "AnnounceRequest",
        "QuoteRequest",
    }
)  # fmt: skip

# Real activities nest three deep at most (Announce → Create → Note; Undo → Accept → Follow).
# The bound stops a crafted payload from exhausting the stack.
MAX_NESTING: Final = 6


class InvalidActivity(Invalid, ValueError):
    """The document cannot be read as the AS2 actor, object or activity it was expected to be.

    An `Invalid` (422 at the error middleware) and, for callers outside the request path, a
    plain `ValueError`.
    """


class AS2Document(BaseModel):
    """Fields every AS2 document has; unknown keys are kept in `model_extra`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    type: str
    types: list[str]
    published: datetime | None = None


class _Addressed(AS2Document):
    """Documents that carry audience targeting."""

    to: list[str] = []
    cc: list[str] = []
    bto: list[str] = []
    bcc: list[str] = []
    audience: list[str] = []

    @property
    def is_public(self) -> bool:
        """True when `to` or `cc` names the public collection."""
        return is_public(self.to, self.cc)


class Actor(AS2Document):
    """A Person, Group, Service, Application or Organization."""

    id: str
    preferred_username: str | None = None
    name: str | None = None
    summary: str | None = None
    inbox: str | None = None
    outbox: str | None = None
    followers: str | None = None
    following: str | None = None
    featured: str | None = None
    shared_inbox: str | None = None
    public_keys: list[PublicKey] = []
    assertion_method: list[Multikey] = []
    icon_url: str | None = None
    image_url: str | None = None
    url: str | None = None
    manually_approves_followers: bool = False
    discoverable: bool | None = None
    moved_to: str | None = None
    also_known_as: list[str] = []
    profile_fields: list[ProfileField] = []
    emojis: list[Emoji] = []

    @property
    def public_key(self) -> PublicKey | None:
        """The actor's first HTTP-signature key, if it published one."""
        return self.public_keys[0] if self.public_keys else None

    def key(self, key_id: str) -> PublicKey | None:
        """The published key with this id, if any."""
        return next((key for key in self.public_keys if key.id == key_id), None)


class ObjectDoc(_Addressed):
    """A non-actor, non-activity object: Note, Article, Page, Question, Video, Event, Tombstone…"""

    attributed_to: str | None = None
    attributed_to_ids: list[str] = []
    name: str | None = None
    name_map: dict[str, str] = {}
    summary: str | None = None
    summary_map: dict[str, str] = {}
    content: str | None = None
    content_map: dict[str, str] = {}
    language: str | None = None
    media_type: str | None = None
    in_reply_to: str | None = None
    updated: datetime | None = None
    url: str | None = None
    sensitive: bool = False
    attachments: list[Attachment] = []
    mentions: list[Mention] = []
    hashtags: list[Hashtag] = []
    emojis: list[Emoji] = []
    links: list[LinkTag] = []
    one_of: list[PollOption] = []
    any_of: list[PollOption] = []
    end_time: datetime | None = None
    start_time: datetime | None = None
    # `closed` is `true` or the time the poll closed; Pleroma puts the *planned* end there.
    closed: bool = False
    closed_at: datetime | None = None
    voters_count: int | None = None
    quote_url: str | None = None

    @property
    def poll_options(self) -> list[PollOption]:
        """The choices of a poll, whichever of `oneOf`/`anyOf` carries them."""
        return self.one_of or self.any_of

    @property
    def poll_end(self) -> datetime | None:
        """When the poll ends or ended (`endTime`, else the time given as `closed`)."""
        return self.end_time or self.closed_at

    @property
    def multiple_choice(self) -> bool:
        """True for an `anyOf` poll."""
        return bool(self.any_of) and not self.one_of


class Activity(_Addressed):
    """An activity: `object` is the embedded object parsed, when the sender embedded one."""

    actor: str
    object_id: str | None = None
    object_ids: list[str] = []
    object_dict: dict[str, Any] | None = None
    object: ObjectDoc | Actor | Activity | None = None
    target_id: str | None = None
    target_dict: dict[str, Any] | None = None
    result_id: str | None = None
    result_dict: dict[str, Any] | None = None
    instrument_id: str | None = None
    instrument_dict: dict[str, Any] | None = None
    name: str | None = None
    summary: str | None = None
    content: str | None = None


Activity.model_rebuild()
