"""Ride matching: the rule at its boundaries, the ranking, index updates, and index == oracle."""

import gc
import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fedicoop.errors import Conflict, Invalid
from fedicoop.rides.geo import default_max_detour_km, detour_km, distance_km
from fedicoop.rides.matching import Match, Offer, Point, Request, brute_force, round_detour
from fedicoop.rides.matching_index import RideIndex, ellipse_box

LYON = (45.7640, 4.8357)
GRENOBLE = (45.1885, 5.7245)
VOIRON = (45.3640, 5.5890)  # on the way from Lyon to Grenoble
BOURGOIN = (45.5868, 5.2790)  # on the way too
PARIS = (48.8566, 2.3522)
LILLE = (50.6292, 3.0573)
LISBON = (38.7223, -9.1393)
WARSAW = (52.2297, 21.0122)
EIGHT = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)


def offer(
    key: str = "lyon-grenoble",
    origin: Point = LYON,
    destination: Point = GRENOBLE,
    departure: datetime = EIGHT,
    margin_minutes: int = 15,
    seats_left: int = 3,
    max_detour_km: float | None = None,
    coop: str = "covoit@b.example",
) -> Offer:
    limit = max_detour_km
    if limit is None:
        limit = default_max_detour_km(distance_km(*origin, *destination))
    return Offer(key, coop, origin, destination, departure, margin_minutes, seats_left, limit)


def keys(matches: list[Match]) -> list[str]:
    return [match.offer_key for match in matches]


def both(offers: list[Offer], request: Request) -> list[Match]:
    """Search the index and the oracle; assert they agree; return the result."""
    found = RideIndex(offers).search(request, limit=10**9)
    assert found == brute_force(offers, request)
    return found


# The rule


def test_a_rider_on_the_way_matches_with_a_rounded_detour() -> None:
    # Given a driver Lyon → Grenoble at 8:00, When a rider asks Bourgoin → Voiron at 8:10
    drive = offer()
    found = both([drive], Request(BOURGOIN, VOIRON, EIGHT + timedelta(minutes=10)))
    # Then it matches, from the driver's co-op, with the detour in 0.5 km steps
    assert keys(found) == ["lyon-grenoble"]
    exact = detour_km(LYON, GRENOBLE, BOURGOIN, VOIRON)
    assert found[0].coop == "covoit@b.example"
    assert found[0].detour_km == round_detour(exact)
    assert found[0].detour_km % 0.5 == 0
    assert found[0].time_difference_minutes == 10
    assert 0 < found[0].score <= 1


@pytest.mark.parametrize(
    ("offer_margin", "request_margin", "gap", "matches"),
    [
        (15, 15, timedelta(minutes=30), True),  # exactly both margins
        (15, 15, timedelta(minutes=30, microseconds=1), False),
        (15, 15, -timedelta(minutes=30), True),  # earlier as well as later
        (15, 15, -timedelta(minutes=30, microseconds=1), False),
        (0, 20, timedelta(minutes=20), True),  # a driver with no margin
        (0, 0, timedelta(0), True),
        (0, 0, timedelta(seconds=1), False),
        (120, 15, timedelta(hours=2, minutes=15), True),  # a wide margin tier
        (120, 15, timedelta(hours=2, minutes=16), False),
    ],
)
def test_departures_match_within_both_margins_inclusive(
    offer_margin: int, request_margin: int, gap: timedelta, matches: bool
) -> None:
    # Given a driver with a margin, When a rider asks `gap` away with theirs
    drive = offer(margin_minutes=offer_margin)
    request = Request(BOURGOIN, VOIRON, EIGHT + gap, margin_minutes=request_margin)
    # Then it matches exactly when the gap is within the sum of the margins
    assert bool(both([drive], request)) is matches


