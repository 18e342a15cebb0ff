"""The OpenAPI 3.1 document of fedicoop's own JSON API: valid, complete, consistent.

The document is package data (`fedicoop/api/openapi/fedicoop-v1.json`), served as is at
GET /api/fedicoop/v1/openapi.json, so it is read here the way the server finds it. It covers
rides, governance (proposals, ballots), membership, account migration and ride notifications.
Every route the application registers under /api/fedicoop/v1 must be in it, and the entities
the server renders must match its schemas.
"""

import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from fedicoop.storage.notifications import NotificationRepository
from tests.api.conftest import ApiApp, TokenFor, bearer

PREFIX = "/api/fedicoop/v1"
ERROR_REF = "#/components/schemas/Error"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
READ = [{"oauth2": ["read"]}, {"oauth2": ["read:rides"]}]
WRITE = [{"oauth2": ["write"]}, {"oauth2": ["write:rides"]}]
# Governance and the member list need `read`/`write` themselves (there is no subscope);
# admin operations need the admin scopes, which `read` and `write` do not cover.
READ_ONLY = [{"oauth2": ["read"]}]
WRITE_ONLY = [{"oauth2": ["write"]}]
ADMIN_READ = [{"oauth2": ["admin:read"]}]
ADMIN_WRITE = [{"oauth2": ["admin:write"]}]
READ_ACCOUNTS = [{"oauth2": ["read"]}, {"oauth2": ["read:accounts"]}]
WRITE_ACCOUNTS = [{"oauth2": ["write"]}, {"oauth2": ["write:accounts"]}]

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
    "/notifications": {"get"},
    "/proposals": {"get", "post"},
    "/proposals/{id}": {"get"},
    "/proposals/{id}/ballots": {"post"},
    "/proposals/{id}/close": {"post"},
    "/applications": {"get", "post"},
    "/applications/{id}/approve": {"post"},
    "/applications/{id}/refuse": {"post"},
    "/invites": {"post"},
    "/membership/leave": {"post"},
    "/members": {"get"},
    "/members/{username}/role": {"post"},
    "/account/aliases": {"get", "post"},
    "/account/move": {"post"},
    "/account": {"delete"},
    "/account/export": {"get"},
    "/account/import": {"post"},
    "/openapi.json": {"get"},
}
# Who may call what, where it differs from the rides' rule (read for GET, write for the rest).
SECURITY = {
    ("get", "/openapi.json"): [],
    ("get", "/rides/{id}"): [*READ, {}],  # a public ride needs no token
    ("get", "/proposals"): READ_ONLY,
    ("post", "/proposals"): WRITE_ONLY,
    ("get", "/proposals/{id}"): READ_ONLY,
    ("post", "/proposals/{id}/ballots"): WRITE_ONLY,
    ("post", "/proposals/{id}/close"): WRITE_ONLY,
    ("post", "/applications"): [],  # applying needs no account
    ("get", "/applications"): ADMIN_READ,
    ("post", "/applications/{id}/approve"): ADMIN_WRITE,
    ("post", "/applications/{id}/refuse"): ADMIN_WRITE,
    ("post", "/invites"): ADMIN_WRITE,
    ("post", "/membership/leave"): WRITE_ONLY,
    ("get", "/members"): READ_ONLY,
    ("post", "/members/{username}/role"): ADMIN_WRITE,
    ("get", "/account/aliases"): READ_ACCOUNTS,
    ("post", "/account/aliases"): WRITE_ACCOUNTS,
    ("post", "/account/move"): WRITE_ACCOUNTS,
    ("delete", "/account"): WRITE_ACCOUNTS,
    ("get", "/account/export"): READ_ONLY,
    ("post", "/account/import"): WRITE_ONLY,
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
        key = (method, path.removeprefix(PREFIX))
        if key in SECURITY:
            assert security == SECURITY[key], f"{method.upper()} {path}"
        elif method == "get":
            assert security == READ, f"{method.upper()} {path}"
        else:
            assert security == WRITE, f"{method.upper()} {path}"
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "/oauth/authorize"
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == {
        "read", "write", "read:rides", "write:rides", "admin:read", "admin:write",
        "read:accounts", "write:accounts",
    }  # fmt: skip


def test_created_resources_answer_201(document: dict[str, Any]) -> None:
    created = {
        ("post", "/rides"),
        ("post", "/rides/{id}/bookings"),
        ("post", "/bookings/{id}/messages"),
        ("post", "/bookings/{id}/review"),
        ("post", "/saved-searches"),
        ("post", "/proposals"),
        ("post", "/proposals/{id}/ballots"),
        ("post", "/applications"),
        ("post", "/invites"),
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
        "Proposal": {
            "id", "url", "local", "coop", "title", "body", "kind", "options", "status",
            "opened_at", "closes_at", "closed_at", "coops", "rule", "quorum", "weighting",
            "max_choices", "max_score", "secret", "hidden_results", "tallies", "result",
            "outcome", "my_ballot",
        },
        "Tallies": {"total", "by_coop"},
        "ProposalOption": {"id", "label"},
        "Application": {"id", "username", "motivation", "state", "created_at", "decided_at"},
        "Invite": {"code", "url", "max_uses", "expires_at"},
        "Member": {"username", "acct", "role"},
        "Notification": {"id", "type", "created_at", "from", "object"},
        "Preferences": {
            "luggage", "bike", "pets", "smoking", "wheelchair_needed", "assistance_needed",
            "wheelchair_offered", "assistance_offered",
        },
    }  # fmt: skip
    for name, fields in expected.items():
        assert set(schemas[name]["properties"]) == fields, name
        if name != "Preferences":
            assert set(schemas[name]["required"]) == fields, name
    # A ballot carries the one field of its proposal's kind, beside what every ballot has.
    ballot = schemas["Ballot"]
    assert set(ballot["properties"]) == {
        "id", "url", "choices", "ranking", "scores", "state", "reason", "cast_at",
    }  # fmt: skip
    assert set(ballot["required"]) == {"id", "url", "state", "reason", "cast_at"}
    result = schemas["Result"]
    assert set(result["required"]) == {
        "total", "by_coop", "voters", "voters_by_coop", "eligible", "quorum_reached",
        "quorum_by_coop", "winners", "outcome", "rounds",
    }  # fmt: skip
    assert set(result["properties"]) == set(result["required"]) | {"poll_ballots"}


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, method, _ in operations(document)}


