"""An in-memory index of driver offers that finds exactly what `brute_force` finds, fast.

Two prefilters, both conservative, before the exact rule of `matching.py`:

- **Space.** A pickup P and drop-off D' can only keep the detour within L if both lie in the
  ellipse `d(O,X) + d(X,D) ≤ d(O,D) + L` (triangle inequality). Each offer gets, once when
  added, a latitude/longitude box that contains that ellipse on the sphere (`ellipse_box`),
  and is listed in every cell of a coarse grid its box overlaps. A search reads one cell:
  the pickup's or the drop-off's, whichever lists fewer offers in the time window.
- **Time.** Within a cell, offers sit on shelves by margin tier (≤ 15, 30, 60 … minutes) and
  day of departure, each sorted by departure, so a search bisects the window
  `departure ± (its margin + tier bound)` on a shelf or two per tier. Day shelves keep them
  short, so adding or removing an offer moves a few hundred entries, not the whole month.

Offers whose box is too big for the grid (very long trips, boxes over a pole or across the
antimeridian) go to one "wide" list that every search reads, by time only. What survives both
prefilters gets the exact detour, computed to the same bits as `geo.detour_km`.

Pure Python, so memory access decides the speed: departures and box edges are kept in flat
`array`s beside the offers, and the box test runs in C over a slice (`_Bucket.holding`).
Not thread-safe: one event loop owns an index.
"""

from __future__ import annotations

import gc
import heapq
import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from math import asin, cos, radians, sin, sqrt
from operator import and_, attrgetter, ge, itemgetter, le
from typing import Any

from fedicoop.errors import Conflict, Invalid
from fedicoop.rides.geo import EARTH_RADIUS_KM, distance_km
from fedicoop.rides.matching import (
    MICROSECONDS_PER_MINUTE,
    Match,
    Offer,
    Request,
    make_match,
    microseconds,
    round_detour,
)

DEFAULT_CELL_DEGREES = 1.0
MAX_CELLS_PER_OFFER = 512  # beyond this, listing an offer in every cell costs more than it saves
TIER_BASE_MINUTES = 15
TIER_SLOTS = 64  # a shelf is day × TIER_SLOTS + tier
DAY_US = 86_400_000_000
# Floating-point room: the detour is a sum of four rounded distances, the box bounds are
# rounded too. A metre and a nanodegree are far above those errors and far below any filter.
_SLACK_KM = 0.001
_SLACK_DEGREES = 1e-9
_DIAMETER_KM = 2 * EARTH_RADIUS_KM
_RADIANS_PER_DEGREE = math.pi / 180
_RANK = itemgetter(0, 1, 2)  # shown detour, departure gap, key: Match.rank_key's order


def ellipse_box(
    origin: tuple[float, float], destination: tuple[float, float], reach_km: float
) -> tuple[float, float, float, float]:
    """Return (lat_lo, lat_hi, lon_lo, lon_hi) holding every X with d(O,X) + d(X,D) ≤ reach.

    Latitude: d(X,Y) ≥ R·|φX − φY|, so |φ − φO| + |φ − φD| ≤ reach/R. Longitude: with both
    points in the band |φ| ≤ φb, haversine gives d ≥ g(Δλ) = 2R·asin(cos φb · sin(Δλ/2)); g is
    concave, so g(a) + g(b) ≥ g(a + b) and |λ − λO| + |λ − λD| ≤ g⁻¹(reach). The longitudes
    come back infinite when the box would touch a pole or cross the antimeridian.
    """
    (o_lat, o_lon), (d_lat, d_lon) = origin, destination
    reach = reach_km + _SLACK_KM
    half_height = math.degrees(reach / EARTH_RADIUS_KM) / 2 + _SLACK_DEGREES
    middle = (o_lat + d_lat) / 2
    lat_lo, lat_hi = middle - half_height, middle + half_height
    if lat_lo <= -90.0 or lat_hi >= 90.0 or abs(o_lon - d_lon) > 180.0:
        return (max(lat_lo, -90.0), min(lat_hi, 90.0), -math.inf, math.inf)
    narrowest = math.cos(math.radians(max(abs(lat_lo), abs(lat_hi))))
    half_angle = reach / (2 * EARTH_RADIUS_KM)
    if half_angle >= math.pi / 2:
        return (lat_lo, lat_hi, -math.inf, math.inf)
    sine = math.sin(half_angle) / narrowest
    if sine >= 1.0:
        return (lat_lo, lat_hi, -math.inf, math.inf)
    half_width = math.degrees(math.asin(sine)) + _SLACK_DEGREES
    if half_width >= 90.0:
        return (lat_lo, lat_hi, -math.inf, math.inf)
    middle = (o_lon + d_lon) / 2
    lon_lo, lon_hi = middle - half_width, middle + half_width
    if lon_lo < -180.0 or lon_hi > 180.0:
        return (lat_lo, lat_hi, -math.inf, math.inf)
    return (lat_lo, lat_hi, lon_lo, lon_hi)


