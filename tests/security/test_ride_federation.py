"""Hostile ride and booking activities: each changes nothing, and its honest twin works.

Rides of partner co-ops arrive as their Group's Announce; only an active partner's Group is
heard, and it vouches for its own server only. Bookings go person to person: a booking is
made by its rider, answered by its driver, and nobody else's word moves it. Every refusal
test first shows the honest activity taking effect, or runs it afterwards, so a handler that
ignored everything would fail.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fedicoop.activitypub.documents import PUBLIC
from fedicoop.coops.partnership import PartnershipRepository, PartnerState
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.records import Booking, Ride
from fedicoop.rides.service import RideService, parse_search
from fedicoop.storage.rides import BookingRepository, RideRepository
from tests.activitypub.remote import REMOTE_ORIGIN, Coop, RemoteActor, add_remote_actor

OTHER_ORIGIN = "http://other.test"


@pytest.fixture
async def covoit(coop: Coop) -> RemoteActor:
    """The Group of a partner co-op on remote.test, the partnership active."""
    group = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/covoit", actor_type="Group")
    await PartnershipRepository(coop.federation).put(group.record.id, PartnerState.ACTIVE, None)
    return group


@pytest.fixture
async def dora(coop: Coop) -> RemoteActor:
    """A driver, member of the partner co-op."""
    return await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/dora")


@pytest.fixture
async def eve(coop: Coop) -> RemoteActor:
    """A member of a server the partner does not run."""
    return await add_remote_actor(coop.db, f"{OTHER_ORIGIN}/users/eve")


def in_days(days: int, hour: int = 8) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def as2(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ride_document(
    author: RemoteActor, group: RemoteActor, *, ride_id: str | None = None, **changes: Any
) -> dict[str, Any]:
    """Return a ride as a partner's instance publishes it (Grenoble → Lyon, 3 seats, 6 €)."""
    departure = in_days(2)
    document = {
        "id": ride_id or author.new_id("rides"),
        "type": ["Note", "Proposal"],
        "purpose": "offer",
        "attributedTo": author.uri,
        "audience": group.uri,
        "coop": group.uri,
        "to": [PUBLIC],
        "cc": [author.followers, group.uri],
        "name": "🚗 Grenoble → Lyon, 3 seats, 6 €",
        "content": "<p>🚗 Grenoble → Lyon, 3 seats, 6 €</p>",
        "origin": {"type": "Place", "name": "Grenoble", "latitude": 45.185, "longitude": 5.725},
        "destination": {"type": "Place", "name": "Lyon", "latitude": 45.755, "longitude": 4.835},
        "departure": as2(departure),
        "startTime": as2(departure),
        "seats": 3,
        "seatsLeft": 3,
        "priceKind": "fixed",
        "price": "6",
        "currency": "EUR",
        "maxDetourKm": 20,
        "tripKm": 94.2,
        "occurrences": [
            {
                "date": departure.date().isoformat(),
                "departure": as2(departure),
                "seatsLeft": 3,
                "status": "open",
            }
        ],
        "status": "open",
    }
    return document | changes


async def relay(
    coop: Coop,
    group: RemoteActor,
    author: RemoteActor,
    ride: dict[str, Any],
    kind: str = "Create",
) -> dict[str, Any]:
    """Have a Group announce `author`'s Create/Update/Delete of a ride to us; return it."""
    ours = await coop.group()
    activity = {
        "id": author.new_id(),
        "type": kind,
        "actor": author.uri,
        "object": ride,
        "to": [PUBLIC],
        "cc": [group.uri],
    }
    announce = group.activity("Announce", activity, to=[ours.uri], cc=[], audience=group.uri)
    await coop.receive(group, announce)
    return announce


async def inbox_state(coop: Coop, activity: dict[str, Any]) -> tuple[str, str | None]:
    row = await coop.db.fetchrow(
        "SELECT state, error FROM inbox WHERE activity_uri = $1", activity["id"]
    )
    assert row is not None
    return row["state"], row["error"]


async def stored_ride(coop: Coop, uri: str) -> Ride | None:
    return await RideRepository(coop.db).by_uri(uri)


# --- rides relayed by co-op Groups -------------------------------------------------------------


