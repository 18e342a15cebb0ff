"""Counting: every kind under every rule, ties, blocks, quorum, changed ballots, determinism."""

import json
import re
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedicoop.errors import Invalid
from fedicoop.governance.ballots import BallotChoice, Kind, choice_json, options_for, parse_choice
from fedicoop.governance.counting import (
    CastBallot,
    Outcome,
    Quorum,
    Result,
    Rule,
    Weighting,
    count,
    instant_runoff,
    latest,
)

A, B, C = "alpha@a.example", "beta@b.example", "gamma@c.example"
CONSENT = options_for(Kind.CONSENT, [])
THREE = options_for(Kind.SINGLE, ["Red", "Green", "Blue"])
FOUR = options_for(Kind.RANKED, ["North", "East", "South", "West"])
NOON = "2026-01-01T12:00:00Z"

Answer = str | Sequence[str] | Mapping[str, int]


def choice(kind: Kind, answer: Answer) -> BallotChoice:
    """Return the choice an answer means: an id, a list (multiple/ranked) or scores."""
    ids = [option.id for option in (CONSENT if kind is Kind.CONSENT else FOUR)]
    if kind is Kind.RANKED:
        return parse_choice(kind, ids, {"ranking": list(answer)})
    if kind is Kind.SCORE:
        return parse_choice(kind, ids, {"scores": dict(answer)})  # type: ignore[arg-type]
    if kind is Kind.MULTIPLE:
        return parse_choice(kind, ids, {"choices": list(answer)})
    return parse_choice(kind, ids, {"choices": [answer]})


def cast(kind: Kind, coop: str, *answers: Answer, first: int = 0) -> list[CastBallot]:
    """Return one ballot per answer, from members m<first>, m<first+1>… of `coop`."""
    host = coop.split("@")[1]
    return [
        CastBallot(f"https://{host}/users/m{first + n}", coop, NOON, choice(kind, answer))
        for n, answer in enumerate(answers)
    ]


def options_of(kind: Kind) -> list:  # type: ignore[type-arg]
    return CONSENT if kind is Kind.CONSENT else THREE


def tally(*pairs: tuple[str, float], kind: Kind = Kind.SINGLE) -> dict[str, float]:
    """Return a full tally: every option of the kind, 0 unless given."""
    return {option.id: 0 for option in options_of(kind)} | dict(pairs)


