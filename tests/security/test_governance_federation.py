"""Hostile proposals, roster snapshots and ballots: each changes nothing, and its honest twin works.

The host co-op (in process) opens a proposal with one partner co-op, covoit, whose server is
a real loopback origin serving its actors (with their Ed25519 `assertionMethod` keys) and its
signed roster snapshots. Covoit's Group signs a roster naming its member Dora; Dora signs her
ballots. A ballot is counted only while voting is open, from someone on a participating
co-op's signed roster, with a valid proof by the voter (or, secret, by the voter's co-op
Group); anything else is answered with a Reject naming why and leaves the count as it was.
"""

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytest_aiohttp import AiohttpServer

from fedicoop import clock
from fedicoop.activitypub import integrity
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.coops.partnership import PartnershipRepository, PartnerState
from fedicoop.governance.service import GovernanceService
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.proposals import ProposalRecord
from tests.activitypub.remote import (
    Coop,
    Origin,
    RemoteActor,
    add_remote_actor,
    start_origin,
)


def seeded_key(name: str) -> Ed25519PrivateKey:
    """Return the same Ed25519 key for a name on every run."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


@dataclass(frozen=True)
class Signer:
    """A remote actor whose HTTP (RSA) and object-integrity (Ed25519) keys the test holds."""

    remote: RemoteActor
    key: Ed25519PrivateKey

    @property
    def uri(self) -> str:
        return self.remote.uri

    @property
    def method(self) -> str:
        return self.uri + integrity.KEY_FRAGMENT

    def sign(self, document: dict[str, Any], *, method: str | None = None) -> dict[str, Any]:
        """Return `document` with an eddsa-jcs-2022 proof by this actor's key."""
        return integrity.sign_object(document, self.key, method or self.method)

    def create(self, obj: dict[str, Any], to: str) -> dict[str, Any]:
        """Return Create(obj) by this actor, addressed to one actor."""
        return self.remote.activity("Create", obj, to=[to], cc=[])


async def signing_actor(
    coop: Coop, origin: Origin, name: str, actor_type: str = "Person"
) -> Signer:
    """Store a remote actor the way the host would after fetching it, and serve it on `origin`."""
    remote = await add_remote_actor(
        coop.db, f"{origin.base_url}/users/{name}", actor_type=actor_type
    )
    key = seeded_key(name)
    record = remote.record
    document = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": record.uri,
        "type": record.type,
        "preferredUsername": record.username,
        "inbox": record.inbox,
        "outbox": record.outbox,
        "followers": record.followers_uri,
        "publicKey": {
            "id": record.key_id,
            "owner": record.uri,
            "publicKeyPem": record.public_key_pem,
        },
        "assertionMethod": [integrity.assertion_method(record.uri, key.public_key())],
    }
    origin.serve(document)
    await coop.db.execute(
        "UPDATE actors SET raw = $1 WHERE id = $2", json.dumps(document), record.id
    )
    return Signer(remote, key)


@dataclass
class Partner:
    """The partner co-op covoit: its server, its Group and some people on that server."""

    origin: Origin
    group: Signer
    dora: Signer  # a member of covoit, on its roster
    mallory: Signer  # an account on covoit's server, not on its roster

    def roster(
        self, proposal: ProposalRecord, members: list[str], name: str = ""
    ) -> dict[str, Any]:
        """Return covoit's roster snapshot for a proposal, unsigned."""
        return {
            "@context": OBJECT_CONTEXT,
            "id": f"{self.origin.base_url}/proposals/{name or proposal.id}/roster",
            "type": "RosterSnapshot",
            "attributedTo": self.group.uri,
            "proposal": proposal.uri,
            "members": sorted(members),
            "totalItems": len(members),
            "published": clock.as2_time(clock.now()),
        }


