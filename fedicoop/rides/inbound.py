"""Ride and booking activities received in the inbox (registered by `register`).

Rides of partner co-ops arrive as their Group's `Announce` of the member's Create, Update or
Delete (FEP-1b12). They are accepted only from an active partner, and only when the relayed
activity comes from the Group's own server: a Group vouches for its own members, never for
another server's. Booking activities go person to person, rider and driver.
"""

import logging
from typing import Any

from fedicoop.activitypub.as2 import id_of, same_origin
from fedicoop.activitypub.as2_values import types_of
from fedicoop.activitypub.processing import HandlerRegistry, Inbound
from fedicoop.activitypub.runtime import Federation
from fedicoop.coops.partnership import PartnershipRepository, PartnerState
from fedicoop.errors import Forbidden
from fedicoop.rides import federation as ride_as
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.service import RideService

log = logging.getLogger(__name__)

RIDE_ACTIVITIES = frozenset({"Create", "Update", "Delete"})


def relayed_ride(document: dict[str, Any]) -> dict[str, Any] | None:
    """Return the ride activity a Group's Announce relays, or None if it relays something else."""
    embedded = document.get("object")
    if not isinstance(embedded, dict) or not RIDE_ACTIVITIES.intersection(types_of(embedded)):
        return None
    inner = embedded.get("object")
    if ride_as.is_ride(inner):
        return embedded
    if isinstance(inner, dict) and inner.get("formerType") == "Proposal":
        return embedded
    return None


async def on_announce(federation: Federation, inbound: Inbound) -> None:
    """A partner co-op's Group relays one of its members' rides."""
    activity = relayed_ride(inbound.document)
    if activity is None:
        return
    group = await federation.resolver.actor(inbound.sender)
    if group.type != "Group":
        return
    partnership = await PartnershipRepository(federation).get(group.id or 0)
    if partnership is None or partnership[0] is not PartnerState.ACTIVE:
        log.info("ride from a co-op that is not a partner", extra={"group": group.uri})
        return
    actor_uri = id_of(activity.get("actor"))
    inner = activity["object"]
    # The Group vouches only for its own server's members and rides.
    if not same_origin(actor_uri, group.uri) or not same_origin(id_of(inner), group.uri):
        raise Forbidden("a Group may only relay rides from its own server")
    author = await federation.resolver.actor(actor_uri or "")
    service = RideService.of(federation)
    if "Delete" in types_of(activity):
        await service.forget_remote(id_of(inner) or "", author)
        return
    await service.store_remote(inner, author, group)


async def on_direct_ride(federation: Federation, inbound: Inbound) -> None:
    """A ride sent straight to us (we follow its author): partners' rides come via the Group."""
    return


async def on_offer(federation: Federation, inbound: Inbound) -> None:
    """A rider of another co-op asks for seats on one of our rides."""
    offer = ride_as.BookingOffer(inbound.document, inbound.sender)
    rider = await federation.resolver.actor(inbound.sender)
    await BookingService.of(RideService.of(federation)).received_offer(offer, rider)


def _booking_offer_uri(inbound: Inbound) -> str | None:
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict) or "Booking" not in types_of(embedded.get("object")):
        return None
    return id_of(embedded) or id_of(embedded.get("object"))


async def on_answer(federation: Federation, inbound: Inbound) -> None:
    """The driver accepted, rejected or cancelled one of our members' booking requests."""
    offer_uri = _booking_offer_uri(inbound)
    if offer_uri is None:
        return
    sender = await federation.resolver.actor(inbound.sender)
    await BookingService.of(RideService.of(federation)).answered(
        sender,
        offer_uri,
        inbound.activity.type,
        ride_as.plain_text(inbound.document.get("content")),
        inbound.document.get("result"),
    )


async def on_undo(federation: Federation, inbound: Inbound) -> None:
    """A rider withdrew their booking request or cancelled their booking."""
    offer_uri = _booking_offer_uri(inbound)
    if offer_uri is None:
        return
    sender = await federation.resolver.actor(inbound.sender)
    await BookingService.of(RideService.of(federation)).rider_withdrew(
        sender, offer_uri, ride_as.plain_text(inbound.document.get("content"))
    )


async def on_update_booking(federation: Federation, inbound: Inbound) -> None:
    """The other party says the trip happened, or did not."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return
    status = ride_as.booking_status_from_as(embedded.get("status"))
    uri = id_of(embedded)
    if status is None or uri is None:
        return
    sender = await federation.resolver.actor(inbound.sender)
    await BookingService.of(RideService.of(federation)).status_pushed(
        sender, uri, status, ride_as.plain_text(embedded.get("content"))
    )


async def on_message(federation: Federation, inbound: Inbound) -> None:
    """A message of a booking's thread (a direct Note that names its booking)."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict) or not isinstance(embedded.get("booking"), str):
        return
    sender = await federation.resolver.actor(inbound.sender)
    if id_of(embedded.get("attributedTo")) != sender.uri:
        return
    await BookingService.of(RideService.of(federation)).received_message(sender, embedded)


async def on_review(federation: Federation, inbound: Inbound) -> None:
    """A review of a trip one of our members took part in."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return
    sender = await federation.resolver.actor(inbound.sender)
    if id_of(embedded.get("attributedTo")) != sender.uri:
        return
    await BookingService.of(RideService.of(federation)).received_review(sender, embedded)


def register(handlers: HandlerRegistry) -> None:
    """Plug ride and booking handling into the inbox."""
    handlers.add("Announce", on_announce)
    handlers.add("Create", on_direct_ride, "Proposal")
    handlers.add("Update", on_direct_ride, "Proposal")
    handlers.add("Offer", on_offer, "Booking")
    handlers.add("Accept", on_answer, "Offer")
    handlers.add("Reject", on_answer, "Offer")
    handlers.add("Undo", on_undo, "Offer")
    handlers.add("Update", on_update_booking, "Booking")
    handlers.add("Create", on_message, "Note")
    handlers.add("Create", on_review, "Review")
