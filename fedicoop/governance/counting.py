"""The count of a proposal's ballots: pure, exact and deterministic, so anyone can recount it.

The verifier recounts the published signed ballots with this same module and must reach the
same result, so nothing here depends on input order, hash seeds or float rounding: ballots
are reduced to one per voter (`latest`), co-ops are visited in sorted order, options in the
proposal's order, and all arithmetic is done on exact fractions, turned into `int` (when
whole) or `float` only in the `Result`.

Kinds, per member (what each co-op's `by_coop` tally always shows):

- consent: each ballot counts for its one option. Any `block` blocks the proposal (Loomio
  semantics: a block stops it). Otherwise agree > disagree passes, agree == disagree is a tie
  (all abstaining too), agree < disagree rejects. Abstentions count toward turnout and quorum
  only. Winners: ("agree",), ("disagree",), ("block",), or ("agree", "disagree") on a tie.
- single: plurality; multiple: approval (each chosen option gets one); score: the sum of the
  scores (the mean is that sum divided by `voters`). The winners are the options with the
  highest total: one is "passed", several are a "tie".
- ranked: instant-runoff. Each round counts every ballot for its highest-ranked continuing
  option; a ballot whose ranked options are all eliminated is exhausted and counts no more.
  An option with more than half of the continuing ballots wins; if every continuing option
  has the same count they tie; otherwise the option with the fewest votes is eliminated. A
  tie for fewest is broken by the fewest votes in the earliest round where the tied options
  differ (round 1 being first preferences), and if they never differ the option listed later
  in the proposal is eliminated. `rounds` holds each round's counts (continuing options only);
  the tally is the final round (eliminated options 0).

Rules, for `total`:

- per_member (default): every counted ballot counts once; `total` is the tally of all ballots.
- per_coop: each co-op that voted has one vote, cast for its internal winner (a co-op whose
  members tie splits its vote equally, e.g. 0.5 / 0.5). Under consent a co-op votes its
  outcome: agree if passed, disagree if rejected, block if blocked, abstain on a tie.
- weighted: a co-op's weight is its eligible members clamped to [floor, cap], so padding a
  roster gains at most `cap`. Each option gets (its co-op tally ÷ the co-op's voters) × weight:
  for consent and single the co-op's votes sum to its weight; for multiple it is the weighted
  approval rate, for score the weighted mean score. Ranked gives the co-op's internal winner
  the whole weight (split on a tie), as per_coop does with weight 1.

A co-op with no voters contributes nothing to `total`. `rounds` is filled for per_member
ranked counts only; under the other rules each co-op's runoff ends in its `by_coop` tally.

Quorum is a fraction of the eligible members (roster sizes): the overall quorum is reached
when voters ≥ overall × all eligible members, the per-co-op quorum when every participating
co-op (every key of `eligible`, voters or not) has voters ≥ per_coop × its members. A quorum
not reached makes the outcome "no_quorum" with no winners; the tallies are still reported.
No ballots at all is "no_votes", whatever the quorum.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from math import isfinite

from fedicoop.errors import Invalid
from fedicoop.governance.ballots import (
    CONSENT_OPTIONS,
    DEFAULT_MAX_SCORE,
    BallotChoice,
    Kind,
    Option,
    check_choice,
)

Number = int | float
JSON_DIGITS = 6


class Rule(StrEnum):
    """Whose vote counts how much in a cross-co-op proposal."""

    PER_MEMBER = "per_member"
    PER_COOP = "per_coop"
    WEIGHTED = "weighted"


class Outcome(StrEnum):
    """What the count decided."""

    PASSED = "passed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    TIE = "tie"
    NO_QUORUM = "no_quorum"
    NO_VOTES = "no_votes"


# How a co-op votes under per_coop/weighted consent: its own outcome, as one consent option.
CONSENT_VOTE = {
    Outcome.PASSED: "agree",
    Outcome.REJECTED: "disagree",
    Outcome.BLOCKED: "block",
    Outcome.TIE: "abstain",
}


@dataclass(frozen=True, slots=True)
class Quorum:
    """Minimum turnout as fractions 0–1 of the eligible members: overall and/or in each co-op."""

    overall: float | None = None
    per_coop: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("overall", self.overall), ("per_coop", self.per_coop)):
            if value is None:
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and isfinite(value) and 0 <= value <= 1):
                raise Invalid(f"the {name} quorum must be a number 0 to 1", field="quorum")


@dataclass(frozen=True, slots=True)
class Weighting:
    """The weighted rule's bounds: a co-op weighs its member count, at least floor, at most cap."""

    floor: int
    cap: int

    def __post_init__(self) -> None:
        for value in (self.floor, self.cap):
            if isinstance(value, bool) or not isinstance(value, int):
                raise Invalid("floor and cap must be whole numbers", field="weighting")
        if not 0 <= self.floor <= self.cap or self.cap < 1:
            raise Invalid("the weighting needs 0 ≤ floor ≤ cap and cap ≥ 1", field="weighting")

    def weight(self, members: int) -> int:
        """Return the weight of a co-op with `members` eligible members."""
        return min(max(members, self.floor), self.cap)