async def test_a_ride_announced_by_an_active_partner_is_stored(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor
) -> None:
    # Given an active partner co-op, When its Group relays Dora's ride
    document = ride_document(dora, covoit)
    await relay(coop, covoit, dora, document)
    # Then the ride is stored as Dora's, from that co-op, and search finds it
    ride = await stored_ride(coop, document["id"])
    assert ride is not None and not ride.local
    assert ride.actor_id == dora.record.id and ride.coop == "covoit@remote.test"
    assert ride.coop_uri == covoit.uri
    query = parse_search(
        {"origin": "45.19,5.72", "destination": "45.76,4.84", "departure": document["departure"]}
    )
    found = await RideService.of(coop.federation).search(query)
    assert [f.ride.uri for f in found] == [document["id"]]


@pytest.mark.parametrize("state", [None, PartnerState.OFFERED, PartnerState.REQUESTED])
async def test_a_ride_announced_by_a_group_that_is_not_an_active_partner_is_ignored(
    coop: Coop, dora: RemoteActor, state: PartnerState | None
) -> None:
    # Given a co-op Group we are not (or not yet) partnered with
    group = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/covoit", actor_type="Group")
    if state is not None:
        await PartnershipRepository(coop.federation).put(group.record.id, state, None)
    # When it relays one of its members' rides
    document = ride_document(dora, group)
    announce = await relay(coop, group, dora, document)
    # Then nothing is stored
    assert await stored_ride(coop, document["id"]) is None
    assert await coop.count("rides") == 0
    assert (await inbox_state(coop, announce))[0] == "done"


async def test_a_ride_announced_by_a_person_is_ignored(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor
) -> None:
    # Given Dora announcing her own ride, as if she were a co-op
    document = ride_document(dora, covoit)
    await relay(coop, dora, dora, document)
    assert await coop.count("rides") == 0


async def test_a_partner_relaying_a_ride_of_another_server_is_refused(
    coop: Coop, covoit: RemoteActor, eve: RemoteActor
) -> None:
    # Given an active partner on remote.test, When its Group relays Eve's ride of other.test
    document = ride_document(eve, covoit)
    announce = await relay(coop, covoit, eve, document)
    # Then the relay is refused and nothing is stored: a Group vouches for its own server only
    assert await coop.count("rides") == 0
    state, error = await inbox_state(coop, announce)
    assert state == "failed" and error is not None and "Forbidden" in error


async def test_a_partner_relaying_a_ride_whose_id_is_on_another_server_is_refused(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor
) -> None:
    # Given Dora of the partner's server, When the Group relays "her" ride that lives elsewhere
    document = ride_document(dora, covoit, ride_id=f"{OTHER_ORIGIN}/rides/1")
    announce = await relay(coop, covoit, dora, document)
    assert await coop.count("rides") == 0
    assert (await inbox_state(coop, announce))[0] == "failed"


async def test_a_partner_relaying_a_ride_attributed_to_someone_else_is_refused(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor, mallory: RemoteActor
) -> None:
    # Given Mallory's Create of a ride attributed to Dora, relayed by their co-op's Group
    document = ride_document(dora, covoit, ride_id=mallory.new_id("rides"))
    announce = await relay(coop, covoit, mallory, document)
    assert await coop.count("rides") == 0
    assert (await inbox_state(coop, announce))[0] == "failed"


async def test_another_member_cannot_rewrite_or_cancel_a_relayed_ride(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor, mallory: RemoteActor
) -> None:
    # Given Dora's ride, relayed by the partner
    document = ride_document(dora, covoit)
    await relay(coop, covoit, dora, document)
    before = await stored_ride(coop, document["id"])
    assert before is not None
    # When Mallory, of the same server, relays an Update of it in her own name
    hijack = document | {"attributedTo": mallory.uri, "seats": 8, "seatsLeft": 8, "price": "1"}
    hijack["occurrences"] = [o | {"seatsLeft": 8} for o in document["occurrences"]]
    update = await relay(coop, covoit, mallory, hijack, kind="Update")
    # Or a Delete of it
    tombstone = {"id": document["id"], "type": "Tombstone", "formerType": "Proposal"}
    await relay(coop, covoit, mallory, tombstone, kind="Delete")
    # Then Dora's ride is unchanged
    assert await stored_ride(coop, document["id"]) == before
    assert (await inbox_state(coop, update))[0] == "failed"
    # And Dora's own Update and Delete still apply
    await relay(coop, covoit, dora, document | {"price": "5"}, kind="Update")
    updated = await stored_ride(coop, document["id"])
    assert updated is not None and str(updated.price.amount) == "5"
    await relay(coop, covoit, dora, tombstone, kind="Delete")
    cancelled = await stored_ride(coop, document["id"])
    assert cancelled is not None and cancelled.status == "cancelled"
    # And an Update delivered after the Delete does not bring the ride back
    await relay(coop, covoit, dora, document | {"price": "4"}, kind="Update")
    assert await stored_ride(coop, document["id"]) == cancelled


