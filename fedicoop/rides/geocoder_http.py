"""Nominatim- and Photon-compatible geocoders over HTTP, and picking one from the co-op's config."""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fedicoop.activitypub.fetch import FetchedDocument, FetchError
from fedicoop.errors import Invalid
from fedicoop.rides.geocoder import GAZETTEER_DATASETS, Candidate, GazetteerGeocoder, Geocoder

log = logging.getLogger(__name__)

_ACCEPT = "application/geo+json, application/json;q=0.9"
_MAX_QUERY_CHARS = 200
_MAX_LIMIT = 40  # Nominatim refuses more than 40
# Nominatim's zoom 10 is "city": reverse answers name the town, never the street.
_NOMINATIM_TOWN_ZOOM = 10
_PHOTON_REVERSE_RADIUS_KM = 50
# Photon answers 400 to a language it was not built with; these four every build has.
_PHOTON_LANGUAGES = frozenset({"de", "en", "fr", "it"})
_TOWN_KEYS = ("city", "town", "village", "municipality", "hamlet")
_PHOTON_TOWN_VALUES = frozenset({"city", "town", "village", "hamlet", "municipality"})


class JsonFetcher(Protocol):
    """What a geocoder needs of SafeFetcher: unsigned JSON GETs under its SSRF guard."""

    async def get_json(self, url: str, *, accept: str = ...) -> FetchedDocument:
        """Fetch a JSON object, raising FetchError when that fails."""
        ...


