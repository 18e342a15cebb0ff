"""Recounting a published proposal: `verify_proposal` over documents held in memory.

A host co-op (host.example) and a partner (partner.example) publish what a closed proposal
publishes: the Question with its tallies, each co-op's roster signed by its Group, and the
ballots signed by their voters (or, secret, by the voters' co-op Groups). The documents are
made with fedicoop's own converters and real Ed25519 keys; the tallies with the same count
the host runs. Every test then spoils one thing the way a dishonest host could and checks the
report names it.
"""

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedicoop import clock
from fedicoop.activitypub import integrity
from fedicoop.errors import NotFound
from fedicoop.governance import federation as gov_as
from fedicoop.governance.ballots import Kind, Option, choice_json, options_for, parse_choice
from fedicoop.governance.counting import CastBallot, Rule, count
from fedicoop.governance.verify import Report, verify_proposal
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.proposals import ProposalRecord

HOST = "https://host.example"
PARTNER = "https://partner.example"
PROPOSAL = f"{HOST}/proposals/1"
HOST_HANDLE = "velo@host.example"
PARTNER_HANDLE = "pain@partner.example"
OPENED = clock.now() - timedelta(days=3)


@dataclass(frozen=True)
class Person:
    """An actor with a published Ed25519 key (seeded by name: the same on every run)."""

    record: ActorRecord

    @property
    def uri(self) -> str:
        return self.record.uri

    @property
    def key(self) -> Ed25519PrivateKey:
        seed = hashlib.sha256(self.uri.encode()).digest()
        return Ed25519PrivateKey.from_private_bytes(seed)

    def document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": self.record.type,
            "preferredUsername": self.record.username,
            "assertionMethod": [integrity.assertion_method(self.uri, self.key.public_key())],
        }

    def sign(self, document: dict[str, Any], *, method: str | None = None) -> dict[str, Any]:
        return integrity.sign_object(
            document, self.key, method or self.uri + integrity.KEY_FRAGMENT
        )


def actor(origin: str, username: str, kind: str = "Person") -> Person:
    return Person(
        ActorRecord(
            uri=f"{origin}/users/{username}",
            type=kind,
            domain=origin.split("//", 1)[1],
            username=username,
            followers_uri=f"{origin}/users/{username}/followers",
        )
    )


VELO = actor(HOST, "velo", "Group")
PAIN = actor(PARTNER, "pain", "Group")
ANA, BEN, CARL = actor(HOST, "ana"), actor(HOST, "ben"), actor(HOST, "carl")
DORA = actor(PARTNER, "dora")
EVE = actor(PARTNER, "eve")  # on the partner's server, not on its roster
HOST_ROSTER = f"{HOST}/proposals/1/roster"
PARTNER_ROSTER = f"{PARTNER}/proposals/9/roster"


