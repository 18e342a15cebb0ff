"""The co-op Group (FEP-1b12): it announces to its followers what its members address to it."""

from fedicoop import clock
from fedicoop.accounts.model import Status
from fedicoop.activitypub.as2 import ObjectDoc
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.activitypub.runtime import Federation
from fedicoop.social import timelines
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.notifications import ReactionRepository
from fedicoop.storage.objects import ObjectRecord


async def is_member(federation: Federation, actor: ActorRecord) -> bool:
    """Return whether an actor is an active member of this co-op."""
    if not actor.local:
        return False
    account = await AccountRepository(federation.instance.db).by_actor(actor.id)
    return account is not None and account.status == Status.ACTIVE


async def announce_if_addressed(
    federation: Federation, author: ActorRecord, parsed: ObjectDoc, record: ObjectRecord
) -> str | None:
    """Announce a post addressed to the Group when a member wrote it; return the Announce id."""
    group = await federation.group_actor()
    addressed = {*parsed.to, *parsed.cc, *parsed.audience, *(m.href for m in parsed.mentions)}
    if group.uri not in addressed or author.id == group.id:
        return None
    # Followers are not members: what a follower addresses to the Group is never relayed,
    # or anyone could use the co-op as a megaphone.
    if not await is_member(federation, author):
        return None
    if record.visibility not in ("public", "unlisted") or record.deleted_at:
        return None
    reactions = ReactionRepository(federation.instance.db)
    if await reactions.activity_uri("announces", group.id, record.uri):
        return None
    announce_id = federation.new_activity_uri()
    announce = {
        "@context": OBJECT_CONTEXT,
        "id": announce_id,
        "type": "Announce",
        "actor": group.uri,
        "object": record.uri,
        "to": [PUBLIC],
        "cc": [group.followers_uri, author.uri],
        "audience": group.uri,
        "published": clock.as2_time(clock.now()),
    }
    await reactions.add("announces", group.id, record.uri, announce_id)
    boost_id = await reactions.row_id("announces", announce_id)
    if boost_id is not None:
        await timelines.fan_out_boost(
            federation.instance.db, group, record, boost_id, streams=federation.streams
        )
    return await federation.publish(announce, group)