def _endpoint(base_url: str, path: str, params: Mapping[str, str | int]) -> str:
    """Join ``path`` under the base URL's path, keeping its query (an API key, say)."""
    parts = urlsplit(base_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(
        (parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{path}", urlencode(query), "")
    )


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"geocoder URL {base_url!r} must be http(s) with a host", field="geocoder")
    return base_url


def _text(mapping: Mapping[str, Any], *keys: str) -> str | None:
    """Return the first non-empty string among ``keys``."""
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _population(tags: Mapping[str, Any]) -> int | None:
    value = tags.get("population")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None  # "ca. 5000", "1,234 (2019)": OSM tags are free text


def _point(feature: Mapping[str, Any]) -> tuple[float, float] | None:
    """Return (lat, lon) of a GeoJSON Point feature, or None if it is not a sane one."""
    coordinates = _mapping(feature.get("geometry")).get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        return None
    lon, lat = coordinates[0], coordinates[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return float(lat), float(lon)


def _town_label(town: str, region: str | None, country_code: str) -> str:
    """Label at town level: "Lyon, Auvergne-Rhône-Alpes, FR" (no "Berlin, Berlin, DE")."""
    if region == town:
        region = None
    return ", ".join(part for part in (town, region, country_code) if part)


def _country_code(value: str | None) -> str:
    code = (value or "").upper()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else ""


class _HttpGeocoder(ABC):
    """A geocoder whose answers are GeoJSON features, failing soft: errors become no result."""

    source: ClassVar[str]

    def __init__(self, base_url: str, fetcher: JsonFetcher, *, language: str = "fr") -> None:
        self.base_url = _checked_base_url(base_url)
        self.fetcher = fetcher
        self.language = language  # for reverse, whose labels are published to everyone

    @abstractmethod
    def _search_url(self, query: str, limit: int, language: str) -> str:
        """Return the URL that searches ``query``."""

    @abstractmethod
    def _reverse_url(self, lat: float, lon: float) -> str:
        """Return the URL that asks which town a point is in."""

    @abstractmethod
    def _candidate(self, properties: Mapping[str, Any], lat: float, lon: float) -> Candidate | None:
        """Turn one feature's properties into a town-level candidate, or None if unnamed."""

    async def _features(self, url: str) -> list[Candidate]:
        try:
            document = await self.fetcher.get_json(url, accept=_ACCEPT)
        except FetchError as error:
            # A geocoder outage must leave the ride form usable (coordinates can be typed).
            # Never log the URL's query: it is what a member typed, perhaps their address.
            parts = urlsplit(url)
            log.warning(
                "geocoder request failed",
                extra={
                    "geocoder": self.source,
                    "host": parts.hostname,
                    "error": type(error).__name__,
                    "reason": error.reason.replace(parts.query, "…")
                    if parts.query
                    else error.reason,
                },
            )
            return []
        features = document.data.get("features")
        candidates: list[Candidate] = []
        seen: set[str] = set()
        for feature in features if isinstance(features, list) else []:
            point = _point(_mapping(feature))
            if point is None:
                continue
            candidate = self._candidate(_mapping(_mapping(feature).get("properties")), *point)
            # Labels stop at the town, so two hits in one town would look the same to pick.
            if candidate is not None and candidate.label not in seen:
                seen.add(candidate.label)
                candidates.append(candidate)
        return candidates

    async def search(self, query: str, *, limit: int = 5, language: str = "fr") -> list[Candidate]:
        """Return up to ``limit`` candidates from the remote geocoder; [] if it fails."""
        query = " ".join(query.split())[:_MAX_QUERY_CHARS]
        if not query or limit <= 0:
            return []
        url = self._search_url(query, min(limit, _MAX_LIMIT), language)
        return (await self._features(url))[:limit]

    async def reverse(self, lat: float, lon: float) -> Candidate | None:
        """Return the town at a point from the remote geocoder; None if none or it fails."""
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90):
            return None
        candidates = await self._features(self._reverse_url(lat, lon))
        return candidates[0] if candidates else None


class NominatimGeocoder(_HttpGeocoder):
    """A Nominatim server's /search and /reverse.

    Asks for ``format=geojson`` rather than ``jsonv2``: jsonv2 search answers are a bare JSON
    array, which SafeFetcher.get_json refuses; the GeoJSON properties are the jsonv2 fields.
    The public nominatim.openstreetmap.org allows one request a second and no autocomplete.
    """

    source = "nominatim"

    def _search_url(self, query: str, limit: int, language: str) -> str:
        params: dict[str, str | int] = {
            "q": query,
            "format": "geojson",
            "limit": limit,
            "addressdetails": 1,
            "extratags": 1,
            "accept-language": language,
        }
        return _endpoint(self.base_url, "search", params)

    def _reverse_url(self, lat: float, lon: float) -> str:
        params: dict[str, str | int] = {
            "lat": f"{lat:.6f}",
            "lon": f"{lon:.6f}",
            "format": "geojson",
            "zoom": _NOMINATIM_TOWN_ZOOM,
            "addressdetails": 1,
            "extratags": 1,
            "accept-language": self.language,
        }
        return _endpoint(self.base_url, "reverse", params)

    def _candidate(self, properties: Mapping[str, Any], lat: float, lon: float) -> Candidate | None:
        address = _mapping(properties.get("address"))
        display_name = _text(properties, "display_name") or ""
        town = (
            _text(address, *_TOWN_KEYS)
            or _text(properties, "name")
            or display_name.split(",")[0].strip()
        )
        if not town:
            return None
        country_code = _country_code(_text(address, "country_code"))
        return Candidate(
            label=_town_label(town, _text(address, "state", "region"), country_code),
            lat=lat,
            lon=lon,
            country_code=country_code,
            population=_population(_mapping(properties.get("extratags"))),
            source=self.source,
        )


class PhotonGeocoder(_HttpGeocoder):
    """A Photon server's /api and /reverse (GeoJSON with GeocodeJSON-style properties)."""

    source = "photon"

    def _search_url(self, query: str, limit: int, language: str) -> str:
        params: dict[str, str | int] = {"q": query, "limit": limit}
        params.update(self._language(language))
        return _endpoint(self.base_url, "api", params)

    def _reverse_url(self, lat: float, lon: float) -> str:
        params: dict[str, str | int] = {
            "lat": f"{lat:.6f}",
            "lon": f"{lon:.6f}",
            "limit": 1,
            "layer": "city",  # the town, not the house at the point
            "radius": _PHOTON_REVERSE_RADIUS_KM,
        }
        params.update(self._language(self.language))
        return _endpoint(self.base_url, "reverse", params)

    @staticmethod
    def _language(language: str) -> dict[str, str]:
        primary = language.split("-")[0].split("_")[0].lower()
        return {"lang": primary} if primary in _PHOTON_LANGUAGES else {}

    def _candidate(self, properties: Mapping[str, Any], lat: float, lon: float) -> Candidate | None:
        is_town = properties.get("type") == "city" or (
            properties.get("osm_key") == "place"
            and properties.get("osm_value") in _PHOTON_TOWN_VALUES
        )
        town = _text(properties, "name") if is_town else _text(properties, "city", "name")
        if not town:
            return None
        country_code = _country_code(_text(properties, "countrycode"))
        return Candidate(
            label=_town_label(town, _text(properties, "state"), country_code),
            lat=lat,
            lon=lon,
            country_code=country_code,
            population=_population(_mapping(properties.get("extra"))),
            source=self.source,
        )


def geocoder_for(config_value: str | None, fetcher: JsonFetcher) -> Geocoder:
    """Build the co-op's geocoder from its setting.

    ``None``/``""``/``"gazetteer"``: the offline gazetteer (``"gazetteer:1000"`` for towns of
    1,000 people and more); ``"nominatim:URL"`` or ``"photon:URL"``: that server.
    """
    value = (config_value or "").strip()
    kind, _, argument = value.partition(":")
    if kind in ("", "gazetteer"):
        if not argument:
            return GazetteerGeocoder()
        if argument.isdigit() and int(argument) in GAZETTEER_DATASETS:
            return GazetteerGeocoder(int(argument))
        raise Invalid(
            f"gazetteer population floor must be one of {GAZETTEER_DATASETS}", field="geocoder"
        )
    if kind == "nominatim":
        return NominatimGeocoder(argument, fetcher)
    if kind == "photon":
        return PhotonGeocoder(argument, fetcher)
    raise Invalid(
        f"unknown geocoder {value!r}: use gazetteer, nominatim:URL or photon:URL", field="geocoder"
    )