async def test_every_registered_route_is_documented(
    api_app: ApiApp, document: dict[str, Any]
) -> None:
    """Each route the application serves under the prefix is in the document, and no more."""
    registered = set()
    for route in api_app.coop.server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if not path.startswith(PREFIX + "/") or route.method == "HEAD":
            continue
        # `route()` also answers at the path with a trailing slash, as Mastodon clients expect.
        registered.add((route.method, path.removesuffix("/")))
    documented = documented_routes(document)
    assert registered - documented == set(), "registered but not documented"
    assert documented - registered == set(), "documented but not registered"


def conforms(document: dict[str, Any], schema: str, value: Any) -> None:
    """Assert that an API answer matches a schema of the document (its $refs resolved)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in Draft202012Validator(root).iter_errors(value)
    ]
    assert problems == [], f"{schema}: {problems}"


ADMIN_SCOPES = "read write admin:read admin:write"


async def admin_token(api_app: ApiApp) -> str:
    """The admin's token, from an app registered with the admin scopes."""
    await api_app.member("admin")
    app = await (
        await api_app.client.post(
            "/api/v1/apps",
            json={
                "client_name": "openapi",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": ADMIN_SCOPES,
            },
        )
    ).json()
    response = await api_app.client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "admin",
            "password": "correct horse battery staple",
            "scope": ADMIN_SCOPES,
        },
    )
    assert response.status == 200, await response.text()
    return str((await response.json())["access_token"])


