"""A remote post's media attachments, kept as links (`remote_url`) beside the stored post.

We never download remote media: a member's app loads it from the author's server, as the
`attachment` list of the post says. Without these rows a Mastodon app would show a remote post
with its pictures missing and their alt text lost.
"""

from fedicoop.activitypub.as2 import ObjectDoc
from fedicoop.activitypub.as2_parts import Attachment
from fedicoop.media.repository import MediaRecord, MediaRepository
from fedicoop.storage.database import Executor

# `Link` attachments (Lemmy's link posts, Mobilizon's event pages) are web pages, not media.
MEDIA_TYPES = frozenset({"Document", "Image", "Video", "Audio"})
# Mastodon keeps 4; Pleroma and Misskey send more. A hostile post cannot make us write thousands.
MAX_ATTACHMENTS = 16
MAX_DESCRIPTION = 1500  # Mastodon's limit on alt text
MAX_URL = 2048


def media_kind(attachment: Attachment) -> str:
    """The Mastodon MediaAttachment type: by media type first, then by AS2 type."""
    major = (attachment.media_type or "").split("/", 1)[0].lower()
    if major in {"image", "video", "audio"}:
        return major
    return {"Image": "image", "Video": "video", "Audio": "audio"}.get(attachment.type, "unknown")


def attachments_from_as(parsed: ObjectDoc, actor_id: int, object_id: int) -> list[MediaRecord]:
    """Turn the parsed `attachment` list of a remote post into media rows, in order."""
    return [
        MediaRecord(
            actor_id=actor_id,
            object_id=object_id,
            content_type=attachment.media_type or "application/octet-stream",
            kind=media_kind(attachment),
            remote_url=attachment.url,
            description=(attachment.name or "")[:MAX_DESCRIPTION],
            width=attachment.width,
            height=attachment.height,
            position=position,
        )
        for position, attachment in enumerate(media_of(parsed)[:MAX_ATTACHMENTS])
    ]


def media_of(parsed: ObjectDoc) -> list[Attachment]:
    """The attachments a Mastodon app shows as media (not links to web pages)."""
    return [a for a in parsed.attachments if a.type in MEDIA_TYPES and is_web_url(a.url)]


def is_web_url(url: str) -> bool:
    """Only http(s): apps put this URL in <img src> and links, so `javascript:` would be XSS."""
    return url.lower().startswith(("https://", "http://")) and len(url) <= MAX_URL


async def store_remote_attachments(
    db: Executor, parsed: ObjectDoc, actor_id: int, object_id: int
) -> None:
    """Record the attachments of a remote post we have just stored."""
    media = MediaRepository(db)
    for record in attachments_from_as(parsed, actor_id, object_id):
        await media.insert(record)
