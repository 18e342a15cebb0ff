"""Fuzzing the inbox parser and the ride/proposal converters with hypothesis.

    .venv/bin/python -m bench.fuzz --examples 20000            # every target, 20,000 each
    .venv/bin/python -m bench.fuzz --examples 5000 --target ride_from_as --seed 7

Each target takes one generated JSON value and runs a parse path a remote server can reach;
the only exceptions allowed out are fedicoop's error family (`fedicoop.errors`), which the
web layer maps to 4xx. Anything else (a ValueError, OverflowError, RecursionError…) is a bug:
a target stops at its first one (hypothesis prints the shrunk input) and the run exits 1.
Prints, per target: examples run, how many were accepted / refused, and examples per second.

Every target but `inbox_parse` (which starts from the body) first sends its value through
`wire`, the JSON boundary each remote document crosses (the inbox's decoder, the fetcher):
that is where lone UTF-16 surrogates are refused, which once reached the sanitiser and the
database and turned a signed POST into a 500. The strategies mix arbitrary JSON with
mutations of real documents (a partner's ride, a proposal, a Create{Note}, an Update{Person},
an Offer{Booking}), so most examples get past the first checks and reach the deep parts of
each converter. `tests/activitypub/test_fuzz_parsers.py`
runs the same targets with a few hundred examples each and a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fedicoop.activitypub import as2, inbox
from fedicoop.activitypub.as2_values import check_no_lone_surrogates
from fedicoop.activitypub.resolver import actor_record
from fedicoop.errors import FedicoopError, Invalid
from fedicoop.governance.federation import proposal_from_as, read_roster
from fedicoop.rides.federation import BookingOffer, ride_from_as
from fedicoop.social.notes import note_from_as
from fedicoop.storage.actors import ActorRecord

SENDER = ActorRecord(id=1, uri="http://remote.test/users/dora", type="Person", domain="remote.test")
GROUP = ActorRecord(id=2, uri="http://remote.test/users/covoit", type="Group", domain="remote.test")

# --- what a hostile server sends ----------------------------------------------------------------

# Values that have broken parsers before: edge dates (year 1 with an offset overflows when
# converted to UTC), out-of-range offsets, URL-parser differentials, huge and odd numbers.
TRICKY_STRINGS = [
    "",
    " ",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2024-02-30T00:00:00Z",
    "2024-01-01T00:00:00+24:00",
    "2024-01-01T25:00:00Z",
    "2024-01-01",
    "2024-01-01T08:00:00Z",
    "-2024-01-01T00:00:00Z",
    "NaN",
    "Infinity",
    "1e999",
    "-0",
    "0x10",
    "http://remote.test/users/dora",
    "http://remote.test/users/covoit",
    "http://victim.test\\@remote.test/x",
    "http://remote.test@victim.test/x",
    "http://[::1/x",
    "http://remote.test:99999/x",
    "//remote.test/x",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "\x00",
    "\ud800",
    "🚗" * 50,
    "a" * 5000,
    "Europe/Paris",
    "../../etc/passwd",
    "offer",
    "request",
    "open",
    "fixed",
    "EUR",
    "Note",
    "Proposal",
    "Question",
    "Booking",
]
TRICKY_NUMBERS = [
    0,
    -1,
    1,
    3,
    2**31,
    2**63,
    -(2**63),
    10**30,
    10**400,
    0.5,
    -0.0,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(TRICKY_STRINGS)
    | st.sampled_from(TRICKY_NUMBERS)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["id", "type"]), children, max_size=5
        )
    ),
    max_leaves=12,
)

PLACE = {"type": "Place", "name": "Grenoble", "latitude": 45.185, "longitude": 5.725}
RIDE = {
    "id": "http://remote.test/rides/1",
    "type": ["Note", "Proposal"],
    "purpose": "offer",
    "attributedTo": SENDER.uri,
    "audience": GROUP.uri,
    "name": "Grenoble → Lyon",
    "content": "<p>Grenoble → Lyon</p>",
    "origin": PLACE,
    "destination": {"type": "Place", "name": "Lyon", "latitude": 45.755, "longitude": 4.835},
    "waypoints": [PLACE],
    "departure": "2030-01-01T08:00:00Z",
    "utcOffsetMinutes": 60,
    "marginMinutes": 15,
    "seats": 3,
    "seatsLeft": 3,
    "priceKind": "fixed",
    "price": "6",
    "currency": "EUR",
    "maxDetourKm": 20,
    "tripKm": 94.2,
    "preferences": {"smoking": False, "pets": True},
    "occurrences": [
        {
            "date": "2030-01-01",
            "departure": "2030-01-01T08:00:00Z",
            "seatsLeft": 3,
            "status": "open",
        }
    ],
    "schedule": {
        "days": [0, 2],
        "time": "08:00",
        "timezone": "Europe/Paris",
        "start": "2030-01-01",
        "end": "2030-02-01",
    },
    "status": "open",
    "published": "2029-12-01T00:00:00Z",
    "updated": "2029-12-02T00:00:00Z",
}
PROPOSAL = {
    "id": "http://remote.test/proposals/1",
    "type": "Question",
    "attributedTo": GROUP.uri,
    "name": "Buy a cargo bike",
    "content": "<p>It costs 4,000 €</p>",
    "kind": "single",
    "rule": "per_member",
    "coops": [GROUP.uri],
    "proposalOptions": [{"id": "o1", "label": "Yes"}, {"id": "o2", "label": "No"}],
    "closesAt": "2030-01-01T00:00:00Z",
    "endTime": "2030-01-01T00:00:00Z",
    "published": "2029-12-01T00:00:00Z",
    "closed": "2030-01-01T00:00:00Z",
    "quorum": {"overall": 2},
    "weighting": {"floor": 1, "cap": 3},
    "maxChoices": 1,
    "maxScore": 5,
    "tallies": {"o1": 1},
    "outcome": "adopted",
}
ROSTER = {
    "id": "http://remote.test/rosters/1",
    "type": "RosterSnapshot",
    "attributedTo": GROUP.uri,
    "proposal": "http://elsewhere.test/proposals/1",
    "members": [SENDER.uri],
}
NOTE = {
    "id": "http://remote.test/notes/1",
    "type": "Note",
    "attributedTo": SENDER.uri,
    "content": "<p>hi <a href='http://remote.test/tags/x'>#x</a></p>",
    "summary": "cw",
    "published": "2024-05-01T12:00:00Z",
    "to": ["https://www.w3.org/ns/activitystreams#Public"],
    "cc": [f"{SENDER.uri}/followers"],
    "inReplyTo": "http://elsewhere.test/notes/9",
    "tag": [
        {"type": "Mention", "href": "http://elsewhere.test/users/a", "name": "@a"},
        {"type": "Hashtag", "href": "http://remote.test/tags/x", "name": "#x"},
        {
            "type": "Emoji",
            "name": ":x:",
            "icon": {"type": "Image", "url": "http://remote.test/x.png"},
        },
    ],
    "attachment": [
        {"type": "Document", "mediaType": "image/png", "url": "http://remote.test/a.png"}
    ],
    "oneOf": [{"type": "Note", "name": "yes", "replies": {"totalItems": 1}}],
    "endTime": "2024-05-02T12:00:00Z",
    "sensitive": False,
}
PERSON = {
    "id": SENDER.uri,
    "type": "Person",
    "preferredUsername": "dora",
    "name": "Dora",
    "summary": "<p>bio</p>",
    "inbox": f"{SENDER.uri}/inbox",
    "outbox": f"{SENDER.uri}/outbox",
    "followers": f"{SENDER.uri}/followers",
    "endpoints": {"sharedInbox": "http://remote.test/inbox"},
    "publicKey": {
        "id": f"{SENDER.uri}#main-key",
        "owner": SENDER.uri,
        "publicKeyPem": "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
    },
    "icon": [{"type": "Image", "url": "http://remote.test/a.png", "width": 10}],
    "attachment": [{"type": "PropertyValue", "name": "site", "value": "<a href='x'>x</a>"}],
    "alsoKnownAs": ["http://old.test/users/dora"],
}
BOOKING = {
    "id": "http://remote.test/bookings/1",
    "type": "Booking",
    "attributedTo": SENDER.uri,
    "ride": "http://elsewhere.test/rides/1",
    "occurrence": "2030-01-01",
    "seats": 1,
    "pickup": PLACE,
    "dropoff": PLACE,
    "content": "<p>with a bike</p>",
}


def activity(kind: str, obj: Any) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "http://remote.test/activities/1",
        "type": kind,
        "actor": SENDER.uri,
        "object": obj,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }


def mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Real documents with some keys replaced by, or removed for, arbitrary JSON."""
    keys = st.sampled_from(sorted(base)) | st.text(max_size=8)
    changes = st.dictionaries(keys, json_values, max_size=4)
    removals = st.lists(st.sampled_from(sorted(base)), max_size=3)

    def apply(pair: tuple[dict[str, Any], list[str]]) -> dict[str, Any]:
        changed, removed = pair
        document = {k: v for k, v in base.items() if k not in removed}
        document.update(changed)
        return document

    return st.tuples(changes, removals).map(apply)


