"""Ballots: option ids, the JSON ballot of each kind checked and made canonical, and back."""

from collections.abc import Mapping

import pytest

from fedicoop.errors import Invalid
from fedicoop.governance.ballots import (
    CONSENT_OPTIONS,
    BallotChoice,
    Kind,
    Option,
    choice_json,
    options_for,
    parse_choice,
)

FOUR = ("o1", "o2", "o3", "o4")


def refused(
    kind: Kind,
    data: Mapping[str, object],
    field: str,
    match: str,
    *,
    option_ids: tuple[str, ...] = FOUR,
    max_choices: int | None = None,
) -> None:
    with pytest.raises(Invalid, match=match) as caught:
        parse_choice(kind, option_ids, data, max_choices=max_choices)
    assert caught.value.field == field
    assert caught.value.status == 422


# Options


def test_consent_has_its_four_fixed_options() -> None:
    options = options_for(Kind.CONSENT, [])
    assert tuple(option.id for option in options) == CONSENT_OPTIONS
    assert options[3] == Option("block", "Block")


def test_other_kinds_number_their_options_in_the_order_given() -> None:
    # Given labels with stray spaces, When options are made
    options = options_for(Kind.RANKED, ["  Tuesday ", "Thursday", "Saturday"])

    # Then ids are o1..on in order and labels are trimmed
    assert options == [Option("o1", "Tuesday"), Option("o2", "Thursday"), Option("o3", "Saturday")]
    assert options_for(Kind.SINGLE, list("abcdefghij"))[-1] == Option("o10", "j")


@pytest.mark.parametrize(
    ("kind", "labels", "match"),
    [
        (Kind.CONSENT, ["Yes"], "fixed options"),
        (Kind.SINGLE, ["Only one"], "needs 2 to 20 options, not 1"),
        (Kind.MULTIPLE, ["Only one"], "needs 2 to 20"),
        (Kind.RANKED, [], "needs 2 to 20"),
        (Kind.SCORE, [], "needs 1 to 20 options, not 0"),
        (Kind.SINGLE, [f"option {n}" for n in range(21)], "not 21"),
        (Kind.SINGLE, ["fine", "   "], "option 2 needs a label of 1 to 200"),
        (Kind.SINGLE, ["fine", "x" * 201], "option 2 needs a label"),
        (Kind.SINGLE, ["Same", " Same"], "option 2 repeats the label 'Same'"),
        (Kind.SINGLE, ["fine", 3], "option 2 must be a text label"),
        (Kind.SINGLE, "ab", "must be a list of labels"),
    ],
)
def test_bad_option_lists_are_refused(kind: Kind, labels: list[str], match: str) -> None:
    with pytest.raises(Invalid, match=match) as caught:
        options_for(kind, labels)
    assert caught.value.field == "options"


def test_one_scored_option_and_labels_at_the_limits_are_fine() -> None:
    assert options_for(Kind.SCORE, ["Budget"]) == [Option("o1", "Budget")]
    assert len(options_for(Kind.MULTIPLE, [f"o {n}" for n in range(20)])) == 20
    assert options_for(Kind.SINGLE, ["x" * 200, "y"])[0].label == "x" * 200


# Ballots that parse


def test_consent_and_single_ballots_pick_one_option() -> None:
    assert parse_choice(Kind.CONSENT, CONSENT_OPTIONS, {"choices": ["block"]}) == BallotChoice(
        choices=("block",)
    )
    assert parse_choice(Kind.SINGLE, FOUR, {"choices": ["o3"]}) == BallotChoice(choices=("o3",))


def test_multiple_choices_are_stored_in_option_order_so_equal_ballots_compare_equal() -> None:
    # Given the same approvals in two orders
    first = parse_choice(Kind.MULTIPLE, FOUR, {"choices": ["o4", "o1"]})
    second = parse_choice(Kind.MULTIPLE, FOUR, {"choices": ["o1", "o4"]})

    # Then they are one canonical, hashable choice
    assert first == second == BallotChoice(choices=("o1", "o4"))
    assert len({first, second}) == 1


def test_a_partial_ranking_keeps_its_order() -> None:
    choice = parse_choice(Kind.RANKED, FOUR, {"ranking": ["o3", "o1"]})
    assert choice == BallotChoice(ranking=("o3", "o1"))


def test_scores_are_sorted_by_option_id_and_may_leave_options_out() -> None:
    choice = parse_choice(Kind.SCORE, FOUR, {"scores": {"o3": 5, "o1": 0}})
    assert choice == BallotChoice(scores=(("o1", 0), ("o3", 5)))
    assert parse_choice(Kind.SCORE, FOUR, {"scores": {"o2": 10}}, max_score=10).scores == (
        ("o2", 10),
    )


