"""Proposals through the JSON API, kind by kind, and their lifecycle: hidden results, secret
ballots, quorum, closing by the maintenance loop, the closing reminder, and who may vote.

Every member who votes is made before the proposal opens: the roster is signed at opening,
and only those on it vote.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse

from fedicoop import clock
from fedicoop.activitypub import integrity
from fedicoop.errors import Forbidden
from fedicoop.governance import membership
from fedicoop.governance.service import GovernanceService
from fedicoop.storage.actors import ActorRepository
from tests.api.conftest import ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"
AS_JSON = {"Accept": "application/activity+json"}


def closing_in(hours: float = 48) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def members(token_for: TokenFor, *names: str) -> dict[str, str]:
    """Return a token for each member (made now, so before any proposal opens)."""
    return {name: await token_for(name) for name in names}


async def open_proposal(api_app: ApiApp, token: str, **changes: Any) -> dict[str, Any]:
    body = {
        "title": "Where do we ride in June?",
        "kind": "single",
        "options": ["Vercors", "Chartreuse", "Belledonne"],
        "closes_at": closing_in(),
    } | changes
    response = await api_app.client.post(f"{API}/proposals", json=body, headers=bearer(token))
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def cast(api_app: ApiApp, token: str, proposal: dict[str, Any], body: Any) -> ClientResponse:
    return await api_app.client.post(
        f"{API}/proposals/{proposal['id']}/ballots", json=body, headers=bearer(token)
    )


async def vote(api_app: ApiApp, token: str, proposal: dict[str, Any], body: Any) -> None:
    response = await cast(api_app, token, proposal, body)
    assert response.status == 201, await response.text()


async def shown(api_app: ApiApp, token: str, proposal: dict[str, Any]) -> dict[str, Any]:
    response = await api_app.client.get(f"{API}/proposals/{proposal['id']}", headers=bearer(token))
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def close(api_app: ApiApp, admin: str, proposal: dict[str, Any]) -> dict[str, Any]:
    response = await api_app.client.post(
        f"{API}/proposals/{proposal['id']}/close", json={}, headers=bearer(admin)
    )
    assert response.status == 200, await response.text()
    closed = dict(await response.json())
    assert closed["status"] == "closed"
    return closed


async def served(api_app: ApiApp, path: str) -> dict[str, Any]:
    response = await api_app.client.get(path, headers=AS_JSON)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def notifications(api_app: ApiApp, kind: str, uri: str) -> list[int]:
    """Return the account ids notified of `kind` about a proposal."""
    rows = await api_app.db.fetch(
        "SELECT account_id FROM notifications WHERE type = $1 AND object_uri = $2 "
        "ORDER BY account_id",
        kind,
        uri,
    )
    return [int(row["account_id"]) for row in rows]


async def active_account_ids(api_app: ApiApp) -> list[int]:
    rows = await api_app.db.fetch("SELECT id FROM accounts WHERE status = 'active' ORDER BY id")
    return [int(row["id"]) for row in rows]


# --- kinds --------------------------------------------------------------------------------------


async def test_consent_one_block_blocks_the_proposal(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given a consent proposal (its four fixed options) and three members
    tokens = await members(token_for, "admin", "alice", "bob", "carl")
    proposal = await open_proposal(api_app, tokens["alice"], kind="consent", options=[])
    assert [o["id"] for o in proposal["options"]] == ["agree", "abstain", "disagree", "block"]
    # When two agree and one blocks
    await vote(api_app, tokens["alice"], proposal, {"choices": ["agree"]})
    await vote(api_app, tokens["bob"], proposal, {"choices": ["agree"]})
    await vote(api_app, tokens["carl"], proposal, {"choices": ["block"]})
    # Then the proposal is blocked, whatever the majority
    closed = await close(api_app, tokens["admin"], proposal)
    assert closed["result"]["outcome"] == "blocked"
    assert closed["result"]["winners"] == ["block"]
    assert closed["tallies"]["total"] == {"agree": 2, "abstain": 0, "disagree": 0, "block": 1}


async def test_consent_takes_exactly_one_of_its_options(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    tokens = await members(token_for, "alice")
    proposal = await open_proposal(api_app, tokens["alice"], kind="consent", options=[])
    for body in ({"choices": ["agree", "block"]}, {"choices": ["maybe"]}, {"ranking": ["agree"]}):
        response = await cast(api_app, tokens["alice"], proposal, body)
        assert response.status == 422, body
    assert (await shown(api_app, tokens["alice"], proposal))["my_ballot"] is None


async def test_ranked_is_decided_by_instant_runoff(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given a ranked proposal and four voters
    tokens = await members(token_for, "admin", "alice", "bob", "carl", "dora")
    proposal = await open_proposal(api_app, tokens["alice"], kind="ranked")
    # When first preferences split 1 / 1 / 2 and the eliminated ballots move on
    await vote(api_app, tokens["alice"], proposal, {"ranking": ["o1", "o3"]})
    await vote(api_app, tokens["bob"], proposal, {"ranking": ["o2", "o3"]})
    await vote(api_app, tokens["carl"], proposal, {"ranking": ["o3"]})
    await vote(api_app, tokens["dora"], proposal, {"ranking": ["o3", "o1"]})
    closed = await close(api_app, tokens["admin"], proposal)
    # Then Belledonne wins in the second round (Chartreuse, listed later, is eliminated first)
    result = closed["result"]
    assert result["rounds"] == [{"o1": 1, "o2": 1, "o3": 2}, {"o1": 1, "o3": 3}]
    assert result["total"] == {"o1": 1, "o2": 0, "o3": 3}
    assert result["winners"] == ["o3"] and result["outcome"] == "passed"


async def test_score_sums_each_options_scores(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given a score proposal out of 10
    tokens = await members(token_for, "admin", "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"], kind="score", max_score=10)
    assert proposal["max_score"] == 10
    # When a member scores above the maximum, Then it is refused
    response = await cast(api_app, tokens["alice"], proposal, {"scores": {"o1": 11}})
    assert response.status == 422
    assert (await response.json())["field"] == "scores"
    # When two members score
    await vote(api_app, tokens["alice"], proposal, {"scores": {"o1": 10, "o2": 3}})
    await vote(api_app, tokens["bob"], proposal, {"scores": {"o1": 2, "o2": 8, "o3": 5}})
    # Then each option's total is the sum, and the highest wins
    closed = await close(api_app, tokens["admin"], proposal)
    assert closed["result"]["total"] == {"o1": 12, "o2": 11, "o3": 5}
    assert closed["result"]["winners"] == ["o1"]


async def test_multiple_choice_allows_at_most_max_choices(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a multiple-choice proposal allowing two picks
    tokens = await members(token_for, "admin", "alice", "bob")
    proposal = await open_proposal(
        api_app, tokens["alice"], kind="multiple", options=["A", "B", "C", "D"], max_choices=2
    )
    # When a member picks three, Then it is refused and nothing is recorded
    response = await cast(api_app, tokens["alice"], proposal, {"choices": ["o1", "o2", "o3"]})
    assert response.status == 422
    assert (await shown(api_app, tokens["alice"], proposal))["my_ballot"] is None
    # When members pick two and one (in any order), Then each pick counts once
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o3", "o1"]})
    await vote(api_app, tokens["bob"], proposal, {"choices": ["o3"]})
    mine = (await shown(api_app, tokens["alice"], proposal))["my_ballot"]
    assert mine["choices"] == ["o1", "o3"]  # stored in option order
    closed = await close(api_app, tokens["admin"], proposal)
    assert closed["result"]["total"] == {"o1": 1, "o2": 0, "o3": 2, "o4": 0}
    assert closed["result"]["winners"] == ["o3"]


async def test_max_choices_above_the_options_is_refused(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    tokens = await members(token_for, "alice")
    response = await api_app.client.post(
        f"{API}/proposals",
        json={
            "title": "T",
            "kind": "multiple",
            "options": ["A", "B"],
            "max_choices": 3,
            "closes_at": closing_in(),
        },
        headers=bearer(tokens["alice"]),
    )
    assert response.status == 422
    assert (await response.json())["field"] == "max_choices"


# --- what is shown when -------------------------------------------------------------------------


async def test_hidden_results_show_no_tallies_until_closed(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a proposal with hidden results, and votes cast
    tokens = await members(token_for, "admin", "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"], hidden_results=True)
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o1"]})
    await vote(api_app, tokens["bob"], proposal, {"choices": ["o1"]})
    # Then while it is open, neither members nor other servers see any count
    seen = await shown(api_app, tokens["bob"], proposal)
    assert seen["hidden_results"] is True
    assert seen["tallies"] is None and seen["result"] is None
    assert seen["my_ballot"]["choices"] == ["o1"]  # one's own ballot is not a result
    listed = await (
        await api_app.client.get(f"{API}/proposals?status=open", headers=bearer(tokens["bob"]))
    ).json()
    assert [(p["id"], p["tallies"]) for p in listed] == [(proposal["id"], None)]
    question = await served(api_app, f"/proposals/{proposal['id']}")
    assert "tallies" not in question and "votersCount" not in question
    assert [c["replies"]["totalItems"] for c in question["oneOf"]] == [0, 0, 0]
    # When it closes, Then everyone sees the tallies
    closed = await close(api_app, tokens["admin"], proposal)
    assert closed["tallies"]["total"] == {"o1": 2, "o2": 0, "o3": 0}
    seen = await shown(api_app, tokens["bob"], proposal)
    assert seen["tallies"]["total"] == {"o1": 2, "o2": 0, "o3": 0}
    question = await served(api_app, f"/proposals/{proposal['id']}")
    assert question["tallies"]["total"] == {"o1": 2, "o2": 0, "o3": 0}
    assert [c["replies"]["totalItems"] for c in question["oneOf"]] == [2, 0, 0]


async def test_open_results_are_tallied_live(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given a proposal without hidden results, Then members see the count as votes come in
    tokens = await members(token_for, "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"])
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o2"]})
    seen = await shown(api_app, tokens["bob"], proposal)
    assert seen["tallies"]["total"] == {"o1": 0, "o2": 1, "o3": 0}


async def test_secret_ballots_publish_who_voted_but_not_how(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a secret proposal and two voters
    tokens = await members(token_for, "admin", "alice", "bob", "carl")
    proposal = await open_proposal(api_app, tokens["alice"], secret=True)
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o1"]})
    await vote(api_app, tokens["bob"], proposal, {"choices": ["o2"]})
    # While it is open, neither the ballots nor the voters are published
    ballots_path = f"/proposals/{proposal['id']}/ballots"
    voters_path = f"/proposals/{proposal['id']}/voters"
    assert (await served(api_app, ballots_path))["orderedItems"] == []
    assert (await served(api_app, voters_path))["orderedItems"] == []
    await close(api_app, tokens["admin"], proposal)
    # Then the ballots name no voter and are signed by the co-op's Group
    group = await api_app.federation.group_actor()
    group_document = await served(api_app, group.uri.replace(api_app.base_url, ""))
    ballots = (await served(api_app, ballots_path))["orderedItems"]
    assert sorted(b["choices"][0] for b in ballots) == ["o1", "o2"]
    for ballot in ballots:
        assert "attributedTo" not in ballot and "published" not in ballot
        assert ballot["proof"]["verificationMethod"] == group.uri + integrity.KEY_FRAGMENT
        key = integrity.find_multikey(group_document, ballot["proof"]["verificationMethod"])
        integrity.verify_object(ballot, key)
    # And the voters collection lists who voted (Carl did not), per co-op
    voters = (await served(api_app, voters_path))["orderedItems"]
    actors = ActorRepository(api_app.db)
    expected = []
    for name in ("alice", "bob"):
        actor = await actors.by_handle(name, api_app.domain)
        assert actor is not None
        expected.append({"voter": actor.uri, "coop": group.uri})
    assert voters == sorted(expected, key=lambda item: item["voter"])


async def test_an_open_proposal_has_no_voters_collection(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    tokens = await members(token_for, "alice")
    proposal = await open_proposal(api_app, tokens["alice"])
    response = await api_app.client.get(f"/proposals/{proposal['id']}/voters", headers=AS_JSON)
    assert response.status == 404


async def test_a_quorum_not_reached_is_no_quorum(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given five members and a quorum of half of them
    tokens = await members(token_for, "admin", "alice", "bob", "carl", "dora")
    proposal = await open_proposal(api_app, tokens["alice"], quorum={"overall": 0.5})
    assert proposal["quorum"] == {"overall": 0.5, "per_coop": None}
    # When only two vote (2 < 2.5), Then there is no decision, though the tally is reported
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o1"]})
    await vote(api_app, tokens["bob"], proposal, {"choices": ["o1"]})
    closed = await close(api_app, tokens["admin"], proposal)
    result = closed["result"]
    assert result["outcome"] == "no_quorum" and result["winners"] == []
    assert result["quorum_reached"] is False
    assert result["total"] == {"o1": 2, "o2": 0, "o3": 0}


async def test_a_quorum_reached_decides(api_app: ApiApp, token_for: TokenFor) -> None:
    tokens = await members(token_for, "admin", "alice", "bob", "carl")
    proposal = await open_proposal(api_app, tokens["alice"], quorum={"overall": 0.5})
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o1"]})
    await vote(api_app, tokens["bob"], proposal, {"choices": ["o1"]})
    closed = await close(api_app, tokens["admin"], proposal)
    assert closed["result"]["outcome"] == "passed" and closed["result"]["quorum_reached"]


# --- the maintenance loop -----------------------------------------------------------------------


async def test_maintenance_closes_a_due_proposal_and_notifies_members(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a proposal with a vote, whose closing time has passed
    tokens = await members(token_for, "admin", "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"])
    await vote(api_app, tokens["bob"], proposal, {"choices": ["o2"]})
    past = clock.to_text(clock.now() - timedelta(minutes=1))
    await api_app.db.execute(
        "UPDATE proposals SET closes_at = $1 WHERE id = $2", past, int(proposal["id"])
    )
    # And members can no longer vote, even before it is closed
    response = await cast(api_app, tokens["alice"], proposal, {"choices": ["o1"]})
    assert response.status == 409
    # When the maintenance loop runs (twice: the second finds nothing to do)
    service = GovernanceService.of(api_app.federation)
    await service.maintain()
    await service.maintain()
    # Then the proposal is closed with its count, and every member was told once
    seen = await shown(api_app, tokens["alice"], proposal)
    assert seen["status"] == "closed" and seen["closed_at"] is not None
    assert seen["result"]["winners"] == ["o2"]
    everyone = await active_account_ids(api_app)
    assert await notifications(api_app, "proposal_closed", proposal["url"]) == everyone


async def test_maintenance_leaves_a_proposal_open_until_its_time(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    tokens = await members(token_for, "alice")
    proposal = await open_proposal(api_app, tokens["alice"], closes_at=closing_in(48))
    await GovernanceService.of(api_app.federation).maintain()
    assert (await shown(api_app, tokens["alice"], proposal))["status"] == "open"
    assert await notifications(api_app, "proposal_closed", proposal["url"]) == []
    assert await notifications(api_app, "proposal_closing", proposal["url"]) == []


async def test_the_closing_reminder_fires_once_a_day_before(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a proposal opened two days ahead, then with less than a day left
    tokens = await members(token_for, "admin", "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"], closes_at=closing_in(48))
    service = GovernanceService.of(api_app.federation)
    await service.maintain()
    assert await notifications(api_app, "proposal_closing", proposal["url"]) == []
    soon = clock.to_text(clock.now() + timedelta(hours=20))
    await api_app.db.execute(
        "UPDATE proposals SET closes_at = $1 WHERE id = $2", soon, int(proposal["id"])
    )
    # When the maintenance loop runs three times
    for _ in range(3):
        await service.maintain()
    # Then each member was reminded exactly once, and the proposal is still open
    everyone = await active_account_ids(api_app)
    assert await notifications(api_app, "proposal_closing", proposal["url"]) == everyone
    assert (await shown(api_app, tokens["alice"], proposal))["status"] == "open"


async def test_opening_a_proposal_notifies_members(api_app: ApiApp, token_for: TokenFor) -> None:
    tokens = await members(token_for, "admin", "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"])
    everyone = await active_account_ids(api_app)
    assert await notifications(api_app, "proposal_opened", proposal["url"]) == everyone


# --- who may vote -------------------------------------------------------------------------------


async def test_a_member_who_joined_after_opening_cannot_vote(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    # Given a proposal opened before Zoe joined
    tokens = await members(token_for, "admin", "alice")
    proposal = await open_proposal(api_app, tokens["alice"])
    zoe = await token_for("zoe")
    # When she votes, Then she is refused: she is not on the roster signed at opening
    response = await cast(api_app, zoe, proposal, {"choices": ["o1"]})
    assert response.status == 403
    assert "member when voting opened" in (await response.json())["error"]
    # And nothing of hers is counted, while a member on the roster still votes
    assert (await shown(api_app, zoe, proposal))["my_ballot"] is None
    await vote(api_app, tokens["alice"], proposal, {"choices": ["o1"]})
    closed = await close(api_app, tokens["admin"], proposal)
    assert closed["result"]["voters"] == 1
    roster = await served(api_app, f"/proposals/{proposal['id']}/roster")
    zoe_actor = await ActorRepository(api_app.db).by_handle("zoe", api_app.domain)
    assert zoe_actor is not None and zoe_actor.uri not in roster["members"]


async def test_an_applicant_cannot_vote(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given an open proposal and someone who applied to join but is not approved
    tokens = await members(token_for, "alice")
    proposal = await open_proposal(api_app, tokens["alice"])
    account, _ = await membership.apply(api_app.instance, username="yann", password="long enough")
    actor = await ActorRepository(api_app.db).get(account.actor_id)
    assert actor is not None
    # When a ballot is cast for them, Then it is refused as not from a member
    service = GovernanceService.of(api_app.federation)
    with pytest.raises(Forbidden, match="only active members vote"):
        await service.vote(account, actor, int(proposal["id"]), {"choices": ["o1"]})
    assert await service.ballots.latest_of(int(proposal["id"]), actor.uri) is None


async def test_a_member_who_left_can_no_longer_vote(api_app: ApiApp, token_for: TokenFor) -> None:
    # Given Bob on the roster, who then leaves the co-op
    tokens = await members(token_for, "alice", "bob")
    proposal = await open_proposal(api_app, tokens["alice"])
    response = await api_app.client.post(
        f"{API}/membership/leave", json={}, headers=bearer(tokens["bob"])
    )
    assert response.status == 200, await response.text()
    # When his token is used to vote, Then it no longer works, and nothing is counted
    response = await cast(api_app, tokens["bob"], proposal, {"choices": ["o1"]})
    assert response.status == 401
    seen = await shown(api_app, tokens["alice"], proposal)
    assert seen["tallies"]["total"] == {"o1": 0, "o2": 0, "o3": 0}


@pytest.mark.parametrize("body", [None, [], "o1", {"choices": "o1"}, {"choices": [1]}])
async def test_a_malformed_ballot_body_is_refused(
    api_app: ApiApp, token_for: TokenFor, body: Any
) -> None:
    tokens = await members(token_for, "alice")
    proposal = await open_proposal(api_app, tokens["alice"])
    response = await cast(api_app, tokens["alice"], proposal, body)
    assert response.status in (400, 422), await response.text()
    assert (await shown(api_app, tokens["alice"], proposal))["my_ballot"] is None
