"""The OpenAPI 3.1 document of fedicoop's own JSON API (rides): valid, complete, consistent.

The document is package data (`fedicoop/api/openapi/fedicoop-v1.json`), served as is at
GET /api/fedicoop/v1/openapi.json, so it is read here the way the server finds it.
"""

import json
from importlib.resources import files
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

PREFIX = "/api/fedicoop/v1"
ERROR_REF = "#/components/schemas/Error"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
READ = [{"oauth2": ["read"]}, {"oauth2": ["read:rides"]}]
WRITE = [{"oauth2": ["write"]}, {"oauth2": ["write:rides"]}]

# The contract of the issue: every path and method, nothing more.
CONTRACT = {
    "/rides": {"get", "post"},
    "/rides/search": {"get"},
    "/rides/{id}": {"get", "delete"},
    "/rides/{id}/bookings": {"post"},
    "/bookings": {"get"},
    "/bookings/{id}": {"get"},
    "/bookings/{id}/accept": {"post"},
    "/bookings/{id}/reject": {"post"},
    "/bookings/{id}/cancel": {"post"},
    "/bookings/{id}/complete": {"post"},
    "/bookings/{id}/no-show": {"post"},
    "/bookings/{id}/messages": {"get", "post"},
    "/bookings/{id}/review": {"post"},
    "/saved-searches": {"get", "post"},
    "/saved-searches/{id}": {"delete"},
    "/openapi.json": {"get"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    resource = files("fedicoop.api") / "openapi" / "fedicoop-v1.json"
    return json.loads(resource.read_text(encoding="utf-8"))


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local $refs ('#/components/...') until a node without one."""
    seen = set()
    while "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), f"non-local $ref {pointer}"
        assert pointer not in seen, f"$ref cycle at {pointer}"
        seen.add(pointer)
        node = document
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_paths_and_methods_are_the_contracts(document: dict[str, Any]) -> None:
    found: dict[str, set[str]] = {}
    for path, method, _ in operations(document):
        assert path.startswith(PREFIX), path
        found.setdefault(path.removeprefix(PREFIX), set()).add(method)
    assert found == CONTRACT


def test_every_operation_has_a_unique_operation_id_and_a_summary(
    document: dict[str, Any],
) -> None:
    ids = []
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        assert operation.get("operationId"), f"{where} has no operationId"
        assert operation.get("summary", "").strip(), f"{where} has no summary"
        assert operation.get("description", "").strip(), f"{where} has no description"
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)), "operationIds repeat"


def test_every_4xx_response_is_the_shared_error_schema(document: dict[str, Any]) -> None:
    checked = 0
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("4"):
                continue
            resolved = resolve(document, response)
            content = resolved.get("content", {})
            assert list(content) == ["application/json"], f"{method.upper()} {path} {status}"
            schema = content["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, f"{method.upper()} {path} {status}: {schema}"
            checked += 1
    assert checked > 0
    error = resolve(document, {"$ref": ERROR_REF})
    assert error["required"] == ["error"]
    assert set(error["properties"]) == {"error", "field"}


def test_every_operation_names_its_success_and_its_errors(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        codes = set(operation["responses"])
        assert codes & {"200", "201"}, f"{method.upper()} {path} has no success response"
        if operation["security"]:
            assert "401" in codes, f"{method.upper()} {path} needs a token but has no 401"
        if "{id}" in path:
            assert "404" in codes, f"{method.upper()} {path} takes an id but has no 404"
        queries = [resolve(document, p) for p in operation.get("parameters", [])]
        if "requestBody" in operation or any(p["in"] == "query" for p in queries):
            assert "422" in codes, f"{method.upper()} {path} takes input but has no 422"


def test_security_read_for_get_write_for_the_rest(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        security = operation["security"]
        if path == f"{PREFIX}/openapi.json":
            assert security == []
        elif path == f"{PREFIX}/rides/{{id}}" and method == "get":
            assert security == [*READ, {}]  # a public ride needs no token
        elif method == "get":
            assert security == READ, f"{method.upper()} {path}"
        else:
            assert security == WRITE, f"{method.upper()} {path}"
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "/oauth/authorize"
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == {"read", "write", "read:rides", "write:rides"}


def test_created_resources_answer_201(document: dict[str, Any]) -> None:
    created = {
        ("post", "/rides"),
        ("post", "/rides/{id}/bookings"),
        ("post", "/bookings/{id}/messages"),
        ("post", "/bookings/{id}/review"),
        ("post", "/saved-searches"),
    }
    for path, method, operation in operations(document):
        expected = "201" if (method, path.removeprefix(PREFIX)) in created else "200"
        assert expected in operation["responses"], f"{method.upper()} {path}"


def test_entities_carry_the_contracts_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    expected = {
        "Place": {"lat", "lon", "label"},
        "Price": {"kind", "amount", "currency"},
        "Party": {"acct", "display_name", "url"},
        "Schedule": {"days", "time", "timezone", "start", "end"},
        "Occurrence": {"occurrence", "departure", "seats_left", "status"},
        "Ride": {
            "id", "url", "coop", "local", "role", "author", "origin", "destination",
            "waypoints", "exact", "departure", "margin_minutes", "seats", "seats_left",
            "price", "cost_per_seat", "preferences", "max_detour_km", "trip_km", "schedule",
            "occurrences", "status", "created_at", "updated_at",
        },
        "Match": {
            "id", "url", "coop", "detour_km", "departure", "occurrence",
            "time_difference_minutes", "score", "ride",
        },
        "Booking": {
            "id", "url", "ride_id", "ride_url", "occurrence", "seats", "status", "rider",
            "driver", "pickup", "dropoff", "message", "reason", "urgent", "created_at",
            "updated_at",
        },
        "Message": {"id", "booking_id", "author", "text", "created_at"},
        "Review": {"id", "booking_id", "author", "subject", "rating", "text", "created_at"},
        "SavedSearch": {"id", "query", "created_at"},
        "Preferences": {
            "luggage", "bike", "pets", "smoking", "wheelchair_needed", "assistance_needed",
            "wheelchair_offered", "assistance_offered",
        },
    }  # fmt: skip
    for name, fields in expected.items():
        assert set(schemas[name]["properties"]) == fields, name
        if name != "Preferences":
            assert set(schemas[name]["required"]) == fields, name