@dataclass
class Published:
    """Everything a closed proposal's host and its partner serve, by URL."""

    kind: Kind = Kind.SINGLE
    secret: bool = False
    labels: tuple[str, ...] = ("Yes", "No", "Later")
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    ballots: list[dict[str, Any]] = field(default_factory=list)
    voters: list[dict[str, str]] = field(default_factory=list)
    counted: list[CastBallot] = field(default_factory=list)

    def __post_init__(self) -> None:
        for person in (VELO, PAIN, ANA, BEN, CARL, DORA, EVE):
            self.documents[person.uri] = person.document()
        for uri, group, members in (
            (HOST_ROSTER, VELO, [ANA, BEN, CARL]),
            (PARTNER_ROSTER, PAIN, [DORA]),
        ):
            unsigned = gov_as.roster_document(uri, group.record, PROPOSAL, [m.uri for m in members])
            self.documents[uri] = group.sign(unsigned)

    @property
    def options(self) -> list[Option]:
        return options_for(self.kind, [] if self.kind is Kind.CONSENT else list(self.labels))

    def cast(
        self,
        voter: Person,
        data: dict[str, Any],
        *,
        roster: str | None = None,
        signer: Person | None = None,
        coop: str | None = None,
    ) -> dict[str, Any]:
        """Add a signed ballot to the published ones (and to the count); return it."""
        at_host = voter.uri.startswith(HOST)
        roster = roster or (HOST_ROSTER if at_host else PARTNER_ROSTER)
        group = VELO if at_host else PAIN
        choice = parse_choice(self.kind, [o.id for o in self.options], data)
        uri = f"{voter.uri.split('/users/')[0]}/ballots/{len(self.ballots) + 1}"
        unsigned = gov_as.ballot_document(
            uri,
            PROPOSAL,
            roster,
            choice_json(choice, self.kind),
            None if self.secret else voter.record,
        )
        signed = (signer or (group if self.secret else voter)).sign(unsigned)
        self.ballots.append(signed)
        if self.secret:
            self.voters.append({"voter": voter.uri, "coop": group.uri})
        coop = coop or (HOST_HANDLE if at_host else PARTNER_HANDLE)
        published = signed.get("published") or clock.as2_time(OPENED)
        self.counted.append(CastBallot(uri if self.secret else voter.uri, coop, published, choice))
        return signed

    def close(self, eligible: dict[str, int] | None = None) -> dict[str, Any]:
        """Publish the proposal as its host does at close, tallies counted from the ballots."""
        result = count(
            self.kind,
            self.options,
            self.counted,
            rule=Rule.PER_MEMBER,
            eligible=eligible or {HOST_HANDLE: 3, PARTNER_HANDLE: 1},
        ).as_json()
        result["poll_ballots"] = []
        record = ProposalRecord(
            id=1,
            uri=PROPOSAL,
            local=True,
            group_id=1,
            proposer_uri=ANA.uri,
            title="Share the cargo bikes",
            body="Between both co-ops.",
            kind=self.kind.value,
            options=[{"id": o.id, "label": o.label} for o in self.options],
            coops=[VELO.uri, PAIN.uri],
            rule="per_member",
            quorum=None,
            weighting=None,
            max_choices=None,
            max_score=5,
            secret=self.secret,
            hidden_results=False,
            opened_at=clock.to_text(OPENED),
            closes_at=clock.to_text(OPENED + timedelta(days=2)),
            closed_at=clock.to_text(OPENED + timedelta(days=2)),
            status="closed",
            outcome="",
            result=result,
        )
        document = gov_as.proposal_to_as(record, VELO.record, rosters=[HOST_ROSTER, PARTNER_ROSTER])
        self.documents[PROPOSAL] = document
        self.documents[gov_as.ballots_uri(PROPOSAL)] = collection(
            gov_as.ballots_uri(PROPOSAL), self.ballots
        )
        if self.secret:
            self.documents[gov_as.voters_uri(PROPOSAL)] = collection(
                gov_as.voters_uri(PROPOSAL), self.voters
            )
        return document

    async def fetch(self, url: str) -> dict[str, Any]:
        """Serve a copy of a document, as a server would; 404 for anything else."""
        if url not in self.documents:
            raise NotFound(f"{url}: 404")
        return copy.deepcopy(self.documents[url])

    async def verify(self) -> Report:
        return await verify_proposal(PROPOSAL, self.fetch)


def collection(uri: str, items: list[Any]) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }


def voted(secret: bool = False) -> Published:
    """Ana and Dora say Yes, Ben says No; Carl (on the host's roster) does not vote."""
    published = Published(secret=secret)
    published.cast(ANA, {"choices": ["o1"]})
    published.cast(BEN, {"choices": ["o2"]})
    published.cast(DORA, {"choices": ["o1"]})
    return published


# --- what checks out ----------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [False, True], ids=["open ballots", "secret ballots"])
async def test_a_correct_closed_proposal_verifies(secret: bool) -> None:
    # Given a closed proposal published as its host publishes it
    published = voted(secret)
    published.close()
    # When anyone recounts it, Then every proof holds and the recount matches
    report = await published.verify()
    assert report.ok, report.problems
    assert report.ballots == 3 and report.poll_ballots == 0
    assert report.rosters == {HOST_HANDLE: 3, PARTNER_HANDLE: 1}
    assert report.recount is not None
    assert report.recount["total"] == {"o1": 2, "o2": 1, "o3": 0}
    assert report.recount["by_coop"] == {
        HOST_HANDLE: {"o1": 1, "o2": 1, "o3": 0},
        PARTNER_HANDLE: {"o1": 1, "o2": 0, "o3": 0},
    }
    assert report.recount["outcome"] == "passed" and report.recount["winners"] == ["o1"]