def margin_tier(margin_minutes: int) -> int:
    """Return the tier of a margin: 0 for ≤ 15 min, 1 for ≤ 30, 2 for ≤ 60, and so on."""
    tier, bound = 0, TIER_BASE_MINUTES
    while bound < margin_minutes:
        tier, bound = tier + 1, bound * 2
    return tier


class _Placed:
    """An indexed offer with what the search reads precomputed (mutable: seats change)."""

    __slots__ = (
        "box",
        "cells",
        "departure_us",
        "destination_cos",
        "destination_lon",
        "destination_phi",
        "margin_us",
        "max_detour_km",
        "offer",
        "origin_cos",
        "origin_lon",
        "origin_phi",
        "seats_left",
        "shelf",
        "tier",
        "trip_km",
    )

    def __init__(self, offer: Offer, cell_degrees: float) -> None:
        self.offer = offer
        self.seats_left = offer.seats_left
        self.departure_us = microseconds(offer.departure)
        self.margin_us = offer.margin_minutes * MICROSECONDS_PER_MINUTE
        self.tier = margin_tier(offer.margin_minutes)
        if self.tier >= TIER_SLOTS:
            raise Invalid("margin_minutes is far too large", field="margin_minutes")
        self.shelf = self.departure_us // DAY_US * TIER_SLOTS + self.tier
        self.origin_phi = radians(offer.origin[0])
        self.origin_cos = cos(self.origin_phi)
        self.origin_lon = offer.origin[1]
        self.destination_phi = radians(offer.destination[0])
        self.destination_cos = cos(self.destination_phi)
        self.destination_lon = offer.destination[1]
        self.max_detour_km = offer.max_detour_km
        self.trip_km = distance_km(*offer.origin, *offer.destination)
        self.box = ellipse_box(offer.origin, offer.destination, self.trip_km + offer.max_detour_km)
        self.cells = _cells_of(self.box, cell_degrees)

    def same_place(self, offer: Offer) -> bool:
        """Return whether `offer` sits exactly where this one is indexed (only seats differ)."""
        old = self.offer
        return (
            offer.origin == old.origin
            and offer.destination == old.destination
            and offer.departure == old.departure
            and offer.margin_minutes == old.margin_minutes
            and offer.max_detour_km == old.max_detour_km
        )


class _Bucket:
    """Offers of one cell on one shelf (day × margin tier), in departure order.

    Departures and box edges sit in flat arrays beside the offers: bisecting and the box test
    then read contiguous memory and run in C (`holding`), not one Python object per offer.
    """

    __slots__ = ("departures", "lat_hi", "lat_lo", "lon_hi", "lon_lo", "placed")

    def __init__(self, placed: list[_Placed] | None = None) -> None:
        """Start empty, or with offers already in departure order."""
        self.placed: list[_Placed] = placed or []
        self.departures = array("q", map(attrgetter("departure_us"), self.placed))
        edges = list(zip(*map(attrgetter("box"), self.placed), strict=True)) or [()] * 4
        self.lat_lo, self.lat_hi, self.lon_lo, self.lon_hi = (array("d", e) for e in edges)

    def subset(self, positions: list[int]) -> _Bucket:
        """Return a bucket of the offers at these positions (ascending), read from the arrays."""
        bucket = _Bucket.__new__(_Bucket)
        bucket.placed = list(_gather(self.placed, positions))
        bucket.departures = array("q", _gather(self.departures, positions))
        bucket.lat_lo = array("d", _gather(self.lat_lo, positions))
        bucket.lat_hi = array("d", _gather(self.lat_hi, positions))
        bucket.lon_lo = array("d", _gather(self.lon_lo, positions))
        bucket.lon_hi = array("d", _gather(self.lon_hi, positions))
        return bucket

    def insert(self, placed: _Placed) -> None:
        """Insert in departure order."""
        position = bisect_right(self.departures, placed.departure_us)
        self.departures.insert(position, placed.departure_us)
        self.placed.insert(position, placed)
        lat_lo, lat_hi, lon_lo, lon_hi = placed.box
        self.lat_lo.insert(position, lat_lo)
        self.lat_hi.insert(position, lat_hi)
        self.lon_lo.insert(position, lon_lo)
        self.lon_hi.insert(position, lon_hi)

    def delete(self, placed: _Placed) -> None:
        """Remove this very object (others may share its departure)."""
        position = bisect_left(self.departures, placed.departure_us)
        while self.placed[position] is not placed:
            position += 1
        del self.departures[position], self.placed[position]
        del self.lat_lo[position], self.lat_hi[position]
        del self.lon_lo[position], self.lon_hi[position]

    def holding(
        self, start: int, stop: int, rectangle: tuple[float, float, float, float]
    ) -> Iterator[_Placed]:
        """Yield the offers of [start, stop) whose box holds (south, north, west, east)."""
        south, north, west, east = rectangle
        holds = map(
            and_,
            map(
                and_,
                map(le, self.lat_lo[start:stop], repeat(south)),
                map(ge, self.lat_hi[start:stop], repeat(north)),
            ),
            map(
                and_,
                map(le, self.lon_lo[start:stop], repeat(west)),
                map(ge, self.lon_hi[start:stop], repeat(east)),
            ),
        )
        return compress(self.placed[start:stop], holds)


