"""The governance JSON API on one instance: open a proposal, vote, change a vote, close."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fedicoop.activitypub import integrity
from tests.api.conftest import ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"


def closing_in(hours: int = 48) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def open_proposal(api_app: ApiApp, token: str, **changes: Any) -> dict[str, Any]:
    body = {
        "title": "Buy a second cargo bike",
        "body": "It would cost 4,000 €.\n\nWe have the money.",
        "kind": "single",
        "options": ["Yes", "No", "Next year"],
        "closes_at": closing_in(),
    } | changes
    response = await api_app.client.post(f"{API}/proposals", json=body, headers=bearer(token))
    assert response.status == 201, await response.text()
    return dict(await response.json())


@pytest.mark.both_engines
async def test_members_vote_change_their_vote_and_the_count_is_signed(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = await token_for("admin")
    alice = await token_for("alice")
    bob = await token_for("bob")
    proposal = await open_proposal(api_app, alice)
    assert proposal["status"] == "open" and proposal["kind"] == "single"
    assert [o["id"] for o in proposal["options"]] == ["o1", "o2", "o3"]
    # When alice votes yes, then changes her mind, and bob votes no
    for token, choice in ((alice, "o1"), (alice, "o3"), (bob, "o2")):
        response = await api_app.client.post(
            f"{API}/proposals/{proposal['id']}/ballots",
            json={"choices": [choice]},
            headers=bearer(token),
        )
        assert response.status == 201, await response.text()
    seen = await (
        await api_app.client.get(f"{API}/proposals/{proposal['id']}", headers=bearer(alice))
    ).json()
    assert seen["my_ballot"]["choices"] == ["o3"]
    assert seen["tallies"]["total"] == {"o1": 0, "o2": 1, "o3": 1}
    # Bad ballots change nothing
    for body, status in (({"choices": ["o9"]}, 422), ({"ranking": ["o1"]}, 422)):
        response = await api_app.client.post(
            f"{API}/proposals/{proposal['id']}/ballots", json=body, headers=bearer(bob)
        )
        assert response.status == status, await response.text()
    # Only an admin closes early; then voting is closed
    response = await api_app.client.post(
        f"{API}/proposals/{proposal['id']}/close", json={}, headers=bearer(bob)
    )
    assert response.status == 403
    response = await api_app.client.post(
        f"{API}/proposals/{proposal['id']}/close",
        json={"outcome": "A tie: we ask again in spring."},
        headers=bearer(admin),
    )
    assert response.status == 200, await response.text()
    closed = await response.json()
    assert closed["status"] == "closed" and closed["result"]["outcome"] == "tie"
    response = await api_app.client.post(
        f"{API}/proposals/{proposal['id']}/ballots", json={"choices": ["o1"]}, headers=bearer(bob)
    )
    assert response.status == 409
    # The published ballots carry proofs that verify with each voter's published key
    ballots = await (
        await api_app.client.get(
            f"/proposals/{proposal['id']}/ballots", headers={"Accept": "application/activity+json"}
        )
    ).json()
    assert ballots["totalItems"] == 2
    for ballot in ballots["orderedItems"]:
        voter = await (
            await api_app.client.get(
                ballot["attributedTo"].replace(api_app.base_url, ""),
                headers={"Accept": "application/activity+json"},
            )
        ).json()
        key = integrity.find_multikey(voter, ballot["proof"]["verificationMethod"])
        integrity.verify_object(ballot, key)
    roster = await (
        await api_app.client.get(
            f"/proposals/{proposal['id']}/roster", headers={"Accept": "application/activity+json"}
        )
    ).json()
    assert roster["totalItems"] >= 3


async def test_bad_proposals_name_the_field(api_app: ApiApp, token_for: TokenFor) -> None:
    alice = await token_for("alice")
    for changes, field in (
        ({"kind": "lottery"}, "kind"),
        ({"options": ["Only one"]}, "options"),
        ({"closes_at": "2020-01-01T00:00:00Z"}, "closes_at"),
        ({"coops": ["nobody@127.0.0.1:9"]}, "coops"),
        ({"rule": "weighted"}, "weighting"),
        ({"title": ""}, "title"),
    ):
        body = {
            "title": "T",
            "kind": "single",
            "options": ["A", "B"],
            "closes_at": closing_in(),
        } | changes
        response = await api_app.client.post(f"{API}/proposals", json=body, headers=bearer(alice))
        assert response.status == 422, (changes, await response.text())
        assert (await response.json()).get("field") == field, changes
