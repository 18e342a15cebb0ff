"""Handlers for social activities received in the inbox (registered by `register`)."""

import logging
from typing import Any
from urllib.parse import urlsplit

from fedicoop import clock
from fedicoop.activitypub.as2 import ObjectDoc, id_of, parse_object, same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT
from fedicoop.activitypub.fetch import FetchError
from fedicoop.activitypub.processing import HandlerRegistry, Inbound
from fedicoop.activitypub.resolver import actor_record
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.errors import FedicoopError, Forbidden
from fedicoop.social import group, polls, timelines
from fedicoop.social.notes import NOTE_TYPES, note_from_as
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRecord, FollowRepository
from fedicoop.storage.notifications import (
    NotificationRepository,
    ReactionRepository,
    ReportRepository,
)
from fedicoop.storage.objects import ObjectRepository
from fedicoop.streaming import user_stream

log = logging.getLogger(__name__)


async def _sender(federation: Federation, inbound: Inbound) -> ActorRecord:
    return await federation.resolver.actor(inbound.sender)


async def _notify(
    federation: Federation, actor: ActorRecord, kind: str, source: ActorRecord, uri: str | None
) -> None:
    """Notify the account behind a local actor (nobody else gets notifications here)."""
    if not actor.local or actor.id == source.id:
        return
    account = await AccountRepository(federation.instance.db).by_actor(actor.id)
    if account is not None:
        notification_id = await NotificationRepository(federation.instance.db).add(
            account.id, kind, source.id, uri
        )
        await federation.streams.publish(
            user_stream(account.id), "notification", str(notification_id)
        )


async def on_follow(federation: Federation, inbound: Inbound) -> None:
    """Someone follows a local actor: record it, accept at once unless the actor is locked."""
    follower = await _sender(federation, inbound)
    target_uri = inbound.activity.object_id
    actors = ActorRepository(federation.instance.db)
    target = await actors.by_uri(target_uri or "")
    if target is None or not target.local:
        return
    if await ReactionRepository(federation.instance.db).is_blocked(target.id, follower.id):
        await _answer_follow(federation, target, follower, inbound.document, "Reject")
        return
    follows = FollowRepository(federation.instance.db)
    # A Group never needs approval (FEP-1b12); a locked member approves each follower.
    state = "pending" if target.locked and target.type != "Group" else "accepted"
    record = await follows.put(
        FollowRecord(
            follower_id=follower.id,
            followee_id=target.id,
            uri=inbound.activity.id or "",
            state=state,
        )
    )
    if record.state == "accepted":
        await _answer_follow(federation, target, follower, inbound.document, "Accept")
        await _notify(federation, target, "follow", follower, None)
    else:
        await _notify(federation, target, "follow_request", follower, None)


async def _answer_follow(
    federation: Federation,
    target: ActorRecord,
    follower: ActorRecord,
    follow_document: dict[str, Any],
    kind: str,
) -> None:
    if follower.local:
        follows = FollowRepository(federation.instance.db)
        if kind == "Accept":
            await follows.accept(follower.id, target.id)
        else:
            await follows.delete(follower.id, target.id)
        return
    follow = {k: v for k, v in follow_document.items() if k != "@context"}
    answer = {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": kind,
        "actor": target.uri,
        "object": follow,
        "to": [follower.uri],
    }
    await federation.publish(answer, target, extra_recipients=[follower])


async def accept_follow_request(
    federation: Federation, target: ActorRecord, follower: ActorRecord, accept: bool
) -> None:
    """A locked member approves or refuses a pending follower."""
    follows = FollowRepository(federation.instance.db)
    record = await follows.get(follower.id, target.id)
    if record is None or record.state != "pending":
        return
    document = {"id": record.uri, "type": "Follow", "actor": follower.uri, "object": target.uri}
    if accept:
        await follows.accept(follower.id, target.id)
    await _answer_follow(federation, target, follower, document, "Accept" if accept else "Reject")
    if not accept:
        await follows.delete(follower.id, target.id)


async def on_accept_follow(federation: Federation, inbound: Inbound) -> None:
    """Our Follow was accepted."""
    sender = await _sender(federation, inbound)
    follows = FollowRepository(federation.instance.db)
    record = await follows.by_uri(inbound.activity.object_id or "")
    embedded = inbound.document.get("object")
    if record is None and isinstance(embedded, dict):
        follower = await ActorRepository(federation.instance.db).by_uri(
            id_of(embedded.get("actor")) or ""
        )
        if follower is not None:
            record = await follows.get(follower.id, sender.id)
    # Only the followed actor can accept a follow of itself.
    if record is not None and record.followee_id == sender.id:
        await follows.accept(record.follower_id, record.followee_id)