@pytest.fixture
async def covoit(coop: Coop, aiohttp_server: AiohttpServer) -> Partner:
    """An active partner co-op on its own loopback server."""
    origin = await start_origin(aiohttp_server)
    group = await signing_actor(coop, origin, "covoit", "Group")
    await PartnershipRepository(coop.federation).put(
        group.remote.record.id, PartnerState.ACTIVE, None
    )
    dora = await signing_actor(coop, origin, "dora")
    mallory = await signing_actor(coop, origin, "mallory")
    return Partner(origin, group, dora, mallory)


@pytest.fixture
async def eve(coop: Coop, aiohttp_server: AiohttpServer) -> Signer:
    """Someone on a server that takes no part in any proposal."""
    return await signing_actor(coop, await start_origin(aiohttp_server), "eve")


async def open_proposal(coop: Coop, covoit: Partner, **changes: Any) -> ProposalRecord:
    """Open a proposal of the host co-op with covoit (single choice, Yes / No, 2 days)."""
    account = await AccountRepository(coop.db).by_username("admin")
    assert account is not None
    data = {
        "title": "Share the cargo bikes",
        "kind": "single",
        "options": ["Yes", "No"],
        "closes_at": (clock.now() + timedelta(days=2)).isoformat(),
        "coops": [covoit.group.remote.record.acct],
    } | changes
    service = GovernanceService.of(coop.federation)
    return await service.create(account, await coop.local_actor("admin"), data)


async def push_roster(
    coop: Coop, covoit: Partner, proposal: ProposalRecord, members: list[str] | None = None
) -> dict[str, Any]:
    """Have covoit's Group send its signed roster (Dora alone by default); return it."""
    signed = covoit.group.sign(covoit.roster(proposal, members or [covoit.dora.uri]))
    await coop.receive(covoit.group.remote, covoit.group.create(signed, (await coop.group()).uri))
    return signed


def ballot(
    voter: Signer, proposal: ProposalRecord, roster_uri: str, *, secret: bool = False, **choice: Any
) -> dict[str, Any]:
    """Return an unsigned ballot for the first option (or `choice`), as a voter's server would."""
    document: dict[str, Any] = {
        "@context": OBJECT_CONTEXT,
        "id": voter.remote.new_id("ballots"),
        "type": "Ballot",
        "proposal": proposal.uri,
        "roster": roster_uri,
        **(choice or {"choices": ["o1"]}),
    }
    if not secret:
        document["attributedTo"] = voter.uri
        document["published"] = clock.as2_time(clock.now())
    return document


async def send(coop: Coop, voter: Signer, signed: dict[str, Any]) -> dict[str, Any]:
    """Deliver Create(ballot) from the voter to the host and process it; return the Create."""
    create = voter.create(signed, (await coop.group()).uri)
    await coop.receive(voter.remote, create)
    return create


async def counted(coop: Coop, proposal: ProposalRecord) -> list[dict[str, Any]]:
    """Return the choices of the ballots the host counts for a proposal."""
    rows = await coop.db.fetch(
        "SELECT choice FROM ballots WHERE proposal_id = $1 AND state = 'counted' ORDER BY id",
        proposal.id,
    )
    return [json.loads(row["choice"]) for row in rows]


async def remote_ballots(coop: Coop, proposal: ProposalRecord) -> int:
    """Return how many ballots from other servers the host stored, counted or not."""
    return await coop.count(
        "ballots", "proposal_id = $1 AND voter_uri NOT LIKE $2", proposal.id, coop.base_url + "/%"
    )


async def rejection(coop: Coop, ballot_uri: str) -> str | None:
    """Return why the host's Group rejected a ballot, or None when it did not."""
    rows = await coop.db.fetch("SELECT raw FROM activities WHERE type = 'Reject'")
    for row in rows:
        reject = json.loads(row["raw"])
        if isinstance(reject.get("object"), dict) and reject["object"].get("id") == ballot_uri:
            assert reject["actor"] == (await coop.group()).uri
            return str(reject["content"])
    return None


