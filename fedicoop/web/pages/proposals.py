"""Proposals of my co-op and its partners: read, vote (every kind), see the tallies per co-op.

The vote form is plain HTML for each kind: radio buttons (consent, single), check boxes
(multiple), one select per rank (ranked) and one number per option (score). The handler only
turns the form into the API's ballot JSON; `GovernanceService.vote` checks everything.
"""

from datetime import timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from fedicoop import clock
from fedicoop.activitypub.fetch import FetchError
from fedicoop.api.governance_routes import render as proposal_entity
from fedicoop.coops.partnership import active_partner_groups
from fedicoop.errors import FedicoopError, Invalid, NotFound, Unavailable
from fedicoop.governance.service import GovernanceService, handle_of
from fedicoop.governance.verify import Report, verify_proposal
from fedicoop.web.pages.fields import local_time
from fedicoop.web.pages.i18n import Translator
from fedicoop.web.pages.rendering import (
    PAGE_STATE,
    PREFIX,
    federation_of,
    render,
    require_admin,
    require_member,
    see_other,
)
from fedicoop.web.pages.sessions import Member

KINDS = ("consent", "single", "multiple", "ranked", "score")
DONE = ("voted", "opened", "closed")
MAX_OUTCOME_CHARS = 5000  # as the API takes it


def _service(request: web.Request) -> GovernanceService:
    return GovernanceService.of(federation_of(request))


def _id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("no such proposal")
    return int(text)


def bar_width(value: object, tally: dict[str, object]) -> int:
    """Return a bar's width in steps of 5 %, against the option with the most (0–100)."""
    numbers = [float(v) for v in tally.values() if isinstance(v, int | float)]
    most = max([*numbers, 0.0])
    if most <= 0 or not isinstance(value, int | float):
        return 0
    return round(20 * float(value) / most) * 5


def ballot_from_form(kind: str, option_ids: list[str], form: MultiMapping[Any]) -> dict[str, Any]:
    """Return the API's ballot JSON for a submitted vote form of a proposal's kind."""
    if kind in ("consent", "single"):
        picked = form.get("choice")
        return {"choices": [str(picked)] if picked else []}
    if kind == "multiple":
        return {"choices": [str(value) for value in form.getall("choices", [])]}
    if kind == "ranked":
        ranks = (str(form.get(f"rank{n}", "") or "") for n in range(1, len(option_ids) + 1))
        return {"ranking": [option_id for option_id in ranks if option_id]}
    scores: dict[str, Any] = {}
    for option_id in option_ids:
        text = str(form.get(f"score_{option_id}", "") or "").strip()
        if text:
            scores[option_id] = int(text) if text.isdigit() and len(text) < 4 else text
    return {"scores": scores}


async def list_page(request: web.Request) -> web.Response:
    """GET /app/proposals: open proposals first, then closed ones, ours and partners'."""
    member = require_member(request)
    service = _service(request)
    opened = [
        await proposal_entity(service, p, member.actor)
        for p in await service.proposals.recent("open")
    ]
    closed = [
        await proposal_entity(service, p, member.actor)
        for p in await service.proposals.recent("closed", limit=20)
    ]
    done = request.query.get("done")
    return render(
        request,
        "proposals.html",
        opened=opened,
        closed=closed,
        done=done if done in DONE else None,
    )


async def _proposal_page(
    request: web.Request,
    member: Member,
    *,
    error: Invalid | None = None,
    report: Report | None = None,
) -> web.Response:
    service = _service(request)
    proposal = await service.get(_id(request))
    entity = await proposal_entity(service, proposal, member.actor)
    group = await federation_of(request).group_actor()
    done = request.query.get("done")
    t = Translator(request[PAGE_STATE].lang)
    consent = proposal.kind == "consent"
    labels = {o["id"]: t(f"consent_{o['id']}") if consent else o["label"] for o in proposal.options}
    return render(
        request,
        "proposal.html",
        labels=labels,
        status=error.status if error else 200,
        proposal=entity,
        can_vote=entity["status"] == "open" and group.uri in proposal.coops,
        error=error,
        report=report,
        bar=bar_width,
        done=done if done in DONE else None,
    )