def test_times_compare_as_instants_whatever_the_offset() -> None:
    # Given a driver at 8:00 UTC, When a rider asks for 9:30 in Paris (UTC+1) with no margins
    nine_in_paris = datetime(2026, 12, 4, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    request = Request(BOURGOIN, VOIRON, nine_in_paris, margin_minutes=0)
    # Then the instant decides, not the wall-clock reading
    assert keys(both([offer(margin_minutes=0)], request)) == ["lyon-grenoble"]


@pytest.mark.parametrize(
    ("seats_left", "seats", "matches"), [(2, 2, True), (2, 3, False), (0, 1, False)]
)
def test_seats_must_suffice(seats_left: int, seats: int, matches: bool) -> None:
    # Given a driver with seats left, When a rider asks for some seats
    request = Request(BOURGOIN, VOIRON, EIGHT, seats=seats)
    # Then it matches only when enough are left
    assert bool(both([offer(seats_left=seats_left)], request)) is matches


def test_detour_exactly_at_the_limit_matches_and_a_hair_above_does_not() -> None:
    # Given a rider off the route, and two drivers whose limits are that detour or just under
    pickup, dropoff = (45.70, 5.10), (45.30, 5.40)
    exact = detour_km(LYON, GRENOBLE, pickup, dropoff)
    at_limit = offer("at-limit", max_detour_km=exact)
    under = offer("under", max_detour_km=math.nextafter(exact, 0.0))
    # When the rider searches, Then only the driver whose limit reaches it matches
    assert keys(both([at_limit, under], Request(pickup, dropoff, EIGHT))) == ["at-limit"]


def test_a_rider_going_the_other_way_does_not_match() -> None:
    # Given a driver Lyon → Grenoble, When a rider asks Voiron → Bourgoin (backwards)
    found = both([offer()], Request(VOIRON, BOURGOIN, EIGHT))
    # Then the detour (driving back and forth) is over the limit
    assert found == []


def test_matches_rank_by_detour_then_time_difference_then_key() -> None:
    # Given drivers with the same route at different times, and one with a longer route
    offers = [
        offer("later", departure=EIGHT + timedelta(minutes=20)),
        offer("on-time-b", departure=EIGHT),
        offer("on-time-a", departure=EIGHT),
        offer("earlier", departure=EIGHT - timedelta(minutes=5)),
        offer("via-vienne", origin=(45.5256, 4.8744), max_detour_km=80.0),
    ]
    # When a rider asks Bourgoin → Voiron at 8:00
    found = both(offers, Request(BOURGOIN, VOIRON, EIGHT, margin_minutes=30))
    # Then the smallest detour comes first, then the closest time, then the key
    assert keys(found) == ["on-time-a", "on-time-b", "earlier", "later", "via-vienne"]
    assert found[0].detour_km < found[-1].detour_km
    # And a limit keeps the best ones
    assert keys(RideIndex(offers).search(Request(BOURGOIN, VOIRON, EIGHT, 30), limit=2)) == [
        "on-time-a",
        "on-time-b",
    ]


def test_detours_round_half_up_to_half_kilometres() -> None:
    assert [round_detour(x) for x in (-1e-12, 0.0, 0.24, 0.25, 0.74, 0.75, 10.3)] == [
        0.0,
        0.0,
        0.0,
        0.5,
        0.5,
        1.0,
        10.5,
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Request(LYON, GRENOBLE, datetime(2026, 12, 4, 8, 0)),  # naive time
        lambda: Request(LYON, GRENOBLE, EIGHT, seats=0),
        lambda: Request((91.0, 0.0), GRENOBLE, EIGHT),
        lambda: Request(LYON, (0.0, math.nan), EIGHT),
        lambda: offer(margin_minutes=-1),
        lambda: offer(max_detour_km=-0.5),
        lambda: offer(max_detour_km=math.inf),
        lambda: offer(key=""),
    ],
)
def test_invalid_offers_and_requests_are_refused(build: object) -> None:
    with pytest.raises(Invalid):
        build()  # type: ignore[operator]


# The index as a changing collection


def test_update_moves_an_offer_and_remove_drops_it() -> None:
    # Given an index with a driver Lyon → Grenoble
    index = RideIndex([offer()])
    near_lyon = Request(BOURGOIN, VOIRON, EIGHT)
    near_paris = Request((48.9, 2.5), (49.5, 2.8), EIGHT)
    assert keys(index.search(near_lyon)) == ["lyon-grenoble"]
    # When the same key now drives Paris → Lille
    index.update(offer(origin=PARIS, destination=LILLE))
    # Then it is found near Paris only, and still counted once
    assert index.search(near_lyon) == []
    assert keys(index.search(near_paris)) == ["lyon-grenoble"]
    assert len(index) == 1
    # When it moves in time instead, Then the old time finds nothing
    index.update(offer(origin=PARIS, destination=LILLE, departure=EIGHT + timedelta(days=1)))
    assert index.search(near_paris) == []
    assert len(index.search(Request((48.9, 2.5), (49.5, 2.8), EIGHT + timedelta(days=1)))) == 1
    # When it is removed, Then nothing is found and removing again says so
    assert index.remove("lyon-grenoble") is True
    assert index.remove("lyon-grenoble") is False
    assert len(index) == 0
    assert index.search(Request((48.9, 2.5), (49.5, 2.8), EIGHT + timedelta(days=1))) == []