@dataclass(frozen=True, slots=True)
class CastBallot:
    """One ballot as cast: who (actor URI), through which co-op (handle@host), when, and what."""

    voter: str
    coop: str
    cast_at: str  # ISO 8601 / RFC 3339 with an offset, e.g. "2025-03-20T12:00:00Z"
    choice: BallotChoice

    def __post_init__(self) -> None:
        if not self.voter:
            raise Invalid("a ballot needs a voter", field="voter")
        if not self.coop:
            raise Invalid("a ballot needs a co-op", field="coop")
        _instant(self.cast_at)


@dataclass(frozen=True)
class Result:
    """The count of a proposal: tallies overall and per co-op, turnout, quorum and outcome."""

    total: dict[str, Number]  # by option id, in option order, under the proposal's rule
    by_coop: dict[str, dict[str, Number]]  # each co-op's own per-member tally, co-ops sorted
    voters: int
    voters_by_coop: dict[str, int]
    eligible: dict[str, int]
    quorum_reached: bool
    quorum_by_coop: dict[str, bool]
    winners: tuple[str, ...]  # several on a tie; none on no_quorum / no_votes
    outcome: Outcome
    rounds: tuple[dict[str, Number], ...]  # instant-runoff rounds (per_member ranked only)

    def as_json(self) -> dict[str, object]:
        """Return the result as JSON-safe data, floats rounded to 6 places."""
        return {
            "total": _rounded(self.total),
            "by_coop": {coop: _rounded(tally) for coop, tally in self.by_coop.items()},
            "voters": self.voters,
            "voters_by_coop": dict(self.voters_by_coop),
            "eligible": dict(self.eligible),
            "quorum_reached": self.quorum_reached,
            "quorum_by_coop": dict(self.quorum_by_coop),
            "winners": list(self.winners),
            "outcome": str(self.outcome),
            "rounds": [_rounded(counts) for counts in self.rounds],
        }


def latest(ballots: Iterable[CastBallot]) -> list[CastBallot]:
    """Return each voter's last ballot, sorted by voter (a changed ballot replaces the earlier).

    Two ballots of one voter cast at the same instant are ordered by co-op, then by choice,
    and the greater counts: arbitrary, but the same on every recount.
    """
    newest: dict[str, CastBallot] = {}
    for ballot in ballots:
        current = newest.get(ballot.voter)
        if current is None or _cast_order(ballot) > _cast_order(current):
            newest[ballot.voter] = ballot
    return [newest[voter] for voter in sorted(newest)]


