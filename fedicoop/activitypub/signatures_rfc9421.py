"""RFC 9421: signature bases, the algorithms, and the RFC 8941 structured fields they use."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

BareItem = int | str | bytes | bool
Parameters = dict[str, BareItem]


class StructuredFieldError(ValueError):
    """A header is not a valid structured field, or asks for something we do not build."""


class Token(str):
    """An RFC 8941 token: a bare word, serialised without quotes."""

    __slots__ = ()


@dataclass(frozen=True)
class Item:
    """A bare item with its parameters."""

    value: BareItem
    params: Parameters


@dataclass(frozen=True)
class InnerList:
    """A parenthesised list of items with the list's own parameters."""

    items: tuple[Item, ...]
    params: Parameters


_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_OBS_FOLD = re.compile(r"[ \t]*\r?\n[ \t]*")

RFC9421_ALGORITHMS = frozenset(
    {"rsa-v1_5-sha256", "rsa-pss-sha512", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"}
)
_ECDSA: dict[str, tuple[type[ec.EllipticCurve], int, hashes.HashAlgorithm]] = {
    "ecdsa-p256-sha256": (ec.SECP256R1, 32, hashes.SHA256()),
    "ecdsa-p384-sha384": (ec.SECP384R1, 48, hashes.SHA384()),
}


class _Reader:
    """A cursor over one header value, implementing the parsing steps of RFC 8941 §4.2."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at character {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        found = pattern.match(self.text, self.pos)
        if found is None:
            raise self.fail(f"expected {what}")
        self.pos = found.end()
        return found

    def dictionary(self) -> dict[str, Item | InnerList]:
        members: dict[str, Item | InnerList] = {}
        self.skip(" ")
        while self.pos < len(self.text):
            key = self.match(_KEY, "a key").group()
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                members[key] = Item(True, self.parameters())
            self.skip(" \t")
            if self.pos == len(self.text):
                return members
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip(" \t")
            if self.pos == len(self.text):
                raise self.fail("trailing ','")
        return members

    def inner_list(self) -> InnerList:
        self.pos += 1
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")

    def item(self) -> Item:
        return Item(self.bare_item(), self.parameters())

    def parameters(self) -> Parameters:
        params: Parameters = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.match(_KEY, "a parameter key").group()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def bare_item(self) -> BareItem:
        first = self.peek()
        if first == '"':
            return self.string()
        if first == ":":
            return self.byte_sequence()
        if first == "?":
            flag = self.text[self.pos + 1 : self.pos + 2]
            if flag not in ("0", "1"):
                raise self.fail("expected a boolean")
            self.pos += 2
            return flag == "1"
        if first == "-" or first.isdigit():
            number = int(self.match(_INTEGER, "an integer").group())
            if self.peek() == ".":
                raise self.fail("decimals are not used in signatures")
            return number
        return Token(self.match(_TOKEN, "an item").group())

    def string(self) -> str:
        out: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise self.fail("bad escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise self.fail("non-printable character in string")
            else:
                out.append(char)
        raise self.fail("unterminated string")

    def byte_sequence(self) -> bytes:
        encoded = self.match(_BYTES, "a byte sequence").group(1)
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise self.fail("bad base64 in byte sequence") from error


def parse_dictionary(text: str) -> dict[str, Item | InnerList]:
    """Parse an RFC 8941 dictionary such as Signature-Input, Signature or Content-Digest."""
    return _Reader(text.strip(" ")).dictionary()


def serialize_bare_item(value: BareItem) -> str:
    """Serialise a bare item as RFC 8941 §4.1.3 says."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_parameters(params: Parameters) -> str:
    """Serialise parameters, writing a true boolean as the bare key."""
    return "".join(
        f";{key}" if value is True else f";{key}={serialize_bare_item(value)}"
        for key, value in params.items()
    )


def serialize_inner_list(inner: InnerList) -> str:
    """Serialise an inner list: the exact text of the @signature-params line."""
    items = " ".join(
        serialize_bare_item(i.value) + serialize_parameters(i.params) for i in inner.items
    )
    return f"({items}){serialize_parameters(inner.params)}"


@dataclass(frozen=True)
class HttpMessage:
    """The parts of a request (or response) that a signature can cover."""

    method: str
    scheme: str
    path: str
    query: str | None
    fields: Mapping[str, tuple[str, ...]]
    status: int | None = None

    @property
    def request_target(self) -> str:
        """Return the origin-form target: path plus query."""
        return self.path if self.query is None else f"{self.path}?{self.query}"

    @property
    def authority(self) -> str | None:
        """Return the Host, lowercased and without the scheme's default port (RFC 9110 §4.2.3)."""
        host = self.field_value("host")
        if host is None:
            return None
        host = host.lower()
        default_port = {"https": ":443", "http": ":80"}.get(self.scheme.lower(), "")
        return host.removesuffix(default_port) if default_port else host

    def field_value(self, name: str) -> str | None:
        """Return a header's combined value (see combine_field_lines), or None if absent."""
        lines = self.fields.get(name)
        return None if lines is None else combine_field_lines(lines)


def combine_field_lines(lines: Iterable[str]) -> str:
    """Trim each line of a header, unfold obsolete line folding and join them with ', '.

    draft-cavage §2.3 and RFC 9421 §2.1 agree on this rule, so both schemes share it.
    """
    return ", ".join(_OBS_FOLD.sub(" ", line.strip(" \t")) for line in lines)


def _form_encode(text: str) -> str:
    """Percent-encode with the application/x-www-form-urlencoded set, as RFC 9421 §2.2.8 says."""
    return quote(text, safe="*-._").replace("~", "%7E")


def _query_param(message: HttpMessage, params: Parameters) -> str:
    """Return the one value of the query parameter a @query-param component names."""
    name = params.get("name")
    if not isinstance(name, str) or isinstance(name, Token) or set(params) != {"name"}:
        raise StructuredFieldError('@query-param needs exactly one string parameter "name"')
    values = [
        _form_encode(value)
        for key, value in parse_qsl(message.query or "", keep_blank_values=True)
        if _form_encode(key) == name
    ]
    # RFC 9421 §2.2.8: a repeated parameter must not be signed on its own, it is ambiguous.
    if len(values) != 1:
        raise StructuredFieldError(f"query parameter {name!r} occurs {len(values)} times")
    return values[0]


def component_value(message: HttpMessage, name: str, params: Parameters) -> str:
    """Return the value of one covered component (RFC 9421 §2.1 and §2.2)."""
    if name == "@query-param":
        return _query_param(message, params)
    if params:
        raise StructuredFieldError(f"component parameters on {name!r} are not supported")
    authority = message.authority
    derived: dict[str, str | None] = {
        "@method": message.method,
        "@authority": authority,
        "@scheme": message.scheme.lower(),
        "@path": message.path,
        "@query": "?" + (message.query or ""),
        "@request-target": message.request_target,
        "@target-uri": None
        if authority is None
        else f"{message.scheme.lower()}://{authority}{message.request_target}",
        "@status": None if message.status is None else str(message.status),
    }
    if name.startswith("@"):
        if name not in derived:
            raise StructuredFieldError(f"unknown derived component {name!r}")
        value = derived[name]
    else:
        value = message.field_value(name)
    if value is None:
        raise StructuredFieldError(f"covered component {name!r} is not in the message")
    return value


@dataclass(frozen=True)
class SignatureBase:
    """One labelled RFC 9421 signature and the exact bytes it was made over."""

    label: str
    components: tuple[str, ...]
    params: Parameters
    signature: bytes
    base: bytes


def _component_names(inner: InnerList) -> list[tuple[str, Parameters]]:
    """Check the covered component identifiers and return them as (name, parameters)."""
    names: list[tuple[str, Parameters]] = []
    for item in inner.items:
        if not isinstance(item.value, str) or isinstance(item.value, Token):
            raise StructuredFieldError("covered components must be strings")
        if item.value != item.value.lower():
            raise StructuredFieldError(f"component name {item.value!r} is not lowercase")
        if item.value == "@signature-params":
            raise StructuredFieldError("@signature-params cannot itself be covered")
        names.append((item.value, item.params))
    identifiers = [name + serialize_parameters(params) for name, params in names]
    # RFC 9421 §2.5: a component listed twice makes the base ambiguous, so it is an error.
    if len(set(identifiers)) != len(identifiers):
        raise StructuredFieldError("a covered component is listed twice")
    return names


def build_signature_base(message: HttpMessage, label: str | None = None) -> SignatureBase:
    """Parse Signature-Input and Signature and build the signature base (RFC 9421 §2.5)."""
    inputs = parse_dictionary(message.field_value("signature-input") or "")
    signatures = parse_dictionary(message.field_value("signature") or "")
    if label is None:
        if not inputs:
            raise StructuredFieldError("Signature-Input has no members")
        label = next(iter(inputs))
    inner = inputs.get(label)
    if not isinstance(inner, InnerList):
        raise StructuredFieldError(f"Signature-Input has no inner list labelled {label!r}")
    signed = signatures.get(label)
    if not isinstance(signed, Item) or not isinstance(signed.value, bytes):
        raise StructuredFieldError(f"Signature has no byte sequence labelled {label!r}")
    lines = []
    identifiers = []
    for name, params in _component_names(inner):
        identifier = serialize_bare_item(name) + serialize_parameters(params)
        lines.append(f"{identifier}: {component_value(message, name, params)}")
        identifiers.append(name + serialize_parameters(params))
    lines.append(f'"@signature-params": {serialize_inner_list(inner)}')
    return SignatureBase(
        label=label,
        components=tuple(identifiers),
        params=inner.params,
        signature=signed.value,
        base="\n".join(lines).encode("utf-8", "surrogateescape"),
    )


def parse_content_digest(value: str) -> dict[str, bytes]:
    """Parse a Content-Digest header (RFC 9530) into algorithm → digest bytes."""
    digests: dict[str, bytes] = {}
    for algorithm, member in parse_dictionary(value).items():
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise StructuredFieldError(f"Content-Digest member {algorithm!r} is not bytes")
        digests[algorithm] = member.value
    return digests


def algorithm_for_key(public_key: PublicKeyTypes) -> str | None:
    """Pick the algorithm a key implies when the signature does not name one."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa-v1_5-sha256"  # what Mastodon signs RFC 9421 requests with
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for name, (curve, _, _) in _ECDSA.items():
            if isinstance(public_key.curve, curve):
                return name
    return None


def verify_with_algorithm(
    algorithm: str, key: PublicKeyTypes, signature: bytes, data: bytes
) -> bool:
    """Verify raw signature bytes with one RFC 9421 §3.3 algorithm; False on any mismatch."""
    try:
        if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
            key.verify(signature, data, pss, hashes.SHA512())
        elif algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif algorithm in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            curve, size, digest = _ECDSA[algorithm]
            # RFC 9421 §3.3.4: the signature is r||s of fixed width, not DER.
            if not isinstance(key.curve, curve) or len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size]), int.from_bytes(signature[size:])
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True