# Every kind under every rule, one scenario: co-op A (6 members, 3 vote), B (2 members, 2 vote).
# Weighting floor = cap = 6, so each A ballot weighs 2 and each B ballot 3.
SCENARIO: dict[Kind, tuple[list[Answer], list[Answer]]] = {
    Kind.CONSENT: (["agree", "agree", "disagree"], ["disagree", "disagree"]),
    Kind.SINGLE: (["o1", "o1", "o2"], ["o2", "o3"]),
    Kind.MULTIPLE: ([["o1", "o2"], ["o1"], ["o2", "o3"]], [["o3"], ["o3", "o1"]]),
    Kind.RANKED: ([["o1", "o2"], ["o1", "o3"], ["o2", "o1"]], [["o3", "o2"], ["o2", "o3"]]),
    Kind.SCORE: (
        [{"o1": 5, "o2": 1}, {"o1": 3}, {"o2": 4, "o3": 2}],
        [{"o3": 5}, {"o3": 1, "o2": 2}],
    ),
}
AGREE, DISAGREE = "agree", "disagree"
EXPECTED: dict[tuple[Kind, Rule], tuple[dict[str, float], Outcome, tuple[str, ...]]] = {
    (Kind.CONSENT, Rule.PER_MEMBER): ({AGREE: 2, DISAGREE: 3}, Outcome.REJECTED, (DISAGREE,)),
    (Kind.CONSENT, Rule.PER_COOP): ({AGREE: 1, DISAGREE: 1}, Outcome.TIE, (AGREE, DISAGREE)),
    (Kind.CONSENT, Rule.WEIGHTED): ({AGREE: 4, DISAGREE: 8}, Outcome.REJECTED, (DISAGREE,)),
    (Kind.SINGLE, Rule.PER_MEMBER): ({"o1": 2, "o2": 2, "o3": 1}, Outcome.TIE, ("o1", "o2")),
    (Kind.SINGLE, Rule.PER_COOP): ({"o1": 1, "o2": 0.5, "o3": 0.5}, Outcome.PASSED, ("o1",)),
    (Kind.SINGLE, Rule.WEIGHTED): ({"o1": 4, "o2": 5, "o3": 3}, Outcome.PASSED, ("o2",)),
    (Kind.MULTIPLE, Rule.PER_MEMBER): ({"o1": 3, "o2": 2, "o3": 3}, Outcome.TIE, ("o1", "o3")),
    (Kind.MULTIPLE, Rule.PER_COOP): ({"o1": 0.5, "o2": 0.5, "o3": 1}, Outcome.PASSED, ("o3",)),
    (Kind.MULTIPLE, Rule.WEIGHTED): ({"o1": 7, "o2": 4, "o3": 8}, Outcome.PASSED, ("o3",)),
    (Kind.RANKED, Rule.PER_MEMBER): ({"o1": 2, "o2": 3}, Outcome.PASSED, ("o2",)),
    (Kind.RANKED, Rule.PER_COOP): ({"o1": 1, "o2": 0.5, "o3": 0.5}, Outcome.PASSED, ("o1",)),
    (Kind.RANKED, Rule.WEIGHTED): ({"o1": 6, "o2": 3, "o3": 3}, Outcome.PASSED, ("o1",)),
    (Kind.SCORE, Rule.PER_MEMBER): ({"o1": 8, "o2": 7, "o3": 8}, Outcome.TIE, ("o1", "o3")),
    (Kind.SCORE, Rule.PER_COOP): ({"o1": 1, "o3": 1}, Outcome.TIE, ("o1", "o3")),
    (Kind.SCORE, Rule.WEIGHTED): ({"o1": 16, "o2": 16, "o3": 22}, Outcome.PASSED, ("o3",)),
}


def scenario(kind: Kind, rule: Rule) -> Result:
    in_a, in_b = SCENARIO[kind]
    ballots = cast(kind, A, *in_a) + cast(kind, B, *in_b)
    weighting = Weighting(floor=6, cap=6) if rule is Rule.WEIGHTED else None
    return count(
        kind, options_of(kind), ballots, rule=rule, eligible={A: 6, B: 2}, weighting=weighting
    )


@pytest.mark.parametrize("rule", list(Rule))
@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_under_every_rule(kind: Kind, rule: Rule) -> None:
    # Given the scenario's ballots, When counted under the rule
    result = scenario(kind, rule)

    # Then the total, outcome and winners are as worked out by hand
    total, outcome, winners = EXPECTED[kind, rule]
    assert result.total == tally(*total.items(), kind=kind)
    assert (result.outcome, result.winners) == (outcome, winners)
    assert (result.voters, result.voters_by_coop, result.eligible) == (
        5,
        {A: 3, B: 2},
        {A: 6, B: 2},
    )
    assert result.quorum_reached and result.quorum_by_coop == {A: True, B: True}
    # by_coop is each co-op's own per-member tally whatever the rule
    assert result.by_coop == scenario(kind, Rule.PER_MEMBER).by_coop
    assert (len(result.rounds) == 2) is (kind is Kind.RANKED and rule is Rule.PER_MEMBER)


def test_by_coop_holds_each_coops_own_tally() -> None:
    assert scenario(Kind.SINGLE, Rule.PER_COOP).by_coop == {
        A: tally(("o1", 2), ("o2", 1)),
        B: tally(("o2", 1), ("o3", 1)),
    }
    # ranked: each co-op's own runoff, final round (A: o1 has a majority; B: o3 and o2 tie)
    assert scenario(Kind.RANKED, Rule.PER_COOP).by_coop == {
        A: tally(("o1", 2), ("o2", 1)),
        B: tally(("o2", 1), ("o3", 1)),
    }


# Consent


