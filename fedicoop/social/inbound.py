"""Handlers for social activities received in the inbox (registered by `register`)."""

import logging
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import ObjectDoc, id_of, parse_object, same_origin
from fedicoop.activitypub.as2_values import types_of
from fedicoop.activitypub.documents import OBJECT_CONTEXT
from fedicoop.activitypub.processing import HandlerRegistry, Inbound
from fedicoop.activitypub.resolver import actor_record
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.errors import FedicoopError, Forbidden
from fedicoop.social import group, polls, timelines
from fedicoop.social.notes import NOTE_TYPES, note_from_as
from fedicoop.social.remote_media import store_remote_attachments
from fedicoop.social.remote_posts import (
    apply_relayed_delete,
    apply_relayed_update,
    fetch_and_store,
)
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Executor
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
    # Within a run of Creates (see prefetch_creates) a sender is read once: they change no actor.
    key = ("actor", inbound.sender)
    remembered = inbound.memo.get(key)
    if isinstance(remembered, ActorRecord):
        return remembered
    sender = await federation.resolver.actor(inbound.sender)
    if ("followers", inbound.sender) in inbound.memo:
        inbound.memo[key] = sender
    return sender


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


async def _answered_follow(federation: Federation, inbound: Inbound) -> FollowRecord | None:
    """Return our follow that an Accept or Reject answers, if the sender is its followee."""
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
    # Only the followed actor can answer a follow of itself.
    return record if record is not None and record.followee_id == sender.id else None


async def on_accept_follow(federation: Federation, inbound: Inbound) -> None:
    """Our Follow was accepted."""
    record = await _answered_follow(federation, inbound)
    if record is not None:
        await FollowRepository(federation.instance.db).accept(
            record.follower_id, record.followee_id
        )


async def on_reject_follow(federation: Federation, inbound: Inbound) -> None:
    """Our Follow was refused, or an accepted follow was ended by the followee."""
    record = await _answered_follow(federation, inbound)
    if record is not None:
        await FollowRepository(federation.instance.db).delete(
            record.follower_id, record.followee_id
        )


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
    # parse_activity has read the embedded object already (the same document, same languages).
    parsed = inbound.activity.object
    if type(parsed) is not ObjectDoc:
        parsed = parse_object(embedded)
    if parsed.type not in NOTE_TYPES or parsed.id is None:
        return
    db = federation.instance.db
    objects = ObjectRepository(db)
    tombstoned, stored = await _seen(db, inbound, parsed.id)
    # A Delete that overtook its Create wins: the post stays deleted.
    if tombstoned:
        return
    record = await objects.by_uri(parsed.id) if stored else None
    if record is None:
        if parsed.attributed_to and parsed.attributed_to != sender.uri:
            raise Forbidden("a Create must come from the object's author")
        if parsed.in_reply_to and not await objects.by_uri(parsed.in_reply_to):
            # Fetch the parent once so the thread can be shown; its own origin vouches for it.
            # Before writing anything: a batch can then hand this one over cleanly.
            try:
                await fetch_and_store(federation, parsed.in_reply_to)
            except FedicoopError as error:
                # A parent that cannot be read (or its author) never keeps the reply out.
                parent = {"uri": parsed.in_reply_to, "reason": str(error)}
                log.info("cannot store parent", extra=parent)
        try:
            record = await objects.insert(note_from_as(parsed, embedded, sender))
        except FedicoopError:
            record = await objects.by_uri(parsed.id)  # a concurrent copy won the insert
            if record is None:
                raise
        else:
            await store_remote_attachments(db, parsed, sender.id, record.id)
        mentioned = await _index_mentions(federation, record.id, parsed, sender)
        followers = inbound.memo.get(("followers", sender.uri))
        known = None
        if followers is not None:
            known = timelines.KnownAudience(tuple(followers), tuple(mentioned))
        await timelines.fan_out_status(db, sender, record, streams=federation.streams, known=known)
    await _notify_about(federation, parsed, sender)
    await group.announce_if_addressed(federation, sender, parsed, record)


