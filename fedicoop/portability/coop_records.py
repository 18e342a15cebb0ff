"""A member's co-op records in the archive: rides, bookings, proposals, ballots (both ways).

`ride_to_archive` keeps what the member typed (the exact places are theirs) beside what was
published, and `ride_draft_from_archive` turns it back into the JSON API's ride input, so an
importing co-op re-publishes an open ride through the same rules as a new one. Bookings,
proposals and ballots belong to the co-op that counted or carried them: they are kept in the
archive for the record (ballots with their signed documents, still verifiable) and never
re-created elsewhere.
"""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fedicoop.rides.model import RideStatus
from fedicoop.rides.records import (
    Booking,
    Ride,
    place_json,
    preferences_json,
    price_json,
    schedule_json,
)
from fedicoop.storage.proposals import BallotRecord, ProposalRecord

# Rides still worth offering on a new co-op: cancelled, expired and completed ones are history.
LIVE = frozenset({RideStatus.OPEN, RideStatus.FULL})


def _local_departure(ride: Ride) -> str:
    offset = timezone(timedelta(minutes=ride.utc_offset_minutes))
    return ride.departure.astimezone(offset).isoformat()


def ride_to_archive(ride: Ride) -> dict[str, Any]:
    """Return a ride: its state, its published form, and the input that would re-create it."""
    exact = ride.exact
    draft: dict[str, Any] = {
        "role": ride.role.value,
        "origin": place_json(exact.origin if exact else ride.origin),
        "destination": place_json(exact.destination if exact else ride.destination),
        "waypoints": [place_json(p) for p in (exact.waypoints if exact else ride.waypoints)],
        "seats": ride.seats,
        "price": price_json(ride.price),
        "preferences": preferences_json(ride.preferences),
        "max_detour_km": ride.max_detour_km,
        "margin_minutes": ride.margin_minutes,
    }
    if ride.schedule is not None:
        draft["schedule"] = schedule_json(ride.schedule)
    else:
        draft["departure"] = _local_departure(ride)
    return {
        "url": ride.uri,
        "coop": ride.coop,
        "status": ride.status.value,
        "created_at": ride.created_at,
        "updated_at": ride.updated_at,
        "published": {
            "origin": place_json(ride.origin),
            "destination": place_json(ride.destination),
            "waypoints": [place_json(p) for p in ride.waypoints],
            "trip_km": ride.trip_km,
        },
        "occurrences": [
            {
                "occurrence": o.day.isoformat(),
                "departure": o.departure.isoformat(),
                "seats_left": o.seats_left,
                "status": o.status.value,
            }
            for o in ride.occurrences
        ],
        "draft": draft,
    }


def ride_draft_from_archive(record: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """Return the ride input to re-publish an archived ride, or None when it is over."""
    if record.get("status") not in {status.value for status in LIVE}:
        return None
    draft = record.get("draft")
    if not isinstance(draft, dict):
        return None
    draft = dict(draft)
    if isinstance(draft.get("schedule"), dict):
        draft.pop("departure", None)  # the schedule's next trip after now
        return draft
    departure = draft.get("departure")
    try:
        moment = datetime.fromisoformat(str(departure))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.astimezone(UTC) <= now:
        return None
    return draft


def booking_to_archive(
    booking: Booking, ride_uri: str | None, rider: str, driver: str
) -> dict[str, Any]:
    """Return a booking the member was party to."""
    return {
        "url": booking.uri,
        "ride": ride_uri,
        "occurrence": booking.day.isoformat(),
        "seats": booking.seats,
        "status": booking.status.value,
        "rider": rider,
        "driver": driver,
        "pickup": place_json(booking.pickup) if booking.pickup else None,
        "dropoff": place_json(booking.dropoff) if booking.dropoff else None,
        "message": booking.message,
        "reason": booking.reason,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
    }


def proposal_to_archive(proposal: ProposalRecord, group_uri: str | None) -> dict[str, Any]:
    """Return a proposal the member made."""
    return {
        "url": proposal.uri,
        "coop": group_uri,
        "title": proposal.title,
        "body": proposal.body,
        "kind": proposal.kind,
        "options": proposal.options,
        "coops": proposal.coops,
        "rule": proposal.rule,
        "status": proposal.status,
        "outcome": proposal.outcome,
        "result": proposal.result,
        "opened_at": proposal.opened_at,
        "closes_at": proposal.closes_at,
        "closed_at": proposal.closed_at,
    }


def ballot_to_archive(ballot: BallotRecord, proposal_uri: str | None) -> dict[str, Any]:
    """Return a ballot the member cast, with the signed document that proves it."""
    return {
        "url": ballot.uri,
        "proposal": proposal_uri,
        "coop": ballot.coop_uri,
        "choice": ballot.choice,
        "source": ballot.source,
        "state": ballot.state,
        "reason": ballot.reason,
        "cast_at": ballot.cast_at,
        "document": ballot.document,
    }
