"""The matching rule between a rider's request and a driver's offer, and its brute-force oracle.

A request matches an offer when the departures lie within both margins of each other, the
offer has the seats, and picking the rider up and dropping them off adds at most the driver's
limit to the trip: `d(O,P) + d(P,D') + d(D',D) − d(O,D) ≤ max_detour_km` (beeline, see
`geo.py`). Matches rank by detour, then by time difference. `RideIndex` in
`matching_index.py` answers the same question fast; `brute_force` here is the plain scan the
index is tested against.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fedicoop.errors import Invalid
from fedicoop.rides.geo import detour_km

Point = tuple[float, float]
"""(latitude, longitude) in degrees."""

DEFAULT_MARGIN_MINUTES = 15
DETOUR_STEP_KM = 0.5  # reported detours are rounded to this, so searches cannot locate a home
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MICROSECONDS_PER_MINUTE = 60_000_000


@dataclass(frozen=True, slots=True)
class Offer:
    """One driver's occurrence as the index holds it: where, when, how flexible, seats left."""

    key: str  # the occurrence id, unique in the index
    coop: str  # handle@host of the co-op Group the ride comes from
    origin: Point
    destination: Point
    departure: datetime  # timezone-aware
    margin_minutes: int
    seats_left: int
    max_detour_km: float

    def __post_init__(self) -> None:
        if not self.key:
            raise Invalid("an offer needs a key", field="key")
        _check_point(self.origin, "origin")
        _check_point(self.destination, "destination")
        _check_aware(self.departure)
        _check_count(self.margin_minutes, "margin_minutes", minimum=0)
        _check_count(self.seats_left, "seats_left", minimum=0)
        if not math.isfinite(self.max_detour_km) or self.max_detour_km < 0:
            raise Invalid("max_detour_km must be a finite number ≥ 0", field="max_detour_km")

    @classmethod
    def trusted(
        cls,
        key: str,
        coop: str,
        origin: Point,
        destination: Point,
        departure: datetime,
        margin_minutes: int,
        seats_left: int,
        max_detour_km: float,
    ) -> Offer:
        """Build an offer from values checked when they were stored, skipping the checks.

        Loading the index builds 100,000 offers from the database: the checks are a tenth of it.
        """
        offer = object.__new__(cls)
        setter = object.__setattr__
        setter(offer, "key", key)
        setter(offer, "coop", coop)
        setter(offer, "origin", origin)
        setter(offer, "destination", destination)
        setter(offer, "departure", departure)
        setter(offer, "margin_minutes", margin_minutes)
        setter(offer, "seats_left", seats_left)
        setter(offer, "max_detour_km", max_detour_km)
        return offer


@dataclass(frozen=True, slots=True)
class Request:
    """A rider's search: from where to where, when (give or take a margin), how many seats."""

    origin: Point  # the pickup P
    destination: Point  # the drop-off D'
    departure: datetime  # timezone-aware
    margin_minutes: int = DEFAULT_MARGIN_MINUTES
    seats: int = 1

    def __post_init__(self) -> None:
        _check_point(self.origin, "origin")
        _check_point(self.destination, "destination")
        _check_aware(self.departure)
        _check_count(self.margin_minutes, "margin_minutes", minimum=0)
        _check_count(self.seats, "seats", minimum=1)


@dataclass(frozen=True, slots=True)
class Match:
    """One offer that fits a request, with what it costs the driver and how close in time."""

    offer_key: str
    coop: str
    detour_km: float  # rounded to DETOUR_STEP_KM
    time_difference_minutes: float
    score: float  # 0–1 closeness for display and alert thresholds; the order is rank_key's

    def rank_key(self) -> tuple[float, float, str]:
        """Return what results sort by: detour, then time difference, then key (stable order)."""
        return (self.detour_km, self.time_difference_minutes, self.offer_key)


def brute_force(offers: Iterable[Offer], request: Request, limit: int | None = None) -> list[Match]:
    """Return every offer matching `request`, best first, by checking each one: the oracle."""
    matches = []
    for offer in offers:
        gap = abs(offer.departure - request.departure)
        if gap > timedelta(minutes=offer.margin_minutes + request.margin_minutes):
            continue
        if offer.seats_left < request.seats:
            continue
        detour = detour_km(offer.origin, offer.destination, request.origin, request.destination)
        if detour <= offer.max_detour_km:
            matches.append(make_match(offer, request, detour, gap // _MICROSECOND))
    return best_first(matches, limit)


def make_match(offer: Offer, request: Request, detour: float, gap_us: int) -> Match:
    """Build the result for a matching offer (exact detour, departure gap in microseconds)."""
    shown_detour = round_detour(detour)
    window_us = (offer.margin_minutes + request.margin_minutes) * MICROSECONDS_PER_MINUTE
    detour_share = min(1.0, shown_detour / max(offer.max_detour_km, DETOUR_STEP_KM))
    time_share = gap_us / window_us if window_us else 0.0
    return Match(
        offer_key=offer.key,
        coop=offer.coop,
        detour_km=shown_detour,
        time_difference_minutes=gap_us / MICROSECONDS_PER_MINUTE,
        # Computed from the rounded detour too: the exact one would leak finer than 0.5 km.
        score=1.0 - 0.5 * detour_share - 0.5 * time_share,
    )


def best_first(matches: list[Match], limit: int | None) -> list[Match]:
    """Return the `limit` best matches (all when None) in rank order."""
    if limit is not None and limit < len(matches):
        return heapq.nsmallest(limit, matches, key=Match.rank_key)
    return sorted(matches, key=Match.rank_key)


def round_detour(detour: float) -> float:
    """Round a detour half-up to DETOUR_STEP_KM (never below zero, never -0.0)."""
    if detour <= 0.0:  # float sums can dip a hair below an exact zero
        return 0.0
    return math.floor(detour / DETOUR_STEP_KM + 0.5) * DETOUR_STEP_KM


def microseconds(moment: datetime) -> int:
    """Return a time as whole microseconds since 1970 (exact, unlike timestamp())."""
    return (moment - _EPOCH) // _MICROSECOND


def _check_point(point: Point, name: str) -> None:
    if len(point) != 2:
        raise Invalid(f"{name} must be (latitude, longitude)", field=name)
    latitude, longitude = point
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise Invalid(f"{name} is not a latitude/longitude in degrees", field=name)


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid("departure must carry a time zone offset", field="departure")


def _check_count(value: int, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Invalid(f"{name} must be a whole number ≥ {minimum}", field=name)
