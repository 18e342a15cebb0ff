"""Repository of proposals, the roster snapshots they were voted on, and their ballots."""

import json
from dataclasses import dataclass, replace
from typing import Any

from fedicoop import clock
from fedicoop.errors import Conflict
from fedicoop.ids import new_id
from fedicoop.storage.database import Executor


@dataclass(frozen=True, kw_only=True)
class ProposalRecord:
    """A proposal as stored: ours (we count it) or a partner's (we mirror its results)."""

    id: int
    uri: str
    local: bool
    group_id: int
    proposer_uri: str | None
    title: str
    body: str
    kind: str
    options: list[dict[str, str]]
    coops: list[str]  # Group uris of every participating co-op, the host's first
    rule: str
    quorum: dict[str, Any] | None
    weighting: dict[str, Any] | None
    max_choices: int | None
    max_score: int
    secret: bool
    hidden_results: bool
    opened_at: str
    closes_at: str
    closed_at: str | None
    status: str
    outcome: str
    result: dict[str, Any] | None
    reminded: bool = False
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class SnapshotRecord:
    """A co-op's signed member list for one proposal."""

    id: int
    uri: str
    proposal_id: int
    group_uri: str
    members: list[str]
    size: int
    document: str
    created_at: str


@dataclass(frozen=True)
class BallotRecord:
    """One ballot as received (the signed document kept as it came)."""

    id: int
    uri: str
    proposal_id: int
    voter_uri: str
    coop_uri: str
    choice: dict[str, Any]
    source: str  # fedicoop (signed ballot) or poll (a plain Mastodon poll answer)
    document: str | None
    state: str  # counted, superseded, pending (ours, sent), rejected
    reason: str
    cast_at: str


_PROPOSAL_COLUMNS = (
    "id, uri, local, group_id, proposer_uri, title, body, kind, options, coops, rule, quorum, "
    "weighting, max_choices, max_score, secret, hidden_results, opened_at, closes_at, closed_at, "
    "status, outcome, result, reminded, created_at, updated_at"
)
_JSON = ("options", "coops", "quorum", "weighting", "result")
_BOOL = ("local", "secret", "hidden_results", "reminded")
_BALLOT_COLUMNS = (
    "id, uri, proposal_id, voter_uri, coop_uri, choice, source, document, state, reason, cast_at"
)


def _proposal(row: dict[str, Any]) -> ProposalRecord:
    values = dict(row)
    for name in _JSON:
        values[name] = json.loads(values[name]) if values[name] is not None else None
    for name in _BOOL:
        values[name] = bool(values[name])
    return ProposalRecord(**values)


def _proposal_values(proposal: ProposalRecord) -> list[Any]:
    values = []
    for name in (c.strip() for c in _PROPOSAL_COLUMNS.split(",")):
        value = getattr(proposal, name)
        if name in _JSON:
            value = json.dumps(value) if value is not None else None
        elif name in _BOOL:
            value = int(value)
        values.append(value)
    return values


def _ballot(row: dict[str, Any]) -> BallotRecord:
    values = dict(row)
    values["choice"] = json.loads(values["choice"])
    return BallotRecord(**values)


