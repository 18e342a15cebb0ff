"""What members do: post, reply, follow, unfollow, like, boost, delete, block, report."""

from dataclasses import dataclass
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC, dumps
from fedicoop.activitypub.runtime import Federation
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
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRecord, FollowRepository
from fedicoop.storage.notifications import ReactionRepository
from fedicoop.storage.objects import ObjectRecord, ObjectRepository


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
) -> Posted:
    """Publish a note: resolve mentions, address it, store it, deliver Create(Note)."""
    text = text.strip()
    if not text:
        raise Invalid("a post needs some text", field="status")
    if len(text) > MAX_TEXT:
        raise Invalid(f"a post holds at most {MAX_TEXT} characters", field="status")
    instance = federation.instance
    mentions: list[MentionLink] = []
    for handle in find_mentions(text):
        try:
            mentions.append(MentionLink(handle, await federation.resolver.actor_by_handle(handle)))
        except (NotFound, Invalid):
            continue  # an unknown handle stays plain text, as on Mastodon
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
    object_id = new_id()
    uri = instance.urls.object(object_id)
    published = clock.as2_time(clock.now())
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
    record = ObjectRecord(
        id=object_id,
        uri=uri,
        type="Note",
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
    async with instance.db.transaction() as tx:
        stored = await ObjectRepository(tx).insert(record)
        for mention in mentions:
            await tx.execute(
                "INSERT INTO mentions (object_id, actor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                stored.id,
                mention.actor.id,
            )
        for tag in find_hashtags(text):
            await tx.execute(
                "INSERT INTO hashtags (object_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                stored.id,
                tag,
            )
        await timelines.fan_out_status(tx, author, stored)
    body = {key: value for key, value in note.items() if key != "@context"}
    create = _activity(federation, "Create", author, body, to=to, cc=cc, published=published)
    if note.get("audience"):
        create["audience"] = note["audience"]
    activity_uri = await federation.publish(create, author)
    return Posted(object=stored, activity_uri=activity_uri)


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
    await timelines.remove_from_timelines(federation.instance.db, record.id)
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
            await timelines.fan_out_boost(federation.instance.db, actor, record, boost_id)
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
        await timelines.remove_boost(federation.instance.db, boost_id)
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