def consent(*ballots: CastBallot, rule: Rule = Rule.PER_MEMBER) -> Result:
    return count(Kind.CONSENT, CONSENT, ballots, rule=rule, eligible={A: 20, B: 20, C: 20})


def test_consent_passes_when_agree_outnumbers_disagree_and_abstain_only_adds_turnout() -> None:
    result = consent(*cast(Kind.CONSENT, A, "agree", "agree", "disagree", "abstain", "abstain"))
    assert result.outcome is Outcome.PASSED and result.winners == ("agree",)
    assert result.total == {"agree": 2, "abstain": 2, "disagree": 1, "block": 0}
    assert result.voters == 5


def test_one_block_stops_a_proposal_everyone_else_agrees_to() -> None:
    agreeing = cast(Kind.CONSENT, A, *["agree"] * 12)
    result = consent(*agreeing, *cast(Kind.CONSENT, B, "block"))
    assert (result.outcome, result.winners) == (Outcome.BLOCKED, ("block",))
    assert result.total["block"] == 1


@pytest.mark.parametrize("rule", [Rule.PER_COOP, Rule.WEIGHTED])
def test_a_block_in_one_coop_blocks_under_the_other_rules_too(rule: Rule) -> None:
    # Given co-op B agrees 9 to 1 but one member blocks
    ballots = cast(Kind.CONSENT, A, "agree", "agree") + cast(
        Kind.CONSENT, B, *["agree"] * 9, "block"
    )
    result = count(
        Kind.CONSENT,
        CONSENT,
        ballots,
        rule=rule,
        eligible={A: 2, B: 10},
        weighting=Weighting(1, 10) if rule is Rule.WEIGHTED else None,
    )

    # Then B votes block (per_coop) or carries a share of block (weighted): blocked
    assert result.outcome is Outcome.BLOCKED
    assert result.total["block"] == 1


def test_consent_ties_and_rejections() -> None:
    tie = consent(*cast(Kind.CONSENT, A, "agree", "disagree", "abstain"))
    assert (tie.outcome, tie.winners) == (Outcome.TIE, ("agree", "disagree"))
    everyone_abstains = consent(*cast(Kind.CONSENT, A, "abstain", "abstain"))
    assert everyone_abstains.outcome is Outcome.TIE
    rejected = consent(*cast(Kind.CONSENT, A, "agree", "disagree", "disagree"))
    assert (rejected.outcome, rejected.winners) == (Outcome.REJECTED, ("disagree",))


def test_per_coop_consent_each_coop_votes_its_own_outcome() -> None:
    # Given A passes, B rejects, C ties (so abstains as a co-op)
    ballots = (
        cast(Kind.CONSENT, A, "agree", "agree", "disagree")
        + cast(Kind.CONSENT, B, "disagree", "abstain")
        + cast(Kind.CONSENT, C, "agree", "disagree")
    )
    result = consent(*ballots, rule=Rule.PER_COOP)
    assert result.total == {"agree": 1, "abstain": 1, "disagree": 1, "block": 0}
    assert result.outcome is Outcome.TIE


# Plurality, approval, score


def single(ballots: list[CastBallot], **options: object) -> Result:
    return count(Kind.SINGLE, THREE, ballots, eligible={A: 30, B: 30, C: 30}, **options)  # type: ignore[arg-type]


def test_plurality_wins_and_an_even_split_is_a_tie() -> None:
    won = single(cast(Kind.SINGLE, A, "o2", "o2", "o1", "o3"))
    assert (won.outcome, won.winners, won.total) == (
        Outcome.PASSED,
        ("o2",),
        {"o1": 1, "o2": 2, "o3": 1},
    )
    tied = single(cast(Kind.SINGLE, A, "o3", "o1", "o3", "o1"))
    assert (tied.outcome, tied.winners) == (Outcome.TIE, ("o1", "o3"))


