"""What members do: post, edit, reply, follow, unfollow, like, boost, delete, block, report."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC, dumps
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.errors import Conflict, Forbidden, Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.social import timelines
from fedicoop.social.addressing import Visibility, address
from fedicoop.social.notes import (
    MAX_TEXT,
    MentionLink,
    build_note,
    find_hashtags,
    find_mentions,
    render_text,
)
from fedicoop.social.polls import Poll, PollDraft, PollRepository, new_poll, question_fields
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Executor, Row
from fedicoop.storage.follows import FollowRecord, FollowRepository
from fedicoop.storage.notifications import ReactionRepository
from fedicoop.storage.objects import ObjectRecord, ObjectRepository

MAX_MEDIA = 4
ATTACHMENT_TYPES = {"image": "Image", "gifv": "Video", "video": "Video", "audio": "Audio"}


@dataclass(frozen=True)
class Posted:
    """A note we just published."""

    object: ObjectRecord
    activity_uri: str


def _activity(
    federation: Federation, kind: str, actor: ActorRecord, obj: Any, **more: Any
) -> dict[str, Any]:
    return {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": kind,
        "actor": actor.uri,
        "object": obj,
        **more,
    }


async def _resolve_mentions(federation: Federation, text: str) -> list[MentionLink]:
    mentions: list[MentionLink] = []
    for handle in find_mentions(text):
        try:
            mentions.append(MentionLink(handle, await federation.resolver.actor_by_handle(handle)))
        except (NotFound, Invalid):
            continue  # an unknown handle stays plain text, as on Mastodon
    return mentions


def _check_text(text: str, *, has_media: bool) -> str:
    text = text.strip()
    if not text and not has_media:
        raise Invalid("Validation failed: Text can't be blank", field="status")
    if len(text) > MAX_TEXT:
        message = f"Validation failed: Text character limit of {MAX_TEXT} exceeded"
        raise Invalid(message, field="status")
    return text


async def _media_rows(
    db: Executor, author: ActorRecord, media_ids: Sequence[int], object_id: int | None = None
) -> list[Row]:
    """Return the author's unattached (or already ours) media, in the order asked for."""
    wanted = list(dict.fromkeys(media_ids))
    if len(wanted) > MAX_MEDIA:
        raise Invalid(f"Cannot attach more than {MAX_MEDIA} files", field="media_ids")
    if not wanted:
        return []
    marks = ", ".join(f"${i}" for i in range(2, len(wanted) + 2))
    rows = await db.fetch(
        f"SELECT * FROM media WHERE actor_id = $1 AND id IN ({marks})", author.id, *wanted
    )
    usable = {int(row["id"]): row for row in rows if row["object_id"] in (None, object_id or None)}
    missing = [str(media_id) for media_id in wanted if media_id not in usable]
    if missing:
        raise Invalid(f"Validation failed: Media {', '.join(missing)} not found", field="media_ids")
    return [usable[media_id] for media_id in wanted]


def attachment_document(row: Row, base_url: str) -> dict[str, Any]:
    """Return a media row as the `attachment` of a published note."""
    kind = str(row["kind"])
    document: dict[str, Any] = {
        "type": ATTACHMENT_TYPES.get(kind, "Document"),
        "mediaType": row["content_type"],
        "url": row["remote_url"] or f"{base_url}/media/{row['file_name']}",
    }
    if row["description"]:
        document["name"] = row["description"]
    if row["width"] and row["height"]:
        document["width"], document["height"] = int(row["width"]), int(row["height"])
    if row["focus"]:
        x, _, y = str(row["focus"]).partition(",")
        document["focalPoint"] = [float(x or 0), float(y or 0)]
    return document


def _dress(
    note: dict[str, Any], text: str, media: list[Row], poll: Poll | None, base_url: str
) -> dict[str, Any]:
    """Add what the plain note lacks: its source text, attachments, and poll (as a Question)."""
    note["source"] = {"content": text, "mediaType": "text/plain"}
    if media:
        note["attachment"] = [attachment_document(row, base_url) for row in media]
    if poll is not None:
        note["type"] = "Question"
        note.update(question_fields(poll))
    return note


async def _attach_media(
    tx: Executor, object_id: int, author: ActorRecord, media: list[Row]
) -> None:
    for position, row in enumerate(media):
        attached = await tx.execute(
            "UPDATE media SET object_id = $1, position = $2 WHERE id = $3 AND actor_id = $4 "
            "AND (object_id IS NULL OR object_id = $1)",
            object_id,
            position,
            row["id"],
            author.id,
        )
        if not attached:  # attached elsewhere since we looked: roll the whole post back
            raise Invalid(f"Validation failed: Media {row['id']} not found", field="media_ids")


