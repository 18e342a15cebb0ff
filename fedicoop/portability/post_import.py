"""Copy a member's old posts from an archive: new local objects, old dates, never federated.

Each copy is a local Note of the importing member with the original's `published` date, its
(sanitised) text followed by a link to the original, `previously` naming the original's id,
and a row in the migration map. Following FEP-1580, copies are not announced: no `Create`
goes out and no follower's home timeline gets an old post as news; they show on the member's
profile in their original order, because their ids are minted from their original dates.
Pictures come from the archive and are decoded and re-encoded like any upload.
"""

import asyncio
import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT, dumps
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.sanitize import sanitize_html
from fedicoop.errors import Conflict, FedicoopError
from fedicoop.ids import id_floor, new_id
from fedicoop.media.files import MediaFiles
from fedicoop.media.images import process_image
from fedicoop.media.repository import MediaRecord, MediaRepository
from fedicoop.portability.archive_files import MEDIA_PREFIX, ArchiveFiles
from fedicoop.social.addressing import Visibility, address, visibility_of
from fedicoop.social.notes import MAX_TEXT, NOTE_TYPES, build_note
from fedicoop.social.publishing import MAX_MEDIA, attachment_document
from fedicoop.storage.accounts import AccountRecord
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.migration_map import MigrationMapRepository
from fedicoop.storage.objects import ObjectRecord, ObjectRepository

Progress = Callable[[str], None]
PREVIOUSLY = "previously"
# `previously` names the id a copied object had before it moved (FEP-1580 style).
PREVIOUSLY_CONTEXT = {PREVIOUSLY: {"@id": "https://fedicoop.org/ns#previously", "@type": "@id"}}
_RANDOM_BITS = 16


@dataclass
class PostCounts:
    """What copying posts did."""

    copied: int = 0
    media: int = 0
    already: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        """Count a post left out, by reason."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(frozen=True)
class Source:
    """The archive's account as it was: whose posts these are and who followed them."""

    actor_uri: str
    followers_uri: str | None


def _id_at(moment: datetime) -> int:
    """Return a fresh id that sorts at `moment` (ids are time-ordered), never in the future."""
    if moment >= clock.now():
        return new_id()
    return id_floor(int(moment.timestamp() * 1000)) | secrets.randbits(_RANDOM_BITS)


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _language(note: dict[str, Any]) -> str | None:
    content_map = note.get("contentMap")
    if isinstance(content_map, dict) and content_map:
        first = next(iter(content_map))
        return first[:16] if isinstance(first, str) else None
    return None


def _content(note: dict[str, Any]) -> str:
    content = note.get("content")
    if not isinstance(content, str):
        content_map = note.get("contentMap")
        values = list(content_map.values()) if isinstance(content_map, dict) else []
        content = next((v for v in values if isinstance(v, str)), "")
    return sanitize_html(content)[: MAX_TEXT * 4]


def _hashtags(note: dict[str, Any]) -> list[str]:
    tags = []
    for tag in note.get("tag") or []:
        if isinstance(tag, dict) and tag.get("type") == "Hashtag":
            name = str(tag.get("name") or "").lstrip("#").lower()
            if name.replace("_", "").isalnum():
                tags.append(name[:64])
    return list(dict.fromkeys(tags))


def _archived_media(archive: ArchiveFiles, url: Any) -> bytes | None:
    """Return an attachment's bytes when its url names a file inside the archive."""
    if not isinstance(url, str) or "://" in url:
        return None
    path = url.lstrip("/")
    data = archive.get(path)
    if data is None and MEDIA_PREFIX in path:
        # Mastodon before 4.2 stored files under their disk path (…/system/media_attachments/…)
        # while the outbox names them from media_attachments/ on.
        tail = path[path.index(MEDIA_PREFIX) :]
        data = next((d for n, d in archive.files.items() if n.endswith("/" + tail)), None)
    return data


