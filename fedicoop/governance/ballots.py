"""What a proposal offers to vote on, and what one member's ballot says, checked and canonical.

Option ids are stable and positional: consent always has the four fixed ids of
`CONSENT_OPTIONS`; every other kind numbers its options "o1", "o2", … in the order the author
listed them. That order matters: it is the last tie-break of an instant-runoff elimination
(see `counting.py`).

A ballot arrives as JSON: `{"choices": [...]}` (consent, single, multiple), `{"ranking": [...]}`
(ranked) or `{"scores": {option_id: n}}` (score). `parse_choice` checks it against the
proposal and returns a `BallotChoice` in one canonical form (multiple choices in option order,
scores sorted by option id), so two ballots that say the same thing compare equal and hash
alike; `choice_json` turns it back into the compact JSON form published in signed ballots.
Another kind's field on a ballot is refused rather than ignored: a signed ballot must have
exactly one reading.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fedicoop.errors import Invalid


class Kind(StrEnum):
    """How members answer a proposal."""

    CONSENT = "consent"  # agree / abstain / disagree / block
    SINGLE = "single"  # one option (plurality)
    MULTIPLE = "multiple"  # several options (approval)
    RANKED = "ranked"  # an order of preference (instant-runoff)
    SCORE = "score"  # a score 0..max_score per option (highest sum)


CONSENT_OPTIONS = ("agree", "abstain", "disagree", "block")
CONSENT_LABELS = {"agree": "Agree", "abstain": "Abstain", "disagree": "Disagree", "block": "Block"}
MAX_OPTIONS = 20
MAX_LABEL_CHARS = 200
DEFAULT_MAX_SCORE = 5
# single/multiple/ranked with one option is not a choice; one scored option still asks "how much".
MIN_OPTIONS = {Kind.SINGLE: 2, Kind.MULTIPLE: 2, Kind.RANKED: 2, Kind.SCORE: 1}
# The JSON field each kind's ballot uses.
BALLOT_FIELD = {
    Kind.CONSENT: "choices",
    Kind.SINGLE: "choices",
    Kind.MULTIPLE: "choices",
    Kind.RANKED: "ranking",
    Kind.SCORE: "scores",
}
_BALLOT_FIELDS = frozenset(BALLOT_FIELD.values())


@dataclass(frozen=True, slots=True)
class Option:
    """One answer a proposal offers: a stable id and what members read."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class BallotChoice:
    """What one ballot says, in canonical form; only the field of the proposal's kind is set."""

    choices: tuple[str, ...] = ()  # consent, single (one id) and multiple (ids in option order)
    ranking: tuple[str, ...] = ()  # ranked: most preferred first, possibly partial
    scores: tuple[tuple[str, int], ...] = ()  # score: (option id, score) sorted by option id


def options_for(kind: Kind, labels: Sequence[str]) -> list[Option]:
    """Return a proposal's options: consent's four fixed ones, else "o1".."on" for `labels`."""
    if kind is Kind.CONSENT:
        if labels:
            raise Invalid("a consent proposal has fixed options; give none", field="options")
        return [Option(option_id, CONSENT_LABELS[option_id]) for option_id in CONSENT_OPTIONS]
    if isinstance(labels, str):  # a lone string is a Sequence too; it is not a list of labels
        raise Invalid("options must be a list of labels", field="options")
    least = MIN_OPTIONS[kind]
    if not least <= len(labels) <= MAX_OPTIONS:
        raise Invalid(
            f"a {kind} proposal needs {least} to {MAX_OPTIONS} options, not {len(labels)}",
            field="options",
        )
    cleaned = []
    for position, label in enumerate(labels, start=1):
        if not isinstance(label, str):
            raise Invalid(f"option {position} must be a text label", field="options")
        text = label.strip()
        if not 1 <= len(text) <= MAX_LABEL_CHARS:
            raise Invalid(
                f"option {position} needs a label of 1 to {MAX_LABEL_CHARS} characters",
                field="options",
            )
        if text in cleaned:
            raise Invalid(f"option {position} repeats the label {text!r}", field="options")
        cleaned.append(text)
    return [Option(f"o{position}", text) for position, text in enumerate(cleaned, start=1)]