def _gather(column: Sequence[Any], positions: list[int]) -> tuple[Any, ...]:
    """Return the items at `positions` (one itemgetter call in C, not one call per item)."""
    if len(positions) == 1:  # itemgetter of one index returns the item, not a tuple
        return (column[positions[0]],)
    return tuple(itemgetter(*positions)(column))


Shelves = dict[int, _Bucket]
"""Buckets of one cell (or of the wide list) by shelf: day of departure × TIER_SLOTS + tier."""


def _cells_of(box: tuple[float, float, float, float], cell_degrees: float) -> tuple[int, ...]:
    """Return the grid cells a box overlaps; () when it belongs in the wide list."""
    lat_lo, lat_hi, lon_lo, lon_hi = box
    if math.isinf(lon_lo):
        return ()
    row_lo, row_hi = _row(lat_lo, cell_degrees), _row(lat_hi, cell_degrees)
    col_lo, col_hi = _column(lon_lo, cell_degrees), _column(lon_hi, cell_degrees)
    if (row_hi - row_lo + 1) * (col_hi - col_lo + 1) > MAX_CELLS_PER_OFFER:
        return ()
    columns = _columns(cell_degrees)
    span = range(col_lo, col_hi + 1)
    return tuple([row * columns + column for row in range(row_lo, row_hi + 1) for column in span])


def _row(latitude: float, cell_degrees: float) -> int:
    return math.floor((latitude + 90.0) / cell_degrees)


def _column(longitude: float, cell_degrees: float) -> int:
    return math.floor((longitude + 180.0) / cell_degrees)


def _columns(cell_degrees: float) -> int:
    return math.floor(360.0 / cell_degrees) + 2