def test_per_coop_lets_two_small_coops_outvote_one_large_one() -> None:
    # Given A (5 members for o1) and two co-ops of one member each for o2
    ballots = (
        cast(Kind.SINGLE, A, *["o1"] * 5) + cast(Kind.SINGLE, B, "o2") + cast(Kind.SINGLE, C, "o2")
    )

    # Then per member o1 wins, per co-op o2 wins
    assert single(ballots).winners == ("o1",)
    per_coop = single(ballots, rule=Rule.PER_COOP)
    assert (per_coop.winners, per_coop.total) == (("o2",), {"o1": 1, "o2": 2, "o3": 0})


def test_internal_ties_split_a_coops_vote_exactly() -> None:
    # Given three co-ops each split evenly three ways
    ballots = [ballot for coop in (A, B, C) for ballot in cast(Kind.SINGLE, coop, "o1", "o2", "o3")]

    # When counted per co-op, each option gets 1/3 three times: exactly 1, an exact tie
    result = single(ballots, rule=Rule.PER_COOP)
    assert result.total == {"o1": 1, "o2": 1, "o3": 1}
    assert all(type(votes) is int for votes in result.total.values())
    assert (result.outcome, result.winners) == (Outcome.TIE, ("o1", "o2", "o3"))


def test_a_coop_with_no_voters_contributes_nothing() -> None:
    result = single(
        cast(Kind.SINGLE, A, "o1", "o2") + cast(Kind.SINGLE, B, "o3"), rule=Rule.PER_COOP
    )
    assert sum(result.total.values()) == 2
    assert result.voters_by_coop[C] == 0
    assert result.by_coop[C] == {"o1": 0, "o2": 0, "o3": 0}


def test_approval_gives_each_chosen_option_one() -> None:
    ballots = cast(Kind.MULTIPLE, A, ["o1", "o2"], ["o2"], ["o2", "o3"])
    result = count(Kind.MULTIPLE, THREE, ballots, eligible={A: 3})
    assert result.total == {"o1": 1, "o2": 3, "o3": 1}
    assert result.winners == ("o2",)


def test_score_sums_and_all_zero_scores_tie_every_option() -> None:
    ballots = cast(Kind.SCORE, A, {"o1": 5, "o3": 2}, {"o1": 1, "o2": 4}, {"o3": 3})
    result = count(Kind.SCORE, THREE, ballots, eligible={A: 3})
    assert result.total == {"o1": 6, "o2": 4, "o3": 5}
    assert result.winners == ("o1",)
    zeros = count(Kind.SCORE, THREE, cast(Kind.SCORE, A, {"o2": 0}), eligible={A: 3})
    assert (zeros.outcome, zeros.winners) == (Outcome.TIE, ("o1", "o2", "o3"))


# Instant-runoff


def ranked(ballots: list[CastBallot]) -> Result:
    return count(Kind.RANKED, FOUR, ballots, eligible={A: 50})


def test_a_first_round_majority_wins_in_one_round() -> None:
    result = ranked(cast(Kind.RANKED, A, ["o1"], ["o1", "o2"], ["o2"]))
    assert result.rounds == ({"o1": 2, "o2": 1, "o3": 0, "o4": 0},)
    assert result.winners == ("o1",)


def test_transfers_can_beat_the_plurality_leader() -> None:
    # Given o1 leads on first preferences but o3's voters prefer o2 next
    ballots = cast(Kind.RANKED, A, *[["o1"]] * 4, *[["o2", "o3"]] * 3, *[["o3", "o2"]] * 2)
    result = count(Kind.RANKED, FOUR[:3], ballots, eligible={A: 9})

    # Then o3 goes, its ballots move to o2, and o2 has a majority
    assert result.rounds == ({"o1": 4, "o2": 3, "o3": 2}, {"o1": 4, "o2": 5})
    assert result.total == {"o1": 4, "o2": 5, "o3": 0}
    assert (result.outcome, result.winners) == (Outcome.PASSED, ("o2",))


def test_exhausted_ballots_drop_out_and_the_majority_is_of_continuing_ballots() -> None:
    ballots = cast(Kind.RANKED, A, *[["o1"]] * 4, *[["o2"]] * 3, *[["o3"]] * 2)
    result = count(Kind.RANKED, FOUR[:3], ballots, eligible={A: 9})
    # 4 of 9 is no majority; once o3's two ballots exhaust, 4 of 7 is
    assert result.rounds == ({"o1": 4, "o2": 3, "o3": 2}, {"o1": 4, "o2": 3})
    assert result.winners == ("o1",) and result.voters == 9


