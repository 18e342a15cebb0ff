"""Distances on the Earth (beeline) and the driver's detour, in kilometres."""

import math

EARTH_RADIUS_KM = 6371.0088


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Return the great-circle (haversine) distance between two points."""
    phi1, phi2 = math.radians(a_lat), math.radians(b_lat)
    d_phi = phi2 - phi1
    d_lambda = math.radians(b_lon - a_lon)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def detour_km(
    origin: tuple[float, float],
    destination: tuple[float, float],
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
) -> float:
    """Return d(O,P) + d(P,D') + d(D',D) − d(O,D): what picking someone up adds to a trip."""
    return (
        distance_km(*origin, *pickup)
        + distance_km(*pickup, *dropoff)
        + distance_km(*dropoff, *destination)
        - distance_km(*origin, *destination)
    )


def default_max_detour_km(trip_km: float) -> float:
    """Return the default detour limit: max(2 km, 25 % of the trip)."""
    return max(2.0, 0.25 * trip_km)
