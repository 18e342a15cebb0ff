"""Proposals, roster snapshots and ballots as ActivityStreams documents, by direction.

A proposal is a `Question`, so Mastodon shows it as a poll (`oneOf` for the kinds that pick
one option, `anyOf` for multiple choice), extended with our terms: `kind`, `rule`, `coops`,
`proposalOptions` (ids and labels), `closesAt` (also AS2 `endTime`), `quorum`, `weighting`,
`secret`, `hiddenResults`. When it closes, its `Update` adds `tallies`, `rosters` (the signed
snapshots it was counted on), `ballots` (the signed ballots) and `outcome`.
"""

from html import escape
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import as_list, id_of, same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.activitypub.jsonld import DATA_INTEGRITY_CONTEXT
from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.errors import Forbidden, Invalid
from fedicoop.governance.ballots import Kind
from fedicoop.governance.counting import Rule
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.proposals import ProposalRecord

# Signed documents name the Data Integrity context, so JSON-LD readers keep their `proof`.
SIGNED_CONTEXT: list[Any] = [*OBJECT_CONTEXT, DATA_INTEGRITY_CONTEXT]
MAX_TITLE = 300
MAX_BODY = 20_000
MAX_OPTIONS = 20
MAX_COOPS = 50
MAX_MEMBERS = 100_000


def ballots_uri(proposal_uri: str) -> str:
    """Return where a proposal's signed ballots are served."""
    return f"{proposal_uri}/ballots"


def voters_uri(proposal_uri: str) -> str:
    """Return where a secret proposal's list of who voted is served."""
    return f"{proposal_uri}/voters"