def test_an_elimination_tie_goes_against_fewer_votes_in_the_earliest_round() -> None:
    # Given round 1: o1 6, o2 3, o3 4, o4 2; o4 goes and one of its ballots moves to o2,
    # so round 2 ties o2 and o3 at 4 for fewest. o2 had fewer in round 1, so o2 goes
    # (option order alone would have dropped o3, and o1 would have won).
    ballots = cast(
        Kind.RANKED,
        A,
        *[["o1"]] * 6,
        *[["o2", "o3"]] * 3,
        *[["o3"]] * 4,
        ["o4", "o2"],
        ["o4"],
    )
    result = ranked(ballots)
    assert result.rounds == (
        {"o1": 6, "o2": 3, "o3": 4, "o4": 2},
        {"o1": 6, "o2": 4, "o3": 4},
        {"o1": 6, "o3": 7},
    )
    assert result.winners == ("o3",)


def test_an_elimination_tie_that_never_differs_drops_the_option_listed_later() -> None:
    # Given o3 and o4 tie for fewest in round 1 (no earlier round): o4 goes
    ballots = cast(Kind.RANKED, A, ["o1"], ["o1"], ["o2"], ["o2"], ["o3", "o1"], ["o4", "o3"])
    result = ranked(ballots)
    assert result.rounds[1] == {"o1": 2, "o2": 2, "o3": 2}
    # Then every continuing option has 2: a three-way tie
    assert (result.outcome, result.winners) == (Outcome.TIE, ("o1", "o2", "o3"))


def test_a_final_round_tie_between_two_options() -> None:
    result = ranked(cast(Kind.RANKED, A, ["o2", "o1"], ["o2"], ["o4", "o3"], ["o4"]))
    assert result.rounds == (
        {"o1": 0, "o2": 2, "o3": 0, "o4": 2},
        {"o1": 0, "o2": 2, "o4": 2},
        {"o2": 2, "o4": 2},
    )
    assert (result.outcome, result.winners) == (Outcome.TIE, ("o2", "o4"))


def test_instant_runoff_without_ballots_has_no_rounds() -> None:
    assert instant_runoff(["o1", "o2"], []) == ()


# Weighting


def test_weight_is_membership_clamped_between_floor_and_cap() -> None:
    weighting = Weighting(floor=10, cap=100)
    assert [weighting.weight(n) for n in (0, 3, 10, 57, 100, 10**6)] == [10, 10, 10, 57, 100, 100]


def weighted(ballots: list[CastBallot], eligible: dict[str, int]) -> Result:
    return count(
        Kind.SINGLE,
        THREE,
        ballots,
        rule=Rule.WEIGHTED,
        eligible=eligible,
        weighting=Weighting(floor=10, cap=100),
    )


def test_weighted_scales_each_coops_votes_to_its_weight() -> None:
    # Given A weighs 100 (cap), B 10 (floor), C 50 (its members)
    ballots = (
        cast(Kind.SINGLE, A, "o1", "o1", "o1", "o2")
        + cast(Kind.SINGLE, B, "o2", "o2")
        + cast(Kind.SINGLE, C, "o1", "o3", "o3")
    )
    result = weighted(ballots, {A: 1000, B: 3, C: 50})
    assert result.total == pytest.approx({"o1": 75 + 50 / 3, "o2": 25 + 10, "o3": 100 / 3})
    assert result.winners == ("o1",)
    assert result.as_json()["total"] == {"o1": 91.666667, "o2": 35, "o3": 33.333333}