def test_a_ballot_may_carry_unrelated_fields() -> None:
    data = {"choices": ["o2"], "proposal": "https://a.example/proposals/1"}
    assert parse_choice(Kind.SINGLE, FOUR, data) == BallotChoice(choices=("o2",))


@pytest.mark.parametrize(
    ("kind", "option_ids", "data"),
    [
        (Kind.CONSENT, CONSENT_OPTIONS, {"choices": ["abstain"]}),
        (Kind.SINGLE, FOUR, {"choices": ["o1"]}),
        (Kind.MULTIPLE, FOUR, {"choices": ["o2", "o4"]}),
        (Kind.RANKED, FOUR, {"ranking": ["o4", "o2", "o1"]}),
        (Kind.SCORE, FOUR, {"scores": {"o1": 2, "o4": 0}}),
    ],
)
def test_choice_json_is_the_inverse_of_parse_choice(
    kind: Kind, option_ids: tuple[str, ...], data: dict[str, object]
) -> None:
    choice = parse_choice(kind, option_ids, data)
    assert choice_json(choice, kind) == data
    assert parse_choice(kind, option_ids, choice_json(choice, kind)) == choice


# Ballots that are refused


@pytest.mark.parametrize("kind", [Kind.CONSENT, Kind.SINGLE])
@pytest.mark.parametrize("picked", [[], ["o1", "o2"]])
def test_consent_and_single_need_exactly_one_choice(kind: Kind, picked: list[str]) -> None:
    ids = ("o1", "o2") if kind is Kind.SINGLE else CONSENT_OPTIONS
    data = {"choices": picked if kind is Kind.SINGLE else ["agree", "block"][: len(picked)]}
    refused(kind, data, "choices", "picks exactly one option", option_ids=ids)


def test_consent_refuses_an_option_it_does_not_have() -> None:
    refused(
        Kind.CONSENT,
        {"choices": ["maybe"]},
        "choices",
        "unknown option",
        option_ids=CONSENT_OPTIONS,
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"choices": []}, "pick 1 to 2 options, not 0"),
        ({"choices": ["o1", "o2", "o3"]}, "pick 1 to 2 options, not 3"),
        ({"choices": ["o1", "o1"]}, "names 'o1' twice"),
        ({"choices": ["o9"]}, "unknown option 'o9'"),
        ({"choices": "o1"}, "must be a list of option ids"),
        ({"choices": [1]}, "must be a list of option ids"),
    ],
)
def test_multiple_choice_limits(data: Mapping[str, object], match: str) -> None:
    refused(Kind.MULTIPLE, data, "choices", match, max_choices=2)


def test_multiple_choice_allows_every_option_by_default_and_needs_a_positive_limit() -> None:
    assert len(parse_choice(Kind.MULTIPLE, FOUR, {"choices": list(FOUR)}).choices) == 4
    refused(Kind.MULTIPLE, {"choices": ["o1"]}, "max_choices", "at least 1", max_choices=0)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"ranking": []}, "at least one option"),
        ({"ranking": ["o1", "o2", "o1"]}, "names 'o1' twice"),
        ({"ranking": ["o1", "o7"]}, "unknown option 'o7'"),
        ({"ranking": {"o1": 1}}, "must be a list"),
    ],
)
def test_ranking_errors(data: Mapping[str, object], match: str) -> None:
    refused(Kind.RANKED, data, "ranking", match)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"scores": {}}, "at least one option"),
        ({"scores": {"o1": 6}}, "must be 0 to 5, not 6"),
        ({"scores": {"o1": -1}}, "must be 0 to 5, not -1"),
        ({"scores": {"o1": 2.5}}, "whole number"),
        ({"scores": {"o1": True}}, "whole number"),
        ({"scores": {"o1": "3"}}, "whole number"),
        ({"scores": {"o8": 1}}, "unknown option 'o8'"),
        ({"scores": [["o1", 3]]}, "must map option ids"),
    ],
)
def test_score_errors(data: Mapping[str, object], match: str) -> None:
    refused(Kind.SCORE, data, "scores", match)


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        (Kind.SINGLE, {}, "choices"),
        (Kind.RANKED, {"choices": ["o1"]}, "choices"),
        (Kind.SINGLE, {"choices": ["o1"], "ranking": ["o1"]}, "ranking"),
        (Kind.SCORE, {"scores": {"o1": 1}, "choices": ["o1"]}, "choices"),
        (Kind.MULTIPLE, {"scores": {"o1": 1}}, "scores"),
    ],
)
def test_a_ballot_has_exactly_its_kinds_field(
    kind: Kind, data: Mapping[str, object], field: str
) -> None:
    # A signed ballot must have one reading: another kind's field is refused, not ignored
    refused(kind, data, field, "ballot")
