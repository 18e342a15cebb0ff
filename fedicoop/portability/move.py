"""Account migration as Mastodon does it: aliases, `Move` to followers, re-follow on receipt.

The new account first names the old one in its `alsoKnownAs` (`add_alias`). The old account
then moves (`move_account`): it records `movedTo`, tells its followers with
`Move {actor: old, object: old, target: new}`, and can no longer post. Every server that
receives the Move (`on_move`, ours included) checks the claim against the new account's own,
freshly fetched document, then has its local followers of the old account follow the new one.
"""

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from fedicoop.activitypub.documents import OBJECT_CONTEXT
from fedicoop.activitypub.processing import HandlerRegistry, Inbound
from fedicoop.activitypub.runtime import Federation
from fedicoop.coops import partnership
from fedicoop.errors import Forbidden, Invalid, NotFound
from fedicoop.rides.partner_move import rehome_partner_rides
from fedicoop.rides.service import RideService
from fedicoop.social import publishing
from fedicoop.social.profile import publish_profile
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.notifications import ReactionRepository

log = logging.getLogger(__name__)

MAX_ALIASES = 10


async def find_account(
    federation: Federation, text: str, field: str, *, fresh: bool = False
) -> ActorRecord:
    """Return the account a handle (user@host) or an actor URI names; Invalid(field) if none."""
    text = text.strip()
    if not text:
        raise Invalid(f"{field} is required (user@host)", field=field)
    try:
        is_uri = text.startswith(("https://", "http://"))
        uri = text if is_uri else await federation.resolver.webfinger(text)
        return await federation.resolver.actor(uri, refresh=fresh)
    except (NotFound, Invalid) as error:
        raise Invalid(f"cannot find the account {text}: {error.message}", field=field) from error


async def add_alias(federation: Federation, actor: ActorRecord, acct: str) -> ActorRecord:
    """Name another account as one of this one's former selves, and tell followers (Update)."""
    alias = await find_account(federation, acct, "acct")
    if alias.uri == actor.uri:
        raise Invalid("an account cannot be its own alias", field="acct")
    if alias.uri in actor.also_known_as:
        return actor
    aliases = [*actor.also_known_as, alias.uri]
    if len(aliases) > MAX_ALIASES:
        raise Invalid(f"an account has at most {MAX_ALIASES} aliases", field="acct")
    await ActorRepository(federation.instance.db).set_aliases(actor.id, aliases)
    updated = replace(actor, also_known_as=tuple(aliases))
    await publish_profile(federation, updated)
    return updated


async def move_account(
    federation: Federation,
    actor: ActorRecord,
    target_text: str,
    *,
    redirect_local: bool = True,
) -> ActorRecord:
    """Move a local account to another that lists it as an alias; tell every follower.

    A member moves alone (its local followers are redirected here); a whole co-op moving
    (`move-coop`) moves its Group and members too, and leaves `redirect_local` off: the new
    host already holds the follows between them.
    """
    if not actor.local or actor.type not in ("Person", "Group"):
        raise Forbidden("only a member's or the co-op's own account can move")
    # What the target says now, not what we cached: the alias may have been added a minute ago.
    target = await find_account(federation, target_text, "target", fresh=True)
    if target.uri == actor.uri:
        raise Invalid("an account cannot move to itself", field="target")
    if target.moved_to:
        raise Invalid(f"{target.acct} has itself moved to another account", field="target")
    if actor.uri not in target.also_known_as:
        raise Invalid(
            f"{target.acct} must first list this account ({actor.acct}) among its aliases",
            field="target",
        )
    await ActorRepository(federation.instance.db).set_moved(actor.id, target.uri)
    moved = replace(actor, moved_to=target.uri)
    await publish_profile(federation, moved)
    await federation.publish(move_activity(federation, moved, target), moved)
    # Local followers move now; the copy of the Move delivered to our own inbox finds none left.
    if redirect_local:
        await redirect_local_followers(federation, moved, target)
    return moved


def move_activity(federation: Federation, old: ActorRecord, new: ActorRecord) -> dict[str, Any]:
    """Return the Move an account sends its followers, shaped as Mastodon's."""
    return {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Move",
        "actor": old.uri,
        "object": old.uri,
        "target": new.uri,
        "to": [old.followers_uri],
    }


async def redirect_local_followers(
    federation: Federation, old: ActorRecord, new: ActorRecord
) -> int:
    """Have each local follower of `old` follow `new` and stop following `old`; return how many."""
    db = federation.instance.db
    actors = ActorRepository(db)
    reactions = ReactionRepository(db)
    moved = 0
    for follower_id in await FollowRepository(db).local_follower_ids(old.id):
        follower = await actors.get(follower_id)
        if follower is None or follower.id == new.id:
            continue
        # A block either way keeps them apart, as it would have kept a direct follow.
        if not await reactions.is_blocked(follower.id, new.id) and not (
            await reactions.is_blocked(new.id, follower.id)
        ):
            await publishing.follow(federation, follower, new)
        await publishing.unfollow(federation, follower, old)
        moved += 1
    return moved


async def on_move(federation: Federation, inbound: Inbound) -> None:
    """An account moved: check the new account vouches for it, then re-follow for our members."""
    sender = await federation.resolver.actor(inbound.sender)
    if sender.local:
        # Our own account's Move: `move_account` already did here what was to be done.
        return
    # Only an account can announce its own move: else anyone could redirect others' followers.
    if inbound.activity.object_id != sender.uri:
        raise Forbidden("a Move must be sent by the account that moves")
    target_uri = inbound.activity.target_id
    reason = _refusal(sender, target_uri)
    if reason is None and await federation.receiver.is_blocked(urlsplit(target_uri or "").netloc):
        reason = "the new account's server is blocked here"
    target: ActorRecord | None = None
    if reason is None:
        try:
            # Fetched again: a stale copy (or one the sender pushed to us) proves nothing.
            target = await federation.resolver.actor(target_uri or "", refresh=True)
        except (NotFound, Invalid) as error:
            reason = f"the new account cannot be read: {error.message}"
    # The new account must name the old one in alsoKnownAs: a hijacker cannot make a stranger's
    # account claim theirs, so followers are only ever sent where the account owner agreed.
    if target is not None and sender.uri not in target.also_known_as:
        reason = "the new account does not list the old one in alsoKnownAs"
    if reason is not None or target is None:
        log.info("Move ignored", extra={"id": inbound.activity.id, "reason": reason})
        return
    if not sender.local and sender.moved_to != target.uri:
        await ActorRepository(federation.instance.db).set_moved(sender.id, target.uri)
    if sender.type == "Group" and target.type == "Group":
        if await partnership.partner_moved(federation, sender, target):
            await rehome_partner_rides(RideService.of(federation), sender, target)
    await redirect_local_followers(federation, sender, target)


def _refusal(sender: ActorRecord, target_uri: str | None) -> str | None:
    if not target_uri:
        return "the Move names no target"
    if target_uri == sender.uri:
        return "an account cannot move to itself"
    return None


def register(handlers: HandlerRegistry) -> None:
    """Plug the Move handler into the inbox."""
    handlers.add("Move", on_move)