def test_a_padded_roster_gains_at_most_the_cap() -> None:
    # Given A claims a million members against C's honest 150, both over the cap
    ballots = cast(Kind.SINGLE, A, "o1") + cast(Kind.SINGLE, C, "o2", "o2", "o3")
    padded = weighted(ballots, {A: 10**6, C: 150})
    honest = weighted(ballots, {A: 150, C: 150})

    # Then padding changed nothing: each weighs the cap
    assert (
        padded.total
        == honest.total
        == {"o1": 100, "o2": pytest.approx(200 / 3), "o3": pytest.approx(100 / 3)}
    )


def test_a_tiny_coop_weighs_the_floor() -> None:
    result = weighted(cast(Kind.SINGLE, B, "o3") + cast(Kind.SINGLE, A, "o1", "o2"), {A: 12, B: 1})
    assert result.total == {"o1": 6, "o2": 6, "o3": 10}


# Quorum


def test_overall_quorum_not_reached_still_reports_the_tallies() -> None:
    ballots = cast(Kind.SINGLE, A, "o1", "o1", "o2", "o2") + cast(Kind.SINGLE, B, "o1")
    short = count(Kind.SINGLE, THREE, ballots[:4], eligible={A: 5, B: 5}, quorum=Quorum(0.5))
    assert (short.outcome, short.winners, short.quorum_reached) == (Outcome.NO_QUORUM, (), False)
    assert short.total == {"o1": 2, "o2": 2, "o3": 0}
    # Exactly half is enough
    met = count(Kind.SINGLE, THREE, ballots, eligible={A: 5, B: 5}, quorum=Quorum(0.5))
    assert (met.outcome, met.winners, met.quorum_reached) == (Outcome.PASSED, ("o1",), True)


def test_a_decimal_quorum_is_exact() -> None:
    # 1 of 10 meets a 0.1 quorum even though 0.1 is not exact in binary
    result = count(
        Kind.SINGLE, THREE, cast(Kind.SINGLE, A, "o1"), eligible={A: 10}, quorum=Quorum(0.1)
    )
    assert result.quorum_reached


def test_per_coop_quorum_needs_every_participating_coop() -> None:
    # Given A turns out 6 of 10, B 1 of 10 and C nobody; 35% overall
    ballots = cast(Kind.SINGLE, A, *["o1"] * 6) + cast(Kind.SINGLE, B, "o2")
    eligible = {A: 10, B: 10, C: 0}
    result = count(Kind.SINGLE, THREE, ballots, eligible=eligible, quorum=Quorum(0.3, 0.5))
    assert result.quorum_by_coop == {A: True, B: False, C: True}
    assert result.outcome is Outcome.NO_QUORUM
    # And a co-op of members where nobody voted fails too
    eligible[C] = 4
    quiet = count(Kind.SINGLE, THREE, ballots[:6], eligible=eligible, quorum=Quorum(per_coop=0.5))
    assert quiet.quorum_by_coop == {A: True, B: False, C: False}


def test_no_ballots_is_no_votes_whatever_the_quorum() -> None:
    for quorum in (None, Quorum(0.5, 0.5)):
        result = count(Kind.CONSENT, CONSENT, [], eligible={A: 4}, quorum=quorum)
        assert (result.outcome, result.winners, result.voters) == (Outcome.NO_VOTES, (), 0)
        assert result.total == {"agree": 0, "abstain": 0, "disagree": 0, "block": 0}
    assert count(Kind.RANKED, FOUR, [], eligible={A: 4}).rounds == ()


# Changed ballots


def test_the_last_ballot_of_a_voter_counts() -> None:
    # Given a member votes o1, then changes to o2 (given in any order, any offset)
    (first,) = cast(Kind.SINGLE, A, "o1")
    changed = CastBallot(first.voter, A, "2026-01-01T14:30:00+02:00", choice(Kind.SINGLE, "o2"))
    stale = CastBallot(first.voter, A, "2026-01-01T13:59:59+02:00", choice(Kind.SINGLE, "o3"))
    for ballots in ([first, stale, changed], [changed, first, stale]):
        result = single(ballots)
        assert result.total == {"o1": 0, "o2": 1, "o3": 0}
        assert result.voters == 1
    # "13:59:59+02:00" sorts after "12:00:00Z" as text but is earlier: times are compared
    assert latest([first, stale]) == [first]