async def on_reject_follow(federation: Federation, inbound: Inbound) -> None:
    """Our Follow was refused, or an accepted follow was ended by the followee."""
    sender = await _sender(federation, inbound)
    follows = FollowRepository(federation.instance.db)
    record = await follows.by_uri(inbound.activity.object_id or "")
    embedded = inbound.document.get("object")
    if record is None and isinstance(embedded, dict):
        follower = await ActorRepository(federation.instance.db).by_uri(
            id_of(embedded.get("actor")) or ""
        )
        if follower is not None:
            record = await follows.get(follower.id, sender.id)
    if record is not None and record.followee_id == sender.id:
        await follows.delete(record.follower_id, record.followee_id)


async def on_accept(federation: Federation, inbound: Inbound) -> None:
    """Dispatch an Accept by what it accepts (Follow, or a domain Offer)."""
    object_type = inbound.object_type
    if object_type in (None, "Follow"):
        await on_accept_follow(federation, inbound)


async def on_undo(federation: Federation, inbound: Inbound) -> None:
    """Take back a Follow, Like, Announce or Block the sender made."""
    sender = await _sender(federation, inbound)
    embedded = inbound.document.get("object")
    undone_id = id_of(embedded)
    undone_type = embedded.get("type") if isinstance(embedded, dict) else None
    db = federation.instance.db
    reactions = ReactionRepository(db)
    if undone_type in (None, "Follow"):
        record = await FollowRepository(db).by_uri(undone_id or "")
        if record is None and isinstance(embedded, dict):
            target = await ActorRepository(db).by_uri(id_of(embedded.get("object")) or "")
            record = await FollowRepository(db).get(sender.id, target.id) if target else None
        if record is not None and record.follower_id == sender.id:
            await FollowRepository(db).delete(sender.id, record.followee_id)
            return
    for kind, table in (("Like", "likes"), ("Announce", "announces")):
        if undone_type in (None, kind):
            found = await reactions.by_activity(table, undone_id or "")
            if found is None and isinstance(embedded, dict) and undone_type == kind:
                object_uri = id_of(embedded.get("object"))
                if object_uri:
                    found = (sender.id, object_uri)
            if found is not None and found[0] == sender.id:
                boost_id = await reactions.row_id(table, undone_id or "")
                await reactions.remove(table, sender.id, found[1])
                if boost_id is not None and table == "announces":
                    await timelines.remove_boost(db, boost_id, streams=federation.streams)
                return
    if undone_type == "Block" and isinstance(embedded, dict):
        target = await ActorRepository(db).by_uri(id_of(embedded.get("object")) or "")
        if target is not None:
            await reactions.unblock(sender.id, target.id)


async def on_create(federation: Federation, inbound: Inbound) -> None:
    """Store a received post; notify mentioned and replied-to members; let the Group announce."""
    sender = await _sender(federation, inbound)
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return  # Create by reference: nothing to store without a fetch nobody asked for
    parsed = parse_object(embedded)
    if parsed.type not in NOTE_TYPES or parsed.id is None:
        return
    objects = ObjectRepository(federation.instance.db)
    # A Delete that overtook its Create wins: the post stays deleted.
    if await objects.is_tombstoned(parsed.id):
        return
    record = await objects.by_uri(parsed.id)
    if record is None:
        if parsed.attributed_to and parsed.attributed_to != sender.uri:
            raise Forbidden("a Create must come from the object's author")
        try:
            record = await objects.insert(note_from_as(parsed, embedded, sender))
        except FedicoopError:
            record = await objects.by_uri(parsed.id)  # a concurrent copy won the insert
            if record is None:
                raise
        await _index_mentions(federation, record.id, parsed, sender)
        await timelines.fan_out_status(
            federation.instance.db, sender, record, streams=federation.streams
        )
        if parsed.in_reply_to and not await objects.by_uri(parsed.in_reply_to):
            # Fetch the parent once so the thread can be shown; its own origin vouches for it.
            await fetch_and_store(federation, parsed.in_reply_to)
    await _notify_about(federation, parsed, sender)
    await group.announce_if_addressed(federation, sender, parsed, record)


async def _index_mentions(
    federation: Federation, object_id: int, parsed: ObjectDoc, sender: ActorRecord
) -> None:
    actors = ActorRepository(federation.instance.db)
    for mention in parsed.mentions:
        if not mention.href:
            continue
        actor = await actors.by_uri(mention.href)
        if actor is not None:
            await federation.instance.db.execute(
                "INSERT INTO mentions (object_id, actor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                object_id,
                actor.id,
            )
    for tag in parsed.hashtags:
        name = (tag.name or "").lstrip("#").lower()
        if name:
            await federation.instance.db.execute(
                "INSERT INTO hashtags (object_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                object_id,
                name[:64],
            )