async def post_note(
    federation: Federation,
    author: ActorRecord,
    text: str,
    *,
    visibility: Visibility = Visibility.PUBLIC,
    in_reply_to: str | None = None,
    summary: str = "",
    sensitive: bool = False,
    language: str | None = None,
    poll: PollDraft | None = None,
    media_ids: Sequence[int] = (),
    object_id: int | None = None,
) -> Posted:
    """Publish a note (a Question with a poll): store it, deliver Create to its audience."""
    instance = federation.instance
    if author.moved_to:
        raise Invalid(f"This account has moved to {author.moved_to} and can no longer post")
    if poll is not None and media_ids:
        raise Invalid("Validation failed: a post cannot have both media and a poll", field="poll")
    media = await _media_rows(instance.db, author, media_ids)
    text = _check_text(text, has_media=bool(media))
    mentions = await _resolve_mentions(federation, text)
    parent: ObjectRecord | None = None
    if in_reply_to:
        parent = await ObjectRepository(instance.db).by_uri(in_reply_to)
        if parent is None or parent.deleted_at:
            raise NotFound(f"cannot reply to {in_reply_to}: unknown post")
        parent_author = await ActorRepository(instance.db).get(parent.actor_id)
        if (
            parent_author
            and parent_author.id != author.id
            and all(m.actor.id != parent_author.id for m in mentions)
        ):
            mentions.append(MentionLink(parent_author.acct, parent_author))
    groups = [m.actor.uri for m in mentions if m.actor.type == "Group"]
    people = [m.actor.uri for m in mentions if m.actor.type != "Group"]
    to, cc = address(visibility, author.followers_uri or "", people, groups)
    object_id = object_id or new_id()
    uri = instance.urls.object(object_id)
    published = clock.as2_time(clock.now())
    opened = new_poll(object_id, poll) if poll is not None else None
    note = build_note(
        uri=uri,
        author=author,
        content_html=render_text(text, mentions, f"{instance.config.base_url}/tags"),
        to=to,
        cc=cc,
        published=published,
        in_reply_to=in_reply_to,
        summary=summary,
        sensitive=sensitive,
        language=language,
        mentions=mentions,
        hashtags=find_hashtags(text),
        tag_url=f"{instance.config.base_url}/tags",
        audience=groups[0] if groups else None,
        url=f"{author.url}/{object_id}" if author.url else None,
    )
    _dress(note, text, media, opened, instance.config.base_url)
    record = ObjectRecord(
        id=object_id,
        uri=uri,
        type=note["type"],
        actor_id=author.id,
        raw=dumps(note),
        published=clock.now_text(),
        local=True,
        in_reply_to=in_reply_to,
        visibility=visibility,
        content=note["content"],
        summary=summary,
        sensitive=sensitive,
        language=language,
        url=note["url"],
        audience=note.get("audience"),
        addressed=tuple(dict.fromkeys([*to, *cc])),
    )
    body = {key: value for key, value in note.items() if key != "@context"}
    create = _activity(federation, "Create", author, body, to=to, cc=cc, published=published)
    if note.get("audience"):
        create["audience"] = note["audience"]
    outgoing = await federation.prepare(create, author)
    # The post, its Create and the Create's deliveries commit together: a crash in between
    # must not leave a post that no follower ever receives.
    async with instance.db.unit_of_work() as tx:
        stored = await ObjectRepository(tx).insert(record)
        await _index(tx, stored.id, mentions, find_hashtags(text))
        if opened is not None:
            await PollRepository(tx).put(opened)
        await _attach_media(tx, stored.id, author, media)
        await timelines.fan_out_status(tx, author, stored)
        await federation.send_prepared(outgoing)
    federation.wake_senders()
    # Told after the commit, so a live client never hears of a row it cannot read yet.
    await timelines.stream_status(federation.streams, instance.db, stored)
    return Posted(object=stored, activity_uri=outgoing.uri)


async def _index(
    tx: Executor, object_id: int, mentions: list[MentionLink], tags: list[str]
) -> None:
    for mention in mentions:
        await tx.execute(
            "INSERT INTO mentions (object_id, actor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            object_id,
            mention.actor.id,
        )
    for tag in tags:
        await tx.execute(
            "INSERT INTO hashtags (object_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            object_id,
            tag,
        )