def test_a_seats_update_takes_effect_and_update_adds_unknown_keys() -> None:
    # Given an index with a driver who has 3 seats
    index = RideIndex([offer(seats_left=3)])
    two = Request(BOURGOIN, VOIRON, EIGHT, seats=2)
    # When a booking leaves 1 seat, Then a request for two no longer matches
    index.update(offer(seats_left=1))
    assert index.search(two) == []
    assert index.get("lyon-grenoble") == offer(seats_left=1)
    # When an update names a key the index has never seen, Then it is added
    index.update(offer("other", seats_left=2))
    assert keys(index.search(two)) == ["other"]
    assert "other" in index and len(index) == 2


def test_duplicate_keys_are_a_conflict() -> None:
    index = RideIndex([offer()])
    with pytest.raises(Conflict):
        index.add(offer())
    with pytest.raises(Conflict):
        index.rebuild([offer(), offer()])
    assert len(index) == 1


def test_rebuild_leaves_the_garbage_collector_as_it_found_it() -> None:
    # Given the collector on, When a rebuild succeeds and one fails, Then it is on again
    index = RideIndex()
    index.rebuild([offer("a")])
    with pytest.raises(Conflict):
        index.rebuild([offer("a"), offer("a")])
    assert gc.isenabled()
    # Given it off (a caller's choice), When a rebuild runs, Then it stays off
    gc.disable()
    try:
        index.rebuild([offer("b")])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_rebuild_replaces_everything() -> None:
    index = RideIndex([offer("a"), offer("b")])
    index.rebuild([offer("c")])
    assert sorted(o.key for o in index) == ["c"]
    assert keys(index.search(Request(BOURGOIN, VOIRON, EIGHT))) == ["c"]


def test_huge_margins_stay_exact_and_cheap() -> None:
    # Given drivers over a month, one of them flexible by a week
    offers = [offer(f"day-{day}", departure=EIGHT + timedelta(days=day)) for day in range(30)]
    offers.append(offer("any-day", departure=EIGHT + timedelta(days=40), margin_minutes=7 * 1440))
    # When a rider will leave any time in the next million years (no walk over every day)
    request = Request(BOURGOIN, VOIRON, EIGHT, margin_minutes=10**12)
    # Then every driver is found, as by the oracle
    assert len(both(offers, request)) == 31


def test_long_trips_and_the_antimeridian_are_found_through_the_wide_list() -> None:
    # Given a Lisbon → Warsaw driver (too big for the grid) and one across the antimeridian
    long_trip = offer("lisbon-warsaw", origin=LISBON, destination=WARSAW)
    fiji = offer("fiji", origin=(-17.8, 177.4), destination=(-16.5, -179.9), max_detour_km=40)
    assert RideIndex([long_trip, fiji])._offers["lisbon-warsaw"].cells == ()
    # When riders ask along each route, Then index and oracle agree and find them
    assert keys(both([long_trip, fiji], Request((43.3, -1.0), (48.1, 11.6), EIGHT))) == [
        "lisbon-warsaw"
    ]
    assert keys(both([long_trip, fiji], Request((-17.2, 179.2), (-16.7, -179.98), EIGHT))) == [
        "fiji"
    ]


# The index against the oracle

EUROPE = st.tuples(st.floats(36.0, 60.0), st.floats(-10.0, 30.0))
MARGINS = [0, 5, 10, 15, 20, 30, 45, 60, 90, 240]
SLOT = timedelta(minutes=5)  # departures on a 5-minute grid hit margin boundaries exactly


