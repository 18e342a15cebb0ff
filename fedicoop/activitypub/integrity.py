"""FEP-8b32 object integrity proofs: eddsa-jcs-2022 Data Integrity proofs, Ed25519 Multikeys.

Signing and verifying follow W3C "Data Integrity EdDSA Cryptosuites v1.0" §3.3 (eddsa-jcs-2022):
hash = SHA-256(JCS(proof options)) || SHA-256(JCS(document without proof)), signed with Ed25519,
proofValue = multibase base58btc of the 64-byte signature. Keys are W3C Multikeys (multicodec
0xed01 for public keys, 0x8026 for secret keys). Finding the actor and fetching it is the caller's
job; `find_multikey` only reads an actor document already fetched from its own id.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_PURPOSE = "assertionMethod"
KEY_FRAGMENT = "#ed25519-key"

_ED25519_PUBLIC_CODEC = b"\xed\x01"
_ED25519_SECRET_CODEC = b"\x80\x26"
_KEY_BYTES = 32
_SIGNATURE_BYTES = 64
# base58 decoding is quadratic in the input length, so a hostile megabyte-long proofValue would
# pin a CPU; every real value here is under 100 characters.
_MAX_MULTIBASE_CHARS = 128

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_DIGITS = {char: value for value, char in enumerate(_B58_ALPHABET)}


class IntegrityError(ValueError):
    """An integrity proof, or a key it needs, is missing, malformed or does not verify."""


# --- base58btc and multibase -------------------------------------------------------------------


def base58btc_encode(raw: bytes) -> str:
    """Encode bytes in the Bitcoin base58 alphabet; each leading zero byte becomes a '1'."""
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    number = int.from_bytes(raw, "big")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_B58_ALPHABET[remainder])
    return "1" * zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    """Decode Bitcoin base58 text; raise IntegrityError on a character outside the alphabet."""
    number = 0
    for char in text:
        digit = _B58_DIGITS.get(char)
        if digit is None:
            raise IntegrityError(f"{char!r} is not a base58btc character")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def _from_multibase(text: object, what: str) -> bytes:
    """Decode a multibase base58btc ('z') string, naming `what` in any error."""
    if not isinstance(text, str) or not text.startswith("z"):
        raise IntegrityError(f"{what} is not multibase base58btc (must start with 'z')")
    if len(text) > _MAX_MULTIBASE_CHARS:
        raise IntegrityError(f"{what} is too long ({len(text)} characters)")
    try:
        return base58btc_decode(text[1:])
    except IntegrityError as exc:
        raise IntegrityError(f"{what}: {exc}") from None


# --- keys --------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    """Make a fresh Ed25519 key for signing an actor's objects."""
    return Ed25519PrivateKey.generate()


def private_key_to_text(key: Ed25519PrivateKey) -> str:
    """Serialise a private key for storage as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """Load a private key stored by `private_key_to_text`."""
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"stored key is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityError(f"stored key is {type(key).__name__}, not Ed25519")
    return key


def public_multikey(key: Ed25519PublicKey) -> str:
    """Encode a public key as a Multikey publicKeyMultibase value ("z6Mk...")."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "z" + base58btc_encode(_ED25519_PUBLIC_CODEC + raw)


def public_key_from_multikey(text: str) -> Ed25519PublicKey:
    """Decode a publicKeyMultibase value; it must be an Ed25519 key (multicodec 0xed01)."""
    decoded = _from_multibase(text, "publicKeyMultibase")
    if not decoded.startswith(_ED25519_PUBLIC_CODEC):
        raise IntegrityError("publicKeyMultibase is not an Ed25519 public key (multicodec 0xed01)")
    raw = decoded[len(_ED25519_PUBLIC_CODEC) :]
    if len(raw) != _KEY_BYTES:
        raise IntegrityError(f"Ed25519 public key has {len(raw)} bytes, not {_KEY_BYTES}")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_multikey(key: Ed25519PrivateKey) -> str:
    """Encode a private key as a Multikey secretKeyMultibase value (multicodec 0x8026)."""
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return "z" + base58btc_encode(_ED25519_SECRET_CODEC + raw)