async def test_governance_and_membership_answers_match_their_schemas(
    api_app: ApiApp, token_for: TokenFor, document: dict[str, Any]
) -> None:
    api = api_app.client
    admin = await admin_token(api_app)
    alice = await token_for("alice")
    closes = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    proposals = []
    for body in (
        {"title": "Van", "kind": "single", "options": ["Yes", "No"], "closes_at": closes},
        {
            "title": "Rules",
            "kind": "consent",
            "closes_at": closes,
            "secret": True,
            "rule": "weighted",
            "weighting": {"floor": 1, "cap": 10},
            "quorum": 0.5,
        },
        {"title": "Rank", "kind": "ranked", "options": ["A", "B", "C"], "closes_at": closes},
        {"title": "Score", "kind": "score", "options": ["A", "B"], "closes_at": closes},
    ):
        response = await api.post(f"{PREFIX}/proposals", json=body, headers=bearer(alice))
        assert response.status == 201, await response.text()
        proposals.append(await response.json())
    ballots = (
        {"choices": ["o1"]},
        {"choices": ["agree"]},
        {"ranking": ["o2", "o1"]},
        {"scores": {"o1": 4}},
    )
    for proposal, ballot in zip(proposals, ballots, strict=True):
        conforms(document, "Proposal", proposal)
        url = f"{PREFIX}/proposals/{proposal['id']}"
        response = await api.post(f"{url}/ballots", json=ballot, headers=bearer(alice))
        assert response.status == 201, await response.text()
        conforms(document, "Ballot", await response.json())
        conforms(document, "Proposal", await (await api.get(url, headers=bearer(alice))).json())
        response = await api.post(f"{url}/close", json={"outcome": "Done"}, headers=bearer(admin))
        assert response.status == 200, await response.text()
        closed = await response.json()
        conforms(document, "Proposal", closed)
        assert closed["result"]["poll_ballots"] == []
    listed = await (await api.get(f"{PREFIX}/proposals", headers=bearer(alice))).json()
    for proposal in listed:
        conforms(document, "Proposal", proposal)
    # Membership
    response = await api.post(f"{PREFIX}/invites", json={"max_uses": 2}, headers=bearer(admin))
    assert response.status == 201, await response.text()
    conforms(document, "Invite", await response.json())
    response = await api.post(
        f"{PREFIX}/applications", json={"username": "zoe", "password": "a long password"}
    )
    assert response.status == 201, await response.text()
    application = await response.json()
    conforms(document, "Application", application)
    for item in await (
        await api.get(f"{PREFIX}/applications?state=all", headers=bearer(admin))
    ).json():
        conforms(document, "Application", item)
    response = await api.post(
        f"{PREFIX}/applications/{application['id']}/approve", headers=bearer(admin)
    )
    conforms(document, "Application", await response.json())
    for member in await (await api.get(f"{PREFIX}/members", headers=bearer(alice))).json():
        conforms(document, "Member", member)
    response = await api.post(
        f"{PREFIX}/members/alice/role", json={"role": "admin"}, headers=bearer(admin)
    )
    conforms(document, "MemberRole", await response.json())
    response = await api.post(f"{PREFIX}/membership/leave", headers=bearer(alice))
    conforms(document, "Departure", await response.json())
    mia = await token_for("mia")
    mia_account, _ = await api_app.member("mia")
    _, bob = await api_app.member("bob")
    await NotificationRepository(api_app.db).add(
        mia_account.id, "booking_request", bob.id, f"{api_app.base_url}/bookings/1"
    )
    await NotificationRepository(api_app.db).add(mia_account.id, "ride_match", None, None)
    notifications = await (await api.get(f"{PREFIX}/notifications", headers=bearer(mia))).json()
    assert [n["type"] for n in notifications] == ["ride_match", "booking_request"]
    for notification in notifications:
        conforms(document, "Notification", notification)