def parse_choice(
    kind: Kind,
    option_ids: Sequence[str],
    data: Mapping[str, object],
    *,
    max_choices: int | None = None,
    max_score: int = DEFAULT_MAX_SCORE,
) -> BallotChoice:
    """Return the canonical choice a JSON ballot makes, or raise Invalid naming the problem."""
    field = BALLOT_FIELD[kind]
    for other in sorted(_BALLOT_FIELDS - {field}):
        if other in data:
            raise Invalid(f"a {kind} ballot has no {other}; it takes {field}", field=other)
    if field not in data:
        raise Invalid(f"a {kind} ballot needs {field}", field=field)
    known = {option_id: position for position, option_id in enumerate(option_ids)}
    if kind is Kind.RANKED:
        return BallotChoice(ranking=_parse_ranking(data["ranking"], known))
    if kind is Kind.SCORE:
        return BallotChoice(scores=_parse_scores(data["scores"], known, max_score))
    picked = _parse_ids(data["choices"], known, "choices")
    if kind is not Kind.MULTIPLE:
        if len(picked) != 1:
            raise Invalid(f"a {kind} ballot picks exactly one option", field="choices")
        return BallotChoice(choices=picked)
    most = len(known) if max_choices is None else max_choices
    if most < 1:
        raise Invalid("max_choices must be at least 1", field="max_choices")
    if not 1 <= len(picked) <= most:
        raise Invalid(f"pick 1 to {most} options, not {len(picked)}", field="choices")
    return BallotChoice(choices=tuple(sorted(picked, key=known.__getitem__)))


def choice_json(choice: BallotChoice, kind: Kind) -> dict[str, object]:
    """Return the compact JSON form of a choice, as published in a signed ballot."""
    if kind is Kind.RANKED:
        return {"ranking": list(choice.ranking)}
    if kind is Kind.SCORE:
        return {"scores": dict(choice.scores)}
    return {"choices": list(choice.choices)}


def check_choice(
    kind: Kind,
    option_ids: Sequence[str],
    choice: BallotChoice,
    *,
    max_choices: int | None = None,
    max_score: int = DEFAULT_MAX_SCORE,
) -> BallotChoice:
    """Return a choice built elsewhere in canonical form, or raise Invalid if it does not fit."""
    fields = {"choices": choice.choices, "ranking": choice.ranking, "scores": choice.scores}
    for field, value in fields.items():
        if value and field != BALLOT_FIELD[kind]:
            raise Invalid(f"a {kind} ballot has no {field}", field=field)
    data = choice_json(choice, kind)
    return parse_choice(kind, option_ids, data, max_choices=max_choices, max_score=max_score)


def _parse_ids(value: object, known: Mapping[str, int], field: str) -> tuple[str, ...]:
    """Return a list of distinct known option ids as a tuple, in the order given."""
    if not isinstance(value, list | tuple):
        raise Invalid(f"{field} must be a list of option ids", field=field)
    seen: list[str] = []
    for option_id in value:
        if not isinstance(option_id, str):
            raise Invalid(f"{field} must be a list of option ids", field=field)
        if option_id not in known:
            raise Invalid(f"{field} names an unknown option {option_id!r}", field=field)
        if option_id in seen:
            raise Invalid(f"{field} names {option_id!r} twice", field=field)
        seen.append(option_id)
    return tuple(seen)


def _parse_ranking(value: object, known: Mapping[str, int]) -> tuple[str, ...]:
    ranking = _parse_ids(value, known, "ranking")
    if not ranking:
        raise Invalid("a ranking needs at least one option", field="ranking")
    return ranking


def _parse_scores(
    value: object, known: Mapping[str, int], max_score: int
) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, Mapping):
        raise Invalid("scores must map option ids to whole numbers", field="scores")
    if not value:
        raise Invalid("score at least one option", field="scores")
    scores = []
    for option_id, score in value.items():
        if not isinstance(option_id, str) or option_id not in known:
            raise Invalid(f"scores names an unknown option {option_id!r}", field="scores")
        # bool is an int in Python; true is not a score.
        if isinstance(score, bool) or not isinstance(score, int):
            raise Invalid(f"the score of {option_id!r} must be a whole number", field="scores")
        if not 0 <= score <= max_score:
            raise Invalid(
                f"the score of {option_id!r} must be 0 to {max_score}, not {score}", field="scores"
            )
        scores.append((option_id, score))
    return tuple(sorted(scores))