def nested(base: dict[str, Any], key: str, inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A real document whose `key` holds a mutated inner document."""
    return st.tuples(mutations(base), inner).map(lambda pair: {**pair[0], key: pair[1]})


# --- the parse paths ------------------------------------------------------------------------


def wire(value: Any) -> Any:
    """Return `value` as it arrives after the JSON boundary every remote document crosses.

    Encoded and decoded again, then refused (Invalid) when it holds a lone surrogate, as
    `inbox.decode_activity` and the fetcher refuse them: the converters never see one.
    """
    try:
        raw = json.dumps(value, allow_nan=True)
    except (ValueError, RecursionError) as error:
        raise Invalid(f"not JSON: {error}") from None
    document = json.loads(raw)
    try:
        check_no_lone_surrogates(raw, document)
    except ValueError as error:
        raise Invalid(str(error)) from None
    return document


def _inbox_parse(value: Any) -> None:
    """The inbox's own steps on a body: decode, origin checks, then the processor's reader."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (ValueError, RecursionError):
        return
    document = inbox.decode_activity(text)
    inbox.check_origins(document, SENDER)
    as2.parse_activity(json.loads(text))


def _as2_any(value: Any) -> None:
    as2.parse_any(wire(value))


def _actor_record(value: Any) -> None:
    document = wire(value)
    actor_record(as2.parse_actor(document), json.dumps(document))


def _note(value: Any) -> None:
    document = wire(value)
    note_from_as(as2.parse_object(document), document if isinstance(document, dict) else {}, SENDER)


def _ride(value: Any) -> None:
    document = wire(value)
    if isinstance(document, dict):
        ride_from_as(document, SENDER, local_id=1, coop="covoit@remote.test")


def _booking(value: Any) -> None:
    document = wire(value)
    if isinstance(document, dict):
        BookingOffer(document, SENDER.uri)


def _proposal(value: Any) -> None:
    document = wire(value)
    if isinstance(document, dict):
        proposal_from_as(document, GROUP, local_id=1)


def _roster(value: Any) -> None:
    document = wire(value)
    if isinstance(document, dict):
        read_roster(document, GROUP.uri)


@dataclass(frozen=True)
class Target:
    """One parse path and what to feed it."""

    name: str
    run: Callable[[Any], None]
    inputs: st.SearchStrategy[Any]


TARGETS = [
    Target(
        "inbox_parse",
        _inbox_parse,
        json_values
        | nested(activity("Create", NOTE), "object", mutations(NOTE))
        | mutations(activity("Update", PERSON))
        | mutations(activity("Announce", activity("Create", RIDE))),
    ),
    Target("as2_parse_any", _as2_any, json_values | mutations(NOTE) | mutations(PERSON)),
    Target("actor_record", _actor_record, mutations(PERSON)),
    Target("note_from_as", _note, mutations(NOTE)),
    Target("ride_from_as", _ride, mutations(RIDE) | nested(RIDE, "origin", mutations(PLACE))),
    Target(
        "booking_offer", _booking, nested(activity("Offer", BOOKING), "object", mutations(BOOKING))
    ),
    Target("proposal_from_as", _proposal, mutations(PROPOSAL)),
    Target("read_roster", _roster, mutations(ROSTER)),
]


@dataclass
class Tally:
    """What one target made of its examples."""

    examples: int = 0
    accepted: int = 0
    refused: int = 0


def checked(target: Target, tally: Tally) -> Callable[[Any], None]:
    """Wrap a target: count the outcome; any exception outside the error family escapes."""

    def run(value: Any) -> None:
        tally.examples += 1
        try:
            target.run(value)
        except FedicoopError:
            tally.refused += 1
        else:
            tally.accepted += 1

    return run


def fuzz(target: Target, examples: int, *, seed: int | None = None) -> Tally:
    """Run one target for `examples` examples; raise the first non-family exception."""
    tally = Tally()
    test = given(target.inputs)(checked(target, tally))
    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )(test)
    if seed is not None:
        from hypothesis import seed as with_seed

        test = with_seed(seed)(test)
    test()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--examples", type=int, default=5000, help="examples per target")
    parser.add_argument("--target", choices=[t.name for t in TARGETS], action="append")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: fixed)")
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if not args.target or t.name in args.target]
    print(f"{'target':<18} {'examples':>9} {'accepted':>9} {'refused':>9} {'per s':>9}")
    failed = False
    total_started = time.perf_counter()
    for target in chosen:
        started = time.perf_counter()
        tally = Tally()
        try:
            tally = fuzz(target, args.examples, seed=args.seed)
        except Exception as error:  # the finding itself: report it and carry on
            failed = True
            print(f"{target.name:<18} FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        elapsed = time.perf_counter() - started
        rate = tally.examples / elapsed if elapsed else 0.0
        print(
            f"{target.name:<18} {tally.examples:>9} {tally.accepted:>9} {tally.refused:>9} "
            f"{rate:>9.0f}"
        )
    print(f"total {time.perf_counter() - total_started:.1f} s; " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