def test_ballots_cast_at_the_same_instant_resolve_the_same_way_in_any_order() -> None:
    one = CastBallot("https://a.example/users/x", A, NOON, choice(Kind.SINGLE, "o1"))
    two = CastBallot(
        "https://a.example/users/x", A, "2026-01-01T13:00:00+01:00", choice(Kind.SINGLE, "o3")
    )
    assert latest([one, two]) == latest([two, one]) == [two]


def test_latest_returns_one_ballot_per_voter_sorted_by_voter() -> None:
    ballots = cast(Kind.SINGLE, B, "o1", "o2") + cast(Kind.SINGLE, A, "o3")
    assert [ballot.voter for ballot in latest(reversed(ballots))] == [
        "https://a.example/users/m0",
        "https://b.example/users/m0",
        "https://b.example/users/m1",
    ]


# Bad input


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: single(cast(Kind.SINGLE, "other@x.example", "o1")), "coop"),
        (
            lambda: count(Kind.SINGLE, THREE, cast(Kind.SINGLE, A, "o1", "o2"), eligible={A: 1}),
            "eligible",
        ),
        (lambda: single(cast(Kind.RANKED, A, ["o1"])), "ranking"),
        (lambda: single(cast(Kind.SINGLE, A, "o4")), "choices"),
        (
            lambda: count(
                Kind.SCORE, THREE, cast(Kind.SCORE, A, {"o1": 5}), eligible={A: 1}, max_score=4
            ),
            "scores",
        ),
        (lambda: count(Kind.SCORE, THREE, [], eligible={A: 1}, max_score=0), "max_score"),
        (lambda: count(Kind.CONSENT, THREE, [], eligible={A: 1}), "options"),
        (lambda: count(Kind.SINGLE, [], [], eligible={A: 1}), "options"),
        (lambda: count(Kind.SINGLE, THREE + THREE[:1], [], eligible={A: 1}), "options"),
        (lambda: count(Kind.SINGLE, THREE, [], eligible={}), "eligible"),
        (lambda: count(Kind.SINGLE, THREE, [], eligible={A: -1}), "eligible"),
        (lambda: count(Kind.SINGLE, THREE, [], eligible={A: True}), "eligible"),
        (lambda: single([], rule=Rule.WEIGHTED), "weighting"),
        (lambda: single([], weighting=Weighting(1, 2)), "weighting"),
        (lambda: Weighting(5, 2), "weighting"),
        (lambda: Weighting(0, 0), "weighting"),
        (lambda: Weighting(1.5, 2), "weighting"),  # type: ignore[arg-type]
        (lambda: Quorum(1.5), "quorum"),
        (lambda: Quorum(per_coop=float("nan")), "quorum"),
        (lambda: Quorum(True), "quorum"),
        (lambda: CastBallot("", A, NOON, BallotChoice(("o1",))), "voter"),
        (lambda: CastBallot("v", "", NOON, BallotChoice(("o1",))), "coop"),
        (lambda: CastBallot("v", A, "yesterday", BallotChoice(("o1",))), "cast_at"),
        (lambda: CastBallot("v", A, "2026-01-01T12:00:00", BallotChoice(("o1",))), "cast_at"),
    ],
)
def test_inconsistent_input_is_invalid(call: object, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        call()  # type: ignore[operator]
    assert caught.value.field == field


def test_a_bad_ballot_names_its_voter() -> None:
    with pytest.raises(
        Invalid, match=re.escape("the ballot of https://a.example/users/m0: choices names")
    ):
        single(cast(Kind.SINGLE, A, "o4"))


# The published form and determinism


def test_as_json_is_json_and_rounds_floats() -> None:
    ballots = cast(Kind.SINGLE, A, "o1", "o2", "o2")
    result = count(
        Kind.SINGLE,
        THREE,
        ballots,
        rule=Rule.WEIGHTED,
        eligible={A: 10},
        weighting=Weighting(1, 10),
    )
    data = result.as_json()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "total": {"o1": 3.333333, "o2": 6.666667, "o3": 0},
        "by_coop": {A: {"o1": 1, "o2": 2, "o3": 0}},
        "voters": 3,
        "voters_by_coop": {A: 3},
        "eligible": {A: 10},
        "quorum_reached": True,
        "quorum_by_coop": {A: True},
        "winners": ["o2"],
        "outcome": "passed",
        "rounds": [],
    }
    assert scenario(Kind.RANKED, Rule.PER_MEMBER).as_json()["rounds"] == [
        {"o1": 2, "o2": 2, "o3": 1},
        {"o1": 2, "o2": 3},
    ]