async def _seen(db: Executor, inbound: Inbound, uri: str) -> tuple[bool, bool]:
    """Return whether a post's uri is tombstoned, and whether it is stored."""
    # Prefetched for this Create only: a second Create of the same post asks the database.
    prefetched = inbound.memo.pop(("seen", uri), None)
    if prefetched is not None:
        return prefetched  # type: ignore[no-any-return]
    row = await db.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM tombstones WHERE uri = $1) AS tombstoned, "
        "EXISTS (SELECT 1 FROM objects WHERE uri = $1) AS stored",
        uri,
    )
    return (bool(row["tombstoned"]), bool(row["stored"])) if row else (False, False)


async def prefetch_creates(federation: Federation, run: list[Inbound]) -> None:
    """For a run of Creates, look up at once what each would ask alone (see add_prefetch).

    Which posts are stored or tombstoned, and which local accounts follow each sender:
    Creates change neither, but for their own post, whose entry each takes out of the memo.
    """
    db = federation.instance.db
    uris = sorted(
        {
            str(inbound.document["object"]["id"])
            for inbound in run
            if isinstance(inbound.document.get("object"), dict)
            and isinstance(inbound.document["object"].get("id"), str)
        }
    )
    memo = run[0].memo
    if uris:
        marks = _marks(len(uris))
        rows = await db.fetch(
            f"SELECT uri, 1 AS tombstoned FROM tombstones WHERE uri IN ({marks}) "
            f"UNION ALL SELECT uri, 0 AS tombstoned FROM objects WHERE uri IN ({marks})",
            *uris,
        )
        seen = {uri: (False, False) for uri in uris}
        for row in rows:
            tombstoned, stored = seen[row["uri"]]
            if row["tombstoned"]:
                tombstoned = True
            else:
                stored = True
            seen[row["uri"]] = (tombstoned, stored)
        for uri, flags in seen.items():
            memo[("seen", uri)] = flags
    senders = sorted({inbound.sender for inbound in run})
    rows = await db.fetch(
        "SELECT a.uri, c.id FROM actors a JOIN follows f ON f.followee_id = a.id "
        "JOIN accounts c ON c.actor_id = f.follower_id "
        f"WHERE f.state = 'accepted' AND a.uri IN ({_marks(len(senders))})",
        *senders,
    )
    followers: dict[str, list[int]] = {uri: [] for uri in senders}
    for row in rows:
        followers[row["uri"]].append(int(row["id"]))
    for uri, accounts in followers.items():
        memo[("followers", uri)] = accounts


def _marks(count: int) -> str:
    return ", ".join(f"${i}" for i in range(1, count + 1))


async def _index_mentions(
    federation: Federation, object_id: int, parsed: ObjectDoc, sender: ActorRecord
) -> list[int]:
    """Store who a post mentions and its hashtags; return the mentioned actors' ids."""
    db = federation.instance.db
    actors = ActorRepository(db)
    mentioned: list[int] = []
    for mention in parsed.mentions:
        if not mention.href:
            continue
        actor = await actors.by_uri(mention.href)
        if actor is not None and actor.id not in mentioned:
            mentioned.append(actor.id)
    if mentioned:
        await db.executemany(
            "INSERT INTO mentions (object_id, actor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(object_id, actor_id) for actor_id in mentioned],
        )
    names = [(tag.name or "").lstrip("#").lower() for tag in parsed.hashtags]
    tagged = [(object_id, name[:64]) for name in dict.fromkeys(names) if name]
    if tagged:
        await db.executemany(
            "INSERT INTO hashtags (object_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            tagged,
        )
    return mentioned


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
    if isinstance(embedded, dict) and embedded.get("type") == "Delete":
        await apply_relayed_delete(federation, embedded)
        return
    if isinstance(embedded, dict) and embedded.get("type") == "Update":
        await apply_relayed_update(federation, embedded)
        return
    if isinstance(embedded, dict) and "Proposal" in types_of(embedded.get("object")):
        return  # a partner co-op relaying a ride: the rides package stores it
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
        if await polls.answers_a_proposal(federation.instance.db, embedded):
            return  # a vote on a co-op proposal: governance counts it, nobody shows it
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
    handlers.add_prefetch("Create", prefetch_creates, "Note")
    handlers.add("Update", on_update_question, "Question")