def private_key_from_multikey(text: str) -> Ed25519PrivateKey:
    """Decode a secretKeyMultibase value; it must be an Ed25519 seed (multicodec 0x8026)."""
    decoded = _from_multibase(text, "secretKeyMultibase")
    if not decoded.startswith(_ED25519_SECRET_CODEC):
        raise IntegrityError("secretKeyMultibase is not an Ed25519 secret key (multicodec 0x8026)")
    raw = decoded[len(_ED25519_SECRET_CODEC) :]
    if len(raw) != _KEY_BYTES:
        raise IntegrityError(f"Ed25519 secret key has {len(raw)} bytes, not {_KEY_BYTES}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def assertion_method(actor_uri: str, key: Ed25519PublicKey) -> dict[str, Any]:
    """The Multikey object to publish in an actor's `assertionMethod` list."""
    return {
        "id": actor_uri + KEY_FRAGMENT,
        "type": "Multikey",
        "controller": actor_uri,
        "publicKeyMultibase": public_multikey(key),
    }


def find_multikey(actor_document: dict[str, Any], verification_method: str) -> Ed25519PublicKey:
    """Find `verification_method` in the actor's assertionMethod and return its public key."""
    actor_id = actor_document.get("id")
    if not isinstance(actor_id, str):
        raise IntegrityError("actor document has no id")
    methods = actor_document.get("assertionMethod")
    if isinstance(methods, dict):
        methods = [methods]
    if not isinstance(methods, list):
        raise IntegrityError("actor has no assertionMethod")
    for method in methods:
        # A bare string is a reference to a key published elsewhere; fetching it is out of scope.
        if not isinstance(method, dict) or method.get("id") != verification_method:
            continue
        if method.get("type") != "Multikey":
            raise IntegrityError(f"{verification_method} is {method.get('type')!r}, not Multikey")
        # Without this an actor could list another actor's key and pass off that actor's
        # signed objects as its own (or the reverse): the key must belong to this actor.
        if method.get("controller") != actor_id:
            raise IntegrityError(
                f"{verification_method} is controlled by {method.get('controller')!r}, "
                f"not by the actor {actor_id}"
            )
        key_text = method.get("publicKeyMultibase")
        if not isinstance(key_text, str):
            raise IntegrityError(f"{verification_method} has no publicKeyMultibase")
        return public_key_from_multikey(key_text)
    raise IntegrityError(f"{verification_method} is not in the actor's assertionMethod")


# --- proofs ------------------------------------------------------------------------------------


def _jcs(value: Any, what: str) -> bytes:
    """Canonicalise with JCS (RFC 8785), turning its refusals into IntegrityError."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise IntegrityError(f"{what} cannot be canonicalised (RFC 8785): {exc}") from None


def _hash_data(proof_options: dict[str, Any], unsecured_document: dict[str, Any]) -> bytes:
    """eddsa-jcs-2022 hashing: the proof options hash first, then the document hash."""
    return (
        hashlib.sha256(_jcs(proof_options, "proof")).digest()
        + hashlib.sha256(_jcs(unsecured_document, "document")).digest()
    )


def _xml_datetime(moment: datetime) -> str:
    """Format a timezone-aware moment as an XML Schema dateTime in UTC, to the second."""
    if moment.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_object(
    document: dict[str, Any],
    key: Ed25519PrivateKey,
    verification_method: str,
    *,
    created: datetime | None = None,
) -> dict[str, Any]:
    """Return a copy of `document` with an eddsa-jcs-2022 `proof` by `verification_method`."""
    if "proof" in document:
        raise IntegrityError("document already has a proof; proof sets are not supported")
    signed = copy.deepcopy(document)
    proof: dict[str, Any] = {}
    if "@context" in signed:
        proof["@context"] = copy.deepcopy(signed["@context"])
    proof.update(
        {
            "type": PROOF_TYPE,
            "cryptosuite": CRYPTOSUITE,
            "verificationMethod": verification_method,
            "proofPurpose": PROOF_PURPOSE,
            "created": _xml_datetime(created or datetime.now(UTC)),
        }
    )
    signature = key.sign(_hash_data(proof, signed))
    proof["proofValue"] = "z" + base58btc_encode(signature)
    signed["proof"] = proof
    return signed


def _proof_of(document: dict[str, Any]) -> dict[str, Any]:
    """The document's single proof object, or IntegrityError."""
    if not isinstance(document, dict):
        raise IntegrityError("document is not a JSON object")
    proof = document.get("proof")
    if proof is None:
        raise IntegrityError("missing proof")
    if isinstance(proof, list):
        raise IntegrityError("proof sets are not supported")
    if not isinstance(proof, dict):
        raise IntegrityError("proof is not a JSON object")
    return proof


def verification_method_of(document: dict[str, Any]) -> str:
    """The verificationMethod named by the document's proof."""
    method = _proof_of(document).get("verificationMethod")
    if not isinstance(method, str) or not method:
        raise IntegrityError("proof has no verificationMethod")
    return method


def verify_object(document: dict[str, Any], public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Check the document's eddsa-jcs-2022 proof against `public_key`; return the proof."""
    proof = _proof_of(document)
    if proof.get("type") != PROOF_TYPE:
        raise IntegrityError(f"unknown proof type {proof.get('type')!r}")
    if proof.get("cryptosuite") != CRYPTOSUITE:
        raise IntegrityError(f"unknown cryptosuite {proof.get('cryptosuite')!r}")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        raise IntegrityError(
            f"wrong proof purpose {proof.get('proofPurpose')!r}, expected {PROOF_PURPOSE!r}"
        )
    verification_method_of(document)
    if "created" in proof and not isinstance(proof["created"], str):
        raise IntegrityError("proof created is not a dateTime string")
    # The spec only asks that the document's @context start with the proof's; requiring equality
    # stops a relay appending a context that redefines signed terms without breaking the proof.
    if "@context" in proof and proof["@context"] != document.get("@context"):
        raise IntegrityError("proof @context does not match the document's @context")
    try:
        signature = _from_multibase(proof.get("proofValue"), "proofValue")
    except IntegrityError as exc:
        raise IntegrityError(f"bad proofValue: {exc}") from None
    if len(signature) != _SIGNATURE_BYTES:
        raise IntegrityError(
            f"bad proofValue: {len(signature)} bytes, an Ed25519 signature has {_SIGNATURE_BYTES}"
        )
    proof_options = {name: value for name, value in proof.items() if name != "proofValue"}
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    try:
        public_key.verify(signature, _hash_data(proof_options, unsecured))
    except InvalidSignature:
        raise IntegrityError("signature mismatch") from None
    return proof
