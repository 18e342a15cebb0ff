"""The governance JSON API under /api/fedicoop/v1: proposals and ballots."""

from typing import Any

from aiohttp import web

from fedicoop.api.auth import require
from fedicoop.api.rides_routes import PREFIX, _id, _json_body
from fedicoop.api.routing import route
from fedicoop.errors import Forbidden, Invalid
from fedicoop.governance.service import GovernanceService
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.proposals import BallotRecord, ProposalRecord
from fedicoop.web.keys import FEDERATION


def _service(request: web.Request) -> GovernanceService:
    return GovernanceService.of(request.app[FEDERATION])


def _ballot_json(ballot: BallotRecord | None) -> dict[str, Any] | None:
    if ballot is None:
        return None
    return {
        "id": str(ballot.id),
        "url": ballot.uri,
        **ballot.choice,
        "state": ballot.state,
        "reason": ballot.reason,
        "cast_at": ballot.cast_at,
    }


async def render(
    service: GovernanceService, proposal: ProposalRecord, viewer: ActorRecord
) -> dict[str, Any]:
    """Return a Proposal entity for a member."""
    handles = await service.coop_handles(proposal)
    group = await service.actors.get(proposal.group_id)
    closed = proposal.status == "closed"
    result = proposal.result
    if proposal.local and not closed and not proposal.hidden_results:
        result = (await service.tally(proposal)).as_json()
    show = closed or not proposal.hidden_results
    mine = await service.ballots.latest_of(proposal.id, viewer.uri)
    return {
        "id": str(proposal.id),
        "url": proposal.uri,
        "local": proposal.local,
        "coop": handles.get(group.uri, "") if group else "",
        "title": proposal.title,
        "body": proposal.body,
        "kind": proposal.kind,
        "options": proposal.options,
        "status": proposal.status,
        "opened_at": proposal.opened_at,
        "closes_at": proposal.closes_at,
        "closed_at": proposal.closed_at,
        "coops": [handles[uri] for uri in proposal.coops],
        "rule": proposal.rule,
        "quorum": proposal.quorum,
        "weighting": proposal.weighting,
        "max_choices": proposal.max_choices,
        "max_score": proposal.max_score,
        "secret": proposal.secret,
        "hidden_results": proposal.hidden_results,
        "tallies": _tallies(result) if show and result else None,
        "result": result if show else None,
        "outcome": proposal.outcome,
        "my_ballot": _ballot_json(mine),
    }


def _tallies(result: dict[str, Any]) -> dict[str, Any]:
    return {"total": result.get("total", {}), "by_coop": result.get("by_coop", {})}


async def create_proposal(request: web.Request) -> web.Response:
    """POST /proposals: open a proposal (cross-co-op when `coops` names partners)."""
    auth = await require(request, "write")
    account, actor = auth.user()
    service = _service(request)
    proposal = await service.create(account, actor, await _json_body(request))
    return web.json_response(await render(service, proposal, actor), status=201)


async def list_proposals(request: web.Request) -> web.Response:
    """GET /proposals?status=open|closed: proposals this member may see, local and federated."""
    auth = await require(request, "read")
    _, actor = auth.user()
    status = request.query.get("status")
    if status not in (None, "open", "closed"):
        raise Invalid("status must be open or closed", field="status")
    service = _service(request)
    proposals = await service.proposals.recent(status)
    return web.json_response([await render(service, p, actor) for p in proposals])


async def get_proposal(request: web.Request) -> web.Response:
    """GET /proposals/{id}: status, tallies per co-op, my ballot."""
    auth = await require(request, "read")
    _, actor = auth.user()
    service = _service(request)
    proposal = await service.get(_id(request))
    return web.json_response(await render(service, proposal, actor))


async def cast_ballot(request: web.Request) -> web.Response:
    """POST /proposals/{id}/ballots {choices | ranking | scores}."""
    auth = await require(request, "write")
    account, actor = auth.user()
    service = _service(request)
    ballot = await service.vote(account, actor, _id(request), await _json_body(request))
    return web.json_response(_ballot_json(ballot), status=201)


async def close_proposal(request: web.Request) -> web.Response:
    """POST /proposals/{id}/close {outcome?}: an admin closes voting early."""
    auth = await require(request, "write")
    account, actor = auth.user()
    if account.role != "admin":
        raise Forbidden("only an admin closes a proposal early")
    body = await _json_body(request)
    outcome = body.get("outcome") or ""
    if not isinstance(outcome, str) or len(outcome) > 5000:
        raise Invalid("outcome must be text of at most 5000 characters", field="outcome")
    service = _service(request)
    proposal = await service.close(await service.get(_id(request)), outcome=outcome, by=actor)
    return web.json_response(await render(service, proposal, actor))


def setup(app: web.Application) -> None:
    """Add the governance API routes."""
    route(app, "POST", f"{PREFIX}/proposals", create_proposal)
    route(app, "GET", f"{PREFIX}/proposals", list_proposals)
    route(app, "GET", f"{PREFIX}/proposals/{{id}}", get_proposal)
    route(app, "POST", f"{PREFIX}/proposals/{{id}}/ballots", cast_ballot)
    route(app, "POST", f"{PREFIX}/proposals/{{id}}/close", close_proposal)