def source_text(record: ObjectRecord) -> str:
    """Return the plain text a local post was written as (what delete-and-redraft needs)."""
    source = json.loads(record.raw).get("source") if record.raw else None
    if isinstance(source, dict) and isinstance(source.get("content"), str):
        return str(source["content"])
    return html_to_text(record.content)


async def edit_note(
    federation: Federation,
    author: ActorRecord,
    object_id: int,
    *,
    text: str | None = None,
    summary: str | None = None,
    sensitive: bool | None = None,
    language: str | None = None,
    media_ids: Sequence[int] = (),
    poll: PollDraft | None = None,
) -> ObjectRecord:
    """Edit one of our posts: text, warning, media and poll are replaced; deliver Update."""
    instance = federation.instance
    objects = ObjectRepository(instance.db)
    record = await objects.get(object_id)
    if record is None or record.deleted_at or not record.local or record.actor_id != author.id:
        raise NotFound("Record not found")
    if poll is not None and media_ids:
        raise Invalid("Validation failed: a post cannot have both media and a poll", field="poll")
    media = await _media_rows(instance.db, author, media_ids, record.id)
    text = _check_text(source_text(record) if text is None else text, has_media=bool(media))
    summary = record.summary if summary is None else summary
    sensitive = record.sensitive if sensitive is None else sensitive
    language = record.language if language is None else language
    previous = json.loads(record.raw)
    # Who was mentioned stays addressed: an edit never takes a post back from anyone.
    mentions = await _resolve_mentions(federation, text)
    known = {m.actor.id for m in mentions}
    rows = await instance.db.fetch("SELECT actor_id FROM mentions WHERE object_id = $1", record.id)
    actors = ActorRepository(instance.db)
    for row in rows:
        if int(row["actor_id"]) not in known and (actor := await actors.get(row["actor_id"])):
            mentions.append(MentionLink(actor.acct, actor))
    groups = [m.actor.uri for m in mentions if m.actor.type == "Group"]
    people = [m.actor.uri for m in mentions if m.actor.type != "Group"]
    to, cc = address(Visibility(record.visibility), author.followers_uri or "", people, groups)
    polls = PollRepository(instance.db)
    old_poll = await polls.get(record.id)
    new = new_poll(record.id, poll) if poll is not None else None
    # Same choices keep their votes; changed choices make the old votes meaningless.
    keep_votes = (
        new is not None
        and old_poll is not None
        and (old_poll.titles, old_poll.multiple) == (new.titles, new.multiple)
    )
    if new is not None and old_poll is not None and keep_votes:
        new = replace(new, options=old_poll.options, voters_count=old_poll.voters_count)
    base = instance.config.base_url
    note = build_note(
        uri=record.uri,
        author=author,
        content_html=render_text(text, mentions, f"{base}/tags"),
        to=to,
        cc=cc,
        published=previous.get("published") or clock.as2_time(clock.now()),
        in_reply_to=record.in_reply_to,
        summary=summary,
        sensitive=sensitive,
        language=language,
        mentions=mentions,
        hashtags=find_hashtags(text),
        tag_url=f"{base}/tags",
        audience=record.audience,
        url=record.url,
    )
    _dress(note, text, media, new, base)
    note["updated"] = clock.as2_time(clock.now())
    edited = replace(
        record,
        type=note["type"],
        content=note["content"],
        summary=summary,
        sensitive=sensitive,
        language=language,
        raw=dumps(note),
        edited_at=clock.now_text(),
        addressed=tuple(dict.fromkeys([*to, *cc])),
    )
    async with instance.db.transaction() as tx:
        await ObjectRepository(tx).replace_content(edited)
        await tx.execute("UPDATE objects SET type = $1 WHERE id = $2", edited.type, record.id)
        await tx.execute("DELETE FROM hashtags WHERE object_id = $1", record.id)
        await _index(tx, record.id, mentions, find_hashtags(text))
        if new is None:
            await PollRepository(tx).delete(record.id)
        else:
            if not keep_votes:
                await PollRepository(tx).reset_votes(record.id)
            await PollRepository(tx).put(new)
        keep = [int(row["id"]) for row in media] or [0]
        marks = ", ".join(f"${i}" for i in range(2, len(keep) + 2))
        await tx.execute(
            f"UPDATE media SET object_id = NULL WHERE object_id = $1 AND id NOT IN ({marks})",
            record.id,
            *keep,
        )
        await _attach_media(tx, record.id, author, media)
    # The embedded object keeps its @context: our own inbox stores what it receives as the
    # object's raw document, and that document is what /objects/<id> serves.
    update = _activity(federation, "Update", author, note, to=to, cc=cc)
    await federation.publish(update, author)
    stored = await objects.get(record.id)
    assert stored is not None
    return stored