async def inbox_state(coop: Coop, activity: dict[str, Any]) -> tuple[str, str | None]:
    row = await coop.db.fetchrow(
        "SELECT state, error FROM inbox WHERE activity_uri = $1", activity["id"]
    )
    assert row is not None
    return row["state"], row["error"]


async def snapshot_uris(coop: Coop, proposal: ProposalRecord) -> list[str]:
    rows = await coop.db.fetch(
        "SELECT uri FROM roster_snapshots WHERE proposal_id = $1 ORDER BY uri", proposal.id
    )
    return [str(row["uri"]) for row in rows]


async def assert_refused(
    coop: Coop, proposal: ProposalRecord, ballot_uri: str, reason: str
) -> None:
    """The ballot is not counted, and the host told the voter why."""
    assert await counted(coop, proposal) == []
    why = await rejection(coop, ballot_uri)
    assert why is not None and reason in why, why


# --- the honest path --------------------------------------------------------------------------


async def test_a_partner_members_signed_ballot_is_counted_and_not_rejected(
    coop: Coop, covoit: Partner
) -> None:
    # Given a proposal with covoit, whose Group signed a roster naming Dora
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    assert roster["id"] in await snapshot_uris(coop, proposal)
    # When Dora sends her signed ballot
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"], choices=["o2"]))
    await send(coop, covoit.dora, signed)
    # Then it counts, kept as signed, and nobody is told no
    assert await counted(coop, proposal) == [{"choices": ["o2"]}]
    stored = await coop.db.fetchval("SELECT document FROM ballots WHERE uri = $1", signed["id"])
    assert json.loads(stored) == signed
    assert await rejection(coop, signed["id"]) is None


async def test_a_ballot_naming_an_unseen_roster_has_the_host_fetch_and_check_it(
    coop: Coop, covoit: Partner
) -> None:
    # Given covoit's signed roster served by its server but never pushed to the host
    proposal = await open_proposal(coop, covoit)
    roster = covoit.group.sign(covoit.roster(proposal, [covoit.dora.uri]))
    covoit.origin.serve(roster)
    # When Dora votes naming it
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"]))
    await send(coop, covoit.dora, signed)
    # Then the host fetched the roster, checked its proof, stored it and counted the ballot
    assert roster["id"] in await snapshot_uris(coop, proposal)
    assert await counted(coop, proposal) == [{"choices": ["o1"]}]


# --- ballots whose proof does not hold ----------------------------------------------------------


def altered_choice(signed: dict[str, Any], _: Signer) -> dict[str, Any]:
    return signed | {"choices": ["o2"]}


def altered_published(signed: dict[str, Any], _: Signer) -> dict[str, Any]:
    return signed | {"published": "2000-01-01T00:00:00Z"}


def forged_proof_value(signed: dict[str, Any], other: Signer) -> dict[str, Any]:
    # A real Ed25519 signature over the same bytes, by a key that is not Dora's.
    forged = other.sign(
        {k: v for k, v in signed.items() if k != "proof"},
        method=signed["proof"]["verificationMethod"],
    )
    return signed | {"proof": forged["proof"]}


def proof_removed(signed: dict[str, Any], _: Signer) -> dict[str, Any]:
    return {k: v for k, v in signed.items() if k != "proof"}