def proposal_to_as(
    proposal: ProposalRecord,
    group: ActorRecord,
    *,
    rosters: list[str] | None = None,
    poll_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Return a proposal as its host serves and sends it."""
    kind = Kind(proposal.kind)
    show_results = proposal.status == "closed" or not proposal.hidden_results
    counts = poll_counts if show_results else None
    choices = [
        {
            "type": "Note",
            "name": option["label"],
            "replies": {"type": "Collection", "totalItems": (counts or {}).get(option["id"], 0)},
        }
        for option in proposal.options
    ]
    document: dict[str, Any] = {
        "@context": OBJECT_CONTEXT,
        "id": proposal.uri,
        "type": "Question",
        "attributedTo": group.uri,
        "audience": group.uri,
        "to": [PUBLIC],
        "cc": [uri for uri in (group.followers_uri, *proposal.coops) if uri and uri != group.uri],
        "name": proposal.title,
        "content": "".join(f"<p>{escape(p)}</p>" for p in proposal.body.split("\n\n") if p)
        or f"<p>{escape(proposal.title)}</p>",
        "url": proposal.uri,
        "published": clock.as2_time(clock.from_text(proposal.opened_at)),
        "endTime": clock.as2_time(clock.from_text(proposal.closes_at)),
        "closesAt": clock.as2_time(clock.from_text(proposal.closes_at)),
        "anyOf" if kind is Kind.MULTIPLE else "oneOf": choices,
        "kind": proposal.kind,
        "rule": proposal.rule,
        "coops": proposal.coops,
        "proposalOptions": proposal.options,
        "secret": proposal.secret,
        "hiddenResults": proposal.hidden_results,
        "maxScore": proposal.max_score,
        "ballots": ballots_uri(proposal.uri),
    }
    if proposal.proposer_uri:
        document["proposer"] = proposal.proposer_uri
    if proposal.max_choices is not None:
        document["maxChoices"] = proposal.max_choices
    if proposal.quorum:
        document["quorum"] = proposal.quorum
    if proposal.weighting:
        document["weighting"] = proposal.weighting
    if proposal.secret:
        document["voters"] = voters_uri(proposal.uri)
    if rosters:
        document["rosters"] = rosters
    if proposal.status == "closed":
        document["closed"] = clock.as2_time(
            clock.from_text(proposal.closed_at or proposal.closes_at)
        )
        document["outcome"] = proposal.outcome
    if proposal.result is not None and show_results:
        document["tallies"] = proposal.result
        document["votersCount"] = int(proposal.result.get("voters", 0))
    return document


def _text(value: Any, name: str, limit: int) -> str:
    if isinstance(value, dict):  # nameMap / contentMap
        value = next(iter(value.values()), "")
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text", field=name)
    return value[:limit]


def _time_text(value: str, name: str) -> str:
    """Return a partner's AS2 time as stored text; Invalid when it is not one."""
    try:
        return clock.to_text(clock.from_text(value))
    except (ValueError, OverflowError):
        # A forged "closesAt": "" or "0001-01-01T00:00:00+01:00" raised past the error
        # family (found by tests/activitypub/test_fuzz_converters.py); refuse it as invalid.
        raise Invalid(f"{name} must be a date-time", field=name) from None


def proposal_from_as(
    document: dict[str, Any], group: ActorRecord, *, local_id: int
) -> ProposalRecord:
    """Read a partner's proposal; it must be its Group's own, on the Group's own server."""
    uri = document.get("id")
    if not isinstance(uri, str) or not same_origin(uri, group.uri):
        raise Forbidden("a proposal must be on its co-op's own server")
    if id_of(document.get("attributedTo")) != group.uri:
        raise Forbidden("a proposal must be attributed to the co-op Group that sends it")
    try:
        kind = Kind(str(document.get("kind")))
        rule = Rule(str(document.get("rule") or "per_member"))
    except ValueError:
        raise Invalid("unknown proposal kind or rule", field="kind") from None
    options = []
    for item in as_list(document.get("proposalOptions"))[:MAX_OPTIONS]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise Invalid("proposalOptions must be {id, label} objects", field="options")
        options.append({"id": item["id"][:40], "label": _text(item.get("label"), "label", 200)})
    if not options:
        raise Invalid("a proposal needs options", field="options")
    coops = [c for c in as_list(document.get("coops"))[:MAX_COOPS] if isinstance(c, str)]
    if group.uri not in coops:
        coops.insert(0, group.uri)
    closes = document.get("closesAt") or document.get("endTime")
    if not isinstance(closes, str):
        raise Invalid("a proposal needs a closing time", field="closes_at")
    published = document.get("published")
    opened = _time_text(published, "published") if isinstance(published, str) else ""
    tallies = document.get("tallies")
    max_choices = document.get("maxChoices")
    max_score = document.get("maxScore", 5)
    return ProposalRecord(
        id=local_id,
        uri=uri,
        local=False,
        group_id=group.id,
        proposer_uri=id_of(document.get("proposer")),
        title=_text(document.get("name"), "title", MAX_TITLE),
        body=html_to_text(_text(document.get("content", ""), "body", MAX_BODY)),
        kind=kind.value,
        options=options,
        coops=coops,
        rule=rule.value,
        quorum=document.get("quorum") if isinstance(document.get("quorum"), dict) else None,
        weighting=document.get("weighting")
        if isinstance(document.get("weighting"), dict)
        else None,
        max_choices=max_choices if isinstance(max_choices, int) else None,
        max_score=max_score if isinstance(max_score, int) and 1 <= max_score <= 100 else 5,
        secret=bool(document.get("secret")),
        hidden_results=bool(document.get("hiddenResults")),
        opened_at=opened or clock.now_text(),
        closes_at=_time_text(closes, "closes_at"),
        closed_at=_time_text(document["closed"], "closed")
        if isinstance(document.get("closed"), str)
        else None,
        status="closed" if document.get("closed") else "open",
        outcome=_text(document.get("outcome") or "", "outcome", MAX_BODY),
        result=tallies if isinstance(tallies, dict) else None,
    )


def roster_document(
    uri: str, group: ActorRecord, proposal_uri: str, members: list[str]
) -> dict[str, Any]:
    """Return a co-op's roster snapshot for a proposal, before it is signed."""
    return {
        "@context": SIGNED_CONTEXT,
        "id": uri,
        "type": "RosterSnapshot",
        "attributedTo": group.uri,
        "proposal": proposal_uri,
        "members": sorted(members),
        "totalItems": len(members),
        "published": clock.as2_time(clock.now()),
    }


def read_roster(document: dict[str, Any], group_uri: str) -> tuple[str, str, list[str]]:
    """Return (uri, proposal uri, members) of a snapshot the Group `group_uri` signed."""
    uri = document.get("id")
    if not isinstance(uri, str) or not same_origin(uri, group_uri):
        raise Forbidden("a roster snapshot must be on its co-op's own server")
    if id_of(document.get("attributedTo")) != group_uri:
        raise Forbidden("a roster snapshot must be attributed to its co-op's Group")
    members = [m for m in as_list(document.get("members"))[:MAX_MEMBERS] if isinstance(m, str)]
    proposal = id_of(document.get("proposal"))
    if not proposal:
        raise Invalid("a roster snapshot names its proposal", field="proposal")
    return uri, proposal, members


def ballot_document(
    uri: str,
    proposal_uri: str,
    roster_uri: str,
    choice: dict[str, Any],
    voter: ActorRecord | None,
) -> dict[str, Any]:
    """Return a ballot before it is signed (no voter in it when the ballot is secret)."""
    document: dict[str, Any] = {
        "@context": SIGNED_CONTEXT,
        "id": uri,
        "type": "Ballot",
        "proposal": proposal_uri,
        "roster": roster_uri,
        **choice,
    }
    if voter is not None:
        document["attributedTo"] = voter.uri
        # To the microsecond: two ballots of one voter in one second still have an order.
        document["published"] = clock.now_text()
    return document


def ballot_choice_data(document: dict[str, Any]) -> dict[str, Any]:
    """Return the choice fields of a ballot document, as the JSON API takes them."""
    return {key: document[key] for key in ("choices", "ranking", "scores") if key in document}
