"""FEP-8b32 integrity proofs: published eddsa-jcs-2022 vectors, a real Mitra proof, tampering."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from fedicoop.activitypub.integrity import (
    IntegrityError,
    assertion_method,
    base58btc_decode,
    base58btc_encode,
    find_multikey,
    generate_key,
    private_key_from_multikey,
    private_key_from_text,
    private_key_to_text,
    private_multikey,
    public_key_from_multikey,
    public_multikey,
    sign_object,
    verification_method_of,
    verify_object,
)

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "integrity"
ACTOR = "https://coop.example/users/ana"
METHOD = ACTOR + "#ed25519-key"
CREATED = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    """A JSON test vector from tests/fixtures/integrity."""
    loaded: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return loaded


def without(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of `document` without the member `name`."""
    return {key: value for key, value in document.items() if key != name}


def created_of(proof: dict[str, Any]) -> datetime:
    """The proof's created dateTime (whole seconds, 'Z')."""
    return datetime.strptime(proof["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """A fixed Ed25519 key, so every run signs the same bytes."""
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def note() -> dict[str, Any]:
    """A small Create(Note) as fedicoop would send it."""
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": "https://coop.example/activities/1",
        "type": "Create",
        "actor": ACTOR,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "object": {
            "id": "https://coop.example/notes/1",
            "type": "Note",
            "attributedTo": ACTOR,
            "content": "<p>Ride to the market on Saturday</p>",
            "tag": [{"type": "Hashtag", "name": "#rides"}],
        },
    }


# --- published test vectors --------------------------------------------------------------------


def test_spec_key_pair_decodes_to_matching_keys() -> None:
    # Given the vc-di-eddsa test key pair as Multikey strings
    pair = load("vc-di-eddsa-key-pair.json")

    # When the secret key is decoded
    secret = private_key_from_multikey(pair["privateKeyMultibase"])

    # Then its public half encodes to the published public Multikey, and both encodings round trip
    assert public_multikey(secret.public_key()) == pair["publicKeyMultibase"]
    assert private_multikey(secret) == pair["privateKeyMultibase"]
    public = public_key_from_multikey(pair["publicKeyMultibase"])
    assert public_multikey(public) == pair["publicKeyMultibase"]


def test_jcs_of_spec_credential_matches_published_canonical_form() -> None:
    # Given the vc-di-eddsa credential and its published JCS form
    unsecured = without(load("vc-di-eddsa-jcs-2022-signed.json"), "proof")
    expected = (VECTORS / "vc-di-eddsa-jcs-2022-canonical-document.txt").read_bytes()

    # Then the JCS library produces exactly those bytes
    assert rfc8785.dumps(unsecured) == expected


@pytest.mark.parametrize(
    "vector",
    ["vc-di-eddsa-jcs-2022-signed.json", "fep-8b32-signed.json"],
)
def test_signing_published_vector_reproduces_its_proof_byte_for_byte(vector: str) -> None:
    # Given a published signed document, the unsigned input it came from and the spec's key
    published = load(vector)
    secret = private_key_from_multikey(load("vc-di-eddsa-key-pair.json")["privateKeyMultibase"])
    expected_proof = published["proof"]

    # When we sign the unsigned input with the same method and time
    signed = sign_object(
        without(published, "proof"),
        secret,
        expected_proof["verificationMethod"],
        created=created_of(expected_proof),
    )

    # Then the signature bytes are identical (Ed25519 is deterministic), and so is the whole proof
    assert base58btc_decode(signed["proof"]["proofValue"][1:]) == base58btc_decode(
        expected_proof["proofValue"][1:]
    )
    assert signed["proof"]["proofValue"] == expected_proof["proofValue"]
    assert signed == published


def test_spec_vector_verifies_with_spec_public_key() -> None:
    # Given the vc-di-eddsa signed credential
    published = load("vc-di-eddsa-jcs-2022-signed.json")
    public = public_key_from_multikey(load("vc-di-eddsa-key-pair.json")["publicKeyMultibase"])

    # Then it verifies and the proof comes back
    assert verify_object(published, public) == published["proof"]


def test_fep_8b32_vector_verifies_through_the_actors_assertion_method() -> None:
    # Given the FEP-8b32 signed Create and the actor that publishes the key
    published = load("fep-8b32-signed.json")
    actor = load("fep-8b32-actor.json")

    # When the key is looked up as a receiving server would
    method = verification_method_of(published)
    public = find_multikey(actor, method)

    # Then the proof verifies
    assert method == "https://server.example/users/alice#ed25519-key"
    assert verify_object(published, public)["created"] == "2023-02-24T23:36:38Z"


def test_mitra_proof_is_well_formed_but_its_key_is_not_available() -> None:
    # Given a real Mitra Create(Note) whose proof carries no @context and a nanosecond created;
    # the actor document with its Multikey was not captured, so the signature cannot be checked.
    mitra = load("mitra-create-note.json")

    # Then the method is found, and with some other key every structural check passes
    # (cryptosuite, purpose, a 64-byte base58btc proofValue) and only the signature differs
    assert verification_method_of(mitra) == "https://mitra.social/users/test#ed25519-key"
    with pytest.raises(IntegrityError, match="signature mismatch"):
        verify_object(mitra, generate_key().public_key())


# --- signing and verifying our own objects ------------------------------------------------------


def test_sign_then_verify_round_trip(key: Ed25519PrivateKey, note: dict[str, Any]) -> None:
    # Given a note and the input as it was
    before = copy.deepcopy(note)

    # When it is signed
    signed = sign_object(note, key, METHOD, created=CREATED)

    # Then the input is untouched, the proof has every option, and it verifies
    assert note == before
    assert without(signed, "proof") == note
    proof = signed["proof"]
    assert proof["@context"] == note["@context"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["verificationMethod"] == METHOD
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["created"] == "2024-05-01T12:30:15Z"
    assert proof["proofValue"].startswith("z")
    assert verify_object(signed, key.public_key()) == proof


def test_signed_copy_shares_no_state_with_the_input(
    key: Ed25519PrivateKey, note: dict[str, Any]
) -> None:
    # Given a signed copy
    signed = sign_object(note, key, METHOD, created=CREATED)

    # When the input is changed afterwards
    note["object"]["content"] = "changed"
    note["@context"].append("https://example.com/extra")

    # Then the signed copy still verifies
    verify_object(signed, key.public_key())


def test_document_without_context_gets_proof_without_context(key: Ed25519PrivateKey) -> None:
    # Given a plain JSON document
    signed = sign_object({"type": "Note", "content": "hi"}, key, METHOD, created=CREATED)

    # Then the proof has no @context and still verifies
    assert "@context" not in signed["proof"]
    verify_object(signed, key.public_key())


def test_created_defaults_to_now_in_utc_seconds(
    key: Ed25519PrivateKey, note: dict[str, Any]
) -> None:
    signed = sign_object(note, key, METHOD)
    created = created_of(signed["proof"])
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


def test_created_in_another_zone_is_written_in_utc(
    key: Ed25519PrivateKey, note: dict[str, Any]
) -> None:
    moment = datetime(2024, 5, 1, 14, 30, 15, 999_999, tzinfo=timezone(timedelta(hours=2)))
    signed = sign_object(note, key, METHOD, created=moment)
    assert signed["proof"]["created"] == "2024-05-01T12:30:15Z"


def test_naive_created_is_refused(key: Ed25519PrivateKey, note: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_object(note, key, METHOD, created=datetime(2024, 5, 1, 12, 0))


def test_document_with_a_proof_is_refused(key: Ed25519PrivateKey, note: dict[str, Any]) -> None:
    signed = sign_object(note, key, METHOD, created=CREATED)
    with pytest.raises(IntegrityError, match="already has a proof"):
        sign_object(signed, key, METHOD, created=CREATED)


def test_non_ascii_text_and_numbers_sign_and_verify(key: Ed25519PrivateKey) -> None:
    # Given a document with text outside ASCII and JSON numbers JCS must write as ECMAScript does
    document = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Note",
        "name": "Grüße aus Köln — 日本語 🚲",
        "content": 'line\u2028separator, tab\tand quote" and \\ and \x01',
        "numbers": [0, -1, 1.5, -0.25, 1e21, 1e-7, 2**53 - 1, 333333333.33333329, 100.0],
        "nested": {"é": True, "e": None, "z": [], "a": {}},
    }

    # When it is signed and carried over the wire as JSON
    signed = sign_object(document, key, METHOD, created=CREATED)
    received = json.loads(json.dumps(signed, ensure_ascii=False))

    # Then it verifies, and so does the ASCII-escaped form
    verify_object(received, key.public_key())
    verify_object(json.loads(json.dumps(signed, ensure_ascii=True)), key.public_key())


def test_unrepresentable_number_is_a_clear_error(key: Ed25519PrivateKey) -> None:
    # I-JSON: integers past 2**53 have no exact JCS form, so they cannot be signed consistently
    with pytest.raises(IntegrityError, match="cannot be canonicalised"):
        sign_object({"type": "Note", "count": 2**53}, key, METHOD, created=CREATED)


# --- tampering and malformed proofs -------------------------------------------------------------


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = document
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), "https://coop.example/activities/2"),
        (("type",), "Update"),
        (("actor",), "https://evil.example/users/mallory"),
        (("to",), []),
        (("object", "content"), "<p>Ride to the market on Sunday</p>"),
        (("object", "attributedTo"), "https://evil.example/users/mallory"),
        (("object", "tag"), []),
        (("extra",), "added"),
        (("proof", "created"), "2024-05-01T12:30:16Z"),
        (("proof", "verificationMethod"), "https://evil.example/users/mallory#ed25519-key"),
        (("proof", "nonce"), "added"),
    ],
)
def test_tampering_breaks_the_signature(
    key: Ed25519PrivateKey, note: dict[str, Any], path: tuple[str, ...], value: Any
) -> None:
    # Given a signed note with one member changed or added afterwards
    signed = sign_object(note, key, METHOD, created=CREATED)
    _set(signed, path, value)

    # Then verification fails on the signature
    with pytest.raises(IntegrityError, match="signature mismatch"):
        verify_object(signed, key.public_key())


@pytest.mark.parametrize("name", ["id", "to", "object"])
def test_removing_a_member_breaks_the_signature(
    key: Ed25519PrivateKey, note: dict[str, Any], name: str
) -> None:
    signed = without(sign_object(note, key, METHOD, created=CREATED), name)
    with pytest.raises(IntegrityError, match="signature mismatch"):
        verify_object(signed, key.public_key())


def test_another_key_does_not_verify(key: Ed25519PrivateKey, note: dict[str, Any]) -> None:
    signed = sign_object(note, key, METHOD, created=CREATED)
    other = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    with pytest.raises(IntegrityError, match="signature mismatch"):
        verify_object(signed, other)


def test_appended_document_context_is_refused(key: Ed25519PrivateKey, note: dict[str, Any]) -> None:
    # Given a relay that appends a context redefining terms after signing
    signed = sign_object(note, key, METHOD, created=CREATED)
    signed["@context"] = [*signed["@context"], {"content": "https://evil.example/ns#content"}]

    # Then the proof is refused before any hashing
    with pytest.raises(IntegrityError, match="@context does not match"):
        verify_object(signed, key.public_key())


@pytest.mark.parametrize(
    ("proof_change", "reason"),
    [
        ({"type": "Ed25519Signature2020"}, "unknown proof type"),
        ({"cryptosuite": "eddsa-rdfc-2022"}, "unknown cryptosuite 'eddsa-rdfc-2022'"),
        ({"cryptosuite": None}, "unknown cryptosuite"),
        ({"proofPurpose": "authentication"}, "wrong proof purpose 'authentication'"),
        ({"verificationMethod": None}, "no verificationMethod"),
        ({"created": 1714566615}, "created is not a dateTime"),
        ({"proofValue": None}, "bad proofValue"),
        ({"proofValue": "u" + "A" * 86}, "bad proofValue"),
        ({"proofValue": "z" + "0OIl" * 20}, "bad proofValue"),
        ({"proofValue": "z" + base58btc_encode(b"\x01" * 63)}, "bad proofValue: 63 bytes"),
        ({"proofValue": "z" + base58btc_encode(b"\x01" * 65)}, "bad proofValue: 65 bytes"),
        ({"proofValue": "z" + "2" * 100_000}, "bad proofValue: .* too long"),
    ],
)
def test_malformed_proof_is_refused_with_its_reason(
    key: Ed25519PrivateKey, note: dict[str, Any], proof_change: dict[str, Any], reason: str
) -> None:
    signed = sign_object(note, key, METHOD, created=CREATED)
    signed["proof"].update(proof_change)
    with pytest.raises(IntegrityError, match=reason):
        verify_object(signed, key.public_key())


@pytest.mark.parametrize(
    ("proof", "reason"),
    [(None, "missing proof"), ([{}], "proof sets"), ("z123", "not a JSON object")],
)
def test_missing_or_odd_proof_is_refused(
    key: Ed25519PrivateKey, note: dict[str, Any], proof: Any, reason: str
) -> None:
    if proof is not None:
        note["proof"] = proof
    with pytest.raises(IntegrityError, match=reason):
        verify_object(note, key.public_key())
    with pytest.raises(IntegrityError, match=reason):
        verification_method_of(note)


def test_verification_method_of_needs_one(key: Ed25519PrivateKey, note: dict[str, Any]) -> None:
    signed = sign_object(note, key, METHOD, created=CREATED)
    assert verification_method_of(signed) == METHOD
    del signed["proof"]["verificationMethod"]
    with pytest.raises(IntegrityError, match="no verificationMethod"):
        verification_method_of(signed)


# --- keys --------------------------------------------------------------------------------------


def test_generated_key_signs_and_its_multikey_verifies(note: dict[str, Any]) -> None:
    secret = generate_key()
    published = public_multikey(secret.public_key())
    assert published.startswith("z6Mk")
    signed = sign_object(note, secret, METHOD, created=CREATED)
    verify_object(signed, public_key_from_multikey(published))


def test_private_key_text_round_trips(key: Ed25519PrivateKey) -> None:
    text = private_key_to_text(key)
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert private_multikey(private_key_from_text(text)) == private_multikey(key)


def test_private_key_text_rejects_garbage_and_other_algorithms() -> None:
    with pytest.raises(IntegrityError, match="not a PEM private key"):
        private_key_from_text("not a key")
    rsa_pem = (
        generate_private_key(public_exponent=65537, key_size=1024)
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    with pytest.raises(IntegrityError, match="not Ed25519"):
        private_key_from_text(rsa_pem)


def _multibase(raw: bytes) -> str:
    return "z" + base58btc_encode(raw)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "must start with 'z'"),
        ("6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", "must start with 'z'"),
        ("f" + (b"\xed\x01" + bytes(32)).hex(), "must start with 'z'"),
        ("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ0", "not a base58btc character"),
        (_multibase(b"\x80\x26" + bytes(range(32))), "not an Ed25519 public key"),
        (_multibase(b"\x12\x05" + bytes(range(32))), "not an Ed25519 public key"),
        (_multibase(b"\xed\x01" + bytes(range(31))), "has 31 bytes"),
        (_multibase(b"\xed\x01" + bytes(range(33))), "has 33 bytes"),
        (_multibase(bytes(range(32))), "not an Ed25519 public key"),
        ("z" + "2" * 200, "too long"),
    ],
)
def test_public_multikey_rejects_bad_input(text: str, reason: str) -> None:
    with pytest.raises(IntegrityError, match=reason):
        public_key_from_multikey(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", "not an Ed25519 secret key"),
        (_multibase(b"\x80\x26" + bytes(31)), "has 31 bytes"),
    ],
)
def test_secret_multikey_rejects_bad_input(text: str, reason: str) -> None:
    with pytest.raises(IntegrityError, match=reason):
        private_key_from_multikey(text)


def test_assertion_method_publishes_a_multikey(key: Ed25519PrivateKey) -> None:
    method = assertion_method(ACTOR, key.public_key())
    assert method == {
        "id": METHOD,
        "type": "Multikey",
        "controller": ACTOR,
        "publicKeyMultibase": public_multikey(key.public_key()),
    }


@pytest.mark.parametrize("as_list", [True, False])
def test_find_multikey_reads_a_list_or_a_single_method(
    key: Ed25519PrivateKey, note: dict[str, Any], as_list: bool
) -> None:
    # Given an actor publishing its method, alone or among a reference and another key
    method = assertion_method(ACTOR, key.public_key())
    other = assertion_method(ACTOR, generate_key().public_key()) | {"id": ACTOR + "#other"}
    actor = {
        "id": ACTOR,
        "type": "Person",
        "assertionMethod": [ACTOR + "#main-key", other, method] if as_list else method,
    }

    # When the signed note's method is looked up
    signed = sign_object(note, key, METHOD, created=CREATED)
    public = find_multikey(actor, verification_method_of(signed))

    # Then it is the signing key
    verify_object(signed, public)


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        ({"type": "Person"}, "no id"),
        ({"id": ACTOR}, "no assertionMethod"),
        ({"id": ACTOR, "assertionMethod": "https://coop.example/key"}, "no assertionMethod"),
        ({"id": ACTOR, "assertionMethod": []}, "not in the actor's assertionMethod"),
        ({"id": ACTOR, "assertionMethod": [METHOD]}, "not in the actor's assertionMethod"),
        (
            {"id": ACTOR, "assertionMethod": [{"id": METHOD, "type": "JsonWebKey"}]},
            "not Multikey",
        ),
        (
            {
                "id": ACTOR,
                "assertionMethod": [{"id": METHOD, "type": "Multikey", "controller": ACTOR}],
            },
            "no publicKeyMultibase",
        ),
    ],
)
def test_find_multikey_refuses_what_it_cannot_use(actor: dict[str, Any], reason: str) -> None:
    with pytest.raises(IntegrityError, match=reason):
        find_multikey(actor, METHOD)


def test_find_multikey_refuses_a_key_controlled_by_someone_else(key: Ed25519PrivateKey) -> None:
    # Given an actor listing, under its own id, a key whose controller is another actor
    stolen = assertion_method("https://other.example/users/bo", key.public_key()) | {"id": METHOD}
    actor = {"id": ACTOR, "assertionMethod": [stolen]}

    # Then the key is not accepted as this actor's
    with pytest.raises(IntegrityError, match=r"controlled by 'https://other\.example/users/bo'"):
        find_multikey(actor, METHOD)


# --- base58btc ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"", ""),
        (b"\x00", "1"),
        (b"\x00\x00\x00", "111"),
        (b"a", "2g"),
        (b"bbb", "a3gV"),
        (b"hello world", "StV1DL6CwTryKyV"),
        # From Bitcoin Core's base58_encode_decode.json
        (bytes.fromhex("636363"), "aPEr"),
        (bytes.fromhex("00000000000000000000"), "1111111111"),
        (bytes.fromhex("bf4f89001e670274dd"), "3SEo3LWLoPntC"),
        (
            bytes.fromhex("00eb15231dfceb60925886b67d065299925915aeb172c06647"),
            "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
        ),
        (
            bytes.fromhex(
                "000111d38e5fc9071ffcd20b4a763cc9ae4f252bb4e48fd66a835e252ada93ff480d6dd43dc62a641155a5"
            ),
            "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz",
        ),
    ],
)
def test_base58btc_known_values(raw: bytes, text: str) -> None:
    assert base58btc_encode(raw) == text
    assert base58btc_decode(text) == raw


@settings(derandomize=True, max_examples=300)
@given(st.binary(max_size=80))
def test_base58btc_round_trips_any_bytes(raw: bytes) -> None:
    assert base58btc_decode(base58btc_encode(raw)) == raw


@settings(derandomize=True, max_examples=100)
@given(st.integers(min_value=1, max_value=8), st.binary(min_size=1, max_size=40))
def test_base58btc_keeps_leading_zero_bytes(zeros: int, rest: bytes) -> None:
    raw = b"\x00" * zeros + rest
    text = base58btc_encode(raw)
    assert text.startswith("1" * zeros)
    assert base58btc_decode(text) == raw


@pytest.mark.parametrize("char", ["0", "O", "I", "l", "+", "/", "=", " ", "é"])
def test_base58btc_rejects_characters_outside_the_alphabet(char: str) -> None:
    with pytest.raises(IntegrityError, match="not a base58btc character"):
        base58btc_decode("2g" + char)
