"""Place fields of the ride forms: a typed name, the geocoder's candidates, the one picked.

A member types "Grenoble" (or "45.19, 5.72"); the co-op's geocoder (`RideService.geocoder`,
the offline gazetteer unless the co-op set another) offers candidates, shown as radio buttons;
the pick travels back as "lat,lon". A pick counts only if it is one of the candidates for
the name now typed, so editing the name after picking never keeps a stale point.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from fedicoop.errors import FedicoopError, Invalid
from fedicoop.rides.geocoder import Geocoder

MAX_TYPED_CHARS = 200
CANDIDATES = 5


@dataclass(frozen=True)
class Choice:
    """One candidate place shown to pick from."""

    value: str  # "lat,lon", what the radio button sends
    label: str
    lat: float
    lon: float


@dataclass(frozen=True)
class PlaceField:
    """One place field of a form, as typed and as resolved so far."""

    name: str
    typed: str
    candidates: list[Choice] = field(default_factory=list)
    chosen: Choice | None = None
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        """Return the place as the rides API takes it ({lat, lon, label})."""
        if self.chosen is None:
            raise Invalid(f"pick a place for {self.name}", field=self.name)
        return {"lat": self.chosen.lat, "lon": self.chosen.lon, "label": self.chosen.label}

    @property
    def point(self) -> str:
        """Return "lat,lon" (what a search takes)."""
        return "" if self.chosen is None else self.chosen.value


def _value(lat: float, lon: float) -> str:
    return f"{lat:.5f},{lon:.5f}"


def coordinates(text: str) -> tuple[float, float] | None:
    """Return (lat, lon) when the text is two numbers like "45.19, 5.72", else None."""
    parts = text.replace(";", ",").split(",")
    if len(parts) != 2:
        return None
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


async def resolve(
    geocoder: Geocoder,
    name: str,
    form: Mapping[str, object],
    *,
    lang: str,
    pick_first: bool,
) -> PlaceField:
    """Read field `name` (and `name_pick`); look the name up; keep the pick if it still fits.

    pick_first: take the best candidate when none was picked (searching); a form that
    publishes leaves it False so the member confirms the place first.
    """
    typed = str(form.get(name, "") or "").strip()[:MAX_TYPED_CHARS]
    picked = str(form.get(f"{name}_pick", "") or "")
    if not typed:
        return PlaceField(name, typed)
    point = coordinates(typed)
    if point is not None:
        choice = Choice(_value(*point), typed, *point)
        return PlaceField(name, typed, [choice], choice)
    try:
        found = await geocoder.search(typed, limit=CANDIDATES, language=lang)
    except FedicoopError as error:  # a remote geocoder that is down: say so on the form
        return PlaceField(name, typed, error=error.message)
    candidates = [Choice(_value(c.lat, c.lon), c.label, c.lat, c.lon) for c in found]
    chosen = next((c for c in candidates if c.value == picked), None)
    if chosen is None and pick_first and candidates:
        chosen = candidates[0]
    return PlaceField(name, typed, candidates, chosen)
