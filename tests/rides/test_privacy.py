"""Privacy: snapped cells instead of jitter, town labels, detours to the half kilometre."""

import math
import random
import statistics

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fedicoop.rides.geo import distance_km
from fedicoop.rides.model import Place
from fedicoop.rides.privacy import public_place, round_detour, snap

HOME = (45.767_312, 4.834_118)  # a doorstep in Lyon's Croix-Rousse
latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)
# Where people carpool; within ~5° of the poles a row has too few cells to stay ≈1 km wide.
inhabited = st.floats(-85, 85, allow_nan=False)


def test_snapping_is_deterministic() -> None:
    assert snap(*HOME) == snap(*HOME) == snap(45.767_312, 4.834_118)


@settings(derandomize=True, max_examples=400)
@given(lat=latitudes, lon=longitudes)
@example(lat=90.0, lon=180.0)
@example(lat=-90.0, lon=-180.0)
@example(lat=45.77, lon=4.83)  # exactly on cell edges
@example(lat=0.29, lon=-0.0)
def test_snapping_is_idempotent(lat: float, lon: float) -> None:
    # Given any point, When its cell centre is snapped again, Then it is that centre
    centre = snap(lat, lon)
    assert snap(*centre) == centre
    assert -90 <= centre[0] <= 90
    assert -180 <= centre[1] <= 180


@settings(derandomize=True, max_examples=400)
@given(lat=inhabited, lon=longitudes)
@example(lat=84.999_999, lon=179.999_999)
@example(lat=-85.0, lon=-180.0)
def test_a_snapped_point_stays_within_800_m(lat: float, lon: float) -> None:
    # Given any point where people live, Then its cell centre is at most ~0.79 km away
    assert distance_km(lat, lon, *snap(lat, lon)) <= 0.8


@pytest.mark.parametrize("lat", [-60.0, -33.9, 0.0, 45.76, 60.17, 78.2, 84.9])
def test_cells_are_about_1_1_km_wide_everywhere(lat: float) -> None:
    # Given a cell, the next cell east in its row (one nominal width away) and the row north
    centre = snap(lat, 10.0)
    east = snap(centre[0], centre[1] + 0.01 / math.cos(math.radians(centre[0])))
    north = snap(centre[0] + 0.01, centre[1])

    # Then centres are about 1.1 km apart both ways, however far from the equator
    assert east[0] == centre[0]
    assert 1.10 <= distance_km(*centre, *east) <= 1.13
    assert 1.10 <= distance_km(*centre, north[0], centre[1]) <= 1.13


def test_averaging_many_publications_reveals_nothing_beyond_the_cell() -> None:
    # Given the same home published 1,000 times (a year of commutes, or many searches)
    published = [snap(*HOME) for _ in range(1000)]

    # When an observer averages them
    mean = (statistics.fmean(p[0] for p in published), statistics.fmean(p[1] for p in published))

    # Then the average is the cell centre itself, no closer to the door than one publication
    assert mean == pytest.approx(snap(*HOME), abs=1e-12)
    assert distance_km(*HOME, *mean) == pytest.approx(distance_km(*HOME, *snap(*HOME)))
    assert distance_km(*HOME, *mean) > 0.1


def test_random_jitter_would_leak_the_home_which_is_why_we_snap() -> None:
    # Given the same home published 1,000 times with ±500 m random jitter (fixed seed)
    rng = random.Random(20250330)
    jittered = [
        (HOME[0] + rng.uniform(-0.0045, 0.0045), HOME[1] + rng.uniform(-0.0065, 0.0065))
        for _ in range(1000)
    ]

    # When an observer averages them
    mean = (statistics.fmean(p[0] for p in jittered), statistics.fmean(p[1] for p in jittered))

    # Then the average lands within a few dozen metres of the door
    assert distance_km(*HOME, *mean) < 0.05


def test_neighbours_in_one_cell_publish_the_same_point() -> None:
    # Given 200 homes scattered inside the cell of HOME (fixed seed)
    rng = random.Random(7)
    centre = snap(*HOME)
    homes = [
        (centre[0] + rng.uniform(-0.0049, 0.0049), centre[1] + rng.uniform(-0.0069, 0.0069))
        for _ in range(200)
    ]

    # Then every one of them publishes the cell centre: nobody can tell them apart
    assert {snap(*home) for home in homes} == {centre}


def test_a_public_place_has_the_cell_centre_and_the_town_label() -> None:
    # Given a member's exact pickup point with a street label
    exact = Place(*HOME, label="12 rue d'Austerlitz, Lyon 4e")

    # When made public
    public = public_place(exact, "Lyon 4e")

    # Then the coordinates are the cell centre, the label the district, the original unchanged
    assert (public.lat, public.lon) == snap(*HOME)
    assert public.label == "Lyon 4e"
    assert exact.label == "12 rue d'Austerlitz, Lyon 4e"


@pytest.mark.parametrize(
    ("km", "rounded"),
    [(0.0, 0.0), (0.24, 0.0), (0.25, 0.5), (1.74, 1.5), (1.75, 2.0), (3.0, 3.0), (-1e-12, 0.0)],
)
def test_detours_are_reported_to_the_half_kilometre(km: float, rounded: float) -> None:
    assert round_detour(km) == rounded