class RideIndex:
    """Driver offers by key, searchable by `Request`; results equal `brute_force`'s."""

    def __init__(self, offers: Iterable[Offer] = (), *, cell_degrees: float = DEFAULT_CELL_DEGREES):
        if not 0.0 < cell_degrees <= 90.0:
            raise Invalid("cell_degrees must be in (0, 90]", field="cell_degrees")
        self.cell_degrees = cell_degrees
        self._columns = _columns(cell_degrees)
        self._offers: dict[str, _Placed] = {}
        self._grid: dict[int, Shelves] = {}
        self._wide: Shelves = {}
        self._tiers: dict[int, int] = {}  # margin tier → how many offers use it
        self.rebuild(offers)

    def __len__(self) -> int:
        return len(self._offers)

    def __contains__(self, key: object) -> bool:
        return key in self._offers

    def __iter__(self) -> Iterator[Offer]:
        return (placed.offer for placed in self._offers.values())

    def get(self, key: str) -> Offer | None:
        """Return the offer indexed under `key`, if any."""
        placed = self._offers.get(key)
        return None if placed is None else placed.offer

    def add(self, offer: Offer) -> None:
        """Index a new offer; a key already present is a Conflict (use `update`)."""
        if offer.key in self._offers:
            raise Conflict(f"offer {offer.key!r} is already indexed", field="key")
        self._place(_Placed(offer, self.cell_degrees))

    def update(self, offer: Offer) -> None:
        """Index `offer` in place of the one with its key (moving it if it moved), or add it."""
        old = self._offers.get(offer.key)
        if old is not None and old.same_place(offer):
            # The common update (a booking took seats) touches no list.
            old.offer, old.seats_left = offer, offer.seats_left
            return
        placed = _Placed(offer, self.cell_degrees)
        if old is not None:
            self._unplace(old)
        self._place(placed)

    def remove(self, key: str) -> bool:
        """Drop the offer with this key; return whether there was one."""
        placed = self._offers.get(key)
        if placed is None:
            return False
        self._unplace(placed)
        return True

    def rebuild(self, offers: Iterable[Offer]) -> None:
        """Replace the whole content with `offers` (keys must be unique)."""
        # A rebuild allocates about a million containers and makes no reference cycles; left
        # on, the cycle collector rescans the growing heap over and over (a quarter of the time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._rebuild(offers)
        finally:
            if collecting:
                gc.enable()

    def _rebuild(self, offers: Iterable[Offer]) -> None:
        everything: dict[str, _Placed] = {}
        for offer in offers:
            if offer.key in everything:
                raise Conflict(f"offer {offer.key!r} appears twice", field="key")
            everything[offer.key] = _Placed(offer, self.cell_degrees)
        # Every offer in departure order, then each bucket gathered from it by position: the
        # buckets come out sorted, and their arrays are copied from arrays, not from objects.
        ordered = _Bucket(sorted(everything.values(), key=attrgetter("departure_us")))
        by_shelf: dict[int, list[int]] = {}
        tiers: dict[int, int] = {}
        for position, placed in enumerate(ordered.placed):
            by_shelf.setdefault(placed.shelf, []).append(position)
            tiers[placed.tier] = tiers.get(placed.tier, 0) + 1
        grid: dict[int, Shelves] = {}
        wide: Shelves = {}
        for shelf, positions in by_shelf.items():
            piles: dict[int, list[int]] = {}
            wide_pile = []
            for position in positions:
                cells = ordered.placed[position].cells
                if not cells:
                    wide_pile.append(position)
                for cell in cells:
                    pile = piles.get(cell)
                    if pile is None:
                        pile = piles[cell] = []
                    pile.append(position)
            for cell, pile in piles.items():
                grid.setdefault(cell, {})[shelf] = ordered.subset(pile)
            if wide_pile:
                wide[shelf] = ordered.subset(wide_pile)
        self._offers, self._grid, self._wide, self._tiers = everything, grid, wide, tiers

    def search(self, request: Request, limit: int = 50) -> list[Match]:
        """Return the offers matching `request`, best first (at most `limit`)."""
        if limit < 0:
            raise Invalid("limit must be ≥ 0", field="limit")
        p_lat, p_lon = request.origin
        q_lat, q_lon = request.destination
        p_phi, q_phi = radians(p_lat), radians(q_lat)
        p_cos, q_cos = cos(p_phi), cos(q_phi)
        departure = microseconds(request.departure)
        request_margin = request.margin_minutes * MICROSECONDS_PER_MINUTE
        seats = request.seats
        pickup_to_dropoff = distance_km(p_lat, p_lon, q_lat, q_lon)
        # The box holds both points exactly when it holds the box around the two.
        south, north = (p_lat, q_lat) if p_lat <= q_lat else (q_lat, p_lat)
        west, east = (p_lon, q_lon) if p_lon <= q_lon else (q_lon, p_lon)
        rectangle = (south, north, west, east)
        found = []
        for bucket, start, stop in self._candidates(request, departure, request_margin):
            for placed in bucket.holding(start, stop, rectangle):
                if placed.seats_left < seats:
                    continue
                gap = placed.departure_us - departure
                if gap < 0:
                    gap = -gap
                if gap > placed.margin_us + request_margin:
                    continue
                # geo.distance_km(O, P) and (D', D) written out with the trigonometry of O, D
                # computed once per offer and of P, D' once per search: the same operations in
                # the same order, so the same bits (tests hold offers at exactly their limit).
                # (radians(x) is x * (pi / 180) in CPython; `s if s < 1.0 else 1.0` is
                # min(1.0, s); both spelled out because the calls cost more than the maths.)
                h = (
                    sin((p_phi - placed.origin_phi) / 2) ** 2
                    + placed.origin_cos
                    * p_cos
                    * sin((p_lon - placed.origin_lon) * _RADIANS_PER_DEGREE / 2) ** 2
                )
                root = sqrt(h)
                to_pickup = _DIAMETER_KM * asin(root if root < 1.0 else 1.0)
                h = (
                    sin((placed.destination_phi - q_phi) / 2) ** 2
                    + q_cos
                    * placed.destination_cos
                    * sin((placed.destination_lon - q_lon) * _RADIANS_PER_DEGREE / 2) ** 2
                )
                root = sqrt(h)
                from_dropoff = _DIAMETER_KM * asin(root if root < 1.0 else 1.0)
                detour = to_pickup + pickup_to_dropoff + from_dropoff - placed.trip_km
                if detour <= placed.max_detour_km:
                    found.append((round_detour(detour), gap, placed.offer.key, placed, detour))
        # Rank light tuples in Match.rank_key's order; build Match objects for the chosen only
        # (a short trip in a big city can fit hundreds of offers).
        if limit < len(found):
            found = heapq.nsmallest(limit, found, key=_RANK)
        else:
            found.sort(key=_RANK)
        return [
            make_match(placed.offer, request, detour, gap) for _, gap, _, placed, detour in found
        ]

    def _candidates(
        self, request: Request, departure: int, request_margin: int
    ) -> list[tuple[_Bucket, int, int]]:
        """Return (bucket, start, stop) slices that hold every offer that might match."""
        best: list[tuple[_Bucket, int, int]] = []
        best_count = -1
        cells = {self._cell(*request.origin), self._cell(*request.destination)}
        for cell in cells:
            shelves = self._grid.get(cell)
            if shelves is None:
                best, best_count = [], 0  # no offer's box covers this point: nothing matches
                break
            slices = self._window(shelves, departure, request_margin)
            count = sum(stop - start for _, start, stop in slices)
            if best_count < 0 or count < best_count:
                best, best_count = slices, count
        if self._wide:
            best = best + self._window(self._wide, departure, request_margin)
        return best

    def _window(
        self, shelves: Shelves, departure: int, request_margin: int
    ) -> list[tuple[_Bucket, int, int]]:
        """Return the slices of departures within the request margin plus each tier's bound."""
        slices = []
        for tier in self._tiers:
            reach = request_margin + (TIER_BASE_MINUTES << tier) * MICROSECONDS_PER_MINUTE
            low, high = departure - reach, departure + reach
            first, last = low // DAY_US, high // DAY_US
            if last - first < len(shelves):
                found = [shelves.get(day * TIER_SLOTS + tier) for day in range(first, last + 1)]
            else:  # a margin of months: walk what is there rather than every day
                found = [
                    bucket
                    for shelf, bucket in shelves.items()
                    if shelf % TIER_SLOTS == tier and first <= shelf // TIER_SLOTS <= last
                ]
            for bucket in found:
                if bucket is not None:
                    departures = bucket.departures
                    start = bisect_left(departures, low)
                    stop = bisect_right(departures, high)
                    if start < stop:
                        slices.append((bucket, start, stop))
        return slices

    def _cell(self, latitude: float, longitude: float) -> int:
        row = _row(latitude, self.cell_degrees)
        return row * self._columns + _column(longitude, self.cell_degrees)

    def _homes(self, placed: _Placed) -> list[Shelves]:
        """Return the shelf maps an offer is listed in, creating the missing ones."""
        if not placed.cells:
            return [self._wide]
        grid = self._grid
        homes = []
        for cell in placed.cells:
            shelves = grid.get(cell)
            if shelves is None:
                shelves = grid[cell] = {}
            homes.append(shelves)
        return homes

    def _place(self, placed: _Placed) -> None:
        self._offers[placed.offer.key] = placed
        self._tiers[placed.tier] = self._tiers.get(placed.tier, 0) + 1
        shelf = placed.shelf
        for shelves in self._homes(placed):
            bucket = shelves.get(shelf)
            if bucket is None:
                bucket = shelves[shelf] = _Bucket()
            bucket.insert(placed)

    def _unplace(self, placed: _Placed) -> None:
        del self._offers[placed.offer.key]
        self._tiers[placed.tier] -= 1
        if not self._tiers[placed.tier]:
            del self._tiers[placed.tier]
        shelf = placed.shelf
        for shelves in self._homes(placed):
            bucket = shelves[shelf]
            bucket.delete(placed)
            if not bucket.placed:
                del shelves[shelf]
        for cell in placed.cells:
            if not self._grid[cell]:
                del self._grid[cell]
