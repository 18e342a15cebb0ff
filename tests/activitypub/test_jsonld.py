"""Bundled JSON-LD contexts, our fedicoop context, and PyLD that never reaches the network."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld as pyld_jsonld

from fedicoop.activitypub import jsonld
from fedicoop.activitypub.jsonld import (
    AS_CONTEXT,
    DATA_INTEGRITY_CONTEXT,
    DEFAULT_CONTEXT,
    FEDICOOP_NS,
    MULTIKEY_CONTEXT,
    SECURITY_CONTEXT,
    ContextRefused,
    JsonLdProcessingError,
    bundled_context,
    compact,
    expand,
    fedicoop_context,
    offline_loader,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "activitypub"
AS = "https://www.w3.org/ns/activitystreams#"
SEC = "https://w3id.org/security#"
XSD = "http://www.w3.org/2001/XMLSchema#"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Make any DNS lookup or connection fail loudly, and record the attempts."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts


def load(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / relative).read_text("utf-8"))
    return document


@pytest.mark.parametrize(
    "url", [AS_CONTEXT, SECURITY_CONTEXT, DATA_INTEGRITY_CONTEXT, MULTIKEY_CONTEXT]
)
def test_standard_contexts_are_bundled(url: str) -> None:
    document = bundled_context(url)
    assert document is not None
    assert isinstance(document["@context"], dict)


def test_bundled_activitystreams_is_the_served_document() -> None:
    context = bundled_context(AS_CONTEXT)
    assert context is not None
    terms = context["@context"]
    assert terms["as"] == AS
    assert terms["inbox"] == {"@id": "ldp:inbox", "@type": "@id"}
    assert terms["sharedInbox"] == {"@id": "as:sharedInbox", "@type": "@id"}
    assert terms["alsoKnownAs"] == {"@id": "as:alsoKnownAs", "@type": "@id"}
    assert terms["contentMap"] == {"@id": "as:content", "@container": "@language"}


def test_security_contexts_define_what_we_read() -> None:
    security = bundled_context(SECURITY_CONTEXT)
    multikey = bundled_context(MULTIKEY_CONTEXT)
    integrity = bundled_context(DATA_INTEGRITY_CONTEXT)
    assert security is not None and multikey is not None and integrity is not None
    assert security["@context"]["publicKeyPem"] == "sec:publicKeyPem"
    assert "publicKeyMultibase" in multikey["@context"]["Multikey"]["@context"]
    assert "cryptosuite" in integrity["@context"]["DataIntegrityProof"]["@context"]


def test_spelling_variants_resolve_and_unknown_urls_do_not() -> None:
    assert bundled_context("http://www.w3.org/ns/activitystreams") == bundled_context(AS_CONTEXT)
    assert bundled_context(AS_CONTEXT + "#") == bundled_context(AS_CONTEXT)
    assert bundled_context("https://evil.example/context.jsonld") is None
    assert bundled_context("https://join-lemmy.org/context.json") is None


def test_bundled_context_returns_a_fresh_copy() -> None:
    first = bundled_context(AS_CONTEXT)
    assert first is not None
    first["@context"]["Note"] = "https://evil.example/Note"
    again = bundled_context(AS_CONTEXT)
    assert again is not None and again["@context"]["Note"] == "as:Note"


FEDICOOP_TERMS = {
    # term: expected @type coercion (None = plain literal)
    "Partnership": None,
    "Ride": None,
    "Booking": None,
    "Ballot": None,
    "RosterSnapshot": None,
    "roster": "@id",
    "coop": "@id",
    "partner": "@id",
    "role": None,
    "seats": "xsd:integer",
    "seatsLeft": "xsd:integer",
    "departure": "xsd:dateTime",
    "marginMinutes": "xsd:integer",
    "price": "xsd:decimal",
    "priceKind": None,
    "currency": None,
    "maxDetourKm": "xsd:decimal",
    "occurrence": "xsd:date",  # the local date of a trip (2026-12-04)
    "waypoints": "@id",
    "status": None,
    "proposal": "@id",
    "kind": None,
    "rule": None,
    "tallies": "@json",
    "closesAt": "xsd:dateTime",
    "secret": "xsd:boolean",
    "movedFrom": "@id",
}


@pytest.mark.parametrize(("term", "coercion"), FEDICOOP_TERMS.items())
def test_fedicoop_terms_live_in_the_fixed_namespace(term: str, coercion: str | None) -> None:
    context = fedicoop_context()
    assert context["fedicoop"] == FEDICOOP_NS == "https://fedicoop.org/ns#"
    definition = context[term]
    iri = definition if isinstance(definition, str) else definition["@id"]
    assert iri == f"fedicoop:{term}"
    declared = None if isinstance(definition, str) else definition.get("@type")
    assert declared == coercion


def test_default_context_is_as_security_and_ours_inline() -> None:
    assert DEFAULT_CONTEXT[0] == AS_CONTEXT
    assert DEFAULT_CONTEXT[1] == SECURITY_CONTEXT
    assert DEFAULT_CONTEXT[2] == fedicoop_context()


def test_our_context_is_served_for_the_namespace_itself() -> None:
    document = bundled_context("https://fedicoop.org/ns")
    assert document is not None and document["@context"] == fedicoop_context()


def test_expanding_a_mastodon_note_works_offline(no_network: list[Any]) -> None:
    # Given a Mastodon Create(Note) that references the AS2 context plus inline terms
    activity = load("mastodon/create-note-lemmy-capture.json")
    # When it is expanded with the network cut
    expanded = expand(activity)
    # Then the terms resolve to full IRIs and nothing was fetched
    node = expanded[0]
    assert node["@type"] == [AS + "Create"]
    note = node[AS + "object"][0]
    assert note["@type"] == [AS + "Note"]
    assert any(value.get("@language") == "en" for value in note[AS + "content"])
    assert no_network == []


def test_expanding_a_mastodon_actor_resolves_its_key_offline(no_network: list[Any]) -> None:
    expanded = expand(load("mastodon/actor-person.json"))
    key = expanded[0][SEC + "publicKey"][0]
    assert key[SEC + "owner"] == [{"@id": "https://masto.qa.urbanwildlife.biz/users/mastodon"}]
    assert key[SEC + "publicKeyPem"][0]["@value"].startswith("-----BEGIN PUBLIC KEY-----")
    assert no_network == []


def test_an_unknown_remote_context_is_refused_without_network(no_network: list[Any]) -> None:
    # Given a document whose context points at an arbitrary host
    hostile = {"@context": "https://evil.example/ctx.jsonld", "type": "Note", "content": "x"}
    # When it is expanded, Then it is refused by name and no connection is attempted
    with pytest.raises(JsonLdProcessingError, match=r"evil\.example/ctx\.jsonld"):
        expand(hostile)
    assert no_network == []


def test_the_loader_refuses_anything_not_bundled() -> None:
    with pytest.raises(ContextRefused):
        offline_loader("http://169.254.169.254/latest/meta-data/")
    served = offline_loader(AS_CONTEXT, {})
    assert served["documentUrl"] == AS_CONTEXT
    assert served["document"]["@context"]["as"] == AS


def test_pyld_default_loader_is_offline_too(no_network: list[Any]) -> None:
    # Code calling PyLD directly, without our wrappers, must not fetch either.
    assert pyld_jsonld.get_document_loader() is jsonld.offline_loader
    with pytest.raises(pyld_jsonld.JsonLdError):
        pyld_jsonld.expand({"@context": "https://evil.example/other", "type": "Note"})
    assert no_network == []


def _string_contexts(document: dict[str, Any]) -> list[str]:
    contexts = document.get("@context")
    entries = contexts if isinstance(contexts, list) else [contexts]
    return [entry for entry in entries if isinstance(entry, str)]


CONTEXT_FIXTURES = sorted(
    path.relative_to(FIXTURES).as_posix()
    for path in FIXTURES.rglob("*.json")
    # WebFinger and NodeInfo are not JSON-LD; Lemmy's context file is a context, not a document.
    if path.parent.name not in {"webfinger", "nodeinfo"} and path.name != "context-2023.json"
    and "@context" in json.loads(path.read_text("utf-8"))
)  # fmt: skip


@pytest.mark.parametrize("relative", CONTEXT_FIXTURES)
def test_fixture_expands_offline_or_names_the_refused_context(
    relative: str, no_network: list[Any]
) -> None:
    # Given a captured payload: Pleroma, Lemmy 0.19, GoToSocial… reference contexts we do not
    # bundle; the hot path never needs them (as2.py reads the compacted form).
    document = load(relative)
    unbundled = [url for url in _string_contexts(document) if bundled_context(url) is None]
    if unbundled:
        with pytest.raises(JsonLdProcessingError, match="never fetched"):
            expand(document)
    else:
        # Some Pleroma-edited fixtures define no AS2 context at all and expand to nothing.
        assert isinstance(expand(document), list)
    assert no_network == []


def test_a_ride_round_trips_through_our_context(no_network: list[Any]) -> None:
    # Given a ride as we would publish it
    ride = {
        "@context": DEFAULT_CONTEXT,
        "id": "https://a.coop.example/rides/1",
        "type": ["Note", "Ride"],
        "content": "<p>Lyon → Grenoble</p>",
        "coop": "https://a.coop.example/",
        "role": "driver",
        "seats": 3,
        "seatsLeft": 2,
        "departure": "2025-06-01T08:00:00Z",
        "marginMinutes": 15,
        "price": "4.50",
        "priceKind": "fixed",
        "currency": "EUR",
        "maxDetourKm": 5,
        "waypoints": [{"type": "Place", "name": "Voiron", "latitude": 45.36, "longitude": 5.59}],
        "tallies": {"https://a.coop.example/": {"agree": 3}},
        "secret": False,
        "movedTo": "https://b.coop.example/rides/1",
    }
    # When it is expanded
    node = expand(ride)[0]
    # Then our terms are in our namespace with their datatypes
    assert node["@type"] == [AS + "Note", FEDICOOP_NS + "Ride"]
    assert node[FEDICOOP_NS + "seats"] == [{"@type": XSD + "integer", "@value": 3}]
    assert node[FEDICOOP_NS + "departure"][0]["@type"] == XSD + "dateTime"
    assert node[FEDICOOP_NS + "coop"] == [{"@id": "https://a.coop.example/"}]
    assert node[FEDICOOP_NS + "tallies"][0]["@type"] == "@json"
    assert node[AS + "movedTo"] == [{"@id": "https://b.coop.example/rides/1"}]
    assert "@list" in node[FEDICOOP_NS + "waypoints"][0]
    # And compacting with the default context gives the document back
    compacted = compact(expand(ride), DEFAULT_CONTEXT)
    assert {key: value for key, value in compacted.items() if key != "@context"} == {
        key: value for key, value in ride.items() if key != "@context"
    }
    assert no_network == []