# --- bookings ----------------------------------------------------------------------------------


async def a_local_ride(coop: Coop) -> Ride:
    """Return a ride the co-op's admin offers: Lyon → Grenoble in two days, 3 seats."""
    admin = await coop.local_actor("admin")
    return await RideService.of(coop.federation).create(
        admin,
        {
            "role": "driver",
            "origin": {"lat": 45.7578, "lon": 4.8320, "label": "12 rue de la République"},
            "destination": {"lat": 45.1885, "lon": 5.7245, "label": "Gare de Grenoble"},
            "departure": in_days(2).isoformat(),
            "seats": 3,
            "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
        },
    )


def booking_offer(
    rider: RemoteActor, ride: Ride, *, by: RemoteActor | None = None, **booking: Any
) -> dict[str, Any]:
    """Return an Offer of a Booking on a ride's first trip, sent by `by` (default: the rider)."""
    sender = by or rider
    embedded = {
        "id": rider.new_id("bookings"),
        "type": "Booking",
        "attributedTo": rider.uri,
        "ride": ride.uri,
        "occurrence": ride.occurrences[0].day.isoformat(),
        "seats": 1,
        "content": "Can I come?",
    } | booking
    return sender.activity("Offer", embedded, target=ride.uri, to=[], cc=[])


async def test_a_booking_offer_from_its_rider_is_stored_pending(
    coop: Coop,
    covoit: RemoteActor,  # the riders' server hosts a partner co-op
    mallory: RemoteActor,
) -> None:
    ride = await a_local_ride(coop)
    offer = booking_offer(mallory, ride)
    await coop.receive(mallory, offer)
    booking = await BookingRepository(coop.db).by_uri(offer["object"]["id"])
    assert booking is not None and booking.status == "pending"
    assert booking.rider_id == mallory.record.id
    assert await coop.count("notifications", "type = 'booking_request'") == 1


@pytest.mark.parametrize(
    "forgery",
    ["attributed to another rider", "id on another server", "actor is not the signer"],
)
async def test_a_forged_booking_offer_changes_nothing(
    coop: Coop,
    covoit: RemoteActor,  # the riders' server hosts a partner co-op
    mallory: RemoteActor,
    dora: RemoteActor,
    eve: RemoteActor,
    forgery: str,
) -> None:
    # Given a ride of ours
    ride = await a_local_ride(coop)
    # When Mallory sends an Offer of a booking in Dora's name, with an id on Eve's server, or
    # claiming in the Offer itself to be someone else
    if forgery == "attributed to another rider":
        offer = booking_offer(mallory, ride, attributedTo=dora.uri)
    elif forgery == "id on another server":
        offer = booking_offer(mallory, ride, id=eve.new_id("bookings"))
    else:
        offer = booking_offer(mallory, ride)
        offer["actor"] = dora.uri
    response = await coop.post_signed(mallory, offer)
    await coop.process()
    # Then no booking, no notification, no seat moved (refused at the door or when handled)
    assert response.status in (202, 401, 403), await response.text()
    assert await coop.count("bookings") == 0
    assert await coop.count("notifications", "type = 'booking_request'") == 0
    stored = await RideRepository(coop.db).get(ride.id)
    assert stored is not None and stored.occurrences[0].seats_left == 3


async def a_booking_of_dora_s_ride(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor
) -> tuple[Ride, Booking]:
    """Have our admin ask for a seat in Dora's car (a partner's ride): return both."""
    document = ride_document(dora, covoit)
    await relay(coop, covoit, dora, document)
    ride = await stored_ride(coop, document["id"])
    assert ride is not None
    admin = await coop.local_actor("admin")
    bookings = BookingService.of(RideService.of(coop.federation))
    booking = await bookings.request(admin, ride.id, {"seats": 1})
    assert booking.status == "pending"
    return ride, booking


