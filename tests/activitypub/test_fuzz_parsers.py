"""Bounded fuzzing of the inbox parser and the ride/proposal converters (fixed seed).

Whatever JSON a remote server sends, each parse path either accepts it or raises one of
fedicoop's own errors (mapped to 4xx); nothing else may escape. The targets and strategies
live in `bench/fuzz.py`, which runs the same thing for as long as one likes and prints figures.
"""

from typing import Any

import pytest
from hypothesis import strategies as st

from bench.fuzz import TARGETS, Target, fuzz
from fedicoop.errors import Invalid

EXAMPLES = 200  # per target: a few seconds in all; bench/fuzz.py runs the long version


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_arbitrary_json_raises_nothing_but_our_errors(target: Target) -> None:
    # Given a few hundred generated documents (derandomized: the same ones every run)
    # When each goes through the parse path, Then only fedicoop's error family comes out
    tally = fuzz(target, EXAMPLES)
    assert tally.examples >= EXAMPLES
    # And the strategies reach both outcomes: a fuzzer whose inputs are all refused at the
    # first check would test nothing past it
    assert tally.accepted > 0 and tally.refused > 0


def test_the_harness_reports_an_exception_outside_the_family() -> None:
    # Given a parse path with a bug: a ValueError escaping for one kind of input
    def buggy(value: Any) -> None:
        if isinstance(value, str) and value.startswith("0001-"):
            raise ValueError("year 0 in UTC")
        if value is None:
            raise Invalid("refused properly")

    strings = st.sampled_from(["2024-01-01", "0001-01-01T00:00:00+01:00"]) | st.none()
    # When it is fuzzed, Then the ValueError surfaces (so a real one would fail the test above)
    with pytest.raises(ValueError, match="year 0"):
        fuzz(Target("buggy", buggy, strings), 50)