def count(
    kind: Kind,
    options: Sequence[Option],
    ballots: Iterable[CastBallot],
    *,
    rule: Rule = Rule.PER_MEMBER,
    eligible: Mapping[str, int],
    quorum: Quorum | None = None,
    weighting: Weighting | None = None,
    max_score: int = DEFAULT_MAX_SCORE,
) -> Result:
    """Count the last ballot of each voter under `rule`; raise Invalid on inconsistent input."""
    option_ids = _check_options(kind, options)
    rosters = _check_eligible(eligible)
    _check_rule(rule, weighting, max_score)
    counted = [_recheck(kind, option_ids, ballot, rosters, max_score) for ballot in latest(ballots)]
    by_coop_ballots: dict[str, list[BallotChoice]] = {coop: [] for coop in rosters}
    for ballot in counted:
        by_coop_ballots[ballot.coop].append(ballot.choice)
    voters_by_coop = {coop: len(choices) for coop, choices in by_coop_ballots.items()}
    for coop, voters in voters_by_coop.items():
        if voters > rosters[coop]:
            message = f"{coop} has {voters} voters but {rosters[coop]} eligible members"
            raise Invalid(message, field="eligible")
    coop_tallies = {
        coop: _tally(kind, option_ids, choices)[0] for coop, choices in by_coop_ballots.items()
    }

    rounds: tuple[dict[str, Fraction], ...] = ()
    if rule is Rule.PER_MEMBER:
        total, rounds = _tally(kind, option_ids, [ballot.choice for ballot in counted])
    else:
        total = dict.fromkeys(option_ids, Fraction(0))
        for coop, tally in coop_tallies.items():
            voters = voters_by_coop[coop]
            if voters == 0:
                continue
            weight = 1 if weighting is None else weighting.weight(rosters[coop])
            if rule is Rule.PER_COOP or kind is Kind.RANKED:
                share = _coop_vote(kind, option_ids, tally, weight)
            else:
                share = {option: votes * weight / voters for option, votes in tally.items()}
            for option, votes in share.items():
                total[option] += votes

    quorum = quorum or Quorum()
    all_voters = len(counted)
    overall_reached = _reached(all_voters, sum(rosters.values()), quorum.overall)
    quorum_by_coop = {
        coop: _reached(voters_by_coop[coop], members, quorum.per_coop)
        for coop, members in rosters.items()
    }
    quorum_reached = overall_reached and all(quorum_by_coop.values())
    if all_voters == 0:
        winners: tuple[str, ...] = ()
        outcome = Outcome.NO_VOTES
    elif not quorum_reached:
        winners, outcome = (), Outcome.NO_QUORUM
    else:
        winners, outcome = _decide(kind, option_ids, total)
    return Result(
        total=_numbers(total),
        by_coop={coop: _numbers(tally) for coop, tally in coop_tallies.items()},
        voters=all_voters,
        voters_by_coop=voters_by_coop,
        eligible=dict(rosters),
        quorum_reached=quorum_reached,
        quorum_by_coop=quorum_by_coop,
        winners=winners,
        outcome=outcome,
        rounds=tuple(_numbers(counts) for counts in rounds),
    )


def instant_runoff(
    option_ids: Sequence[str], rankings: Sequence[Sequence[str]]
) -> tuple[dict[str, int], ...]:
    """Return the rounds of an instant-runoff count, each continuing option's votes."""
    if not rankings:
        return ()
    continuing = list(option_ids)
    rounds: list[dict[str, int]] = []
    while True:
        votes = dict.fromkeys(continuing, 0)
        for ranking in rankings:
            top = next((option for option in ranking if option in votes), None)
            if top is not None:  # else exhausted: every option it ranks is eliminated
                votes[top] += 1
        rounds.append(votes)
        most, fewest = max(votes.values()), min(votes.values())
        if most * 2 > sum(votes.values()) or most == fewest:
            return tuple(rounds)
        continuing.remove(_eliminated(continuing, fewest, rounds))


def _eliminated(continuing: list[str], fewest: int, rounds: list[dict[str, int]]) -> str:
    """Return the option to drop: fewest votes, then fewest in the earliest differing round."""
    tied = [option for option in continuing if rounds[-1][option] == fewest]
    for votes in rounds:
        if len(tied) == 1:
            break
        least = min(votes[option] for option in tied)
        tied = [option for option in tied if votes[option] == least]
    return tied[-1]  # still tied: the option listed later goes


def _tally(
    kind: Kind, option_ids: Sequence[str], choices: Sequence[BallotChoice]
) -> tuple[dict[str, Fraction], tuple[dict[str, Fraction], ...]]:
    """Return one group's per-member tally (all options) and, for ranked, its runoff rounds."""
    tally = dict.fromkeys(option_ids, Fraction(0))
    if kind is Kind.RANKED:
        rounds = instant_runoff(option_ids, [choice.ranking for choice in choices])
        for option, votes in (rounds[-1] if rounds else {}).items():
            tally[option] = Fraction(votes)
        return tally, tuple({o: Fraction(v) for o, v in counts.items()} for counts in rounds)
    for choice in choices:
        if kind is Kind.SCORE:
            for option, score in choice.scores:
                tally[option] += score
        else:
            for option in choice.choices:
                tally[option] += 1
    return tally, ()