async def test_a_ranked_proposal_is_recounted_with_its_runoff() -> None:
    # Given a ranked proposal where "Later" wins after "No" is eliminated
    published = Published(kind=Kind.RANKED)
    published.cast(ANA, {"ranking": ["o1", "o3"]})
    published.cast(BEN, {"ranking": ["o2", "o3"]})
    published.cast(CARL, {"ranking": ["o3"]})
    published.cast(DORA, {"ranking": ["o3", "o1"]})
    published.close()
    report = await published.verify()
    assert report.ok, report.problems
    assert report.recount is not None and report.recount["winners"] == ["o3"]


# --- what a dishonest host could publish -------------------------------------------------------


async def test_a_tampered_ballot_is_named() -> None:
    # Given Ben's ballot changed from No to Yes after he signed it (tallies to match)
    published = voted()
    ben = published.ballots[1]
    published.counted[1] = CastBallot(
        BEN.uri,
        HOST_HANDLE,
        published.counted[1].cast_at,
        parse_choice(Kind.SINGLE, ["o1"], {"choices": ["o1"]}),
    )
    published.close()
    ben["choices"] = ["o1"]
    # When it is recounted, Then the report names that ballot and why
    report = await published.verify()
    assert f"ballot {ben['id']}: signature mismatch" in report.problems
    assert report.ballots == 2


async def test_a_ballot_by_someone_not_on_the_roster_is_named() -> None:
    # Given a ballot by Eve, whom the partner's roster does not list, counted by the host
    published = voted()
    eve = published.cast(EVE, {"choices": ["o2"]})
    published.close(eligible={HOST_HANDLE: 3, PARTNER_HANDLE: 2})
    report = await published.verify()
    assert report.problems[0] == (
        f"ballot {eve['id']}: {EVE.uri} is not on {PARTNER_HANDLE}'s roster"
    )
    # And without her ballot the published tallies do not add up
    assert any(p.startswith("published total ") for p in report.problems)


async def test_a_ballot_signed_by_someone_else_is_named() -> None:
    # Given Ben's ballot signed with Ana's key
    published = voted()
    forged = published.cast(BEN, {"choices": ["o1"]}, signer=ANA)
    published.close()
    report = await published.verify()
    assert f"ballot {forged['id']}: not signed by its voter {BEN.uri}" in report.problems


async def test_a_secret_ballot_signed_by_its_voter_is_named() -> None:
    # Given a secret proposal where one ballot is signed by its voter rather than her co-op
    published = voted(secret=True)
    own = published.cast(CARL, {"choices": ["o3"]}, signer=CARL)
    published.close()
    report = await published.verify()
    assert f"ballot {own['id']}: not signed by its co-op's Group" in report.problems


async def test_secret_voters_that_do_not_match_the_ballots_are_named() -> None:
    # Given a secret proposal whose voters list names one voter fewer than its ballots
    published = voted(secret=True)
    published.close()
    voters = published.documents[gov_as.voters_uri(PROPOSAL)]
    voters["orderedItems"] = [v for v in voters["orderedItems"] if v["voter"] != BEN.uri]
    report = await published.verify()
    assert report.problems == [f"{HOST_HANDLE}: 1 voters listed but 2 secret ballots published"]


@pytest.mark.parametrize("wrong", ["another actor's key", "a key not the group's"])
async def test_a_roster_signed_by_the_wrong_key_is_named(wrong: str) -> None:
    # Given the partner's roster signed by its member Dora (or by her key under the Group's name)
    published = voted()
    roster = published.documents[PARTNER_ROSTER]
    unsigned = {k: v for k, v in roster.items() if k != "proof"}
    method = None if wrong == "another actor's key" else PAIN.uri + integrity.KEY_FRAGMENT
    published.documents[PARTNER_ROSTER] = DORA.sign(unsigned, method=method)
    published.close()
    # When it is recounted, Then the roster is named, and the ballots cast on it are not counted
    report = await published.verify()
    expected = (
        f"roster {PARTNER_ROSTER}: not signed by {PARTNER_HANDLE}"
        if wrong == "another actor's key"
        else f"roster {PARTNER_ROSTER}: signature mismatch"
    )
    assert report.problems[0] == expected
    assert PARTNER_HANDLE not in report.rosters
    dora = published.ballots[2]
    assert (
        f"ballot {dora['id']}: its roster {PARTNER_ROSTER} is not one of the proposal's"
        in report.problems
    )