def random_offers(
    seed: int, centre: Point, spread: float, count: int, base: datetime = EIGHT
) -> list[Offer]:
    """Offers within ±spread degrees of `centre`, ±2.5 h of `base` (a seeded generator: fast)."""
    rng = random.Random(seed)

    def place() -> Point:
        return (
            centre[0] + rng.uniform(-spread, spread),
            centre[1] + rng.uniform(-spread, spread),
        )

    offers = []
    for number in range(count):
        origin, destination = place(), place()
        trip = distance_km(*origin, *destination)
        limit = default_max_detour_km(trip) if rng.random() < 0.6 else rng.uniform(0.0, 60.0)
        offers.append(
            Offer(
                f"o{number}",
                rng.choice(["a@a.example", "b@b.example"]),
                origin,
                destination,
                base + rng.randint(-30, 30) * SLOT,
                rng.choice(MARGINS),
                rng.randint(0, 4),
                limit,
            )
        )
    return offers


@st.composite
def requests_near(
    draw: st.DrawFn, offers: list[Offer], centre: Point, spread: float, base: datetime
) -> Request:
    """A request around `centre`, half the time along some driver's line, a little off it."""
    if draw(st.booleans()):
        route = draw(st.sampled_from(offers))
        start, end = sorted(draw(st.tuples(st.floats(0, 1), st.floats(0, 1))))
        wobble = draw(st.floats(-0.05, 0.05))

        def along(share: float) -> Point:
            lat = route.origin[0] + share * (route.destination[0] - route.origin[0])
            lon = route.origin[1] + share * (route.destination[1] - route.origin[1])
            return (lat + wobble, lon)

        pickup, dropoff = along(start), along(end)
    else:
        box = st.tuples(
            st.floats(centre[0] - spread, centre[0] + spread),
            st.floats(centre[1] - spread, centre[1] + spread),
        )
        pickup, dropoff = draw(box), draw(box)
    return Request(
        pickup,
        dropoff,
        base + draw(st.integers(-30, 30)) * SLOT,
        draw(st.sampled_from(MARGINS)),
        draw(st.integers(1, 3)),
    )


@st.composite
def offers_and_requests(draw: st.DrawFn) -> tuple[list[Offer], list[Request], float]:
    """Offers around one place of Europe, requests there, and a grid cell size."""
    centre = draw(EUROPE)
    spread = draw(st.sampled_from([0.3, 1.0, 2.5]))
    base = draw(st.sampled_from([EIGHT, MIDNIGHT]))  # the index shelves offers by day
    seed, count = draw(st.integers(0, 2**32)), draw(st.integers(1, 60))
    offers = random_offers(seed, centre, spread, count, base)
    requests = [draw(requests_near(offers, centre, spread, base)) for _ in range(5)]
    return offers, requests, draw(st.sampled_from([0.5, 0.1, 0.25, 2.0]))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(offers_and_requests())
def test_index_finds_exactly_what_brute_force_finds(
    case: tuple[list[Offer], list[Request], float],
) -> None:
    # Given random offers around a place in Europe, indexed on a grid of some cell size
    offers, requests, cell = case
    index = RideIndex(offers, cell_degrees=cell)
    for request in requests:
        # When the index and the oracle answer the same request
        found = index.search(request, limit=10**9)
        expected = brute_force(offers, request)
        # Then they name the same offers with the same detours, in the same order
        assert {(m.offer_key, m.detour_km) for m in found} == {
            (m.offer_key, m.detour_km) for m in expected
        }
        assert found == expected
        # And a limit keeps the same best ones
        assert index.search(request, limit=3) == brute_force(offers, request, limit=3)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(offers_and_requests(), st.randoms(use_true_random=False))
def test_index_stays_exact_through_adds_updates_and_removes(
    case: tuple[list[Offer], list[Request], float], rng: random.Random
) -> None:
    # Given an index built one add at a time
    offers, requests, cell = case
    index = RideIndex(cell_degrees=cell)
    for item in offers:
        index.add(item)
    current = {item.key: item for item in offers}
    # When some offers move (or only change seats) and some are removed
    for item in offers:
        action = rng.choice(["keep", "seats", "move", "remove"])
        if action == "seats":
            current[item.key] = replace(item, seats_left=rng.randint(0, 4))
        elif action == "move":
            other = rng.choice(offers)
            current[item.key] = replace(other, key=item.key)
        elif action == "remove":
            assert index.remove(item.key)
            del current[item.key]
            continue
        index.update(current[item.key])
    # Then it answers exactly as the oracle on what is left
    assert len(index) == len(current)
    for request in requests:
        assert index.search(request, limit=10**9) == brute_force(current.values(), request)


