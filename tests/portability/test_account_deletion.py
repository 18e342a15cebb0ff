"""Leaving for good: the account closes at once, its data is erased after the grace period."""

from datetime import timedelta
from typing import Any

from fedicoop import clock
from fedicoop.portability import deletion
from tests.api.conftest import PASSWORD, ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"


async def test_a_member_deletes_their_account_and_it_is_erased_later(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a member with a post, a ride and a follower elsewhere on the instance
    token = await token_for("lea")
    friend = await token_for("max")
    headers = bearer(token)
    response = await api_app.client.post(
        "/api/v1/statuses", json={"status": "Bonjour la coop"}, headers=headers
    )
    post = await response.json()
    response = await api_app.client.post(
        f"{API}/rides",
        json={
            "role": "driver",
            "origin": {"lat": 45.76, "lon": 4.83, "label": "chez moi"},
            "destination": {"lat": 45.19, "lon": 5.72},
            "departure": (clock.now() + timedelta(days=3)).isoformat(),
            "seats": 2,
        },
        headers=headers,
    )
    ride = await response.json()
    _, lea = await api_app.member("lea")
    # When she confirms with a wrong password, nothing happens
    wrong = await api_app.client.delete(
        f"{API}/account", json={"password": "not it at all"}, headers=headers
    )
    assert wrong.status == 403
    # When she confirms with her password
    response = await api_app.client.delete(
        f"{API}/account", json={"password": PASSWORD}, headers=headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "deleted"
    # Then her token no longer works, her ride is cancelled and her actor is gone
    again = await api_app.client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert again.status == 401
    seen = await api_app.client.get(f"{API}/rides/{ride['id']}", headers=bearer(friend))
    assert (await seen.json())["status"] == "cancelled"
    gone = await api_app.client.get(
        lea.uri.replace(api_app.base_url, ""), headers={"Accept": "application/activity+json"}
    )
    assert gone.status == 410 and (await gone.json())["type"] == "Tombstone"
    sent = await api_app.db.fetch(
        "SELECT raw FROM activities WHERE type = 'Delete' AND actor_uri = $1", lea.uri
    )
    assert sent, "the Delete of the actor is sent out"
    # And after the grace period, what she wrote is erased; until then it is kept
    assert await deletion.erase_due(api_app.federation) == 0
    await api_app.db.execute(
        "UPDATE accounts SET erase_after = $2 WHERE username = $1",
        "lea",
        clock.to_text(clock.now() - timedelta(seconds=1)),
    )
    assert await deletion.erase_due(api_app.federation) == 1
    row: Any = await api_app.db.fetchrow(
        "SELECT content, deleted_at FROM objects WHERE id = $1", int(post["id"])
    )
    assert row["content"] == "" and row["deleted_at"] is not None
    exact: Any = await api_app.db.fetchrow("SELECT exact FROM rides WHERE id = $1", int(ride["id"]))
    assert exact["exact"] is None
    account: Any = await api_app.db.fetchrow(
        "SELECT password_hash, email FROM accounts WHERE username = 'lea'"
    )
    assert account["password_hash"] == ""
    assert await deletion.erase_due(api_app.federation) == 0  # once


async def test_the_last_admin_cannot_delete_their_account(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    token = await token_for("admin")
    response = await api_app.client.delete(
        f"{API}/account", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert response.status == 409
