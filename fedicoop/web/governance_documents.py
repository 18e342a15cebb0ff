"""Proposals, roster snapshots and signed ballots as served to other servers and verifiers."""

import hashlib
import html
import json
from typing import Any

from aiohttp import web

from fedicoop.activitypub.documents import COLLECTION_CONTEXT
from fedicoop.errors import NotFound
from fedicoop.governance.federation import ballots_uri, voters_uri
from fedicoop.governance.service import GovernanceService
from fedicoop.storage.migration_map import MigrationMapRepository
from fedicoop.storage.proposals import ProposalRecord
from fedicoop.web.activitypub_routes import _html_page, activity_response, wants_activity_json
from fedicoop.web.keys import FEDERATION


async def _proposal(request: web.Request) -> tuple[GovernanceService, ProposalRecord]:
    service = GovernanceService.of(request.app[FEDERATION])
    raw = request.match_info["proposal_id"]
    proposal = await service.proposals.get(int(raw)) if raw.isdigit() and len(raw) < 20 else None
    if proposal is None:
        raise NotFound("no such proposal")
    return service, proposal


async def proposal_document(request: web.Request) -> web.Response:
    """GET /proposals/{id}: our proposal as a Question (or a page for a browser)."""
    service, proposal = await _proposal(request)
    if not proposal.local:
        raise NotFound("no such proposal")
    document = await service.document(proposal)
    if not wants_activity_json(request):
        options = "".join(f"<li>{html.escape(o['label'])}</li>" for o in proposal.options)
        body = f"<h1>{html.escape(proposal.title)}</h1>{document['content']}<ul>{options}</ul>"
        if proposal.secret:
            body += (
                "<p>Secret ballot: other members and other co-ops see who voted but not how. "
                "The voter's own instance and the hosting instance can link them.</p>"
            )
        return _html_page(proposal.title, body)
    # A co-op that moved domain keeps its partners' signed rosters and ballots, which name the
    # proposal's old id: `previously` lets a verifier accept them (after checking the old id
    # redirects here).
    former = await MigrationMapRepository(service.db).old_uris(proposal.uri)
    if former:
        document = {**document, "previously": former}
    return activity_response(document)


async def roster_document(request: web.Request) -> web.Response:
    """GET /proposals/{id}/roster: this co-op's signed roster snapshot for a proposal."""
    service, proposal = await _proposal(request)
    group = await service.federation.group_actor()
    snapshot = await service.snapshots.for_coop(proposal.id, group.uri)
    if snapshot is None:
        raise NotFound("no roster snapshot for this proposal")
    return activity_response(snapshot.document)


def _collection(uri: str, items: list[Any]) -> dict[str, Any]:
    return {
        "@context": COLLECTION_CONTEXT,
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }


async def ballots_collection(request: web.Request) -> web.Response:
    """GET /proposals/{id}/ballots: the signed ballots that counted, once voting has closed."""
    service, proposal = await _proposal(request)
    if not proposal.local:
        raise NotFound("no such proposal")
    items: list[Any] = []
    if proposal.status == "closed":
        ballots = [b for b in await service.ballots.counted(proposal.id) if b.document]
        # Each keeps its own @context: the proof covers it.
        documents = [json.loads(b.document or "{}") for b in ballots]
        # Secret ballots in an order that says nothing about who cast which, or when.
        items = (
            sorted(documents, key=lambda d: hashlib.sha256(str(d.get("id")).encode()).digest())
            if proposal.secret
            else documents
        )
    return activity_response(_collection(ballots_uri(proposal.uri), items))


async def voters_collection(request: web.Request) -> web.Response:
    """GET /proposals/{id}/voters: who voted on a secret proposal, per co-op, after closing."""
    service, proposal = await _proposal(request)
    if not proposal.local or not proposal.secret:
        raise NotFound("no such collection")
    items: list[Any] = []
    if proposal.status == "closed":
        voters = [
            {"voter": b.voter_uri, "coop": b.coop_uri}
            for b in await service.ballots.counted(proposal.id)
            if b.source == "fedicoop"
        ]
        items = sorted(voters, key=lambda item: (item["coop"], item["voter"]))
    return activity_response(_collection(voters_uri(proposal.uri), items))


async def group_roster(request: web.Request) -> web.Response:
    """GET /users/{group}/roster: the co-op's members now (count and actor ids)."""
    federation = request.app[FEDERATION]
    group = await federation.group_actor()
    if request.match_info["username"] != group.username:
        raise NotFound("no such roster")
    members = await GovernanceService.of(federation).roster()
    return activity_response(_collection(f"{group.uri}/roster", members))


def setup(app: web.Application) -> None:
    """Add the proposal documents."""
    app.router.add_get("/proposals/{proposal_id}", proposal_document)
    app.router.add_get("/proposals/{proposal_id}/roster", roster_document)
    app.router.add_get("/proposals/{proposal_id}/ballots", ballots_collection)
    app.router.add_get("/proposals/{proposal_id}/voters", voters_collection)
    app.router.add_get("/users/{username}/roster", group_roster)