def test_index_equals_brute_force_on_a_thousand_rides_around_france() -> None:
    # Given 1,500 drivers between places in France over two days (fixed seed)
    rng = random.Random(20261204)

    def place() -> Point:
        return (rng.uniform(43.0, 50.5), rng.uniform(-1.5, 7.5))

    offers = []
    for number in range(1500):
        origin = place()
        destination = (origin[0] + rng.uniform(-1.5, 1.5), origin[1] + rng.uniform(-2, 2))
        trip = distance_km(*origin, *destination)
        offers.append(
            Offer(
                f"r{number}",
                "c@c.example",
                origin,
                destination,
                EIGHT + timedelta(minutes=rng.randrange(0, 2 * 24 * 60, 5)),
                rng.choice([0, 10, 15, 15, 15, 30, 60, 180]),
                rng.randint(0, 4),
                default_max_detour_km(trip) if rng.random() < 0.8 else rng.uniform(0, 100),
            )
        )
    index = RideIndex(offers)
    # When 300 riders search, Then every answer equals the oracle's, and some riders find rides
    found_any = 0
    for _ in range(300):
        route = rng.choice(offers)
        pickup = (
            route.origin[0] + rng.uniform(-0.3, 0.3),
            route.origin[1] + rng.uniform(-0.3, 0.3),
        )
        dropoff = (
            route.destination[0] + rng.uniform(-0.3, 0.3),
            route.destination[1] + rng.uniform(-0.3, 0.3),
        )
        request = Request(
            pickup,
            dropoff,
            route.departure + timedelta(minutes=rng.randrange(-60, 60, 5)),
            rng.choice([0, 15, 30, 60]),
            rng.randint(1, 2),
        )
        found = index.search(request, limit=10**9)
        assert found == brute_force(offers, request)
        found_any += bool(found)
    assert found_any > 50


@settings(derandomize=True, max_examples=300, deadline=None)
@given(EUROPE, EUROPE, st.floats(0.0, 200.0), st.floats(0.0, 2 * math.pi))
def test_the_box_holds_the_whole_detour_ellipse(
    origin: Point, destination: Point, slack: float, angle: float
) -> None:
    # Given the ellipse d(O,X) + d(X,D) ≤ d(O,D) + slack and its box
    reach = distance_km(*origin, *destination) + slack
    lat_lo, lat_hi, lon_lo, lon_hi = ellipse_box(origin, destination, reach)
    # When we walk a ray out of the middle of O and D, and from each focus
    for start in (
        origin,
        destination,
        ((origin[0] + destination[0]) / 2, (origin[1] + destination[1]) / 2),
    ):
        for step in range(200):
            radius = step * 0.04
            point = (
                start[0] + radius * math.sin(angle),
                start[1] + radius * math.cos(angle) / math.cos(math.radians(start[0])),
            )
            # Then every point of the ellipse met on the way lies in the box
            if distance_km(*origin, *point) + distance_km(*point, *destination) <= reach:
                assert lat_lo <= point[0] <= lat_hi and lon_lo <= point[1] <= lon_hi


@settings(derandomize=True, max_examples=300, deadline=None)
@given(EUROPE, EUROPE, EUROPE, EUROPE, st.sampled_from([0.5, 1.0, 2.0]))
def test_the_index_computes_the_detour_to_the_last_bit(
    origin: Point, destination: Point, pickup: Point, dropoff: Point, cell: float
) -> None:
    # Given a driver whose limit is exactly the rider's detour (geo.detour_km), and one whose
    # limit is the next float below it
    exact = detour_km(origin, destination, pickup, dropoff)
    assume(exact > 0.0)  # there is no float below a zero limit
    at_limit = offer("at-limit", origin, destination, max_detour_km=exact)
    under = offer("under", origin, destination, max_detour_km=math.nextafter(exact, 0.0))
    # When the rider searches, Then the index's own arithmetic keeps the first and not the second
    found = RideIndex([at_limit, under], cell_degrees=cell).search(Request(pickup, dropoff, EIGHT))
    assert keys(found) == ["at-limit"]


def test_a_trusted_offer_equals_the_checked_one() -> None:
    departure = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
    values = ("1:2026-12-04", "velo@lyon", (45.76, 4.83), (45.19, 5.72), departure, 15, 3, 2.5)
    assert Offer.trusted(*values) == Offer(*values)
