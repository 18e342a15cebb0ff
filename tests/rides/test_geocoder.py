"""Place names → towns: the offline gazetteer, and Nominatim/Photon over a real local server."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from fedicoop.activitypub.fetch import SafeFetcher
from fedicoop.errors import Invalid
from fedicoop.rides.geocoder import (
    Candidate,
    GazetteerGeocoder,
    load_gazetteer,
    normalise_place_name,
)
from fedicoop.rides.geocoder_http import NominatimGeocoder, PhotonGeocoder, geocoder_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "geocoder"
USER_AGENT = "fedicoop-test/1.0 (+http://127.0.0.1/)"
LYON = (45.7640, 4.8357)
MID_ATLANTIC = (45.0, -30.0)

# Every request the geocoder server saw: (path, query, headers).
SEEN = web.AppKey("seen", list[tuple[str, dict[str, str], dict[str, str]]])

ServerFactory = Callable[..., Awaitable[TestServer]]
MakeFetcher = Callable[..., SafeFetcher]


@pytest.fixture
def gazetteer() -> GazetteerGeocoder:
    """The default offline geocoder (its index loads once per test session)."""
    return GazetteerGeocoder()


def labels(candidates: list[Candidate]) -> list[str]:
    """Return the labels of candidates, in order."""
    return [candidate.label for candidate in candidates]


# --- normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Saint-Étienne",
        "Saint-Etienne",
        "saint etienne",
        "SAINT ÉTIENNE",
        "st etienne",
        "St-Étienne",
    ],
)
def test_spellings_of_saint_etienne_normalise_alike(typed: str) -> None:
    assert normalise_place_name(typed) == "saint etienne"


def test_normalisation_folds_ligatures_and_apostrophes() -> None:
    assert normalise_place_name("L’Haÿ-les-Roses") == "l hay les roses"
    assert normalise_place_name("Œuilly") == "oeuilly"
    assert normalise_place_name("  Łódź ") == "lodz"


# --- the gazetteer: search ---------------------------------------------------------------------


async def test_gazetteer_finds_lyon_and_grenoble(gazetteer: GazetteerGeocoder) -> None:
    lyon = await gazetteer.search("Lyon")
    grenoble = await gazetteer.search("grenoble")

    assert lyon[0].label == "Lyon, FR"
    assert (round(lyon[0].lat, 1), round(lyon[0].lon, 1)) == (45.7, 4.8)
    assert lyon[0].country_code == "FR"
    assert lyon[0].population is not None and lyon[0].population > 500_000
    assert lyon[0].source == "gazetteer"
    assert grenoble[0].label == "Grenoble, FR"


@pytest.mark.parametrize(
    "typed",
    [
        "Saint-Étienne",
        "Saint-Etienne",
        "saint etienne",
        "SAINT ETIENNE",
        "st etienne",
        "St-Étienne",
    ],
)
async def test_gazetteer_finds_saint_etienne_however_typed(
    gazetteer: GazetteerGeocoder, typed: str
) -> None:
    found = await gazetteer.search(typed)

    assert found[0].label == "Saint-Étienne, FR"
    assert math.isclose(found[0].lat, 45.43, abs_tol=0.05)
    # The longer names it prefixes come after it.
    assert "Saint-Étienne-du-Rouvray, FR" in labels(found)


async def test_gazetteer_ranks_paris_france_first(gazetteer: GazetteerGeocoder) -> None:
    found = await gazetteer.search("Paris")

    assert found[0].label == "Paris, FR"
    assert "Paris, Texas, US" in labels(found)
    # Arrondissements fold into Paris, and nicknames ("Paris of the North" is Warsaw) are
    # not prefixes anyone means.
    assert not [label for label in labels(found) if label.startswith(("Paris 1", "Warsaw"))]


async def test_ambiguous_names_give_several_towns(gazetteer: GazetteerGeocoder) -> None:
    valence = await gazetteer.search("Valence")
    springfield = await gazetteer.search("Springfield", limit=10)

    # "Valence" is also Valencia's French name.
    assert labels(valence)[:2] == ["Valence, FR", "Valencia, ES"]
    exact = [label for label in labels(springfield) if label.startswith("Springfield, ")]
    assert len(set(exact)) == 8  # eight Springfields, told apart by their state
    assert "Springfield, Illinois, US" in labels(springfield)


async def test_a_country_or_state_after_a_comma_picks_one(gazetteer: GazetteerGeocoder) -> None:
    assert labels(await gazetteer.search("Valence, ES")) == ["Valencia, ES"]
    assert labels(await gazetteer.search("Valence, Spain")) == ["Valencia, ES"]
    assert labels(await gazetteer.search("Springfield, IL")) == ["Springfield, Illinois, US"]
    # A label the gazetteer gave resolves back to the same town.
    assert labels(await gazetteer.search("Springfield, Illinois, US")) == [
        "Springfield, Illinois, US"
    ]


async def test_gazetteer_matches_prefixes(gazetteer: GazetteerGeocoder) -> None:
    assert (await gazetteer.search("Greno"))[0].label == "Grenoble, FR"
    # Geonames names Brussels and Geneva in English; French names match as alternate names.
    assert (await gazetteer.search("Bruxel"))[0].label == "Brussels, BE"
    assert (await gazetteer.search("Genève"))[0].label == "Geneva, CH"


async def test_gazetteer_respects_the_limit(gazetteer: GazetteerGeocoder) -> None:
    assert len(await gazetteer.search("San", limit=3)) == 3
    assert await gazetteer.search("San", limit=0) == []


@pytest.mark.parametrize("typed", ["xqzzkvwplj", "", "   ", "l", "東京", "-- , --"])
async def test_gazetteer_gives_nothing_for_gibberish(
    gazetteer: GazetteerGeocoder, typed: str
) -> None:
    assert await gazetteer.search(typed) == []


async def test_districts_fold_into_their_town(gazetteer: GazetteerGeocoder) -> None:
    assert labels(await gazetteer.search("Lyon 03")) == ["Lyon, FR"]


def test_the_index_is_built_once() -> None:
    assert load_gazetteer(15000) is load_gazetteer(15000)
    with pytest.raises(ValueError):
        load_gazetteer(12345)


# --- the gazetteer: reverse --------------------------------------------------------------------


async def test_reverse_near_lyon_gives_lyon(gazetteer: GazetteerGeocoder) -> None:
    town = await gazetteer.reverse(*LYON)

    assert town is not None
    assert town.label == "Lyon, FR"


async def test_reverse_in_a_district_gives_its_town(gazetteer: GazetteerGeocoder) -> None:
    # Given a point in Lyon's 6th arrondissement, nearer Villeurbanne's centre than Lyon's,
    town = await gazetteer.reverse(45.772, 4.858)

    # then it is still Lyon: the district's own centre is nearest.
    assert town is not None and town.label == "Lyon, FR"


async def test_reverse_names_other_towns(gazetteer: GazetteerGeocoder) -> None:
    grenoble = await gazetteer.reverse(45.19, 5.72)
    saint_etienne = await gazetteer.reverse(45.44, 4.39)

    assert grenoble is not None and grenoble.label == "Grenoble, FR"
    assert saint_etienne is not None and saint_etienne.label == "Saint-Étienne, FR"


@pytest.mark.parametrize(
    "point", [MID_ATLANTIC, (0.0, -160.0), (89.95, 0.0), (-89.95, 120.0), (math.nan, 4.8)]
)
async def test_reverse_far_from_any_town_gives_none(
    gazetteer: GazetteerGeocoder, point: tuple[float, float]
) -> None:
    assert await gazetteer.reverse(*point) is None


# --- a Nominatim and Photon look-alike on 127.0.0.1 ----------------------------------------------


@web.middleware
async def record(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Remember every request so tests can assert on the URL and headers sent."""
    request.app[SEEN].append((request.path, dict(request.query), dict(request.headers)))
    return await handler(request)


