"""Partnership: a mutual relation between two co-ops' Groups, agreed by both admins.

It is not a follow. Co-op A's Group sends `Offer{object: Partnership}` to co-op B's Group;
B's admin adding A in turn sends `Accept` of that offer and the partnership is active on both
sides. Either side ends it with `Undo` of the offer.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import id_of
from fedicoop.activitypub.documents import OBJECT_CONTEXT
from fedicoop.activitypub.processing import HandlerRegistry, Inbound
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Conflict, Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.storage.actors import ActorRecord, ActorRepository

PARTNERSHIP_TYPE = "Partnership"


class PartnerState(StrEnum):
    """Where a partnership with another co-op stands, seen from this co-op."""

    OFFERED = "offered"  # we offered, they have not accepted yet
    REQUESTED = "requested"  # they offered, our admin has not added them yet
    ACTIVE = "active"


# Each event moves the state along one edge; anything else is refused.
TRANSITIONS: dict[tuple[PartnerState | None, str], PartnerState] = {
    (None, "we_offer"): PartnerState.OFFERED,
    (None, "they_offer"): PartnerState.REQUESTED,
    (PartnerState.REQUESTED, "we_offer"): PartnerState.ACTIVE,
    (PartnerState.OFFERED, "they_offer"): PartnerState.ACTIVE,
    (PartnerState.OFFERED, "they_accept"): PartnerState.ACTIVE,
    (PartnerState.OFFERED, "we_offer"): PartnerState.OFFERED,
    (PartnerState.REQUESTED, "they_offer"): PartnerState.REQUESTED,
    (PartnerState.ACTIVE, "we_offer"): PartnerState.ACTIVE,
    (PartnerState.ACTIVE, "they_offer"): PartnerState.ACTIVE,
    (PartnerState.ACTIVE, "they_accept"): PartnerState.ACTIVE,
}


def next_state(current: PartnerState | None, event: str) -> PartnerState:
    """Return the state after an event, or raise Conflict."""
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise Conflict(f"a partnership that is {current or 'absent'} cannot take {event}") from None


@dataclass(frozen=True)
class Partner:
    """A partnership as listed to admins."""

    group: ActorRecord
    state: PartnerState
    offer_uri: str | None
    updated_at: str


class PartnershipRepository:
    """Stored partnerships, one per remote Group."""

    def __init__(self, federation: Federation) -> None:
        self.db = federation.instance.db

    async def get(self, group_id: int) -> tuple[PartnerState, str | None] | None:
        row = await self.db.fetchrow(
            "SELECT state, offer_uri FROM partnerships WHERE group_id = $1", group_id
        )
        return (PartnerState(row["state"]), row["offer_uri"]) if row else None

    async def put(self, group_id: int, state: PartnerState, offer_uri: str | None) -> None:
        stamp = clock.now_text()
        await self.db.execute(
            "INSERT INTO partnerships (id, group_id, state, offer_uri, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (group_id) DO UPDATE SET "
            "state = excluded.state, offer_uri = COALESCE(excluded.offer_uri, "
            "partnerships.offer_uri), updated_at = excluded.updated_at",
            new_id(),
            group_id,
            state,
            offer_uri,
            stamp,
        )

    async def delete(self, group_id: int) -> bool:
        return await self.db.execute("DELETE FROM partnerships WHERE group_id = $1", group_id) > 0

    async def transfer(self, old_group_id: int, new_group_id: int) -> bool:
        """Carry a partnership over to the Group a partner co-op moved to."""
        changed = await self.db.execute(
            "UPDATE partnerships SET group_id = $2, updated_at = $3 WHERE group_id = $1 "
            "AND NOT EXISTS (SELECT 1 FROM partnerships WHERE group_id = $2)",
            old_group_id,
            new_group_id,
            clock.now_text(),
        )
        return changed > 0

    async def rows(self) -> list[dict[str, Any]]:
        return await self.db.fetch(
            "SELECT group_id, state, offer_uri, updated_at FROM partnerships ORDER BY created_at"
        )


def _offer(federation: Federation, ours: ActorRecord, theirs: ActorRecord) -> dict[str, Any]:
    return {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Offer",
        "actor": ours.uri,
        "object": {"type": PARTNERSHIP_TYPE, "actor": ours.uri, "object": theirs.uri},
        "target": theirs.uri,
        "to": [theirs.uri],
    }


async def _remote_group(federation: Federation, handle: str) -> ActorRecord:
    actor = await federation.resolver.actor_by_handle(handle)
    if actor.type != "Group":
        raise Invalid(f"{handle} is a {actor.type}, not a co-op Group")
    if actor.local:
        raise Invalid("a co-op cannot partner with itself")
    return actor


async def add_partner(federation: Federation, handle: str) -> PartnerState:
    """Offer partnership to a co-op, or accept the offer it already made."""
    ours = await federation.group_actor()
    theirs = await _remote_group(federation, handle)
    repository = PartnershipRepository(federation)
    stored = await repository.get(theirs.id)
    current, their_offer = stored if stored else (None, None)
    state = next_state(current, "we_offer")
    if current is PartnerState.REQUESTED and their_offer:
        accept = {
            "@context": OBJECT_CONTEXT,
            "id": federation.new_activity_uri(),
            "type": "Accept",
            "actor": ours.uri,
            "object": {
                "id": their_offer,
                "type": "Offer",
                "actor": theirs.uri,
                "object": {"type": PARTNERSHIP_TYPE, "actor": theirs.uri, "object": ours.uri},
            },
            "to": [theirs.uri],
        }
        await repository.put(theirs.id, state, their_offer)
        await federation.publish(accept, ours, extra_recipients=[theirs])
    else:
        # Also when already active: re-offering lets a peer that lost track accept again.
        offer = _offer(federation, ours, theirs)
        await repository.put(theirs.id, state, offer["id"])
        await federation.publish(offer, ours, extra_recipients=[theirs])
    return state


async def remove_partner(federation: Federation, handle: str) -> None:
    """End a partnership (or withdraw an offer) on both sides."""
    ours = await federation.group_actor()
    theirs = await _remote_group(federation, handle)
    repository = PartnershipRepository(federation)
    stored = await repository.get(theirs.id)
    if stored is None:
        raise NotFound(f"no partnership with {handle}")
    await repository.delete(theirs.id)
    undo = {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Undo",
        "actor": ours.uri,
        "object": {
            "type": "Offer",
            "actor": ours.uri,
            "object": {"type": PARTNERSHIP_TYPE, "actor": ours.uri, "object": theirs.uri},
            **({"id": stored[1]} if _ours(federation, stored[1]) else {}),
        },
        "to": [theirs.uri],
    }
    await federation.publish(undo, ours, extra_recipients=[theirs])


async def list_partners(federation: Federation) -> list[Partner]:
    """Return every partnership with its state."""
    actors = ActorRepository(federation.instance.db)
    partners = []
    for row in await PartnershipRepository(federation).rows():
        group = await actors.get(int(row["group_id"]))
        if group is not None:
            partners.append(
                Partner(group, PartnerState(row["state"]), row["offer_uri"], row["updated_at"])
            )
    return partners


async def active_partner_groups(federation: Federation) -> list[ActorRecord]:
    """Return the Groups of co-ops we are actively partnered with (rides, proposals go there)."""
    return [p.group for p in await list_partners(federation) if p.state is PartnerState.ACTIVE]


async def partner_moved(federation: Federation, old: ActorRecord, new: ActorRecord) -> bool:
    """A partner co-op moved domain (its Group sent a checked Move): the partnership follows.

    Both admins agreed to the co-op, not to a host name; the new Group proved it is the same
    co-op by naming the old one in `alsoKnownAs`, which the Move handler checked.
    """
    return await PartnershipRepository(federation).transfer(old.id, new.id)


def _ours(federation: Federation, uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(federation.instance.config.base_url + "/")


def _is_partnership(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == PARTNERSHIP_TYPE


async def on_offer(federation: Federation, inbound: Inbound) -> None:
    """Another co-op's Group offers partnership to ours."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict) or not _is_partnership(embedded):
        return
    ours = await federation.group_actor()
    sender = await federation.resolver.actor(inbound.sender)
    if sender.type != "Group" or id_of(embedded.get("object")) != ours.uri:
        return
    repository = PartnershipRepository(federation)
    stored = await repository.get(sender.id)
    state = next_state(stored[0] if stored else None, "they_offer")
    if stored and stored[0] in (PartnerState.OFFERED, PartnerState.ACTIVE):
        # Both admins added each other: accept theirs so both sides agree it is active.
        await repository.put(sender.id, state, inbound.activity.id)
        accept = {
            "@context": OBJECT_CONTEXT,
            "id": federation.new_activity_uri(),
            "type": "Accept",
            "actor": ours.uri,
            "object": {k: v for k, v in inbound.document.items() if k != "@context"},
            "to": [sender.uri],
        }
        await federation.publish(accept, ours, extra_recipients=[sender])
        return
    await repository.put(sender.id, state, inbound.activity.id)


async def on_accept_offer(federation: Federation, inbound: Inbound) -> None:
    """Our partnership offer was accepted."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict) or not _is_partnership(embedded.get("object")):
        return
    sender = await federation.resolver.actor(inbound.sender)
    repository = PartnershipRepository(federation)
    stored = await repository.get(sender.id)
    if stored is None:
        return
    await repository.put(sender.id, next_state(stored[0], "they_accept"), None)


async def on_undo_offer(federation: Federation, inbound: Inbound) -> None:
    """The other co-op ended the partnership or withdrew its offer."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict) or not _is_partnership(embedded.get("object")):
        return
    sender = await federation.resolver.actor(inbound.sender)
    await PartnershipRepository(federation).delete(sender.id)


def register(handlers: HandlerRegistry) -> None:
    """Plug partnership handling into the inbox."""
    handlers.add("Offer", on_offer)
    handlers.add("Accept", on_accept_offer, object_type="Offer")
    handlers.add("Undo", on_undo_offer, object_type="Offer")
