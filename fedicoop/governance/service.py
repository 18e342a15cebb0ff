"""Proposals as a service: open, vote, check, count, close and publish, across co-ops.

The host co-op (whose Group a proposal belongs to) counts it. Each participating co-op's Group
signs a snapshot of its roster when it hears of the proposal; each ballot is signed by its
voter's instance (the voter's key, or for a secret ballot the voter's co-op Group key); the
host accepts a ballot only while voting is open, from someone on a participating co-op's signed
snapshot, with a valid proof. At close the host publishes the tallies with the rosters and
the signed ballots, so anyone can recount (`governance/verify.py`) without trusting it.
"""

import asyncio
import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from fedicoop import clock
from fedicoop.accounts.model import Status
from fedicoop.activitypub import proofs
from fedicoop.activitypub.as2 import id_of, same_origin
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC, dumps
from fedicoop.activitypub.fetch import FetchError
from fedicoop.activitypub.resolver import before_fetch
from fedicoop.activitypub.runtime import Federation
from fedicoop.coops.partnership import PartnershipRepository, PartnerState
from fedicoop.errors import Conflict, FedicoopError, Forbidden, Invalid, NotFound
from fedicoop.governance import federation as gov_as
from fedicoop.governance.ballots import (
    BallotChoice,
    Kind,
    Option,
    choice_json,
    options_for,
    parse_choice,
)
from fedicoop.governance.counting import CastBallot, Quorum, Result, Rule, Weighting, count
from fedicoop.ids import new_id
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.notifications import NotificationRepository
from fedicoop.storage.proposals import (
    BallotRecord,
    BallotRepository,
    ProposalRecord,
    ProposalRepository,
    SnapshotRecord,
    SnapshotRepository,
)
from fedicoop.streaming import user_stream

log = logging.getLogger(__name__)

MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=90)
REMIND_BEFORE = timedelta(hours=24)


def handle_of(actor: ActorRecord) -> str:
    """Return a Group's handle@host."""
    return f"{actor.username}@{actor.domain}"


def options_of(proposal: ProposalRecord) -> list[Option]:
    """Return a stored proposal's options."""
    return [Option(o["id"], o["label"]) for o in proposal.options]