def answer(
    sender: RemoteActor, kind: str, booking: Booking, rider_uri: str, ride: Ride
) -> dict[str, Any]:
    """Return an Accept or Reject of a booking's Offer, as the driver's instance sends it."""
    offer = {
        "id": booking.offer_uri,
        "type": "Offer",
        "actor": rider_uri,
        "object": {
            "id": booking.uri,
            "type": "Booking",
            "attributedTo": rider_uri,
            "ride": ride.uri,
            "occurrence": booking.day.isoformat(),
            "seats": booking.seats,
        },
    }
    return sender.activity(kind, offer, to=[rider_uri], cc=[], content="ok")


async def booking_status(coop: Coop, booking: Booking) -> str:
    stored = await BookingRepository(coop.db).get(booking.id)
    assert stored is not None
    return stored.status.value


async def test_an_answer_from_someone_other_than_the_driver_changes_nothing(
    coop: Coop, covoit: RemoteActor, dora: RemoteActor, mallory: RemoteActor, eve: RemoteActor
) -> None:
    # Given our admin's pending request for a seat in Dora's car
    ride, booking = await a_booking_of_dora_s_ride(coop, covoit, dora)
    admin = await coop.local_actor("admin")
    # When Mallory (Dora's server), the partner's Group or Eve accepts or rejects it
    for sender in (mallory, covoit, eve):
        for kind in ("Accept", "Reject"):
            await coop.receive(sender, answer(sender, kind, booking, admin.uri, ride))
    # Then the booking is still pending and our admin heard nothing
    assert await booking_status(coop, booking) == "pending"
    assert await coop.count("notifications", "type LIKE 'booking_%'") == 0
    # And when Dora herself accepts, it is accepted
    await coop.receive(dora, answer(dora, "Accept", booking, admin.uri, ride))
    assert await booking_status(coop, booking) == "accepted"
    assert await coop.count("notifications", "type = 'booking_accepted'") == 1
    # And Mallory cannot cancel it afterwards either
    await coop.receive(mallory, answer(mallory, "Reject", booking, admin.uri, ride))
    assert await booking_status(coop, booking) == "accepted"


async def test_a_trip_cannot_be_closed_by_the_other_party_before_it_left(
    coop: Coop,
    covoit: RemoteActor,  # the riders' server hosts a partner co-op
    mallory: RemoteActor,
) -> None:
    # Given Mallory's accepted seat in our admin's car, leaving in two days
    ride = await a_local_ride(coop)
    offer = booking_offer(mallory, ride)
    await coop.receive(mallory, offer)
    booking = await BookingRepository(coop.db).by_uri(offer["object"]["id"])
    assert booking is not None
    admin = await coop.local_actor("admin")
    await BookingService.of(RideService.of(coop.federation)).accept(admin, booking.id)
    # When Mallory says the trip already happened, or did not, before it left
    for status in ("completed", "cancelled"):
        pushed = {"id": booking.uri, "type": "Booking", "status": status}
        await coop.receive(mallory, mallory.activity("Update", pushed, to=[admin.uri], cc=[]))
    # Then the booking stays accepted: nobody closes a trip early (and reviews it)
    assert await booking_status(coop, booking) == "accepted"
    assert await coop.count("notifications", "type = 'booking_completed'") == 0
    # And once the trip has left, her word is taken
    past = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await coop.db.execute(
        "UPDATE ride_occurrences SET departure = $1 WHERE ride_id = $2", past, ride.id
    )
    pushed = {"id": booking.uri, "type": "Booking", "status": "completed"}
    await coop.receive(mallory, mallory.activity("Update", pushed, to=[admin.uri], cc=[]))
    assert await booking_status(coop, booking) == "completed"


async def test_a_booking_offer_from_a_server_without_a_partner_co_op_is_refused(
    coop: Coop, mallory: RemoteActor
) -> None:
    # Given no partnership with any co-op on the rider's server
    ride = await a_local_ride(coop)
    offer = booking_offer(mallory, ride)
    await coop.receive(mallory, offer)
    # Then the request is kept as refused, and no seat moves
    booking = await BookingRepository(coop.db).by_uri(offer["object"]["id"])
    assert booking is not None and booking.status == "rejected"
    assert booking.reason == "bookings come from members of partner co-ops"
    stored = await RideService.of(coop.federation).get(ride.id)
    assert stored.occurrences[0].seats_left == 3