def _decide(
    kind: Kind, option_ids: Sequence[str], tally: Mapping[str, Fraction]
) -> tuple[tuple[str, ...], Outcome]:
    """Return the winners and outcome a tally gives (quorum aside)."""
    if kind is Kind.CONSENT:
        if tally["block"] > 0:
            return ("block",), Outcome.BLOCKED
        if tally["agree"] > tally["disagree"]:
            return ("agree",), Outcome.PASSED
        if tally["agree"] < tally["disagree"]:
            return ("disagree",), Outcome.REJECTED
        return ("agree", "disagree"), Outcome.TIE
    most = max(tally[option] for option in option_ids)
    winners = tuple(option for option in option_ids if tally[option] == most)
    return winners, Outcome.PASSED if len(winners) == 1 else Outcome.TIE


def _coop_vote(
    kind: Kind, option_ids: Sequence[str], tally: Mapping[str, Fraction], weight: int
) -> dict[str, Fraction]:
    """Return the vote a co-op casts as a whole: its winner gets `weight`, split on a tie."""
    winners, outcome = _decide(kind, option_ids, tally)
    if kind is Kind.CONSENT:
        return {CONSENT_VOTE[outcome]: Fraction(weight)}
    return {option: Fraction(weight, len(winners)) for option in winners}


def _reached(voters: int, members: int, fraction: float | None) -> bool:
    # Fraction(str(0.1)) is exactly 1/10; Fraction(0.1) is a hair more and would fail 1 in 10.
    return fraction is None or voters >= Fraction(str(fraction)) * members


def _recheck(
    kind: Kind,
    option_ids: Sequence[str],
    ballot: CastBallot,
    rosters: Mapping[str, int],
    max_score: int,
) -> CastBallot:
    """Return the ballot in canonical form, refusing one that does not fit this proposal."""
    if ballot.coop not in rosters:
        raise Invalid(f"{ballot.voter} votes through {ballot.coop}, not taking part", field="coop")
    try:
        choice = check_choice(kind, option_ids, ballot.choice, max_score=max_score)
    except Invalid as error:
        raise Invalid(f"the ballot of {ballot.voter}: {error.message}", field=error.field) from None
    return CastBallot(ballot.voter, ballot.coop, ballot.cast_at, choice)


def _check_options(kind: Kind, options: Sequence[Option]) -> tuple[str, ...]:
    option_ids = tuple(option.id for option in options)
    if not option_ids or len(set(option_ids)) != len(option_ids):
        raise Invalid("a proposal needs options with distinct ids", field="options")
    if kind is Kind.CONSENT and option_ids != CONSENT_OPTIONS:
        raise Invalid(f"consent options must be {', '.join(CONSENT_OPTIONS)}", field="options")
    return option_ids


def _check_eligible(eligible: Mapping[str, int]) -> dict[str, int]:
    if not eligible:
        raise Invalid("name at least one co-op whose members may vote", field="eligible")
    for coop, members in eligible.items():
        if not isinstance(coop, str) or not coop:
            raise Invalid("eligible co-ops are named handle@host", field="eligible")
        if isinstance(members, bool) or not isinstance(members, int) or members < 0:
            raise Invalid(f"{coop} needs a whole number of eligible members", field="eligible")
    return {coop: eligible[coop] for coop in sorted(eligible)}


def _check_rule(rule: Rule, weighting: Weighting | None, max_score: int) -> None:
    if rule is Rule.WEIGHTED and weighting is None:
        raise Invalid("the weighted rule needs a floor and a cap", field="weighting")
    if rule is not Rule.WEIGHTED and weighting is not None:
        raise Invalid(f"a weighting applies to the weighted rule, not {rule}", field="weighting")
    if isinstance(max_score, bool) or not isinstance(max_score, int) or max_score < 1:
        raise Invalid("max_score must be a whole number ≥ 1", field="max_score")


def _instant(cast_at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(cast_at)
    except (TypeError, ValueError):
        raise Invalid(f"cast_at is not an ISO 8601 time: {cast_at!r}", field="cast_at") from None
    if moment.utcoffset() is None:
        raise Invalid("cast_at must carry a time zone offset", field="cast_at")
    return moment


def _cast_order(
    ballot: CastBallot,
) -> tuple[datetime, str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, int], ...]]:
    choice = ballot.choice
    return (_instant(ballot.cast_at), ballot.coop, choice.choices, choice.ranking, choice.scores)


def _numbers(tally: Mapping[str, Fraction]) -> dict[str, Number]:
    return {
        option: int(votes) if votes.denominator == 1 else float(votes)
        for option, votes in tally.items()
    }


def _rounded(tally: Mapping[str, Number]) -> dict[str, Number]:
    return {
        option: round(votes, JSON_DIGITS) if isinstance(votes, float) else votes
        for option, votes in tally.items()
    }