class ProposalRepository:
    """Stored proposals."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(self, proposal: ProposalRecord) -> ProposalRecord:
        """Store a proposal (ours, or a partner's the first time we hear of it)."""
        stamp = clock.now_text()
        stored = replace(proposal, created_at=stamp, updated_at=stamp)
        marks = ", ".join(f"${i}" for i in range(1, 27))
        await self.db.execute(
            f"INSERT INTO proposals ({_PROPOSAL_COLUMNS}) VALUES ({marks})",
            *_proposal_values(stored),
        )
        return stored

    async def get(self, proposal_id: int) -> ProposalRecord | None:
        """Return a proposal by local id."""
        row = await self.db.fetchrow(
            f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE id = $1", proposal_id
        )
        return _proposal(row) if row else None

    async def by_uri(self, uri: str) -> ProposalRecord | None:
        """Return a proposal by its ActivityPub id."""
        row = await self.db.fetchrow(
            f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE uri = $1", uri
        )
        return _proposal(row) if row else None

    async def recent(self, status: str | None = None, limit: int = 100) -> list[ProposalRecord]:
        """Return proposals newest first (optionally only open or closed ones)."""
        if status is None:
            rows = await self.db.fetch(
                f"SELECT {_PROPOSAL_COLUMNS} FROM proposals ORDER BY id DESC LIMIT $1", limit
            )
        else:
            rows = await self.db.fetch(
                f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE status = $1 "
                "ORDER BY id DESC LIMIT $2",
                status,
                limit,
            )
        return [_proposal(row) for row in rows]

    async def due(self, now: str) -> list[ProposalRecord]:
        """Return our open proposals whose closing time has come."""
        rows = await self.db.fetch(
            f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE local = 1 AND status = 'open' "
            "AND closes_at <= $1",
            now,
        )
        return [_proposal(row) for row in rows]

    async def closing_soon(self, before: str) -> list[ProposalRecord]:
        """Return open proposals closing before `before` whose members were not reminded."""
        rows = await self.db.fetch(
            f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE status = 'open' AND reminded = 0 "
            "AND closes_at <= $1",
            before,
        )
        return [_proposal(row) for row in rows]

    async def mark_reminded(self, proposal_id: int) -> bool:
        """Record the 24-hour reminder; False if another worker sent it first."""
        return (
            await self.db.execute(
                "UPDATE proposals SET reminded = 1 WHERE id = $1 AND reminded = 0", proposal_id
            )
            == 1
        )

    async def close(
        self, proposal_id: int, result: dict[str, Any], outcome: str, closed_at: str
    ) -> bool:
        """Close a proposal with its result; False when it was already closed."""
        changed = await self.db.execute(
            "UPDATE proposals SET status = 'closed', result = $2, outcome = $3, closed_at = $4, "
            "updated_at = $4 WHERE id = $1 AND status = 'open'",
            proposal_id,
            json.dumps(result),
            outcome,
            closed_at,
        )
        return changed == 1

    async def mirror_result(
        self,
        proposal_id: int,
        status: str,
        result: dict[str, Any] | None,
        outcome: str,
        closed_at: str | None,
    ) -> None:
        """Store what a partner's host published about its proposal."""
        await self.db.execute(
            "UPDATE proposals SET status = $2, result = $3, outcome = $4, closed_at = $5, "
            "updated_at = $6 WHERE id = $1 AND local = 0",
            proposal_id,
            status,
            json.dumps(result) if result is not None else None,
            outcome,
            closed_at,
            clock.now_text(),
        )


class SnapshotRepository:
    """Roster snapshots, one per co-op per proposal."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(
        self, uri: str, proposal_id: int, group_uri: str, members: list[str], document: str
    ) -> SnapshotRecord:
        """Store a snapshot; an existing one for the same co-op and proposal wins."""
        record = SnapshotRecord(
            new_id(), uri, proposal_id, group_uri, members, len(members), document, clock.now_text()
        )
        await self.db.execute(
            "INSERT INTO roster_snapshots (id, uri, proposal_id, group_uri, members, size, "
            "document, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT DO NOTHING",
            record.id,
            uri,
            proposal_id,
            group_uri,
            json.dumps(members),
            record.size,
            document,
            record.created_at,
        )
        stored = await self.for_coop(proposal_id, group_uri)
        if stored is None:  # the uri is taken, by a snapshot for another proposal
            raise Conflict(f"the roster snapshot {uri} belongs to another proposal")
        return stored

    async def for_proposal(self, proposal_id: int) -> list[SnapshotRecord]:
        """Return every co-op's snapshot for a proposal."""
        rows = await self.db.fetch(
            "SELECT id, uri, proposal_id, group_uri, members, size, document, created_at "
            "FROM roster_snapshots WHERE proposal_id = $1 ORDER BY id",
            proposal_id,
        )
        return [_snapshot(row) for row in rows]

    async def for_coop(self, proposal_id: int, group_uri: str) -> SnapshotRecord | None:
        """Return one co-op's snapshot for a proposal."""
        row = await self.db.fetchrow(
            "SELECT id, uri, proposal_id, group_uri, members, size, document, created_at "
            "FROM roster_snapshots WHERE proposal_id = $1 AND group_uri = $2",
            proposal_id,
            group_uri,
        )
        return _snapshot(row) if row else None

    async def by_uri(self, uri: str) -> SnapshotRecord | None:
        """Return a snapshot by its id."""
        row = await self.db.fetchrow(
            "SELECT id, uri, proposal_id, group_uri, members, size, document, created_at "
            "FROM roster_snapshots WHERE uri = $1",
            uri,
        )
        return _snapshot(row) if row else None


def _snapshot(row: dict[str, Any]) -> SnapshotRecord:
    values = dict(row)
    values["members"] = json.loads(values["members"])
    return SnapshotRecord(**values)


class BallotRepository:
    """Ballots: every one kept, the latest per voter counted."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(self, ballot: BallotRecord) -> bool:
        """Store a ballot (idempotent by uri); it supersedes the voter's earlier counted ones."""
        added = await self.db.execute(
            f"INSERT INTO ballots ({_BALLOT_COLUMNS}) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (uri) DO NOTHING",
            ballot.id,
            ballot.uri,
            ballot.proposal_id,
            ballot.voter_uri,
            ballot.coop_uri,
            json.dumps(ballot.choice),
            ballot.source,
            ballot.document,
            ballot.state,
            ballot.reason,
            ballot.cast_at,
        )
        if added == 1 and ballot.state == "counted":
            # The latest cast counts, whatever order deliveries arrive in: a retried older
            # ballot landing after a newer one is superseded at once.
            newer = await self.db.fetchval(
                "SELECT 1 FROM ballots WHERE proposal_id = $1 AND voter_uri = $2 AND "
                "state = 'counted' AND uri <> $3 AND cast_at > $4",
                ballot.proposal_id,
                ballot.voter_uri,
                ballot.uri,
                ballot.cast_at,
            )
            if newer:
                await self.set_state(ballot.uri, "superseded")
                return True
            await self.db.execute(
                "UPDATE ballots SET state = 'superseded' WHERE proposal_id = $1 AND "
                "voter_uri = $2 AND state = 'counted' AND uri <> $3",
                ballot.proposal_id,
                ballot.voter_uri,
                ballot.uri,
            )
        return added == 1

    async def set_state(self, uri: str, state: str, reason: str = "") -> None:
        """Mark one of our ballots counted or rejected (the host's answer)."""
        await self.db.execute(
            "UPDATE ballots SET state = $2, reason = $3 WHERE uri = $1", uri, state, reason
        )

    async def counted(self, proposal_id: int) -> list[BallotRecord]:
        """Return the ballots that count (the latest per voter), oldest first."""
        rows = await self.db.fetch(
            f"SELECT {_BALLOT_COLUMNS} FROM ballots WHERE proposal_id = $1 AND state = 'counted' "
            "ORDER BY cast_at, id",
            proposal_id,
        )
        return [_ballot(row) for row in rows]

    async def latest_of(self, proposal_id: int, voter_uri: str) -> BallotRecord | None:
        """Return a voter's latest ballot on a proposal, whatever its state."""
        row = await self.db.fetchrow(
            f"SELECT {_BALLOT_COLUMNS} FROM ballots WHERE proposal_id = $1 AND voter_uri = $2 "
            "ORDER BY cast_at DESC, id DESC LIMIT 1",
            proposal_id,
            voter_uri,
        )
        return _ballot(row) if row else None

    async def by_uri(self, uri: str) -> BallotRecord | None:
        """Return a ballot by its id."""
        row = await self.db.fetchrow(f"SELECT {_BALLOT_COLUMNS} FROM ballots WHERE uri = $1", uri)
        return _ballot(row) if row else None