class PostCopier:
    """Copies one archive's posts to a member."""

    def __init__(
        self,
        federation: Federation,
        actor: ActorRecord,
        account: AccountRecord,
        archive: ArchiveFiles,
        source: Source,
    ) -> None:
        self.federation = federation
        self.db = federation.instance.db
        self.actor = actor
        self.account = account
        self.archive = archive
        self.source = source
        self.base = federation.instance.config.base_url
        self.files = MediaFiles(federation.instance.config.media_dir)
        self.map = MigrationMapRepository(self.db)
        self.counts = PostCounts()

    async def _media(self, note: dict[str, Any], object_id: int) -> list[MediaRecord]:
        records: list[MediaRecord] = []
        for attachment in (note.get("attachment") or [])[:MAX_MEDIA]:
            if not isinstance(attachment, dict):
                continue
            data = _archived_media(self.archive, attachment.get("url"))
            if data is None:
                self.counts.skip("attachments not in the archive")
                continue
            try:
                image = await asyncio.to_thread(process_image, data)
            except FedicoopError:
                self.counts.skip("attachments that are not pictures")
                continue
            name = await asyncio.to_thread(self.files.save, image.data, image.extension)
            described = attachment.get("name")
            records.append(
                MediaRecord(
                    id=new_id(),
                    actor_id=self.actor.id,
                    account_id=self.account.id,
                    object_id=object_id,
                    content_type=image.content_type,
                    file_name=name,
                    description=described[:1500] if isinstance(described, str) else "",
                    width=image.width,
                    height=image.height,
                    size=len(image.data),
                    position=len(records),
                )
            )
        return records

    def _reason_to_skip(self, item: dict[str, Any]) -> str | None:
        if item.get("type") == "Announce":
            return "boosts (not re-sent: a boost would be news)"
        note = item.get("object")
        if item.get("type") != "Create" or not isinstance(note, dict):
            return "items that are not posts"
        if note.get("type") not in NOTE_TYPES or not isinstance(note.get("id"), str):
            return "items that are not posts"
        authors = {item.get("actor"), *(_strings(note.get("attributedTo")))}
        # Only the account's own words: the archive's actor must have written each post, on
        # that actor's own server.
        if authors - {self.source.actor_uri} or not same_origin(note["id"], self.source.actor_uri):
            return "posts by someone else"
        to, cc = _strings(note.get("to")), _strings(note.get("cc"))
        if visibility_of(to, cc, self.source.followers_uri) is Visibility.DIRECT:
            return "direct messages (kept private: not copied)"
        return None

    async def _insert(
        self, record: ObjectRecord, old_uri: str, tags: list[str], media: list[MediaRecord]
    ) -> None:
        async with self.db.transaction() as tx:
            await ObjectRepository(tx).insert(record)
            for tag in tags:
                await tx.execute(
                    "INSERT INTO hashtags (object_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    record.id,
                    tag,
                )
            for row in media:
                await MediaRepository(tx).insert(row)
            if not await MigrationMapRepository(tx).add(old_uri, record.uri, "note", self.actor.id):
                # A concurrent import of the same archive copied it first: roll this copy back.
                raise Conflict(f"{old_uri} was imported meanwhile")

    async def copy(self, item: dict[str, Any]) -> None:
        """Copy one outbox item, or count why not."""
        reason = self._reason_to_skip(item)
        if reason is not None:
            self.counts.skip(reason)
            return
        note: dict[str, Any] = item["object"]
        old_uri = str(note["id"])
        if await self.map.new_uri(old_uri) is not None:
            self.counts.already += 1
            return
        try:
            moment = clock.from_text(str(note.get("published") or item.get("published")))
        except ValueError:
            self.counts.skip("posts without a date")
            return
        object_id = _id_at(moment)
        media = await self._media(note, object_id)
        content = _content(note)
        if not content and not media:
            self.counts.skip("empty posts")
            return
        original = note.get("url") if isinstance(note.get("url"), str) else old_uri
        link = html.escape(str(original))
        content += f'<p>Originally posted at <a href="{link}">{link}</a></p>'
        to, cc = _strings(note.get("to")), _strings(note.get("cc"))
        visibility = visibility_of(to, cc, self.source.followers_uri)
        to, cc = address(visibility, self.actor.followers_uri or "", [])
        parent = note.get("inReplyTo") if isinstance(note.get("inReplyTo"), str) else None
        if parent is not None:
            parent = await self.map.new_uri(parent) or parent
        summary = str(note["summary"]) if isinstance(note.get("summary"), str) else ""
        language = _language(note)
        tags = _hashtags(note)
        for attempt in range(2):
            uri = self.federation.instance.urls.object(object_id)
            document = build_note(
                uri=uri,
                author=self.actor,
                content_html=content,
                to=to,
                cc=cc,
                published=clock.as2_time(moment),
                in_reply_to=parent,
                summary=sanitize_html(summary)[:1000],
                sensitive=note.get("sensitive") is True,
                language=language,
                hashtags=tags,
                tag_url=f"{self.base}/tags",
                url=f"{self.actor.url}/{object_id}" if self.actor.url else None,
            )
            document["@context"] = [*OBJECT_CONTEXT, PREVIOUSLY_CONTEXT]
            document[PREVIOUSLY] = old_uri
            if media:
                document["attachment"] = [attachment_document(m.row(), self.base) for m in media]
            record = ObjectRecord(
                id=object_id,
                uri=uri,
                type="Note",
                actor_id=self.actor.id,
                raw=dumps(document),
                published=clock.to_text(moment),
                local=True,
                in_reply_to=parent,
                visibility=visibility,
                content=document["content"],
                summary=document.get("summary", ""),
                sensitive=document["sensitive"],
                language=language,
                url=document["url"],
                addressed=tuple(dict.fromkeys([*to, *cc])),
            )
            try:
                await self._insert(record, old_uri, tags, media)
                break
            except Conflict:
                if attempt:
                    self._forget(media)
                    raise
                # Another object got this time-and-random id (or the old id was just imported).
                if await self.map.new_uri(old_uri) is not None:
                    self._forget(media)
                    self.counts.already += 1
                    return
                object_id = _id_at(moment)
                media = [_moved(m, object_id) for m in media]
        self.counts.copied += 1
        self.counts.media += len(media)

    def _forget(self, media: list[MediaRecord]) -> None:
        for record in media:
            if record.file_name:
                self.files.delete(record.file_name)


def _moved(record: MediaRecord, object_id: int) -> MediaRecord:
    return MediaRecord(**{**record.row(), "object_id": object_id, "id": new_id()})


def _published(item: dict[str, Any]) -> str:
    note = item.get("object")
    value = note.get("published") if isinstance(note, dict) else None
    return str(value or item.get("published") or "")


async def copy_posts(
    federation: Federation,
    actor: ActorRecord,
    account: AccountRecord,
    archive: ArchiveFiles,
    source: Source,
    items: list[Any],
    progress: Progress,
) -> PostCounts:
    """Copy every post of an outbox, oldest first (a reply's parent is copied before it)."""
    copier = PostCopier(federation, actor, account, archive, source)
    ordered = sorted((i for i in items if isinstance(i, dict)), key=_published)
    for _ in range(len(items) - len(ordered)):
        copier.counts.skip("items that are not posts")
    for index, item in enumerate(ordered, start=1):
        await copier.copy(item)
        if index % 50 == 0 or index == len(ordered):
            progress(f"  posts: {index}/{len(ordered)} read, {copier.counts.copied} copied")
    return copier.counts
