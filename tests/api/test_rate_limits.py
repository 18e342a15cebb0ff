"""Rate limits: per account and per address on the client API, per address on the inbox.

An in-process instance with small budgets set in its config; every refusal is a 429 in
Mastodon's error shape with Retry-After, reaches no handler, and changes nothing.
"""

from typing import Any

from tests.api.conftest import ApiApp, bearer


def limit(api_app: ApiApp, **budgets: int) -> None:
    config = api_app.instance.config
    for kind, value in budgets.items():
        setattr(config, f"{kind}_rate_limit", value)


async def test_a_member_over_budget_gets_429_with_retry_after(api_app: ApiApp) -> None:
    # Given a co-op allowing 5 API requests per account per 5 minutes
    token = await api_app.token("alice")
    limit(api_app, api=5)
    headers = bearer(token)
    # When alice makes 5 requests, Then each says how many remain
    remaining = []
    for _ in range(5):
        response = await api_app.client.get("/api/v1/timelines/home", headers=headers)
        assert response.status == 200
        assert response.headers["X-RateLimit-Limit"] == "5"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    # And the sixth is refused, saying when to come back, and posts nothing
    response = await api_app.client.post(
        "/api/v1/statuses", json={"status": "one too many"}, headers=headers
    )
    assert response.status == 429
    assert (await response.json())["error"].startswith("Too many requests")
    assert 1 <= int(response.headers["Retry-After"]) <= 301
    assert not await api_app.db.fetch("SELECT 1 FROM objects WHERE content LIKE '%too many%'")
    # And another member still has their own budget
    other = await api_app.token("bob")
    response = await api_app.client.get("/api/v1/timelines/home", headers=bearer(other))
    assert response.status == 200


async def test_one_address_over_budget_is_refused_whoever_it_claims_to_be(
    api_app: ApiApp,
) -> None:
    # Given a co-op allowing 3 API requests per address
    limit(api_app, ip=3)
    for _ in range(3):
        response = await api_app.client.get("/api/v1/instance")
        assert response.status == 200
    # When the same client goes on, Then it is refused
    response = await api_app.client.get("/api/v1/instance")
    assert response.status == 429
    # And claiming another address does not help a client that is not a trusted proxy
    api_app.instance.config.trusted_proxies = ()
    response = await api_app.client.get(
        "/api/v1/instance", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert response.status == 429


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(api_app: ApiApp) -> None:
    # Given the test client is the co-op's reverse proxy (loopback, trusted by default)
    limit(api_app, ip=2)

    async def get(client: str) -> int:
        response = await api_app.client.get(
            "/api/v1/instance", headers={"X-Forwarded-For": f"{client}, 127.0.0.1"}
        )
        return response.status

    # When two clients come through it, Then each is counted apart
    assert [await get("198.51.100.1") for _ in range(3)] == [200, 200, 429]
    assert await get("198.51.100.2") == 200


async def test_the_inbox_refuses_a_flood_from_one_address_before_any_work(
    api_app: ApiApp,
) -> None:
    # Given a co-op allowing 2 inbox POSTs per address
    limit(api_app, inbox=2)
    body: dict[str, Any] = {"type": "Create", "id": "https://x.example/1", "actor": "x"}
    statuses = []
    for _ in range(3):
        response = await api_app.client.post(
            "/inbox", json=body, headers={"Content-Type": "application/activity+json"}
        )
        statuses.append(response.status)
    # Then the first two are judged (unsigned: 401), the third refused for the flood
    assert statuses[:2] == [401, 401] and statuses[2] == 429
    assert not await api_app.db.fetch("SELECT 1 FROM inbox")
