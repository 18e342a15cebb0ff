"""Recount a proposal from what its host published, trusting none of the host's arithmetic.

`verify_proposal` fetches the proposal, every participating co-op's signed roster snapshot and
the signed ballots; checks each proof against its signer's published key (a ballot: its voter,
or for a secret ballot the voter's co-op Group; a roster: its co-op Group); checks each voter
was on their co-op's roster and that rosters, ballots and proposal belong together; recounts
with the same counting rules; and compares with the published tallies. Plain poll answers are
published only as anonymous choices per co-op, so for them the host's word is all there is:
the report says how many there were.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fedicoop.activitypub import integrity
from fedicoop.activitypub.as2 import as_list, id_of, same_origin
from fedicoop.errors import FedicoopError, Invalid
from fedicoop.governance.ballots import BallotChoice, Kind, Option, parse_choice
from fedicoop.governance.counting import CastBallot, Quorum, Rule, Weighting, count

_EPOCH = "1970-01-01T00:00:00Z"
Fetch = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class Report:
    """What a verification found: problems (empty means OK) and what was checked."""

    proposal: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ballots: int = 0
    poll_ballots: int = 0
    rosters: dict[str, int] = field(default_factory=dict)
    recount: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Return whether everything checked out."""
        return not self.problems


class _Keys:
    """Actors' published Ed25519 keys, fetched once each."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self.actors: dict[str, dict[str, Any]] = {}

    async def actor(self, uri: str) -> dict[str, Any]:
        if uri not in self.actors:
            self.actors[uri] = await self.fetch(uri)
        return self.actors[uri]

    async def signer(self, document: dict[str, Any]) -> str:
        """Check a document's proof; return the actor whose key made it."""
        method = integrity.verification_method_of(document)
        owner = method.split("#", 1)[0]
        key = integrity.find_multikey(await self.actor(owner), method)
        integrity.verify_object(document, key)
        return owner

    async def handle(self, uri: str) -> str:
        actor = await self.actor(uri)
        return f"{actor.get('preferredUsername')}@{urlsplit(uri).netloc}"


async def _items(fetch: Fetch, uri: str) -> list[Any]:
    collection = await fetch(uri)
    items = list(as_list(collection.get("orderedItems") or collection.get("items")))
    page = collection.get("first")
    while page and len(items) < 1_000_000:
        current = await fetch(page) if isinstance(page, str) else page
        items.extend(as_list(current.get("orderedItems") or current.get("items")))
        page = current.get("next")
    return items


def _choice(
    kind: Kind, options: list[Option], data: dict[str, Any], proposal: dict[str, Any]
) -> BallotChoice:
    fields: dict[str, object] = {k: data[k] for k in ("choices", "ranking", "scores") if k in data}
    max_choices = proposal.get("maxChoices")
    return parse_choice(
        kind,
        [o.id for o in options],
        fields,
        max_choices=max_choices if isinstance(max_choices, int) else None,
        max_score=int(proposal.get("maxScore", 5)),
    )


async def _former_ids(proposal: dict[str, Any], url: str, fetch: Fetch, report: Report) -> set[str]:
    """Return the proposal's former ids (before its co-op moved domain) that lead to it.

    Partners' rosters and ballots keep naming the old id (their signatures cover it). A
    claimed former id counts only if fetching it now leads to this very proposal: else any
    host could borrow another proposal's signed ballots.
    """
    confirmed = set()
    for former in as_list(proposal.get("previously")):
        if not isinstance(former, str) or former == url:
            continue
        try:
            found = await fetch(former)
        except FedicoopError as error:
            report.notes.append(f"former id {former} cannot be confirmed: {error.message}")
            continue
        if found.get("id") == url:
            confirmed.add(former)
            report.notes.append(f"former id {former} leads here: documents naming it count")
        else:
            report.problems.append(f"former id {former} does not lead to this proposal")
    return confirmed