class GovernanceService:
    """Everything about proposals for one instance."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.db = federation.instance.db
        self.proposals = ProposalRepository(self.db)
        self.snapshots = SnapshotRepository(self.db)
        self.ballots = BallotRepository(self.db)
        self.actors = ActorRepository(self.db)

    @staticmethod
    def of(federation: Federation) -> "GovernanceService":
        """Return the instance's governance service (registered by `install`)."""
        service = federation.components.get(GovernanceService)
        if not isinstance(service, GovernanceService):
            raise FedicoopError("governance is not installed on this federation runtime")
        return service

    # --- who belongs ----------------------------------------------------------------------

    async def roster(self) -> list[str]:
        """Return the actor ids of this co-op's active members."""
        rows = await self.db.fetch(
            "SELECT a.uri FROM accounts c JOIN actors a ON a.id = c.actor_id "
            "WHERE c.status = $1 ORDER BY a.uri",
            Status.ACTIVE.value,
        )
        return [str(row["uri"]) for row in rows]

    async def notify_members(self, kind: str, uri: str, source_id: int | None) -> None:
        """Notify every active member of this co-op."""
        notifications = NotificationRepository(self.db)
        for account in await AccountRepository(self.db).list():
            if account.status != Status.ACTIVE:
                continue
            notification_id = await notifications.add(account.id, kind, source_id, uri)
            await self.federation.streams.publish(
                user_stream(account.id), "notification", str(notification_id)
            )

    async def _partner(self, group: ActorRecord) -> bool:
        stored = await PartnershipRepository(self.federation).get(group.id)
        return stored is not None and stored[0] is PartnerState.ACTIVE

    # --- opening a proposal ---------------------------------------------------------------

    async def create(
        self, account: AccountRecord, proposer: ActorRecord, data: dict[str, Any]
    ) -> ProposalRecord:
        """Open a proposal of this co-op (with partner co-ops when `coops` names them)."""
        if account.status != Status.ACTIVE:
            raise Forbidden("only members open proposals")
        title = data.get("title")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= gov_as.MAX_TITLE:
            raise Invalid(f"title must be 1–{gov_as.MAX_TITLE} characters", field="title")
        body = data.get("body") or ""
        if not isinstance(body, str) or len(body) > gov_as.MAX_BODY:
            raise Invalid(f"body must be text of at most {gov_as.MAX_BODY}", field="body")
        try:
            kind = Kind(str(data.get("kind")))
        except ValueError:
            raise Invalid(
                "kind must be consent, single, multiple, ranked or score", field="kind"
            ) from None
        labels = data.get("options") or []
        if not isinstance(labels, list):
            raise Invalid("options must be a list of labels", field="options")
        labels = [o.get("label") if isinstance(o, dict) else o for o in labels]
        options = options_for(kind, labels)
        try:
            rule = Rule(str(data.get("rule") or "per_member"))
        except ValueError:
            raise Invalid("rule must be per_member, per_coop or weighted", field="rule") from None
        quorum = _quorum(data.get("quorum"))
        weighting = _weighting(data.get("weighting"), rule)
        now = clock.now()
        closes_at = _closing(data.get("closes_at"), now)
        max_choices = data.get("max_choices")
        if max_choices is not None and (
            isinstance(max_choices, bool)
            or not isinstance(max_choices, int)
            or not 1 <= max_choices <= len(options)
        ):
            raise Invalid("max_choices must be 1 to the number of options", field="max_choices")
        max_score = data.get("max_score", 5)
        if (
            isinstance(max_score, bool)
            or not isinstance(max_score, int)
            or not 1 <= max_score <= 100
        ):
            raise Invalid("max_score must be a whole number 1–100", field="max_score")
        group = await self.federation.group_actor()
        partners = await self._coops(data.get("coops"))
        proposal_id = new_id()
        stamp = clock.to_text(now)
        proposal = await self.proposals.insert(
            ProposalRecord(
                id=proposal_id,
                uri=f"{self.federation.instance.config.base_url}/proposals/{proposal_id}",
                local=True,
                group_id=group.id,
                proposer_uri=proposer.uri,
                title=title.strip(),
                body=body,
                kind=kind.value,
                options=[{"id": o.id, "label": o.label} for o in options],
                coops=[group.uri, *(p.uri for p in partners)],
                rule=rule.value,
                quorum=quorum,
                weighting=weighting,
                max_choices=max_choices,
                max_score=max_score,
                secret=bool(data.get("secret")),
                hidden_results=bool(data.get("hidden_results")),
                opened_at=stamp,
                closes_at=clock.to_text(closes_at),
                closed_at=None,
                status="open",
                outcome="",
                result=None,
            )
        )
        snapshot = await self.make_snapshot(proposal)
        document = gov_as.proposal_to_as(proposal, group, rosters=[snapshot.uri])
        create = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Create",
            "actor": group.uri,
            "object": {k: v for k, v in document.items() if k != "@context"},
            "to": [PUBLIC],
            "cc": document["cc"],
        }
        await self.federation.publish(create, group, extra_recipients=partners)
        await self.notify_members("proposal_opened", proposal.uri, group.id)
        return proposal

    async def _coops(self, value: Any) -> list[ActorRecord]:
        if value in (None, ""):
            return []
        if not isinstance(value, list) or len(value) > gov_as.MAX_COOPS:
            raise Invalid("coops must be a list of handle@host", field="coops")
        groups: list[ActorRecord] = []
        for item in value:
            if not isinstance(item, str):
                raise Invalid("coops must be a list of handle@host", field="coops")
            handle = item.removeprefix("acct:").lstrip("@")
            try:
                group = await self.federation.resolver.actor_by_handle(handle)
            except FedicoopError:
                raise Invalid(f"cannot find the co-op {handle}", field="coops") from None
            if group.local:
                continue  # naming ourselves changes nothing
            if group.type != "Group" or not await self._partner(group):
                raise Invalid(f"{handle} is not a partner co-op of ours", field="coops")
            if group.uri not in {g.uri for g in groups}:
                groups.append(group)
        return groups

    async def make_snapshot(self, proposal: ProposalRecord) -> SnapshotRecord:
        """Sign and store this co-op's roster for a proposal (once)."""
        group = await self.federation.group_actor()
        existing = await self.snapshots.for_coop(proposal.id, group.uri)
        if existing is not None:
            return existing
        uri = f"{self.federation.instance.config.base_url}/proposals/{proposal.id}/roster"
        members = await self.roster()
        document = await proofs.sign(
            self.db, group, gov_as.roster_document(uri, group, proposal.uri, members)
        )
        return await self.snapshots.add(uri, proposal.id, group.uri, members, dumps(document))

    # --- hearing of a partner's proposal ----------------------------------------------------

    async def received_proposal(self, group: ActorRecord, document: dict[str, Any]) -> None:
        """A partner's Group opened a proposal naming us: store it, sign our roster, tell all."""
        ours = await self.federation.group_actor()
        if ours.uri not in [c for c in document.get("coops", []) if isinstance(c, str)]:
            return  # not for our members to vote on
        if not await self._partner(group):
            log.info("proposal from a co-op that is not a partner", extra={"group": group.uri})
            return
        existing = await self.proposals.by_uri(str(document.get("id")))
        if existing is not None:
            return
        proposal = gov_as.proposal_from_as(document, group, local_id=new_id())
        proposal = await self.proposals.insert(proposal)
        snapshot = await self.make_snapshot(proposal)
        create = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Create",
            "actor": ours.uri,
            "object": json.loads(snapshot.document),
            "to": [group.uri],
        }
        await self.federation.publish(create, ours, extra_recipients=[group])
        # Our Group passes the proposal on to its followers, as a boost Mastodon shows.
        announce = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Announce",
            "actor": ours.uri,
            "object": proposal.uri,
            "to": [PUBLIC],
            "cc": [ours.followers_uri],
        }
        await self.federation.publish(announce, ours)
        await self.notify_members("proposal_opened", proposal.uri, group.id)

    async def received_update(self, group: ActorRecord, document: dict[str, Any]) -> None:
        """The host published results (at close): mirror them."""
        proposal = await self.proposals.by_uri(str(document.get("id")))
        if proposal is None or proposal.local or proposal.group_id != group.id:
            return
        mirrored = gov_as.proposal_from_as(document, group, local_id=proposal.id)
        was_open = proposal.status == "open"
        await self.proposals.mirror_result(
            proposal.id, mirrored.status, mirrored.result, mirrored.outcome, mirrored.closed_at
        )
        if was_open and mirrored.status == "closed":
            await self.notify_members("proposal_closed", proposal.uri, group.id)

    async def received_snapshot(self, group: ActorRecord, document: dict[str, Any]) -> None:
        """A participating co-op's signed roster for one of our proposals."""
        uri, proposal_uri, members = gov_as.read_roster(document, group.uri)
        proposal = await self.proposals.by_uri(proposal_uri)
        if proposal is None or not proposal.local or group.uri not in proposal.coops:
            return
        if proposal.status != "open":
            # The result was counted and published with the rosters it had: a roster stored
            # now would be listed beside it and make the published tallies fail to verify.
            log.info("roster for a closed proposal", extra={"group": group.uri})
            return
        signer = await proofs.verify(self.federation.resolver, document)
        if signer != group.uri:
            raise Forbidden("a roster snapshot must be signed by its co-op's Group")
        await self.snapshots.add(uri, proposal.id, group.uri, members, dumps(document))

    async def _snapshot(self, proposal: ProposalRecord, roster_uri: str) -> SnapshotRecord:
        """Return the snapshot a ballot names, fetching and checking it the first time."""
        stored = await self.snapshots.by_uri(roster_uri)
        if stored is not None:
            if stored.proposal_id != proposal.id:
                raise Forbidden("that roster belongs to another proposal")
            return stored
        group_uri = next((c for c in proposal.coops if same_origin(c, roster_uri)), None)
        if group_uri is None:
            raise Forbidden("the ballot's roster is not from a participating co-op")
        # One roster per co-op and proposal, the first one heard of: a ballot naming another
        # would be published beside rosters that do not hold it, and fail every recount.
        if await self.snapshots.for_coop(proposal.id, group_uri) is not None:
            raise Forbidden("the ballot names a roster other than its co-op's for this proposal")
        before_fetch(roster_uri)  # not inside an inbox batch's transaction
        try:
            fetched = await self.federation.fetcher.get_activity(roster_uri)
        except FetchError as error:
            raise Forbidden(f"cannot read the roster the ballot names: {error}") from error
        document = fetched.data
        uri, proposal_uri, members = gov_as.read_roster(document, group_uri)
        if uri != roster_uri or proposal_uri != proposal.uri:
            raise Forbidden("the roster snapshot is not the one the ballot names")
        if await proofs.verify(self.federation.resolver, document) != group_uri:
            raise Forbidden("a roster snapshot must be signed by its co-op's Group")
        stored = await self.snapshots.add(uri, proposal.id, group_uri, members, dumps(document))
        if stored.uri != roster_uri:  # the co-op's roster arrived while this one was fetched
            raise Forbidden("the ballot names a roster other than its co-op's for this proposal")
        return stored

    # --- voting ---------------------------------------------------------------------------

    async def get(self, proposal_id: int) -> ProposalRecord:
        """Return a proposal by local id or raise NotFound."""
        proposal = await self.proposals.get(proposal_id)
        if proposal is None:
            raise NotFound("no such proposal")
        return proposal

    async def vote(
        self, account: AccountRecord, voter: ActorRecord, proposal_id: int, data: dict[str, Any]
    ) -> BallotRecord:
        """Cast or change a member's ballot; 403 not eligible, 409 closed, 422 malformed."""
        proposal = await self.get(proposal_id)
        group = await self.federation.group_actor()
        if account.status != Status.ACTIVE:
            raise Forbidden("only active members vote")
        if group.uri not in proposal.coops:
            raise Forbidden("members of this co-op are not voting on this proposal")
        if proposal.status != "open" or clock.from_text(proposal.closes_at) <= clock.now():
            raise Conflict("voting on this proposal is closed")
        kind = Kind(proposal.kind)
        choice = parse_choice(
            kind,
            [o.id for o in options_of(proposal)],
            data,
            max_choices=proposal.max_choices,
            max_score=proposal.max_score,
        )
        snapshot = await self.make_snapshot(proposal)
        if voter.uri not in snapshot.members:
            raise Forbidden("you were not a member when voting opened")
        ballot_id = new_id()
        # A secret ballot's id and proof time must not tell when it was cast (ids are
        # time-ordered): a random name, and the proof dated when voting opened.
        name = secrets.token_urlsafe(16) if proposal.secret else str(ballot_id)
        uri = f"{self.federation.instance.config.base_url}/ballots/{name}"
        unsigned = gov_as.ballot_document(
            uri,
            proposal.uri,
            snapshot.uri,
            choice_json(choice, kind),
            None if proposal.secret else voter,
        )
        signer = group if proposal.secret else voter
        created = clock.from_text(proposal.opened_at) if proposal.secret else None
        document = await proofs.sign(self.db, signer, unsigned, created=created)
        cast_at = clock.now_text()
        if proposal.local:
            await self.accept_ballot(proposal, voter.uri, document, cast_at=cast_at)
            stored = await self.ballots.by_uri(uri)
            assert stored is not None
            return stored
        record = BallotRecord(
            ballot_id,
            uri,
            proposal.id,
            voter.uri,
            group.uri,
            choice_json(choice, kind),
            "fedicoop",
            dumps(document),
            "sent",
            "",
            cast_at,
        )
        await self.ballots.add(record)
        host = await self.actors.get(proposal.group_id)
        if host is None:
            raise NotFound("the co-op hosting this proposal is gone")
        # Signed documents travel whole: their @context is part of what the proof covers.
        body = document
        create = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Create",
            "actor": voter.uri,
            "object": body,
            "to": [host.uri],
        }
        await self.federation.publish(create, voter, extra_recipients=[host])
        return record

    async def accept_ballot(
        self, proposal: ProposalRecord, voter_uri: str, document: dict[str, Any], *, cast_at: str
    ) -> BallotRecord:
        """The host's checks on a signed ballot; raises Forbidden/Conflict/Invalid to refuse it."""
        if not proposal.local:
            raise Forbidden("ballots go to the co-op hosting the proposal")
        if proposal.status != "open" or clock.from_text(proposal.closes_at) <= clock.now():
            raise Conflict("voting on this proposal is closed")
        uri = document.get("id")
        if not isinstance(uri, str) or not same_origin(uri, voter_uri):
            raise Forbidden("a ballot's id must be on its voter's server")
        if id_of(document.get("proposal")) != proposal.uri:
            raise Invalid("the ballot is for another proposal", field="proposal")
        roster_uri = id_of(document.get("roster"))
        if not roster_uri:
            raise Invalid("a ballot names the roster snapshot its voter is on", field="roster")
        snapshot = await self._snapshot(proposal, roster_uri)
        if voter_uri not in snapshot.members:
            raise Forbidden("the voter is not on their co-op's roster for this proposal")
        signer = await proofs.verify(self.federation.resolver, document)
        if proposal.secret:
            if signer != snapshot.group_uri:
                raise Forbidden("a secret ballot is signed by its voter's co-op Group")
        elif signer != voter_uri or id_of(document.get("attributedTo")) != voter_uri:
            raise Forbidden("a ballot is signed by its voter")
        kind = Kind(proposal.kind)
        choice = parse_choice(
            kind,
            [o.id for o in options_of(proposal)],
            gov_as.ballot_choice_data(document),
            max_choices=proposal.max_choices,
            max_score=proposal.max_score,
        )
        published = document.get("published")
        if not proposal.secret and isinstance(published, str):
            cast_at = clock.to_text(clock.from_text(published))
        record = BallotRecord(
            new_id(),
            uri,
            proposal.id,
            voter_uri,
            snapshot.group_uri,
            choice_json(choice, kind),
            "fedicoop",
            dumps(document),
            "counted",
            "",
            cast_at,
        )
        await self.ballots.add(record)
        await self._count_once(proposal, voter_uri)
        return record

    async def received_ballot(self, voter: ActorRecord, document: dict[str, Any]) -> None:
        """A partner's member voted on one of our proposals: count it or say why not."""
        proposal = await self.proposals.by_uri(id_of(document.get("proposal")) or "")
        if proposal is None or not proposal.local:
            return
        try:
            await self.accept_ballot(proposal, voter.uri, document, cast_at=clock.now_text())
        except (Forbidden, Conflict, Invalid, proofs.IntegrityError) as refusal:
            log.info("ballot refused", extra={"voter": voter.uri, "reason": str(refusal)})
            group = await self.federation.group_actor()
            reject = {
                "@context": OBJECT_CONTEXT,
                "id": self.federation.new_activity_uri(),
                "type": "Reject",
                "actor": group.uri,
                "object": {"id": document.get("id"), "type": "Ballot", "proposal": proposal.uri},
                "content": str(refusal),
                "to": [voter.uri],
            }
            await self.federation.publish(reject, group, extra_recipients=[voter])
            return
        # Counted: the voter's instance hears so, and shows the ballot as counted.
        group = await self.federation.group_actor()
        accept = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Accept",
            "actor": group.uri,
            "object": {"id": document.get("id"), "type": "Ballot", "proposal": proposal.uri},
            "to": [voter.uri],
        }
        await self.federation.publish(accept, group, extra_recipients=[voter])

    async def ballot_counted(self, sender: ActorRecord, ballot_uri: str) -> None:
        """The host counted one of our members' ballots."""
        ballot = await self.ballots.by_uri(ballot_uri)
        if ballot is None or ballot.state != "sent":
            return
        proposal = await self.proposals.get(ballot.proposal_id)
        if proposal is not None and proposal.group_id == sender.id:
            await self.ballots.set_state(ballot_uri, "counted")

    async def ballot_answered(self, sender: ActorRecord, ballot_uri: str, reason: str) -> None:
        """The host refused one of our members' ballots."""
        ballot = await self.ballots.by_uri(ballot_uri)
        if ballot is None:
            return
        proposal = await self.proposals.get(ballot.proposal_id)
        if proposal is None or proposal.group_id != sender.id:
            return
        await self.ballots.set_state(ballot_uri, "rejected", reason)
        voter = await self.actors.by_uri(ballot.voter_uri)
        account = await AccountRepository(self.db).by_actor(voter.id) if voter else None
        if account is not None:
            await NotificationRepository(self.db).add(
                account.id, "ballot_rejected", sender.id, proposal.uri
            )

    async def poll_vote(
        self, account: AccountRecord, voter: ActorRecord, proposal: ProposalRecord, picks: list[int]
    ) -> BallotRecord:
        """A member voted from a Mastodon app (option positions): a signed ballot all the same."""
        kind = Kind(proposal.kind)
        if kind is Kind.SCORE:
            raise Invalid("a score vote needs the co-op's web page or API", field="choices")
        options = options_of(proposal)
        if any(not 0 <= pick < len(options) for pick in picks):
            raise Invalid("no such option", field="choices")
        ids = [options[pick].id for pick in picks]
        data: dict[str, Any] = {"ranking": ids} if kind is Kind.RANKED else {"choices": ids}
        return await self.vote(account, voter, proposal.id, data)

    async def received_poll_answer(
        self, voter: ActorRecord, proposal: ProposalRecord, label: str, uri: str
    ) -> None:
        """A plain poll answer: counted if its voter is on a roster, never published."""
        if not proposal.local or proposal.status != "open":
            return
        if clock.from_text(proposal.closes_at) <= clock.now():
            return
        kind = Kind(proposal.kind)
        if kind not in (Kind.CONSENT, Kind.SINGLE, Kind.MULTIPLE, Kind.RANKED):
            return
        option = next((o for o in options_of(proposal) if o.label == label), None)
        if option is None:
            return
        snapshots = await self.snapshots.for_proposal(proposal.id)
        snapshot = next((s for s in snapshots if voter.uri in s.members), None)
        if snapshot is None:
            # Not a member of a participating co-op: not counted, and told so.
            group = await self.federation.group_actor()
            reject = {
                "@context": OBJECT_CONTEXT,
                "id": self.federation.new_activity_uri(),
                "type": "Reject",
                "actor": group.uri,
                "object": {"id": uri, "type": "Note", "inReplyTo": proposal.uri},
                "content": "only members of the co-ops taking part in this proposal vote",
                "to": [voter.uri],
            }
            await self.federation.publish(reject, group, extra_recipients=[voter])
            return
        previous = await self.ballots.latest_of(proposal.id, voter.uri)
        picks = [option.id]
        if kind is Kind.MULTIPLE and previous and previous.source == "poll":
            picks = sorted({*previous.choice.get("choices", []), option.id})
        data: dict[str, Any] = {"ranking": picks} if kind is Kind.RANKED else {"choices": picks}
        choice = parse_choice(kind, [o.id for o in options_of(proposal)], data)
        await self.ballots.add(
            BallotRecord(
                new_id(),
                uri,
                proposal.id,
                voter.uri,
                snapshot.group_uri,
                choice_json(choice, kind),
                "poll",
                None,
                "counted",
                "",
                clock.now_text(),
            )
        )
        await self._count_once(proposal, voter.uri)

    async def _count_once(self, proposal: ProposalRecord, voter_uri: str) -> None:
        """Keep one counted ballot for a voter who moved: the latest of all their accounts."""
        ballots = await self.ballots.counted(proposal.id)
        voters = {b.voter_uri for b in ballots}
        same = {voter_uri, *await self._moved_accounts(voter_uri, voters)}
        if len(same) == 1:
            return
        mine = sorted((b for b in ballots if b.voter_uri in same), key=lambda b: (b.cast_at, b.id))
        for earlier in mine[:-1]:
            await self.ballots.set_state(earlier.uri, "superseded")

    async def _moved_accounts(self, voter_uri: str, voters: set[str]) -> set[str]:
        """Return which of `voters` are the voter's other accounts, linked by a confirmed move.

        Anyone may list anyone in alsoKnownAs, and only the old account's server sets its
        movedTo: one alone would let a stranger cancel someone's ballot; both make one person.
        """
        voter = await self.actors.by_uri(voter_uri)
        if voter is None:
            return set()
        linked: set[str] = set()
        for alias in voter.also_known_as:
            if alias not in voters:
                continue
            old = await self.actors.by_uri(alias)
            if old is not None and not old.local and old.moved_to != voter_uri:
                try:  # the host may never have heard the Move: the old account's document says
                    old = await self.federation.resolver.actor(alias, refresh=True)
                except (NotFound, Invalid):
                    old = None
            if old is not None and old.moved_to == voter_uri:
                linked.add(old.uri)
        if voter.moved_to in voters:
            new = await self.actors.by_uri(voter.moved_to or "")
            if new is not None and voter_uri in new.also_known_as:
                linked.add(new.uri)
        return linked

    # --- counting and closing -------------------------------------------------------------

    async def coop_handles(self, proposal: ProposalRecord) -> dict[str, str]:
        """Return handle@host for each participating Group uri."""
        handles = {}
        for uri in proposal.coops:
            group = await self.actors.by_uri(uri)
            handles[uri] = handle_of(group) if group and group.username else uri
        return handles

    async def tally(self, proposal: ProposalRecord) -> Result:
        """Count a proposal's ballots now (the host's count)."""
        handles = await self.coop_handles(proposal)
        snapshots = {s.group_uri: s for s in await self.snapshots.for_proposal(proposal.id)}
        eligible = {
            handles[uri]: snapshots[uri].size if uri in snapshots else 0 for uri in proposal.coops
        }
        ballots = [
            CastBallot(
                b.voter_uri, handles.get(b.coop_uri, b.coop_uri), b.cast_at, _choice(b.choice)
            )
            for b in await self.ballots.counted(proposal.id)
        ]
        return count(
            Kind(proposal.kind),
            options_of(proposal),
            ballots,
            rule=Rule(proposal.rule),
            eligible=eligible,
            quorum=Quorum(**proposal.quorum) if proposal.quorum else None,
            weighting=Weighting(**proposal.weighting) if proposal.weighting else None,
            max_score=proposal.max_score,
        )

    async def close(
        self, proposal: ProposalRecord, *, outcome: str = "", by: ActorRecord | None = None
    ) -> ProposalRecord:
        """Count, close and publish the result with the rosters and the signed ballots."""
        if not proposal.local:
            raise Forbidden("only the co-op hosting a proposal closes it")
        if proposal.status != "open":
            raise Conflict("this proposal is already closed")
        result = await self.tally(proposal)
        published = result.as_json()
        poll_ballots = [
            {"coop": b.coop_uri, **b.choice}
            for b in await self.ballots.counted(proposal.id)
            if b.source == "poll"
        ]
        published["poll_ballots"] = sorted(
            poll_ballots, key=lambda b: json.dumps(b, sort_keys=True)
        )
        if not await self.proposals.close(proposal.id, published, outcome, clock.now_text()):
            raise Conflict("this proposal is already closed")
        closed = await self.get(proposal.id)
        await self.publish_update(closed)
        await self.notify_members("proposal_closed", closed.uri, by.id if by else None)
        return closed

    async def publish_update(self, proposal: ProposalRecord) -> None:
        """Send the proposal as it stands now to its followers and participants."""
        group = await self.federation.group_actor()
        rosters = [s.uri for s in await self.snapshots.for_proposal(proposal.id)]
        document = gov_as.proposal_to_as(
            proposal, group, rosters=rosters, poll_counts=_option_counts(proposal)
        )
        participants = [a for a in [await self.actors.by_uri(u) for u in proposal.coops] if a]
        update = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Update",
            "actor": group.uri,
            "object": {k: v for k, v in document.items() if k != "@context"},
            "to": [PUBLIC],
            "cc": document["cc"],
        }
        await self.federation.publish(
            update, group, extra_recipients=[a for a in participants if not a.local]
        )

    async def document(self, proposal: ProposalRecord) -> dict[str, Any]:
        """Return a local proposal's document as served now."""
        group = await self.federation.group_actor()
        rosters = [s.uri for s in await self.snapshots.for_proposal(proposal.id)]
        return gov_as.proposal_to_as(
            proposal, group, rosters=rosters, poll_counts=_option_counts(proposal)
        )

    async def maintain(self) -> None:
        """Close proposals whose time has come; remind members a day before closing."""
        now = clock.now()
        for proposal in await self.proposals.due(clock.to_text(now)):
            try:
                await self.close(proposal)
            except Conflict:
                continue
        for proposal in await self.proposals.closing_soon(clock.to_text(now + REMIND_BEFORE)):
            if await self.proposals.mark_reminded(proposal.id):
                await self.notify_members("proposal_closing", proposal.uri, None)