async def proposal_page(request: web.Request) -> web.Response:
    """GET /app/proposals/{id}: the proposal, my ballot, the vote form, the tallies per co-op."""
    member = require_member(request)
    return await _proposal_page(request, member)


async def vote(request: web.Request) -> web.Response:
    """POST /app/proposals/{id}/vote: cast or change my ballot."""
    member = require_member(request)
    service = _service(request)
    proposal = await service.get(_id(request))
    form = await request.post()
    ballot = ballot_from_form(proposal.kind, [o["id"] for o in proposal.options], form)
    try:
        await service.vote(member.account, member.actor, proposal.id, ballot)
    except Invalid as error:
        return await _proposal_page(request, member, error=error)
    return see_other(f"{PREFIX}/proposals/{proposal.id}?done=voted")


async def close(request: web.Request) -> web.Response:
    """POST /app/proposals/{id}/close: an admin of the host co-op closes voting early."""
    admin = require_admin(request)
    service = _service(request)
    form = await request.post()
    outcome = str(form.get("outcome", "") or "")
    if len(outcome) > MAX_OUTCOME_CHARS:
        raise Invalid(f"the outcome is longer than {MAX_OUTCOME_CHARS} characters", field="outcome")
    proposal = await service.get(_id(request))
    await service.close(proposal, outcome=outcome, by=admin.actor)
    return see_other(f"{PREFIX}/proposals/{proposal.id}?done=closed")


async def verify(request: web.Request) -> web.Response:
    """POST /app/proposals/{id}/verify: recount a closed proposal from what was published.

    On demand, not on every view: it fetches the proposal, every co-op's signed roster and
    every signed ballot, from the host as any outsider would (our fetcher, signed fetches).
    """
    member = require_member(request)
    proposal = await _service(request).get(_id(request))
    fetcher = federation_of(request).fetcher

    async def fetch(url: str) -> dict[str, Any]:
        try:
            return (await fetcher.get_activity(url)).data
        except FetchError as error:
            raise Unavailable(f"cannot fetch {url}: {error}") from error

    try:
        report = await verify_proposal(proposal.uri, fetch)
    except FedicoopError as error:  # unreachable host, a document that is not JSON-LD…
        report = Report(proposal.uri, problems=[error.message])
    return await _proposal_page(request, member, report=report)


async def _new_form(
    request: web.Request,
    values: dict[str, Any],
    *,
    error: Invalid | None = None,
) -> web.Response:
    partners = [handle_of(g) for g in await active_partner_groups(federation_of(request))]
    return render(
        request,
        "proposal_new.html",
        status=error.status if error else 200,
        values=values,
        partners=partners,
        kinds=KINDS,
        error=error,
    )


async def new_page(request: web.Request) -> web.Response:
    """GET /app/proposals/new: open a proposal, for this co-op or with partners."""
    require_member(request)
    closes = (clock.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    return await _new_form(request, {"closes_at": closes, "kind": "consent"})


async def create(request: web.Request) -> web.Response:
    """POST /app/proposals/new."""
    member = require_member(request)
    form = await request.post()
    values: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    values["coops"] = [str(c) for c in form.getall("coops", [])]
    kind = values.get("kind", "")
    options = [line.strip() for line in values.get("options", "").splitlines() if line.strip()]
    try:
        closes = local_time(form, "closes_at", required=True)
        data = {
            "title": values.get("title", ""),
            "body": values.get("body", ""),
            "kind": kind,
            "options": [] if kind == "consent" else options,
            "closes_at": closes.isoformat() if closes else None,
            "coops": values["coops"],
        }
        service = _service(request)
        proposal = await service.create(member.account, member.actor, data)
    except Invalid as error:
        return await _new_form(request, values, error=error)
    return see_other(f"{PREFIX}/proposals/{proposal.id}?done=opened")


def routes(app: web.Application) -> None:
    """Add the proposal routes."""
    app.router.add_get("/proposals", list_page)
    app.router.add_get("/proposals/new", new_page)
    app.router.add_post("/proposals/new", create)
    app.router.add_get(r"/proposals/{id:\d+}", proposal_page)
    app.router.add_post(r"/proposals/{id:\d+}/vote", vote)
    app.router.add_post(r"/proposals/{id:\d+}/close", close)
    app.router.add_post(r"/proposals/{id:\d+}/verify", verify)
