"""Notes: building our own (internal → AS) and reading others' (AS → internal)."""

import re
from dataclasses import dataclass
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import ObjectDoc, same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT, dumps
from fedicoop.activitypub.sanitize import sanitize_html, text_to_html
from fedicoop.errors import Forbidden
from fedicoop.social.addressing import visibility_of
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.objects import ObjectRecord

MAX_TEXT = 5000
MENTION_RE = re.compile(r"(?<![\w/])@([a-zA-Z0-9_.-]+)@([a-zA-Z0-9.-]+(?::\d+)?)")
HASHTAG_RE = re.compile(r"(?<![\w&/#])#(\w{1,64})")
NOTE_TYPES = frozenset({"Note", "Article", "Page", "Question", "Event", "Video", "ChatMessage"})


@dataclass(frozen=True)
class MentionLink:
    """A resolved @user@host in a post."""

    handle: str  # user@host as typed
    actor: ActorRecord


def find_mentions(text: str) -> list[str]:
    """Return the user@host handles mentioned in plain text, in order, without repeats."""
    return list(dict.fromkeys(f"{user}@{host}" for user, host in MENTION_RE.findall(text)))


def find_hashtags(text: str) -> list[str]:
    """Return hashtags in plain text, lowercased, without repeats."""
    return list(dict.fromkeys(tag.lower() for tag in HASHTAG_RE.findall(text)))


def render_text(text: str, mentions: list[MentionLink], tag_url: str) -> str:
    """Turn plain text into safe HTML with mention and hashtag links."""
    html = text_to_html(text)
    for mention in mentions:
        username = mention.actor.username or mention.handle.split("@")[0]
        url = mention.actor.url or mention.actor.uri
        link = (
            f'<span class="h-card"><a href="{url}" class="u-url mention">'
            f"@<span>{username}</span></a></span>"
        )
        html = html.replace(f"@{mention.handle}", link)
    return HASHTAG_RE.sub(
        lambda m: (
            f'<a href="{tag_url}/{m.group(1).lower()}" class="mention hashtag" '
            f'rel="tag">#<span>{m.group(1)}</span></a>'
        ),
        html,
    )


def build_note(
    *,
    uri: str,
    author: ActorRecord,
    content_html: str,
    to: list[str],
    cc: list[str],
    published: str,
    in_reply_to: str | None = None,
    summary: str = "",
    sensitive: bool = False,
    language: str | None = None,
    mentions: list[MentionLink] = (),  # type: ignore[assignment]
    hashtags: list[str] = (),  # type: ignore[assignment]
    tag_url: str = "",
    audience: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Return a Note document as we publish it."""
    tags: list[dict[str, Any]] = [
        {"type": "Mention", "href": m.actor.uri, "name": f"@{m.actor.acct}"} for m in mentions
    ]
    tags += [{"type": "Hashtag", "href": f"{tag_url}/{tag}", "name": f"#{tag}"} for tag in hashtags]
    note: dict[str, Any] = {
        "@context": OBJECT_CONTEXT,
        "id": uri,
        "type": "Note",
        "attributedTo": author.uri,
        "content": content_html,
        "published": published,
        "to": to,
        "cc": cc,
        "inReplyTo": in_reply_to,
        "sensitive": sensitive,
        "tag": tags,
        "url": url or uri,
    }
    if summary:
        note["summary"] = summary
    if language:
        note["contentMap"] = {language: content_html}
    if audience:
        note["audience"] = audience
    return note


def note_from_as(parsed: ObjectDoc, raw: dict[str, Any], author: ActorRecord) -> ObjectRecord:
    """Convert a received object into a stored record, after checking who may say it."""
    if parsed.id is None:
        raise Forbidden("a stored object needs an id")
    # The object must be on its author's origin: nobody may put words in another server's mouth.
    if not same_origin(parsed.id, author.uri):
        raise Forbidden(f"{parsed.id} is not on the origin of its author {author.uri}")
    content = parsed.content or ""
    if parsed.type in ("Page", "Article", "Event", "Video") and parsed.name:
        # Lemmy pages and PeerTube videos carry their headline in `name`.
        content = f"<p><strong>{sanitize_html(parsed.name)}</strong></p>{content}"
    published = clock.to_text(parsed.published) if parsed.published else clock.now_text()
    return ObjectRecord(
        uri=parsed.id,
        type=parsed.type,
        actor_id=author.id,
        raw=dumps(raw),
        published=published,
        local=False,
        in_reply_to=parsed.in_reply_to,
        visibility=visibility_of(parsed.to, parsed.cc, author.followers_uri),
        content=sanitize_html(content)[: MAX_TEXT * 4],
        summary=sanitize_html(parsed.summary or "")[:1000],
        sensitive=parsed.sensitive,
        language=parsed.language,
        url=parsed.url,
        audience=parsed.audience[0] if parsed.audience else None,
        addressed=tuple(dict.fromkeys([*parsed.to, *parsed.cc])),
    )