async def delete_note(federation: Federation, author: ActorRecord, uri: str) -> None:
    """Delete one of our notes everywhere it went (Delete with a Tombstone)."""
    objects = ObjectRepository(federation.instance.db)
    record = await objects.by_uri(uri)
    if record is None or record.deleted_at:
        raise NotFound("no such post")
    if record.actor_id != author.id:
        raise Forbidden("only the author may delete a post")
    tombstone = {"id": uri, "type": "Tombstone", "formerType": record.type}
    await objects.mark_deleted(uri, dumps({"@context": OBJECT_CONTEXT, **tombstone}))
    await timelines.remove_from_timelines(
        federation.instance.db, record.id, streams=federation.streams
    )
    # Media go back to the author's library (delete and redraft reattaches them); a deleted
    # post is no longer featured.
    await federation.instance.db.execute(
        "UPDATE media SET object_id = NULL WHERE object_id = $1", record.id
    )
    await federation.instance.db.execute("DELETE FROM pins WHERE object_id = $1", record.id)
    await objects.add_tombstone(uri, author.uri)
    delete = _activity(
        federation, "Delete", author, tombstone, to=[PUBLIC], cc=list(record.addressed)
    )
    await federation.publish(delete, author)


async def follow(
    federation: Federation, follower: ActorRecord, target: ActorRecord
) -> FollowRecord:
    """Ask to follow an actor (local or remote); pending until Accept."""
    if follower.id == target.id:
        raise Invalid("you cannot follow yourself")
    follows = FollowRepository(federation.instance.db)
    existing = await follows.get(follower.id, target.id)
    if existing and existing.state == "accepted":
        return existing
    activity = _activity(federation, "Follow", follower, target.uri, to=[target.uri])
    record = await follows.put(
        FollowRecord(follower_id=follower.id, followee_id=target.id, uri=activity["id"])
    )
    await federation.publish(activity, follower, extra_recipients=[target])
    return record


async def unfollow(federation: Federation, follower: ActorRecord, target: ActorRecord) -> None:
    """Stop following (Undo of the Follow)."""
    follows = FollowRepository(federation.instance.db)
    existing = await follows.get(follower.id, target.id)
    if existing is None:
        return
    await follows.delete(follower.id, target.id)
    original = {"id": existing.uri, "type": "Follow", "actor": follower.uri, "object": target.uri}
    undo = _activity(federation, "Undo", follower, original, to=[target.uri])
    await federation.publish(undo, follower, extra_recipients=[target])


async def _object_and_author(federation: Federation, uri: str) -> tuple[ObjectRecord, ActorRecord]:
    record = await ObjectRepository(federation.instance.db).by_uri(uri)
    if record is None or record.deleted_at:
        raise NotFound(f"unknown post {uri}")
    author = await ActorRepository(federation.instance.db).get(record.actor_id)
    assert author is not None
    return record, author


async def react(federation: Federation, actor: ActorRecord, kind: str, uri: str) -> str:
    """Like or boost (Announce) a post; repeating it changes nothing."""
    table = {"Like": "likes", "Announce": "announces"}[kind]
    record, author = await _object_and_author(federation, uri)
    if kind == "Announce" and record.visibility not in (Visibility.PUBLIC, Visibility.UNLISTED):
        raise Forbidden("only public posts can be boosted")
    reactions = ReactionRepository(federation.instance.db)
    existing = await reactions.activity_uri(table, actor.id, uri)
    if existing:
        return existing
    extra: dict[str, Any] = {"to": [author.uri]}
    if kind == "Announce":
        extra = {
            "to": [PUBLIC],
            "cc": [author.uri, actor.followers_uri],
            "published": clock.as2_time(clock.now()),
        }
    activity = _activity(federation, kind, actor, uri, **extra)
    await reactions.add(table, actor.id, uri, activity["id"])
    if kind == "Announce":
        boost_id = await reactions.row_id(table, activity["id"])
        if boost_id is not None:
            await timelines.fan_out_boost(
                federation.instance.db, actor, record, boost_id, streams=federation.streams
            )
    await federation.publish(activity, actor, extra_recipients=[author])
    return str(activity["id"])