def test_a_recount_from_published_json_ballots_agrees() -> None:
    # Given ballots as a verifier reads them: compact JSON choices
    kind = Kind.MULTIPLE
    ballots = cast(kind, A, ["o3", "o1"], ["o2"]) + cast(kind, B, ["o1"])
    published = [(b.voter, b.coop, b.cast_at, choice_json(b.choice, kind)) for b in ballots]
    ids = [option.id for option in THREE]
    recounted = [
        CastBallot(voter, coop, at, parse_choice(kind, ids, data))
        for voter, coop, at, data in published
    ]
    original = count(kind, THREE, ballots, rule=Rule.PER_COOP, eligible={A: 2, B: 1})
    assert count(kind, THREE, recounted, rule=Rule.PER_COOP, eligible={A: 2, B: 1}) == original


TIMES = [NOON, "2026-01-01T12:00:00.5Z", "2026-01-01T13:00:00+01:00", "2026-01-02T08:00:00Z"]


@st.composite
def elections(draw: st.DrawFn) -> tuple[Kind, Rule, list[CastBallot], list[CastBallot]]:
    """Draw a kind, a rule, ballots (voters may vote again) and the same ballots shuffled."""
    kind = draw(st.sampled_from(list(Kind)))
    rule = draw(st.sampled_from(list(Rule)))
    ids = [option.id for option in options_of(kind)]
    strategies: dict[Kind, st.SearchStrategy[dict[str, object]]] = {
        Kind.CONSENT: st.sampled_from(ids).map(lambda one: {"choices": [one]}),
        Kind.SINGLE: st.sampled_from(ids).map(lambda one: {"choices": [one]}),
        Kind.MULTIPLE: st.lists(st.sampled_from(ids), min_size=1, unique=True).map(
            lambda some: {"choices": some}
        ),
        Kind.RANKED: st.permutations(ids).flatmap(
            lambda order: st.integers(1, len(order)).map(lambda n: {"ranking": order[:n]})
        ),
        Kind.SCORE: st.dictionaries(st.sampled_from(ids), st.integers(0, 5), min_size=1).map(
            lambda scores: {"scores": scores}
        ),
    }
    answers = strategies[kind]
    ballots = [
        CastBallot(
            f"https://{coop}/users/{voter}",
            coop,
            draw(st.sampled_from(TIMES)),
            parse_choice(kind, ids, draw(answers)),
        )
        for coop, voter in draw(
            st.lists(st.tuples(st.sampled_from([A, B, C]), st.integers(0, 6)), max_size=30)
        )
    ]
    return kind, rule, ballots, draw(st.permutations(ballots))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(elections())
def test_the_count_does_not_depend_on_ballot_order(
    election: tuple[Kind, Rule, list[CastBallot], list[CastBallot]],
) -> None:
    kind, rule, ballots, shuffled = election
    options = {
        "eligible": {A: 7, B: 7, C: 7},
        "rule": rule,
        "quorum": Quorum(0.2, 0.1),
        "weighting": Weighting(3, 5) if rule is Rule.WEIGHTED else None,
    }
    first = count(kind, options_of(kind), ballots, **options)  # type: ignore[arg-type]
    again = count(kind, options_of(kind), shuffled, **options)  # type: ignore[arg-type]
    assert first == again
    assert json.dumps(first.as_json()) == json.dumps(again.as_json())
    if rule is Rule.PER_MEMBER and kind in (Kind.CONSENT, Kind.SINGLE):
        assert sum(first.total.values()) == first.voters