async def verify_proposal(url: str, fetch: Fetch) -> Report:
    """Fetch, check and recount a closed proposal; never raises for what it finds wrong."""
    report = Report(url)
    problems = report.problems
    proposal = await fetch(url)
    if proposal.get("type") != "Question" or "proposalOptions" not in proposal:
        problems.append(f"{url} is not a fedicoop proposal")
        return report
    tallies = proposal.get("tallies")
    if not proposal.get("closed") or not isinstance(tallies, dict):
        problems.append("the proposal is not closed yet: there is no result to verify")
        return report
    try:
        kind = Kind(str(proposal.get("kind")))
        options = [Option(str(o["id"]), str(o["label"])) for o in proposal["proposalOptions"]]
        if not isinstance(proposal.get("maxScore", 5), int):
            raise ValueError("maxScore is not a whole number")
    except (KeyError, TypeError, ValueError) as error:
        # A malformed document is a finding too, not a crash of the verifier.
        problems.append(f"the proposal's kind, options or maxScore cannot be read: {error}")
        return report
    if isinstance(proposal.get("id"), str) and proposal["id"] != url:
        # The address led elsewhere (the co-op moved domain): the proposal is its document's id.
        report.notes.append(f"{url} now lives at {proposal['id']}")
        url = proposal["id"]
    own_ids = {url} | await _former_ids(proposal, url, fetch, report)
    coops = [c for c in as_list(proposal.get("coops")) if isinstance(c, str)]
    keys = _Keys(fetch)
    handles = {uri: await keys.handle(uri) for uri in coops}
    secret = bool(proposal.get("secret"))

    # Rosters: one per participating co-op, signed by that co-op's Group.
    members: dict[str, set[str]] = {}  # roster uri -> actor ids
    roster_coop: dict[str, str] = {}  # roster uri -> co-op handle
    for roster_uri in as_list(proposal.get("rosters")):
        try:
            roster = await fetch(str(roster_uri))
            group = id_of(roster.get("attributedTo")) or ""
            if group not in coops or not same_origin(group, str(roster_uri)):
                problems.append(f"roster {roster_uri}: not from a participating co-op")
                continue
            if id_of(roster.get("proposal")) not in own_ids:
                problems.append(f"roster {roster_uri}: made for another proposal")
                continue
            if await keys.signer(roster) != group:
                problems.append(f"roster {roster_uri}: not signed by {handles[group]}")
                continue
        except (FedicoopError, integrity.IntegrityError, KeyError, ValueError) as error:
            problems.append(f"roster {roster_uri}: {error}")
            continue
        listed = {m for m in as_list(roster.get("members")) if isinstance(m, str)}
        if roster.get("totalItems") != len(listed):
            problems.append(f"roster {roster_uri}: totalItems does not match its members")
        members[str(roster_uri)] = listed
        roster_coop[str(roster_uri)] = handles[group]
        report.rosters[handles[group]] = len(listed)
    published_eligible: dict[str, Any] = {}
    if isinstance(tallies.get("eligible"), dict):
        published_eligible = tallies["eligible"]
    for uri in coops:
        if handles[uri] in report.rosters:
            continue
        if published_eligible.get(handles[uri]):
            problems.append(f"{handles[uri]} counted as eligible but its signed roster is missing")
        else:
            # A co-op that never sent its roster had nobody counted: nothing to check, but
            # a reader should know its members could not vote.
            report.notes.append(f"no signed roster from {handles[uri]}: none of its votes count")
    eligible = {handles[uri]: 0 for uri in coops} | report.rosters

    # Ballots: each signed by its voter (or, secret, by the voter's co-op Group).
    cast: list[CastBallot] = []
    per_roster: dict[str, int] = {}
    ballots_url = proposal.get("ballots")
    documents = await _items(fetch, str(ballots_url)) if isinstance(ballots_url, str) else []
    for document in documents:
        if not isinstance(document, dict):
            problems.append("a ballot in the collection is not an object")
            continue
        ballot_id = str(document.get("id"))
        try:
            roster_uri = id_of(document.get("roster")) or ""
            if roster_uri not in members:
                problems.append(
                    f"ballot {ballot_id}: its roster {roster_uri} is not one of the proposal's"
                )
                continue
            if id_of(document.get("proposal")) not in own_ids:
                problems.append(f"ballot {ballot_id}: cast on another proposal")
                continue
            signer = await keys.signer(document)
            voter = id_of(document.get("attributedTo")) or ""
            if secret:
                group = next(u for u in coops if handles[u] == roster_coop[roster_uri])
                if signer != group:
                    problems.append(f"ballot {ballot_id}: not signed by its co-op's Group")
                    continue
                voter = ballot_id  # anonymous: each published ballot is one voter's last
            else:
                if signer != voter:
                    problems.append(f"ballot {ballot_id}: not signed by its voter {voter}")
                    continue
                if voter not in members[roster_uri]:
                    coop = roster_coop[roster_uri]
                    problems.append(f"ballot {ballot_id}: {voter} is not on {coop}'s roster")
                    continue
            choice = _choice(kind, options, document, proposal)
        except (
            FedicoopError,
            integrity.IntegrityError,
            KeyError,
            ValueError,
            StopIteration,
        ) as error:
            reason = error.message if isinstance(error, FedicoopError) else str(error)
            problems.append(f"ballot {ballot_id}: {reason}")
            continue
        published = document.get("published") or proposal.get("published") or _EPOCH
        cast.append(CastBallot(voter, roster_coop[roster_uri], str(published), choice))
        per_roster[roster_uri] = per_roster.get(roster_uri, 0) + 1
    report.ballots = len(cast)
    if secret and isinstance(proposal.get("voters"), str):
        voters = await _items(fetch, proposal["voters"])
        for roster_uri, listed in members.items():
            named = [v for v in voters if isinstance(v, dict) and v.get("voter") in listed]
            if len(named) != per_roster.get(roster_uri, 0):
                problems.append(
                    f"{roster_coop[roster_uri]}: {len(named)} voters listed but "
                    f"{per_roster.get(roster_uri, 0)} secret ballots published"
                )

    # Plain poll answers: anonymous choices the host vouches for.
    for position, item in enumerate(as_list(tallies.get("poll_ballots"))):
        try:
            coop = handles[str(item["coop"])]
            choice = _choice(kind, options, item, proposal)
        except (KeyError, Invalid, TypeError) as error:
            problems.append(f"poll answer {position}: {error}")
            continue
        cast.append(CastBallot(f"poll:{position}", coop, _EPOCH, choice))
        report.poll_ballots += 1

    quorum = proposal.get("quorum")
    weighting = proposal.get("weighting")
    try:
        result = count(
            kind,
            options,
            cast,
            rule=Rule(str(proposal.get("rule") or "per_member")),
            eligible=eligible,
            quorum=Quorum(**quorum) if isinstance(quorum, dict) else None,
            weighting=Weighting(**weighting) if isinstance(weighting, dict) else None,
            max_score=int(proposal.get("maxScore", 5)),
        ).as_json()
    except (Invalid, TypeError, ValueError) as error:  # a bad rule, quorum or weighting
        reason = error.message if isinstance(error, Invalid) else str(error)
        problems.append(f"recount impossible: {reason}")
        return report
    report.recount = result
    for key in ("total", "by_coop", "voters", "voters_by_coop", "eligible", "outcome", "winners"):
        if result.get(key) != tallies.get(key):
            problems.append(
                f"published {key} {tallies.get(key)!r}, "
                f"but the signed records give {result.get(key)!r}"
            )
    return report