def _fixture(name: str, content_type: str) -> web.Response:
    return web.Response(body=(FIXTURES / name).read_bytes(), headers={"Content-Type": content_type})


def _near_lyon(request: web.Request) -> bool:
    lat, lon = float(request.query["lat"]), float(request.query["lon"])
    return math.dist((lat, lon), LYON) < 0.2


async def nominatim_search(request: web.Request) -> web.Response:
    """Answer like Nominatim 4.x does to format=geojson."""
    return _fixture("nominatim-search-valence.geojson.json", "application/json; charset=utf-8")


async def nominatim_reverse(request: web.Request) -> web.Response:
    """Answer Lyon near Lyon and Nominatim's error object elsewhere."""
    name = (
        "nominatim-reverse-lyon.geojson.json"
        if _near_lyon(request)
        else "nominatim-reverse-sea.json"
    )
    return _fixture(name, "application/json; charset=utf-8")


async def photon_search(request: web.Request) -> web.Response:
    """Answer like Photon's /api."""
    return _fixture("photon-search-valence.geojson.json", "application/json;charset=utf-8")


async def photon_reverse(request: web.Request) -> web.Response:
    """Answer Lyon near Lyon and an empty collection elsewhere."""
    name = (
        "photon-reverse-lyon.geojson.json"
        if _near_lyon(request)
        else "photon-reverse-sea.geojson.json"
    )
    return _fixture(name, "application/json;charset=utf-8")