def garbage_proof_value(signed: dict[str, Any], _: Signer) -> dict[str, Any]:
    proof = copy.deepcopy(signed["proof"])
    proof["proofValue"] = "z" + "1" * 80
    return signed | {"proof": proof}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (altered_choice, "signature mismatch"),
        (altered_published, "signature mismatch"),
        (forged_proof_value, "signature mismatch"),
        (garbage_proof_value, "proofValue"),
        (proof_removed, "missing proof"),
    ],
)
async def test_a_ballot_whose_proof_is_forged_or_whose_fields_were_altered_is_rejected(
    coop: Coop, covoit: Partner, tamper: Any, reason: str
) -> None:
    # Given Dora on covoit's roster, and her ballot altered after signing
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"]))
    tampered = tamper(signed, covoit.mallory)
    # When it arrives, Then it is not counted and Dora is told why
    await send(coop, covoit.dora, tampered)
    await assert_refused(coop, proposal, signed["id"], reason)
    # And the ballot as she signed it still counts
    await send(coop, covoit.dora, covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"])))
    assert await counted(coop, proposal) == [{"choices": ["o1"]}]


async def test_a_ballot_signed_with_a_key_that_is_not_the_voters_is_rejected(
    coop: Coop, covoit: Partner
) -> None:
    # Given Dora's ballot signed with Mallory's own key (a valid proof, by the wrong person)
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.mallory.sign(ballot(covoit.dora, proposal, roster["id"]))
    # When Dora sends it, Then it is refused: a ballot is signed by its voter
    await send(coop, covoit.dora, signed)
    await assert_refused(coop, proposal, signed["id"], "signed by its voter")


async def test_a_ballot_signed_by_the_voters_co_op_group_is_not_hers_when_the_vote_is_open(
    coop: Coop, covoit: Partner
) -> None:
    # Given an open (not secret) proposal, and Dora's ballot signed by covoit's Group
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.group.sign(ballot(covoit.dora, proposal, roster["id"]))
    await send(coop, covoit.dora, signed)
    await assert_refused(coop, proposal, signed["id"], "signed by its voter")


async def test_a_member_relaying_someone_elses_signed_ballot_is_refused(
    coop: Coop, covoit: Partner
) -> None:
    # Given Dora's genuine signed ballot, When Mallory (same server) sends it as her own Create
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"]))
    create = await send(coop, covoit.mallory, signed)
    # Then it is refused and not counted: only the voter delivers her ballot
    assert await counted(coop, proposal) == []
    state, error = await inbox_state(coop, create)
    assert state == "failed" and error is not None and "Forbidden" in error


# --- ballots from people who may not vote -------------------------------------------------------


async def test_a_ballot_from_someone_not_on_the_roster_is_rejected(
    coop: Coop, covoit: Partner
) -> None:
    # Given covoit's roster naming Dora only, When Mallory (covoit's server) votes on it
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.mallory.sign(ballot(covoit.mallory, proposal, roster["id"]))
    await send(coop, covoit.mallory, signed)
    # Then she is told she is not on the roster, and nothing counts
    await assert_refused(coop, proposal, signed["id"], "not on their co-op's roster")


async def test_a_ballot_from_a_server_not_taking_part_is_rejected(
    coop: Coop, covoit: Partner, eve: Signer
) -> None:
    # Given Eve, on a server taking no part, naming covoit's roster
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = eve.sign(ballot(eve, proposal, roster["id"]))
    await send(coop, eve, signed)
    await assert_refused(coop, proposal, signed["id"], "not on their co-op's roster")


async def test_a_ballot_naming_a_roster_its_own_server_made_up_is_rejected(
    coop: Coop, covoit: Partner, aiohttp_server: AiohttpServer
) -> None:
    # Given Eve's server serving a "roster" naming her for the proposal
    proposal = await open_proposal(coop, covoit)
    origin = await start_origin(aiohttp_server)
    eve = await signing_actor(coop, origin, "eve")
    fake = eve.sign(
        covoit.roster(proposal, [eve.uri])
        | {
            "id": f"{origin.base_url}/rosters/1",
            "attributedTo": eve.uri,
        }
    )
    origin.serve(fake)
    # When Eve votes naming it, Then it is refused without the host storing that roster
    signed = eve.sign(ballot(eve, proposal, fake["id"]))
    await send(coop, eve, signed)
    await assert_refused(coop, proposal, signed["id"], "not from a participating co-op")
    assert fake["id"] not in await snapshot_uris(coop, proposal)


async def test_a_ballot_naming_the_roster_of_another_proposal_is_rejected(
    coop: Coop, covoit: Partner
) -> None:
    # Given two proposals with covoit, and covoit's roster for the first only
    first = await open_proposal(coop, covoit)
    second = await open_proposal(coop, covoit, title="Buy a trailer")
    roster = await push_roster(coop, covoit, first)
    # When Dora votes on the second naming the first's roster
    signed = covoit.dora.sign(ballot(covoit.dora, second, roster["id"]))
    await send(coop, covoit.dora, signed)
    # Then it is refused on the second, and counts on neither
    await assert_refused(coop, second, signed["id"], "another proposal")
    assert await counted(coop, first) == []


async def test_a_ballot_for_a_closed_proposal_is_rejected(coop: Coop, covoit: Partner) -> None:
    # Given a proposal closed by the host
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    service = GovernanceService.of(coop.federation)
    await service.close(proposal)
    # When Dora votes, Then she is told voting is closed and the result is unchanged
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"]))
    await send(coop, covoit.dora, signed)
    await assert_refused(coop, proposal, signed["id"], "closed")
    closed = await service.get(proposal.id)
    assert closed.result is not None and closed.result["voters"] == 0


async def test_a_ballot_after_the_closing_time_is_rejected_before_maintenance_closes_it(
    coop: Coop, covoit: Partner
) -> None:
    # Given a proposal whose closing time has passed, not yet closed by maintenance
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    past = clock.to_text(clock.now() - timedelta(minutes=1))
    await coop.db.execute("UPDATE proposals SET closes_at = $1 WHERE id = $2", past, proposal.id)
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"]))
    await send(coop, covoit.dora, signed)
    await assert_refused(coop, proposal, signed["id"], "closed")


# --- secret ballots -----------------------------------------------------------------------------


async def test_a_secret_ballot_is_signed_by_the_voters_co_op_group_not_by_the_voter(
    coop: Coop, covoit: Partner
) -> None:
    # Given a secret proposal with covoit
    proposal = await open_proposal(coop, covoit, secret=True)
    roster = await push_roster(coop, covoit, proposal)
    # When Dora's ballot is signed by Dora herself, Then it is refused (it would name her)
    own = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"], secret=True))
    await send(coop, covoit.dora, own)
    await assert_refused(coop, proposal, own["id"], "signed by its voter's co-op Group")
    # And the same ballot signed by covoit's Group, sent by Dora, counts
    anonymous = covoit.group.sign(ballot(covoit.dora, proposal, roster["id"], secret=True))
    await send(coop, covoit.dora, anonymous)
    assert await counted(coop, proposal) == [{"choices": ["o1"]}]


async def test_a_secret_ballot_signed_by_its_group_but_sent_by_someone_off_the_roster_is_rejected(
    coop: Coop, covoit: Partner
) -> None:
    # Given a Group-signed secret ballot, When Mallory (not on the roster) delivers it
    proposal = await open_proposal(coop, covoit, secret=True)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.group.sign(ballot(covoit.mallory, proposal, roster["id"], secret=True))
    await send(coop, covoit.mallory, signed)
    await assert_refused(coop, proposal, signed["id"], "not on their co-op's roster")


# --- roster snapshots ---------------------------------------------------------------------------


def signed_by_a_member(roster: dict[str, Any], covoit: Partner) -> dict[str, Any]:
    return covoit.dora.sign(roster)


def padded_after_signing(roster: dict[str, Any], covoit: Partner) -> dict[str, Any]:
    signed = covoit.group.sign(roster)
    members = sorted([*signed["members"], covoit.mallory.uri])
    return signed | {"members": members, "totalItems": len(members)}


def signed_by_members_key_as_the_group(roster: dict[str, Any], covoit: Partner) -> dict[str, Any]:
    return covoit.dora.sign(roster, method=covoit.group.method)


def unsigned(roster: dict[str, Any], _: Partner) -> dict[str, Any]:
    return roster


@pytest.mark.parametrize(
    "forge",
    [signed_by_a_member, padded_after_signing, signed_by_members_key_as_the_group, unsigned],
)
async def test_a_roster_snapshot_not_signed_by_its_group_is_not_stored(
    coop: Coop, covoit: Partner, forge: Any
) -> None:
    # Given a proposal with covoit
    proposal = await open_proposal(coop, covoit)
    ours = await snapshot_uris(coop, proposal)
    # When covoit's Group pushes a roster naming Dora and Mallory whose proof does not hold
    roster = forge(covoit.roster(proposal, [covoit.dora.uri, covoit.mallory.uri]), covoit)
    create = covoit.group.create(roster, (await coop.group()).uri)
    await coop.receive(covoit.group.remote, create)
    # Then the host keeps only its own roster and the delivery is refused
    assert await snapshot_uris(coop, proposal) == ours
    state, error = await inbox_state(coop, create)
    assert state == "failed" and error is not None


@pytest.mark.parametrize(
    "forge",
    [signed_by_a_member, padded_after_signing, signed_by_members_key_as_the_group, unsigned],
)
async def test_a_ballot_naming_a_served_roster_not_signed_by_its_group_is_rejected(
    coop: Coop, covoit: Partner, forge: Any
) -> None:
    # Given covoit's server serving a roster (naming Mallory too) whose proof does not hold
    proposal = await open_proposal(coop, covoit)
    roster = forge(covoit.roster(proposal, [covoit.dora.uri, covoit.mallory.uri]), covoit)
    covoit.origin.serve(roster)
    # When Mallory votes naming it, Then the host fetches it, refuses it, and counts nothing
    signed = covoit.mallory.sign(ballot(covoit.mallory, proposal, roster["id"]))
    await send(coop, covoit.mallory, signed)
    why = await rejection(coop, signed["id"])
    assert why is not None
    assert await counted(coop, proposal) == []
    assert roster["id"] not in await snapshot_uris(coop, proposal)


async def test_a_roster_from_a_group_not_taking_part_is_not_stored(
    coop: Coop, covoit: Partner
) -> None:
    # Given an active partner that is not taking part in this proposal
    proposal = await open_proposal(coop, covoit, coops=[])
    ours = await snapshot_uris(coop, proposal)
    # When it pushes a roster it signed, Then the host ignores it
    await push_roster(coop, covoit, proposal)
    assert await snapshot_uris(coop, proposal) == ours


async def test_a_roster_pushed_after_the_proposal_closed_is_not_stored(
    coop: Coop, covoit: Partner
) -> None:
    # Given a proposal closed before covoit sent its roster
    proposal = await open_proposal(coop, covoit)
    service = GovernanceService.of(coop.federation)
    await service.close(proposal)
    ours = await snapshot_uris(coop, proposal)
    # When the roster arrives late, Then it changes nothing the result was published with
    await push_roster(coop, covoit, proposal)
    assert await snapshot_uris(coop, proposal) == ours
    document = await service.document(await service.get(proposal.id))
    assert document["rosters"] == ours


async def test_a_partner_cannot_replace_the_roster_it_signed(coop: Coop, covoit: Partner) -> None:
    # Given covoit's roster naming Dora
    proposal = await open_proposal(coop, covoit)
    first = await push_roster(coop, covoit, proposal)
    # When covoit's Group pushes a second signed roster naming Mallory too
    second = covoit.group.sign(
        covoit.roster(proposal, [covoit.dora.uri, covoit.mallory.uri], name="again")
    )
    await coop.receive(covoit.group.remote, covoit.group.create(second, (await coop.group()).uri))
    covoit.origin.serve(second)
    # Then the first stands, and Mallory still may not vote, even naming the second
    assert second["id"] not in await snapshot_uris(coop, proposal)
    assert first["id"] in await snapshot_uris(coop, proposal)
    signed = covoit.mallory.sign(ballot(covoit.mallory, proposal, second["id"]))
    await send(coop, covoit.mallory, signed)
    await assert_refused(coop, proposal, signed["id"], "a roster other than its co-op's")


# --- proposals from other co-ops ----------------------------------------------------------------


def partner_proposal(group: Signer, ours: str, **changes: Any) -> dict[str, Any]:
    """Return a proposal as a partner's fedicoop publishes it (a Question with our terms)."""
    base = group.uri.rsplit("/users/", 1)[0]
    closes = clock.as2_time(clock.now() + timedelta(days=2))
    document = {
        "id": f"{base}/proposals/77",
        "type": "Question",
        "attributedTo": group.uri,
        "audience": group.uri,
        "to": [PUBLIC],
        "cc": [f"{group.uri}/followers", ours],
        "name": "Open a repair workshop",
        "content": "<p>Open a repair workshop</p>",
        "published": clock.as2_time(clock.now()),
        "endTime": closes,
        "closesAt": closes,
        "oneOf": [
            {"type": "Note", "name": "Yes", "replies": {"type": "Collection", "totalItems": 0}},
            {"type": "Note", "name": "No", "replies": {"type": "Collection", "totalItems": 0}},
        ],
        "kind": "single",
        "rule": "per_member",
        "coops": [group.uri, ours],
        "proposalOptions": [{"id": "o1", "label": "Yes"}, {"id": "o2", "label": "No"}],
        "secret": False,
        "hiddenResults": False,
        "maxScore": 5,
        "ballots": f"{base}/proposals/77/ballots",
    }
    return document | changes


async def stored_proposal(coop: Coop, uri: str) -> ProposalRecord | None:
    return await GovernanceService.of(coop.federation).proposals.by_uri(uri)


async def test_a_partners_proposal_is_stored_and_answered_with_our_signed_roster(
    coop: Coop, covoit: Partner
) -> None:
    # Given an active partner, When its Group opens a proposal naming us
    ours = await coop.group()
    document = partner_proposal(covoit.group, ours.uri)
    create = covoit.group.remote.activity("Create", document, to=[PUBLIC], cc=[ours.uri])
    await coop.receive(covoit.group.remote, create)
    # Then we store it (theirs to count) and sign our roster for it
    proposal = await stored_proposal(coop, document["id"])
    assert proposal is not None and not proposal.local and proposal.status == "open"
    snapshots = await GovernanceService.of(coop.federation).snapshots.for_proposal(proposal.id)
    assert [s.group_uri for s in snapshots] == [ours.uri]


@pytest.mark.parametrize("state", [None, PartnerState.OFFERED, PartnerState.REQUESTED])
async def test_a_proposal_from_a_group_that_is_not_an_active_partner_is_not_stored(
    coop: Coop, aiohttp_server: AiohttpServer, state: PartnerState | None
) -> None:
    # Given a co-op Group we are not (or not yet) partnered with
    origin = await start_origin(aiohttp_server)
    group = await signing_actor(coop, origin, "stranger", "Group")
    if state is not None:
        await PartnershipRepository(coop.federation).put(group.remote.record.id, state, None)
    # When it opens a proposal naming us, Then nothing is stored and no roster is signed
    ours = await coop.group()
    document = partner_proposal(group, ours.uri)
    await coop.receive(group.remote, group.remote.activity("Create", document, cc=[ours.uri]))
    assert await stored_proposal(coop, document["id"]) is None
    assert await coop.count("roster_snapshots") == 0


async def test_a_proposal_attributed_to_another_group_is_not_stored(
    coop: Coop, covoit: Partner
) -> None:
    # Given another Group on the partner's server, When covoit sends a proposal attributed to it
    other = await signing_actor(coop, covoit.origin, "other", "Group")
    ours = await coop.group()
    document = partner_proposal(covoit.group, ours.uri, attributedTo=other.uri)
    create = covoit.group.remote.activity("Create", document, cc=[ours.uri])
    await coop.receive(covoit.group.remote, create)
    # Then it is refused and nothing is stored
    assert await stored_proposal(coop, document["id"]) is None
    assert await coop.count("roster_snapshots") == 0
    assert (await inbox_state(coop, create))[0] == "failed"


async def test_a_person_on_a_partners_server_cannot_open_a_proposal_for_it(
    coop: Coop, covoit: Partner
) -> None:
    # Given Dora, on covoit's server, sending a proposal as her own
    ours = await coop.group()
    document = partner_proposal(covoit.group, ours.uri, attributedTo=covoit.dora.uri)
    await coop.receive(covoit.dora.remote, covoit.dora.remote.activity("Create", document))
    assert await stored_proposal(coop, document["id"]) is None


# --- replays ------------------------------------------------------------------------------------


async def test_a_replayed_ballot_counts_once(coop: Coop, covoit: Partner) -> None:
    # Given Dora's counted ballot
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"]))
    await send(coop, covoit.dora, signed)
    # When the same ballot arrives again in new Creates
    await send(coop, covoit.dora, signed)
    await send(coop, covoit.dora, signed)
    # Then it is stored and counted once
    assert await counted(coop, proposal) == [{"choices": ["o1"]}]
    assert await remote_ballots(coop, proposal) == 1
    assert await coop.count("ballots", "uri = $1", signed["id"]) == 1


async def test_replaying_an_earlier_ballot_does_not_undo_a_changed_vote(
    coop: Coop, covoit: Partner
) -> None:
    # Given Dora voted Yes, then changed to No
    proposal = await open_proposal(coop, covoit)
    roster = await push_roster(coop, covoit, proposal)
    first = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"], choices=["o1"]))
    await send(coop, covoit.dora, first)
    second = covoit.dora.sign(ballot(covoit.dora, proposal, roster["id"], choices=["o2"]))
    await send(coop, covoit.dora, second)
    assert await counted(coop, proposal) == [{"choices": ["o2"]}]
    # When her first ballot is delivered again, Then her vote stays No
    await send(coop, covoit.dora, first)
    assert await counted(coop, proposal) == [{"choices": ["o2"]}]
    tally = await GovernanceService.of(coop.federation).tally(proposal)
    assert tally.total == {"o1": 0, "o2": 1}


async def test_a_ballot_naming_a_second_roster_of_its_co_op_is_rejected(
    coop: Coop, covoit: Partner
) -> None:
    # Given covoit's roster naming Dora, and a second one (served, never stored) naming her too
    proposal = await open_proposal(coop, covoit)
    await push_roster(coop, covoit, proposal)
    second = covoit.group.sign(covoit.roster(proposal, [covoit.dora.uri], name="again"))
    covoit.origin.serve(second)
    # When Dora votes naming the second, Then it is refused: the published ballots must each
    # name one of the rosters published with the result, or nobody could recount them
    signed = covoit.dora.sign(ballot(covoit.dora, proposal, second["id"]))
    await send(coop, covoit.dora, signed)
    await assert_refused(coop, proposal, signed["id"], "a roster other than its co-op's")


async def test_a_roster_reusing_the_id_of_one_for_another_proposal_is_refused(
    coop: Coop, covoit: Partner
) -> None:
    # Given covoit's roster for a first proposal
    first = await open_proposal(coop, covoit)
    second = await open_proposal(coop, covoit, title="Buy a trailer")
    roster = await push_roster(coop, covoit, first)
    # When covoit pushes a roster for the second proposal under the same id
    reused = covoit.group.sign(covoit.roster(second, [covoit.dora.uri], name=str(first.id)))
    assert reused["id"] == roster["id"]
    create = covoit.group.create(reused, (await coop.group()).uri)
    await coop.receive(covoit.group.remote, create)
    # Then it is refused at once (not retried as a crash) and the second has no covoit roster
    state, error = await inbox_state(coop, create)
    assert state == "failed" and error is not None and "AssertionError" not in error, error
    assert roster["id"] not in await snapshot_uris(coop, second)
