"""What other people may learn about where a member lives: coarse cells, town labels.

Published coordinates are snapped to the centre of a grid cell about 1.1 km on a side, and
detours are reported to the half kilometre, until a booking is accepted; exact pickup and
drop-off points go only to the two parties of that booking.

Why snapping and never random jitter: a member who commutes from home publishes the same
origin every week. Jittered copies of one point scatter around it, and their average closes
in on it (the error shrinks like 1/√n), so a year of rides, or a few hundred searches, locates
the front door. A snapped point carries no randomness to average away: every publication is
the same cell centre, and all that anyone learns, however often they look, is the cell.
"""

import math

from fedicoop.rides.model import Place

# Rows 0.01° of latitude high: 1.11 km everywhere on Earth.
CELLS_PER_DEGREE = 100
_ROWS = 180 * CELLS_PER_DEGREE
DETOUR_STEP_KM = 0.5


def _row(lat: float) -> int:
    """Return the cell row of a latitude, rows counted from the south pole."""
    return min(_ROWS - 1, max(0, math.floor((lat + 90.0) * CELLS_PER_DEGREE)))


def _cells_in_row(row: int) -> int:
    """Return how many cells split a row so each is ≈ LAT_STEP · 111 km wide at its centre.

    A whole number of cells tiles the row exactly, so there is no odd sliver at ±180°, and
    near the poles the count bottoms out at one cell.
    """
    centre = (row + 0.5) / CELLS_PER_DEGREE - 90.0
    return max(1, math.floor(360.0 * CELLS_PER_DEGREE * math.cos(math.radians(centre))))


def snap(lat: float, lon: float) -> tuple[float, float]:
    """Return the centre of the ≈1 km grid cell holding (lat, lon): same point, same cell."""
    row = _row(lat)
    cells = _cells_in_row(row)
    column = math.floor((lon + 180.0) * cells / 360.0) % cells
    snapped_lat = (row + 0.5) / CELLS_PER_DEGREE - 90.0
    snapped_lon = (column + 0.5) * 360.0 / cells - 180.0
    # Six decimals (0.1 m) drop float noise so every instance publishes the same digits; the
    # cell's half-width is 5,000 times larger, so snapping a centre again gives that centre.
    return round(snapped_lat, 6), round(snapped_lon, 6)


def public_place(place: Place, town_label: str) -> Place:
    """Return what others see of a place: its cell centre, labelled with the town or district."""
    lat, lon = snap(place.lat, place.lon)
    return Place(lat, lon, town_label)


def round_detour(km: float) -> float:
    """Return a detour to the nearest half kilometre (halves round up), never below zero."""
    return max(0.0, math.floor(km / DETOUR_STEP_KM + 0.5) * DETOUR_STEP_KM)