async def _notify_about(federation: Federation, parsed: ObjectDoc, sender: ActorRecord) -> None:
    actors = ActorRepository(federation.instance.db)
    told: set[int] = set()
    for mention in parsed.mentions:
        actor = await actors.by_uri(mention.href or "")
        if actor is not None and actor.local and actor.id not in told:
            told.add(actor.id)
            await _notify(federation, actor, "mention", sender, parsed.id)
    if parsed.in_reply_to:
        parent = await ObjectRepository(federation.instance.db).by_uri(parsed.in_reply_to)
        if parent is not None and parent.local:
            author = await actors.get(parent.actor_id)
            if author is not None and author.id not in told:
                await _notify(federation, author, "mention", sender, parsed.id)


async def on_update(federation: Federation, inbound: Inbound) -> None:
    """Apply an edit of a post or a profile, only by its owner."""
    sender = await _sender(federation, inbound)
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return
    if embedded.get("id") == sender.uri and embedded.get("type") in (
        "Person",
        "Group",
        "Service",
        "Application",
        "Organization",
    ):
        from fedicoop.activitypub.as2 import parse_actor
        from fedicoop.activitypub.documents import dumps

        await ActorRepository(federation.instance.db).upsert_remote(
            actor_record(parse_actor(embedded), dumps(embedded))
        )
        return
    parsed = parse_object(embedded)
    objects = ObjectRepository(federation.instance.db)
    record = await objects.by_uri(parsed.id or "")
    # Our own Update delivered to local followers: the stored document is already the edit.
    if record is None or record.local or record.actor_id != sender.id or record.deleted_at:
        return
    updated = note_from_as(parsed, embedded, sender)
    await objects.replace_content(updated)


async def on_delete(federation: Federation, inbound: Inbound) -> None:
    """Delete a post (or forget an actor) — only the owner's Delete counts."""
    sender = await _sender(federation, inbound)
    target = inbound.activity.object_id
    if not target:
        return
    db = federation.instance.db
    if target == sender.uri:
        await db.execute(
            "DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1", sender.id
        )
        await db.execute(
            "UPDATE objects SET deleted_at = $1, content = '' WHERE actor_id = $2",
            clock.now_text(),
            sender.id,
        )
        return
    if not same_origin(target, sender.uri):
        raise Forbidden("a Delete may only remove the sender's own objects")
    objects = ObjectRepository(db)
    record = await objects.by_uri(target)
    if record is not None and record.actor_id != sender.id:
        raise Forbidden("only the author may delete a post")
    await objects.add_tombstone(target, sender.uri)
    await objects.mark_deleted(target)
    if record is not None:
        await timelines.remove_from_timelines(db, record.id, streams=federation.streams)


async def on_announce(federation: Federation, inbound: Inbound) -> None:
    """A boost: record it, fetching the boosted post if we have never seen it."""
    sender = await _sender(federation, inbound)
    object_uri = inbound.activity.object_id
    embedded = inbound.document.get("object")
    if isinstance(embedded, dict) and embedded.get("type") in ("Update", "Delete"):
        # A relayed edit or deletion is not a boost; the author's own activity applies it.
        return
    if isinstance(embedded, dict) and embedded.get("type") == "Create":
        # FEP-1b12 groups (Lemmy) relay Create activities; what is boosted is the object inside.
        object_uri = id_of(embedded.get("object"))
    if not object_uri:
        return
    objects = ObjectRepository(federation.instance.db)
    record = await objects.by_uri(object_uri)
    if record is None:
        record = await fetch_and_store(federation, object_uri)
    if record is None:
        return
    if record.visibility not in ("public", "unlisted"):
        return
    reactions = ReactionRepository(federation.instance.db)
    if await reactions.add("announces", sender.id, object_uri, inbound.activity.id or ""):
        boost_id = await reactions.row_id("announces", inbound.activity.id or "")
        if boost_id is not None:
            await timelines.fan_out_boost(
                federation.instance.db, sender, record, boost_id, streams=federation.streams
            )
    author = await ActorRepository(federation.instance.db).get(record.actor_id)
    if author is not None:
        await _notify(federation, author, "reblog", sender, object_uri)