async def unreact(federation: Federation, actor: ActorRecord, kind: str, uri: str) -> None:
    """Take back a like or boost (Undo)."""
    table = {"Like": "likes", "Announce": "announces"}[kind]
    reactions = ReactionRepository(federation.instance.db)
    activity_uri = await reactions.activity_uri(table, actor.id, uri)
    if activity_uri is None:
        return
    _, author = await _object_and_author(federation, uri)
    boost_id = await reactions.row_id(table, activity_uri)
    await reactions.remove(table, actor.id, uri)
    if boost_id is not None and kind == "Announce":
        await timelines.remove_boost(federation.instance.db, boost_id, streams=federation.streams)
    original = {"id": activity_uri, "type": kind, "actor": actor.uri, "object": uri}
    to = [author.uri] if kind == "Like" else [PUBLIC]
    undo = _activity(federation, "Undo", actor, original, to=to, cc=[actor.followers_uri])
    await federation.publish(undo, actor, extra_recipients=[author])


async def block(federation: Federation, actor: ActorRecord, target: ActorRecord) -> None:
    """Block an actor: drop follows both ways and tell their server."""
    if actor.id == target.id:
        raise Invalid("you cannot block yourself")
    activity = _activity(federation, "Block", actor, target.uri, to=[target.uri])
    await ReactionRepository(federation.instance.db).block(actor.id, target.id, activity["id"])
    follows = FollowRepository(federation.instance.db)
    await follows.delete(actor.id, target.id)
    await follows.delete(target.id, actor.id)
    await federation.publish(activity, actor, extra_recipients=[target])


async def report(
    federation: Federation,
    reporter: ActorRecord,
    target: ActorRecord,
    objects: list[str],
    text: str,
) -> None:
    """Report a remote account to its server (Flag, sent by the instance actor as Mastodon does)."""
    if target.local:
        raise Conflict("local accounts are reported to this co-op's admins directly")
    for uri in objects:
        if not same_origin(uri, target.uri):
            raise Invalid("reported posts must belong to the reported account")
    instance_actor = await federation.instance_actor()
    flag = _activity(
        federation, "Flag", instance_actor, [target.uri, *objects], content=text[:1000]
    )
    await federation.publish(flag, instance_actor, extra_recipients=[target])


# Idempotent posting -------------------------------------------------------------------


IDEMPOTENCY_WINDOW = timedelta(hours=1)  # as long as Mastodon keeps a key
IN_PROGRESS = timedelta(seconds=60)


@dataclass(frozen=True)
class IdempotencyClaim:
    """The status id a key stands for, and whether that status already exists."""

    object_id: int
    existing: bool


async def claim_idempotency_key(db: Executor, account_id: int, key: str) -> IdempotencyClaim:
    """Reserve an `Idempotency-Key` for a post about to be made, or return the post it made."""
    object_id = new_id()
    now = clock.now()
    # The insert is the lock: of two requests racing with one key, exactly one inserts.
    inserted = await db.execute(
        "INSERT INTO idempotency_keys (account_id, key, object_id, created_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        account_id,
        key,
        object_id,
        clock.to_text(now),
    )
    if inserted:
        return IdempotencyClaim(object_id, existing=False)
    row = await db.fetchrow(
        "SELECT object_id, created_at FROM idempotency_keys WHERE account_id = $1 AND key = $2",
        account_id,
        key,
    )
    if row is None:
        raise Conflict("A request with this Idempotency-Key was just released; retry it")
    age = now - clock.from_text(row["created_at"])
    made = await ObjectRepository(db).get(int(row["object_id"]))
    if age < IDEMPOTENCY_WINDOW and made is not None and not made.deleted_at:
        return IdempotencyClaim(made.id, existing=True)
    if age < IN_PROGRESS and made is None:
        raise Conflict("A request with this Idempotency-Key is still being processed")
    taken = await db.execute(
        "UPDATE idempotency_keys SET object_id = $1, created_at = $2 "
        "WHERE account_id = $3 AND key = $4 AND object_id = $5",
        object_id,
        clock.to_text(now),
        account_id,
        key,
        row["object_id"],
    )
    if not taken:
        raise Conflict("A request with this Idempotency-Key is still being processed")
    return IdempotencyClaim(object_id, existing=False)


async def release_idempotency_key(db: Executor, account_id: int, key: str, object_id: int) -> None:
    """Free a key whose post failed, so that the client may retry with it."""
    await db.execute(
        "DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND object_id = $3",
        account_id,
        key,
        object_id,
    )