async def test_a_padded_roster_is_named() -> None:
    # Given the host's roster with a member added after its Group signed it
    published = voted()
    roster = published.documents[HOST_ROSTER]
    roster["members"] = sorted([*roster["members"], EVE.uri])
    roster["totalItems"] = len(roster["members"])
    published.close()
    report = await published.verify()
    assert report.problems[0] == f"roster {HOST_ROSTER}: signature mismatch"


async def test_a_dropped_ballot_makes_the_tallies_disagree() -> None:
    # Given Ben's No ballot left out of the published ballots, tallies as counted with it
    published = voted()
    published.close()
    ballots = published.documents[gov_as.ballots_uri(PROPOSAL)]
    ballots["orderedItems"] = [
        b for b in ballots["orderedItems"] if b.get("attributedTo") != BEN.uri
    ]
    # When it is recounted, Then the report says which published figures the ballots do not give
    report = await published.verify()
    assert report.ballots == 2
    assert (
        "published total {'o1': 2, 'o2': 1, 'o3': 0}, "
        "but the signed records give {'o1': 2, 'o2': 0, 'o3': 0}"
    ) in report.problems
    assert "published voters 3, but the signed records give 2" in report.problems
    assert all(p.startswith("published ") for p in report.problems)


async def test_padded_totals_are_named() -> None:
    # Given honest ballots but a published total with votes added to "No"
    published = voted()
    document = published.close()
    padded = copy.deepcopy(document["tallies"])
    padded["total"]["o2"] += 2
    published.documents[PROPOSAL]["tallies"] = padded
    report = await published.verify()
    assert report.problems == [
        "published total {'o1': 2, 'o2': 3, 'o3': 0}, "
        "but the signed records give {'o1': 2, 'o2': 1, 'o3': 0}"
    ]


async def test_padded_eligible_counts_are_named() -> None:
    # Given a published eligible count larger than the signed roster (to meet a quorum, say)
    published = voted()
    document = published.close()
    padded = copy.deepcopy(document["tallies"])
    padded["eligible"][PARTNER_HANDLE] = 40
    published.documents[PROPOSAL]["tallies"] = padded
    report = await published.verify()
    assert len(report.problems) == 1 and report.problems[0].startswith("published eligible ")


async def test_an_open_proposal_has_nothing_to_verify() -> None:
    # Given a proposal still open (no closing, no tallies)
    published = voted()
    document = published.close()
    del document["closed"], document["tallies"]
    report = await published.verify()
    assert report.problems == ["the proposal is not closed yet: there is no result to verify"]
    assert report.recount is None


async def test_a_document_that_is_not_a_proposal_is_named() -> None:
    published = voted()
    published.close()
    published.documents[PROPOSAL] = {"id": PROPOSAL, "type": "Note", "content": "hi"}
    report = await published.verify()
    assert report.problems == [f"{PROPOSAL} is not a fedicoop proposal"]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kind": "lottery"}, "the proposal's kind, options or maxScore cannot be read"),
        ({"proposalOptions": [{"label": "Yes"}]}, "the proposal's kind, options or maxScore"),
        ({"maxScore": "ten"}, "the proposal's kind, options or maxScore cannot be read"),
        ({"quorum": {"overall": 0.5, "secretly": 0}}, "recount impossible"),
        ({"rule": "dictator"}, "recount impossible"),
    ],
)
async def test_a_malformed_proposal_is_reported_not_raised(
    changes: dict[str, Any], problem: str
) -> None:
    # Given a host serving a proposal document the verifier cannot read as published
    published = voted()
    published.close().update(changes)
    # When it is verified, Then the report says so (the verifier does not crash on it)
    report = await published.verify()
    assert not report.ok and report.problems[-1].startswith(problem), report.problems