def _choice(data: dict[str, Any]) -> BallotChoice:
    return BallotChoice(
        choices=tuple(data.get("choices", ())),
        ranking=tuple(data.get("ranking", ())),
        scores=tuple(sorted((str(k), int(v)) for k, v in data.get("scores", {}).items())),
    )


def _option_counts(proposal: ProposalRecord) -> dict[str, int] | None:
    if proposal.result is None:
        return None
    total = proposal.result.get("total", {})
    return {key: round(float(value)) for key, value in total.items()}


def _quorum(value: Any) -> dict[str, Any] | None:
    if value in (None, {}, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"overall": value}
    if not isinstance(value, dict) or set(value) - {"overall", "per_coop"}:
        raise Invalid("quorum is {overall?, per_coop?} as fractions 0–1", field="quorum")
    quorum = Quorum(overall=value.get("overall"), per_coop=value.get("per_coop"))
    return {"overall": quorum.overall, "per_coop": quorum.per_coop}


def _weighting(value: Any, rule: Rule) -> dict[str, Any] | None:
    if rule is not Rule.WEIGHTED:
        if value not in (None, {}):
            raise Invalid("weighting goes with the weighted rule", field="weighting")
        return None
    if not isinstance(value, dict) or set(value) != {"floor", "cap"}:
        raise Invalid("the weighted rule needs weighting {floor, cap}", field="weighting")
    weighting = Weighting(floor=value["floor"], cap=value["cap"])
    return {"floor": weighting.floor, "cap": weighting.cap}


def _closing(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise Invalid("closes_at must be an ISO 8601 time with an offset", field="closes_at")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            "closes_at must be an ISO 8601 time with an offset", field="closes_at"
        ) from None
    if moment.tzinfo is None:
        raise Invalid("closes_at needs a UTC offset", field="closes_at")
    if not now + MIN_DURATION <= moment <= now + MAX_DURATION:
        raise Invalid("closes_at must be between a minute and 90 days from now", field="closes_at")
    return moment


def install(federation: Federation) -> GovernanceService:
    """Create the governance service for a runtime and run its maintenance every minute."""
    service = GovernanceService(federation)
    federation.components[GovernanceService] = service

    async def loop() -> None:
        while True:
            try:
                await service.maintain()
            except FedicoopError as error:
                log.warning("governance maintenance failed", extra={"reason": str(error)})
            await asyncio.sleep(30)

    federation.background.append(("governance-maintenance", loop))
    return service