async def fetch_and_store(federation: Federation, uri: str) -> Any:
    """Fetch a remote post by URL (its own origin vouches for it) and store it."""
    # A boost must not smuggle in posts from a domain this co-op blocks.
    if await federation.receiver.is_blocked(urlsplit(uri).netloc):
        return None
    try:
        document = await federation.fetcher.get_activity(uri)
    except FetchError as error:
        log.info("cannot fetch object", extra={"uri": uri, "reason": error.reason})
        return None
    parsed = parse_object(document.data)
    if parsed.type not in NOTE_TYPES or not parsed.attributed_to:
        return None
    if await federation.receiver.is_blocked(urlsplit(parsed.attributed_to).netloc):
        return None
    author = await federation.resolver.actor(parsed.attributed_to)
    objects = ObjectRepository(federation.instance.db)
    if await objects.is_tombstoned(uri):
        return None
    try:
        record = await objects.insert(note_from_as(parsed, document.data, author))
    except FedicoopError:
        return await objects.by_uri(uri)
    if parsed.type == "Question":
        # A poll found by URL (search, a boost, a reply's parent) must still be votable.
        await polls.store_remote_question(federation.instance.db, author, document.data)
    return record


async def on_like(federation: Federation, inbound: Inbound) -> None:
    """A like of one of our posts."""
    sender = await _sender(federation, inbound)
    object_uri = inbound.activity.object_id
    record = await ObjectRepository(federation.instance.db).by_uri(object_uri or "")
    if record is None:
        return
    await ReactionRepository(federation.instance.db).add(
        "likes", sender.id, record.uri, inbound.activity.id or ""
    )
    author = await ActorRepository(federation.instance.db).get(record.actor_id)
    if author is not None:
        await _notify(federation, author, "favourite", sender, record.uri)


async def on_block(federation: Federation, inbound: Inbound) -> None:
    """Someone blocks a local actor: drop follows both ways."""
    sender = await _sender(federation, inbound)
    target = await ActorRepository(federation.instance.db).by_uri(inbound.activity.object_id or "")
    if target is None or not target.local:
        return
    await ReactionRepository(federation.instance.db).block(
        sender.id, target.id, inbound.activity.id or ""
    )
    follows = FollowRepository(federation.instance.db)
    await follows.delete(sender.id, target.id)
    await follows.delete(target.id, sender.id)


async def on_flag(federation: Federation, inbound: Inbound) -> None:
    """A report from another server reaches this co-op's admins."""
    sender = await _sender(federation, inbound)
    own = federation.instance.config.base_url
    targets = [uri for uri in inbound.activity.object_ids if uri.startswith(own + "/")]
    if not targets:
        return
    await ReportRepository(federation.instance.db).add(
        inbound.activity.id or "",
        sender.uri,
        targets,
        html_to_text(inbound.activity.content or "")[:2000],
    )


async def on_create_note(federation: Federation, inbound: Inbound) -> None:
    """A Note naming a choice of one of our polls is a vote (as Mastodon sends it); else a post."""
    embedded = inbound.document.get("object")
    if isinstance(embedded, dict):
        question = await polls.local_question_for_vote(federation.instance.db, embedded)
        if question is not None:
            # A vote is never a status: it is counted, not stored or shown.
            voter = await _sender(federation, inbound)
            await polls.receive_vote(federation, voter, question, embedded)
            return
    await on_create(federation, inbound)


async def on_create_question(federation: Federation, inbound: Inbound) -> None:
    """Store a received poll as a post, and its choices and totals in `polls`."""
    await on_create(federation, inbound)
    sender = await _sender(federation, inbound)
    embedded = inbound.document.get("object")
    await polls.store_remote_question(federation.instance.db, sender, embedded)


async def on_update_question(federation: Federation, inbound: Inbound) -> None:
    """New totals of a remote poll; an edit too when the Question says it was `updated`."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return
    record = await ObjectRepository(federation.instance.db).by_uri(str(embedded.get("id") or ""))
    if record is not None and record.local:
        return  # our own Update delivered to local followers: we counted it already
    # Totals change with every vote; only an `updated` time marks an edit of the text.
    if embedded.get("updated"):
        await on_update(federation, inbound)
    sender = await _sender(federation, inbound)
    await polls.store_remote_question(federation.instance.db, sender, embedded)


def register(handlers: HandlerRegistry) -> None:
    """Plug the social handlers into the inbox."""
    handlers.add("Follow", on_follow)
    handlers.add("Accept", on_accept)
    handlers.add("Reject", on_reject_follow)
    handlers.add("Undo", on_undo)
    handlers.add("Create", on_create)
    handlers.add("Update", on_update)
    handlers.add("Delete", on_delete)
    handlers.add("Announce", on_announce)
    handlers.add("Like", on_like)
    handlers.add("Block", on_block)
    handlers.add("Flag", on_flag)
    handlers.add("Create", on_create_note, "Note")
    handlers.add("Create", on_create_question, "Question")
    handlers.add("Update", on_update_question, "Question")