async def unavailable(request: web.Request) -> web.Response:
    """Fail the way an overloaded geocoder does."""
    return web.Response(status=503, text="Service Unavailable", headers={"Retry-After": "60"})


async def captive_portal(request: web.Request) -> web.Response:
    """Answer 200 with HTML instead of JSON."""
    return web.Response(
        text="<html><body>Log in to the Wi-Fi</body></html>", content_type="text/html"
    )


async def slow(request: web.Request) -> web.Response:
    """Answer later than any fetcher waits."""
    await asyncio.sleep(5)
    return web.json_response({"features": []})


async def hostile(request: web.Request) -> web.Response:
    """Serve features broken in every way a remote server could, around two sane ones."""
    good = {
        "type": "Feature",
        "properties": {"name": "Grenoble", "address": {"city": "Grenoble", "country_code": "fr"}},
        "geometry": {"type": "Point", "coordinates": [5.7357819, 45.1875602]},
    }
    broken: list[Any] = [
        "not a feature",
        {"type": "Feature"},
        {"type": "Feature", "properties": [], "geometry": {"coordinates": [5.7, 45.1]}},
        {"properties": {"name": "Nowhere"}, "geometry": {"coordinates": ["5.7", "45.1"]}},
        {"properties": {"name": "Pole"}, "geometry": {"coordinates": [5.7, 145.1]}},
        {"properties": {"name": "Bool"}, "geometry": {"coordinates": [True, False]}},
        {"properties": {"name": "Short"}, "geometry": {"coordinates": [5.7]}},
        {"properties": {}, "geometry": {"coordinates": [5.7, 45.1]}},
        {
            "properties": {"name": "Pop", "extratags": {"population": "about 5000"}},
            "geometry": {"coordinates": [5.7, 45.1], "type": "Point"},
        },
    ]
    body = {"type": "FeatureCollection", "features": [*broken, good]}
    return web.Response(text=json.dumps(body), content_type="application/json")


def build_app() -> web.Application:
    """Build a server speaking Nominatim under /nominatim and Photon under /photon."""
    app = web.Application(middlewares=[record])
    app[SEEN] = []
    app.router.add_get("/nominatim/search", nominatim_search)
    app.router.add_get("/nominatim/reverse", nominatim_reverse)
    app.router.add_get("/photon/api", photon_search)
    app.router.add_get("/photon/reverse", photon_reverse)
    for prefix, handler in [
        ("/down", unavailable),
        ("/portal", captive_portal),
        ("/slow", slow),
        ("/hostile", hostile),
    ]:
        for path in ("search", "reverse", "api"):
            app.router.add_get(f"{prefix}/{path}", handler)
    return app


@pytest.fixture
async def server(aiohttp_server: ServerFactory) -> TestServer:
    """Start the geocoder look-alike on 127.0.0.1."""
    return await aiohttp_server(build_app())


@pytest.fixture
async def make_fetcher() -> AsyncIterator[MakeFetcher]:
    """Build SafeFetchers (dev mode: 127.0.0.1 allowed) and close them afterwards."""
    fetchers: list[SafeFetcher] = []

    def make(**options: Any) -> SafeFetcher:
        options.setdefault("dev", True)
        options.setdefault("user_agent", USER_AGENT)
        fetcher = SafeFetcher(**options)
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        await fetcher.close()


def base(server: TestServer, prefix: str) -> str:
    """Return the geocoder base URL for a prefix of the test server."""
    return str(server.make_url(prefix))


def seen(server: TestServer) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """Return the requests the test server received."""
    return server.app[SEEN]


# --- Nominatim ---------------------------------------------------------------------------------


async def test_nominatim_search_gives_town_level_candidates(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    geocoder = NominatimGeocoder(base(server, "/nominatim"), make_fetcher())

    found = await geocoder.search("Valence")

    # The station in Valence says the same as Valence itself, so it is not offered twice.
    assert labels(found) == [
        "Valence, Auvergne-Rhône-Alpes, FR",
        "Valence, Communauté valencienne, ES",
        "Valence, Occitanie, FR",
    ]
    assert found[0] == Candidate(
        label="Valence, Auvergne-Rhône-Alpes, FR",
        lat=44.9332277,
        lon=4.8920811,
        country_code="FR",
        population=64749,
        source="nominatim",
    )


async def test_nominatim_search_asks_as_documented(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a base URL carrying an API key, as hosted Nominatims want,
    geocoder = NominatimGeocoder(base(server, "/nominatim/") + "?key=k3y", make_fetcher())

    await geocoder.search("  Valence   Drôme ", limit=2, language="en")

    path, query, headers = seen(server)[-1]
    assert path == "/nominatim/search"
    assert query == {
        "key": "k3y",
        "q": "Valence Drôme",
        "format": "geojson",  # jsonv2 answers a bare array, which SafeFetcher refuses
        "limit": "2",
        "addressdetails": "1",
        "extratags": "1",
        "accept-language": "en",
    }
    assert headers["User-Agent"] == USER_AGENT
    assert "application/geo+json" in headers["Accept"]


async def test_nominatim_limit_trims_the_answer(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    geocoder = NominatimGeocoder(base(server, "/nominatim"), make_fetcher())

    assert labels(await geocoder.search("Valence", limit=1)) == [
        "Valence, Auvergne-Rhône-Alpes, FR"
    ]


async def test_nominatim_reverse_names_the_town(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    geocoder = NominatimGeocoder(base(server, "/nominatim"), make_fetcher(), language="en")

    town = await geocoder.reverse(*LYON)

    assert town is not None
    assert (town.label, town.population) == ("Lyon, Auvergne-Rhône-Alpes, FR", 522250)
    assert (town.lat, town.lon) == (45.7578137, 4.8320114)  # the town's centre, not the point
    path, query, _ = seen(server)[-1]
    assert (path, query["zoom"], query["lat"], query["accept-language"]) == (
        "/nominatim/reverse",
        "10",
        "45.764000",
        "en",
    )


async def test_nominatim_reverse_at_sea_gives_none(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    geocoder = NominatimGeocoder(base(server, "/nominatim"), make_fetcher())

    assert await geocoder.reverse(*MID_ATLANTIC) is None


# --- Photon ------------------------------------------------------------------------------------


async def test_photon_search_gives_town_level_candidates(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    geocoder = PhotonGeocoder(base(server, "/photon"), make_fetcher())

    found = await geocoder.search("Valence")

    # "Rue de Valence" is a street in Lyon: offered at town level, as Lyon.
    assert labels(found) == [
        "Valence, Auvergne-Rhône-Alpes, FR",
        "Valence, Communauté valencienne, ES",
        "Lyon, Auvergne-Rhône-Alpes, FR",
    ]
    assert found[1] == Candidate(
        label="Valence, Communauté valencienne, ES",
        lat=39.4697065,
        lon=-0.3763353,
        country_code="ES",
        population=None,
        source="photon",
    )
    path, query, headers = seen(server)[-1]
    assert (path, query) == ("/photon/api", {"q": "Valence", "limit": "5", "lang": "fr"})
    assert headers["User-Agent"] == USER_AGENT


@pytest.mark.parametrize(
    ("language", "sent"), [("fr-CA", "fr"), ("en_GB", "en"), ("es", None), ("", None)]
)
async def test_photon_gets_only_languages_every_build_knows(
    server: TestServer, make_fetcher: MakeFetcher, language: str, sent: str | None
) -> None:
    geocoder = PhotonGeocoder(base(server, "/photon"), make_fetcher())

    await geocoder.search("Valence", language=language)

    assert seen(server)[-1][1].get("lang") == sent


async def test_photon_reverse_names_the_town(server: TestServer, make_fetcher: MakeFetcher) -> None:
    geocoder = PhotonGeocoder(base(server, "/photon"), make_fetcher())

    town = await geocoder.reverse(*LYON)

    assert town is not None and town.label == "Lyon, Auvergne-Rhône-Alpes, FR"
    path, query, _ = seen(server)[-1]
    assert path == "/photon/reverse"
    assert (query["layer"], query["radius"], query["limit"], query["lang"]) == (
        "city",
        "50",
        "1",
        "fr",
    )


async def test_photon_reverse_at_sea_gives_none(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    geocoder = PhotonGeocoder(base(server, "/photon"), make_fetcher())

    assert await geocoder.reverse(*MID_ATLANTIC) is None


# --- failing soft ------------------------------------------------------------------------------

HTTP_GEOCODERS = [NominatimGeocoder, PhotonGeocoder]


@pytest.mark.parametrize("geocoder_class", HTTP_GEOCODERS)
async def test_a_server_error_gives_nothing_and_a_warning(
    server: TestServer,
    make_fetcher: MakeFetcher,
    caplog: pytest.LogCaptureFixture,
    geocoder_class: type[NominatimGeocoder | PhotonGeocoder],
) -> None:
    geocoder = geocoder_class(base(server, "/down"), make_fetcher())

    with caplog.at_level(logging.WARNING, logger="fedicoop.rides.geocoder_http"):
        found = await geocoder.search("12 rue des Lilas, Valence")
        town = await geocoder.reverse(*LYON)

    assert found == []
    assert town is None
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].__dict__["reason"] == "HTTP status 503"
    # What a member typed may be their address: it stays out of the logs, extras included.
    assert not [record for record in warnings if "Lilas" in repr(record.__dict__)]


@pytest.mark.parametrize("prefix", ["/portal", "/slow", "/nowhere"])
@pytest.mark.parametrize("geocoder_class", HTTP_GEOCODERS)
async def test_odd_answers_give_nothing(
    server: TestServer,
    make_fetcher: MakeFetcher,
    prefix: str,
    geocoder_class: type[NominatimGeocoder | PhotonGeocoder],
) -> None:
    geocoder = geocoder_class(base(server, prefix), make_fetcher(total_timeout=0.5))

    assert await geocoder.search("Valence") == []


async def test_outside_dev_mode_a_loopback_geocoder_is_refused(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # The configured URL goes through SafeFetcher's SSRF guard like any other.
    geocoder = NominatimGeocoder(base(server, "/nominatim"), make_fetcher(dev=False))

    assert await geocoder.search("Valence") == []
    assert seen(server) == []


async def test_hostile_features_are_skipped(server: TestServer, make_fetcher: MakeFetcher) -> None:
    geocoder = NominatimGeocoder(base(server, "/hostile"), make_fetcher())

    found = await geocoder.search("anything", limit=20)

    assert labels(found) == ["Pop", "Grenoble, FR"]
    assert found[0].population is None  # "about 5000" is no number


async def test_an_empty_query_asks_nobody(server: TestServer, make_fetcher: MakeFetcher) -> None:
    geocoder = PhotonGeocoder(base(server, "/photon"), make_fetcher())

    assert await geocoder.search("   ") == []
    assert await geocoder.search("Valence", limit=0) == []
    assert await geocoder.reverse(math.inf, 0.0) is None
    assert seen(server) == []


# --- choosing from the co-op's setting ----------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "gazetteer", "  "])
def test_no_setting_means_the_gazetteer(value: str | None, make_fetcher: MakeFetcher) -> None:
    geocoder = geocoder_for(value, make_fetcher())

    assert isinstance(geocoder, GazetteerGeocoder)
    assert geocoder.min_population == 15000


def test_the_setting_picks_the_geocoder(make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher()

    villages = geocoder_for("gazetteer:1000", fetcher)
    nominatim = geocoder_for("nominatim:https://nominatim.coop.example/", fetcher)
    photon = geocoder_for("photon:https://photon.komoot.io", fetcher)

    assert isinstance(villages, GazetteerGeocoder) and villages.min_population == 1000
    assert isinstance(nominatim, NominatimGeocoder)
    assert nominatim.base_url == "https://nominatim.coop.example/"
    assert isinstance(photon, PhotonGeocoder) and photon.fetcher is fetcher


@pytest.mark.parametrize(
    "value",
    [
        "google:https://maps.example",
        "https://nominatim.example",
        "nominatim:",
        "photon:ftp://x.example",
        "gazetteer:42",
    ],
)
def test_a_bad_setting_is_refused(value: str, make_fetcher: MakeFetcher) -> None:
    with pytest.raises(Invalid) as refused:
        geocoder_for(value, make_fetcher())

    assert refused.value.field == "geocoder"
