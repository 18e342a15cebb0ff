"""HTTP signatures: the published vectors, interop with httpsig, and our acceptance policy."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpsig
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from multidict import CIMultiDict, CIMultiDictProxy

from fedicoop.activitypub.signatures import (
    ParsedSignature,
    SignatureError,
    check_policy,
    digest_header,
    load_private_key,
    load_public_key,
    parse_signature,
    sign_cavage,
    sign_request,
    verify_signature,
)
from fedicoop.errors import NotAuthorized

FIXTURES = Path(__file__).parent.parent / "fixtures" / "signatures"
CAVAGE: dict[str, Any] = json.loads((FIXTURES / "cavage-appendix-c.json").read_text())
RFC9421: dict[str, Any] = json.loads((FIXTURES / "rfc9421-appendix-b.json").read_text())
CAVAGE_CASES = {case["id"]: case for case in CAVAGE["cases"]}
RFC9421_CASES = {case["id"]: case for case in RFC9421["cases"]}

SPEC_REQUEST = CAVAGE["request"]
SPEC_PUBLIC_KEY = load_public_key(CAVAGE["public_key_pem"])
SPEC_PRIVATE_KEY = load_private_key(CAVAGE["private_key_pem"])

SIGNED_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY_ID = "https://coop.example/users/ana#main-key"
INBOX = "https://coop.example/users/ana/inbox"
ACTIVITY = b'{"type": "Follow", "actor": "https://coop.example/users/ana"}'


# --- helpers ----------------------------------------------------------------------------------


def spec_request_headers(**extra: str) -> CIMultiDictProxy[str]:
    """Return the draft-cavage Appendix C request headers plus the given ones."""
    headers = CIMultiDict[str](SPEC_REQUEST["headers"])
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return CIMultiDictProxy(headers)


def parse_spec_request(headers: CIMultiDictProxy[str]) -> ParsedSignature:
    """Parse a signature over the Appendix C request."""
    return parse_signature(
        SPEC_REQUEST["method"], SPEC_REQUEST["path"], headers, SPEC_REQUEST["body"].encode()
    )


def rfc9421_headers(
    message: dict[str, Any], signature_input: str, signature: str
) -> CIMultiDict[str]:
    """Return an RFC 9421 Appendix B message's headers carrying one signature."""
    headers = CIMultiDict[str](message["headers"])
    headers.add("Signature-Input", signature_input)
    headers.add("Signature", signature)
    return headers


def parse_rfc9421_case(case: dict[str, Any]) -> ParsedSignature:
    """Parse an Appendix B case against its message (a response uses its request's target)."""
    message = RFC9421["messages"][case["message"]]
    request = RFC9421["messages"].get(message.get("request", ""), message)
    headers = rfc9421_headers(message, case["signature_input"], case["signature"])
    return parse_signature(
        request["method"],
        request["request_target"],
        headers,
        message["body"].encode(),
        status=message.get("status"),
    )


def rfc9421_key(key_id: str) -> tuple[Any, str]:
    """Return an Appendix B public key and the algorithm it is for."""
    key = RFC9421["keys"][key_id]
    return load_public_key(key["public_key_pem"]), key["algorithm"]


def content_digest(body: bytes) -> str:
    """Return a Content-Digest header (RFC 9530) for a body."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def signed_rfc9421_post(
    components: str, *, body: bytes, created: datetime = SIGNED_AT, params: str = ""
) -> CIMultiDict[str]:
    """Return headers of a POST to INBOX signed RFC 9421 style, as Mastodon ≥ 4.5 does."""
    headers = CIMultiDict[str](
        {
            "Host": "coop.example",
            "Content-Type": "application/activity+json",
            "Content-Digest": content_digest(body),
            "Signature-Input": (
                f'sig1=({components});created={int(created.timestamp())};keyid="{KEY_ID}"{params}'
            ),
            "Signature": "sig1=:AA==:",
        }
    )
    unsigned = parse_signature("POST", "/users/ana/inbox", headers, body)
    raw = SPEC_PRIVATE_KEY.sign(unsigned.signing_string, padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = f"sig1=:{base64.b64encode(raw).decode()}:"
    return headers


def cavage_headers(covered: str, *, method: str = "POST", body: bytes = ACTIVITY) -> dict[str, str]:
    """Return headers signed draft-cavage style over an explicit header list (httpsig signs)."""
    headers = {
        "Host": "coop.example",
        "Date": "Wed, 01 May 2024 12:00:00 GMT",
        "Digest": digest_header(body),
    }
    signer = httpsig.HeaderSigner(
        KEY_ID,
        CAVAGE["private_key_pem"],
        algorithm="rsa-sha256",
        headers=covered.split(),
        sign_header="signature",
    )
    return dict(signer.sign(headers, method=method, path="/users/ana/inbox"))


def policy_error(
    parsed: ParsedSignature,
    *,
    method: str = "POST",
    headers: Any,
    body: bytes | None = ACTIVITY,
    now: datetime = SIGNED_AT,
) -> str:
    """Run check_policy expecting a refusal; return its reason."""
    with pytest.raises(SignatureError) as refusal:
        check_policy(parsed, method=method, headers=headers, body=body, now=now)
    return refusal.value.reason


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key like those our actors have."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    """Return (private PKCS#8 PEM, public SPKI PEM) of a key."""
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


# --- draft-cavage Appendix C ------------------------------------------------------------------

SPEC_CASES = ["default", "basic", "all-headers"]


@pytest.mark.parametrize("case_id", SPEC_CASES)
@pytest.mark.parametrize("header", ["Signature", "Authorization"])
def test_cavage_spec_vectors_verify_exactly(case_id: str, header: str) -> None:
    # Given the Appendix C request signed as the spec prints it
    case = CAVAGE_CASES[case_id]
    value = case[
        "signature_header_value" if header == "Signature" else "authorization_header_value"
    ]
    # When we parse it and check the signature
    parsed = parse_spec_request(spec_request_headers(**{header: value}))
    # Then we built the spec's signing string byte for byte, and the signature verifies
    assert parsed.scheme == "cavage"
    assert parsed.key_id == "Test"
    assert list(parsed.covered) == case["headers"]
    assert parsed.signing_string == case["signing_string"].encode()
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True


@pytest.mark.parametrize("case_id", [*SPEC_CASES, "all-headers-v12-declared-derived"])
def test_our_signer_reproduces_cavage_signatures(case_id: str) -> None:
    # Given a signing string and the Appendix C private key
    case = CAVAGE_CASES[case_id]
    # When we sign it (PKCS#1 v1.5 is deterministic)
    signature = sign_cavage(case["signing_string"].encode(), SPEC_PRIVATE_KEY)
    # Then we get the published signature exactly
    assert signature == case["signature"]


def test_cavage_v11_v12_vector_as_printed_fails() -> None:
    # Given the C.3 vector as drafts 11/12 print it: (created) with rsa-sha256, stale signature
    case = CAVAGE_CASES["all-headers-v11-v12-as-printed"]
    headers = spec_request_headers(Signature=case["signature_header_value"])
    # When we parse it, then draft-12 §2.3 makes (created) with an rsa algorithm an error
    with pytest.raises(SignatureError, match=r"\(created\) cannot be signed with rsa-sha256"):
        parse_spec_request(headers)
    # And even read as hs2019, the printed signature does not match the declared headers
    relabelled = case["signature_header_value"].replace("rsa-sha256", "hs2019")
    parsed = parse_spec_request(spec_request_headers(Signature=relabelled))
    assert parsed.signing_string == case["signing_string"].encode()
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is False


def test_cavage_created_and_expires_are_signed_with_hs2019() -> None:
    # Given the derived C.3 vector that covers (created) and (expires), labelled hs2019
    case = CAVAGE_CASES["all-headers-v12-declared-derived"]
    value = case["signature_header_value"].replace("rsa-sha256", "hs2019")
    # When we parse and verify it
    parsed = parse_spec_request(spec_request_headers(Signature=value))
    # Then the pseudo-headers are in the signing string and the times are exposed
    assert parsed.signing_string == case["signing_string"].encode()
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True
    assert parsed.created == datetime.fromtimestamp(case["created"], UTC)
    assert parsed.expires == datetime.fromtimestamp(case["expires"], UTC)


def test_cavage_signing_string_joins_repeats_unfolds_and_keeps_empty_headers() -> None:
    # Given the draft-12 §2.3 example: repeated Cache-Control, obs-fold, an empty header
    example = CAVAGE["signing_string_example_section_2_3"]
    headers = CIMultiDict[str](example["request"]["headers"])
    headers["Signature"] = (
        f'keyId="Test",algorithm="hs2019",created={example["created"]},'
        f'headers="{example["headers_param"]}",signature="AA=="'
    )
    # When we build its signing string
    parsed = parse_signature("GET", example["request"]["path"], headers, None)
    # Then it follows the rule's text: an empty header still gets "name: " with its space
    assert parsed.signing_string == example["expected_signing_string_per_rule"].encode()


def test_cavage_signature_fails_when_a_covered_header_changes() -> None:
    # Given the C.3 vector with its Date replaced after signing
    headers = CIMultiDict[str](spec_request_headers())
    headers["Date"] = "Sun, 05 Jan 2014 21:31:41 GMT"
    headers["Signature"] = CAVAGE_CASES["all-headers"]["signature_header_value"]
    # When we verify it, then it fails
    parsed = parse_spec_request(CIMultiDictProxy(headers))
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is False


def test_digest_header_matches_the_spec_request() -> None:
    assert digest_header(SPEC_REQUEST["body"].encode()) == dict(SPEC_REQUEST["headers"])["Digest"]


def test_sign_request_signs_the_spec_request_the_mastodon_way() -> None:
    # Given the Appendix C request and key
    # When we sign it as an outgoing POST
    headers = sign_request(
        "POST",
        "https://example.com/foo?param=value&pet=dog",
        key_id="Test",
        private_key=SPEC_PRIVATE_KEY,
        body=SPEC_REQUEST["body"].encode(),
        content_type="application/json",
        now=datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC),
    )
    # Then the headers are the spec's, signed over (request-target) host date digest content-type
    assert headers["Host"] == "example.com"
    assert headers["Date"] == "Sun, 05 Jan 2014 21:31:40 GMT"
    assert headers["Digest"] == "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
    assert headers["Content-Type"] == "application/json"
    assert headers["Signature"].startswith(
        'keyId="Test",algorithm="rsa-sha256",'
        'headers="(request-target) host date digest content-type",signature="'
    )
    parsed = parse_spec_request(CIMultiDictProxy(CIMultiDict(headers)))
    assert parsed.signing_string == (
        b"(request-target): post /foo?param=value&pet=dog\n"
        b"host: example.com\n"
        b"date: Sun, 05 Jan 2014 21:31:40 GMT\n"
        b"digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\n"
        b"content-type: application/json"
    )
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True


def test_sign_request_for_a_signed_fetch_covers_request_target_host_and_date() -> None:
    # Given a GET of a remote actor on a non-default port
    # When we sign it
    headers = sign_request(
        "GET",
        "https://remote.example:8443/users/bo",
        key_id=KEY_ID,
        private_key=SPEC_PRIVATE_KEY,
        now=SIGNED_AT,
    )
    # Then there is no body digest, and the port stays in Host
    assert set(headers) == {"Host", "Date", "Signature"}
    assert headers["Host"] == "remote.example:8443"
    assert 'headers="(request-target) host date"' in headers["Signature"]
    parsed = parse_signature("GET", "/users/bo", headers, None)
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True
    check_policy(parsed, method="GET", headers=headers, body=None, now=SIGNED_AT)


def test_keys_are_loaded_once_per_pem() -> None:
    assert load_private_key(CAVAGE["private_key_pem"]) is SPEC_PRIVATE_KEY
    assert load_public_key(CAVAGE["public_key_pem"]) is SPEC_PUBLIC_KEY


def test_only_rsa_private_keys_sign() -> None:
    with pytest.raises(TypeError):
        load_private_key(RFC9421["keys"]["test-key-ed25519"]["private_key_pem"])


# --- RFC 9421 Appendix B ----------------------------------------------------------------------

VERIFIABLE_RFC9421 = [case_id for case_id in RFC9421_CASES if case_id != "B.2.5"]


@pytest.mark.parametrize("case_id", VERIFIABLE_RFC9421)
def test_rfc9421_vectors_verify_exactly(case_id: str) -> None:
    # Given an Appendix B message carrying its published signature
    case = RFC9421_CASES[case_id]
    public_key, key_algorithm = rfc9421_key(case["keyid"])
    # When we parse it and check the signature with the key it names
    parsed = parse_rfc9421_case(case)
    # Then our signature base is the RFC's byte for byte, and the signature verifies
    assert parsed.scheme == "rfc9421"
    assert parsed.key_id == case["keyid"]
    assert parsed.signing_string == case["signature_base"].encode()
    assert verify_signature(parsed, public_key, key_algorithm=key_algorithm) is True


@pytest.mark.parametrize("case_id", ["B.2.6", "B.4", "4.3-proxy_sig"])
def test_rfc9421_deterministic_signatures_are_reproduced(case_id: str) -> None:
    # Given a deterministic (Ed25519, RSA v1.5) case and its private key
    case = RFC9421_CASES[case_id]
    pem = RFC9421["keys"][case["keyid"]]["private_key_pem"].encode()
    private_key = serialization.load_pem_private_key(pem, password=None)
    # When we sign our signature base
    base = parse_rfc9421_case(case).signing_string
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.sign(base)
    else:
        assert isinstance(private_key, rsa.RSAPrivateKey)
        raw = private_key.sign(base, padding.PKCS1v15(), hashes.SHA256())
    # Then we get the published bytes
    assert base64.b64encode(raw).decode() == case["signature_b64"]


@pytest.mark.parametrize(
    "variant",
    RFC9421["transformation_variants_B4"]["variants"],
    ids=lambda variant: variant["description"],
)
def test_rfc9421_transformed_messages_verify_only_when_covered_parts_survive(
    variant: dict[str, Any],
) -> None:
    # Given the B.4 signature on a message an intermediary changed
    b4 = RFC9421["transformation_variants_B4"]
    headers = rfc9421_headers(variant, b4["signature_input"], f"transform=:{b4['signature_b64']}:")
    # When we verify it
    parsed = parse_signature(variant["method"], variant["request_target"], headers, None)
    public_key, _ = rfc9421_key("test-key-ed25519")
    # Then it holds exactly when the RFC says it should
    assert verify_signature(parsed, public_key) is variant["expected_valid"]


def test_rfc9421_hmac_vector_is_never_accepted() -> None:
    # Given B.2.5, signed with a shared secret (its Signature-Input does not say so)
    case = RFC9421_CASES["B.2.5"]
    parsed = parse_rfc9421_case(case)
    assert parsed.signing_string == case["signature_base"].encode()
    # When a caller asks to verify it as hmac, then we refuse outright
    with pytest.raises(SignatureError, match="never accepted"):
        verify_signature(parsed, SPEC_PUBLIC_KEY, key_algorithm="hmac-sha256")
    # And when the signature declares hmac itself, it is refused while parsing
    declared = {**case, "signature_input": case["signature_input"] + ';alg="hmac-sha256"'}
    with pytest.raises(SignatureError, match="never accepted"):
        parse_rfc9421_case(declared)


def test_rfc9421_alg_must_agree_with_the_key() -> None:
    # Given proxy_sig, which declares rsa-v1_5-sha256
    parsed = parse_rfc9421_case(RFC9421_CASES["4.3-proxy_sig"])
    public_key, _ = rfc9421_key("test-key-rsa")
    # When the key is known to be for another algorithm, then it does not verify
    assert verify_signature(parsed, public_key, key_algorithm="rsa-pss-sha512") is False
    # And a key of the wrong type fails rather than raising
    assert verify_signature(parsed, rfc9421_key("test-key-ed25519")[0]) is False


def test_rfc9421_picks_the_labelled_signature_among_several() -> None:
    # Given the §4.3 forwarded request carrying the client's sig1 and the proxy's proxy_sig
    client, proxy = RFC9421_CASES["4.3-sig1"], RFC9421_CASES["4.3-proxy_sig"]
    message = RFC9421["messages"]["proxy-forwarded-request"]
    headers = rfc9421_headers(
        message,
        f"{client['signature_input']}, {proxy['signature_input']}",
        f"{client['signature']}, {proxy['signature']}",
    )
    target = message["request_target"]
    # When we read each label, then only the proxy's survives the changed Host
    as_client = parse_signature("POST", target, headers, None, label="sig1")
    as_proxy = parse_signature("POST", target, headers, None, label="proxy_sig")
    assert verify_signature(as_client, rfc9421_key("test-key-ecc-p256")[0]) is False
    assert verify_signature(as_proxy, rfc9421_key("test-key-rsa")[0]) is True
    # And without a label the first one is read
    assert parse_signature("POST", target, headers, None).covered == as_client.covered


# --- interop with httpsig ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "covered"),
    [
        ("POST", ACTIVITY, ["(request-target)", "host", "date", "digest", "content-type"]),
        ("GET", None, ["(request-target)", "host", "date"]),
    ],
)
def test_httpsig_verifies_what_we_sign(
    rsa_2048: rsa.RSAPrivateKey, method: str, body: bytes | None, covered: list[str]
) -> None:
    # Given a request we signed with an RSA-2048 key
    _, public_pem = pem_of(rsa_2048)
    headers = sign_request(
        method,
        INBOX + "?page=1",
        key_id=KEY_ID,
        private_key=rsa_2048,
        body=body,
        content_type="application/activity+json" if body else None,
        now=SIGNED_AT,
    )
    # When httpsig verifies it
    verifier = httpsig.HeaderVerifier(
        headers,
        public_pem,
        required_headers=covered,
        method=method,
        path="/users/ana/inbox?page=1",
        sign_header="signature",
    )
    # Then it agrees
    assert verifier.verify() is True


@pytest.mark.parametrize("sign_header", ["signature", "authorization"])
def test_we_verify_what_httpsig_signs(rsa_2048: rsa.RSAPrivateKey, sign_header: str) -> None:
    # Given a POST httpsig signed with an RSA-2048 key
    private_pem, public_pem = pem_of(rsa_2048)
    signer = httpsig.HeaderSigner(
        KEY_ID,
        private_pem,
        algorithm="rsa-sha256",
        headers=["(request-target)", "host", "date", "digest"],
        sign_header=sign_header,
    )
    headers = signer.sign(
        {
            "Host": "coop.example",
            "Date": "Wed, 01 May 2024 12:00:00 GMT",
            "Digest": digest_header(ACTIVITY),
        },
        method="POST",
        path="/users/ana/inbox",
    )
    # When we parse, verify and check it
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    # Then all three pass
    assert verify_signature(parsed, load_public_key(public_pem)) is True
    check_policy(parsed, method="POST", headers=headers, body=ACTIVITY, now=SIGNED_AT)


# --- acceptance policy ------------------------------------------------------------------------


def signed_post(body: bytes = ACTIVITY) -> tuple[ParsedSignature, dict[str, str]]:
    """Return a POST to INBOX as we sign it at SIGNED_AT, parsed."""
    headers = sign_request(
        "POST",
        INBOX,
        key_id=KEY_ID,
        private_key=SPEC_PRIVATE_KEY,
        body=body,
        content_type="application/activity+json",
        now=SIGNED_AT,
    )
    return parse_signature("POST", "/users/ana/inbox", headers, body), headers


def test_policy_accepts_a_fresh_signed_post_within_the_window() -> None:
    # Given a POST we signed
    parsed, headers = signed_post()
    # When it arrives 12 hours late, or with our clock 1 hour behind, then it is accepted
    for now in (SIGNED_AT + timedelta(hours=12), SIGNED_AT - timedelta(hours=1)):
        check_policy(parsed, method="POST", headers=headers, body=ACTIVITY, now=now)


def test_policy_refuses_a_post_whose_signature_leaves_out_the_digest() -> None:
    # Given a POST signed over (request-target) host date only
    headers = cavage_headers("(request-target) host date")
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True
    # When we check the policy, then the uncovered body is refused
    assert "must cover digest" in policy_error(parsed, headers=headers)


def test_policy_refuses_a_tampered_body() -> None:
    # Given a POST we signed, whose body is swapped on the way
    parsed, headers = signed_post()
    swapped = ACTIVITY.replace(b"Follow", b"Delete")
    # When we check it, then the signature still holds but the digest does not
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True
    assert "does not match its signed sha-256 digest" in policy_error(
        parsed, headers=headers, body=swapped
    )


def test_policy_refuses_a_date_older_than_twelve_hours() -> None:
    parsed, headers = signed_post()
    late = SIGNED_AT + timedelta(hours=12, seconds=1)
    assert "Date is more than 12 h old" in policy_error(parsed, headers=headers, now=late)


def test_policy_refuses_a_date_more_than_an_hour_ahead() -> None:
    parsed, headers = signed_post()
    early = SIGNED_AT - timedelta(hours=1, seconds=1)
    assert "Date is more than 1 h in the future" in policy_error(parsed, headers=headers, now=early)


@pytest.mark.parametrize(
    "date_lines",
    [
        ["yesterday"],
        ["Wed, 01 May 2024 12:00:00 +0200"],
        ["Wed, 31 Apr 2024 12:00:00 GMT"],
        ["Wed, 01 May 2024 12:00:00 GMT", "Thu, 01 May 2025 12:00:00 GMT"],
    ],
    ids=["prose", "offset", "no-such-day", "sent-twice"],
)
def test_policy_refuses_a_signed_date_that_is_not_one_http_date(date_lines: list[str]) -> None:
    # Given a signed POST whose Date header is not a single IMF-fixdate
    headers = CIMultiDict(cavage_headers("(request-target) host date digest"))
    headers.popall("Date")
    for line in date_lines:
        headers.add("Date", line)
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    # When we check the policy, then the date is refused rather than guessed at
    assert "is not an HTTP date" in policy_error(parsed, headers=headers)


def test_policy_refuses_a_signature_without_date_or_created() -> None:
    headers = cavage_headers("(request-target) host digest")
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    assert "neither date nor (created)" in policy_error(parsed, headers=headers)


def test_policy_refuses_a_signed_fetch_without_host() -> None:
    # Given a GET signed without its Host, replayable against any server
    headers = cavage_headers("(request-target) date", method="GET")
    parsed = parse_signature("GET", "/users/ana/inbox", headers, None)
    # When we check it, then it is refused
    reason = policy_error(parsed, method="GET", headers=headers, body=None)
    assert reason == "a GET signature must cover the host"


def test_policy_refuses_a_signature_without_request_target() -> None:
    headers = cavage_headers("host date digest")
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    assert "(request-target)" in policy_error(parsed, headers=headers)


def test_policy_needs_an_aware_now() -> None:
    parsed, headers = signed_post()
    with pytest.raises(ValueError, match="timezone-aware"):
        check_policy(
            parsed, method="POST", headers=headers, body=ACTIVITY, now=datetime(2024, 5, 1)
        )


MASTODON_COMPONENTS = '"@method" "@target-uri" "content-digest"'


def test_policy_accepts_an_rfc9421_post_like_mastodons() -> None:
    # Given a POST signed RFC 9421 style over @method @target-uri content-digest
    headers = signed_rfc9421_post(MASTODON_COMPONENTS, body=ACTIVITY)
    # When we parse, verify and check it
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    # Then it passes, with rsa-v1_5-sha256 inferred from the RSA key
    assert parsed.algorithm is None
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True
    check_policy(parsed, method="POST", headers=headers, body=ACTIVITY, now=SIGNED_AT)


def test_policy_refuses_an_rfc9421_body_that_differs_from_its_content_digest() -> None:
    headers = signed_rfc9421_post(MASTODON_COMPONENTS, body=ACTIVITY)
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    reason = policy_error(parsed, headers=headers, body=ACTIVITY + b" ")
    assert reason == "the body does not match its signed sha-256 digest"


@pytest.mark.parametrize(
    ("components", "params", "created", "expected"),
    [
        ('"@target-uri" "content-digest"', "", SIGNED_AT, "does not cover @method"),
        ('"@method" "@authority" "content-digest"', "", SIGNED_AT, "none of @path"),
        ('"@method" "@target-uri"', "", SIGNED_AT, "must cover content-digest"),
        (MASTODON_COMPONENTS, "", SIGNED_AT - timedelta(hours=13), "created is more than 12 h old"),
        (MASTODON_COMPONENTS, f";expires={int(SIGNED_AT.timestamp()) - 1}", SIGNED_AT, "expired"),
    ],
)
def test_policy_refuses_weak_rfc9421_signatures(
    components: str, params: str, created: datetime, expected: str
) -> None:
    # Given a correctly made RFC 9421 signature that covers too little or is stale
    headers = signed_rfc9421_post(components, body=ACTIVITY, created=created, params=params)
    parsed = parse_signature("POST", "/users/ana/inbox", headers, ACTIVITY)
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True
    # When we check the policy, then it says what is missing
    assert expected in policy_error(parsed, headers=headers)


def test_policy_checks_a_sha512_content_digest() -> None:
    # Given the RFC's test request, whose Content-Digest is sha-512, signed per B.2.3
    case = RFC9421_CASES["B.2.3"]
    parsed = parse_rfc9421_case(case)
    headers = RFC9421["messages"]["test-request"]["headers"]
    signed_at = datetime.fromtimestamp(1618884473, UTC)
    body = b'{"hello": "world"}'
    # When the body is intact it passes; when it changes it does not
    assert {*parsed.covered} >= {"@method", "@path", "content-digest"}
    check_policy(parsed, method="POST", headers=dict(headers), body=body, now=signed_at)
    reason = policy_error(parsed, headers=dict(headers), body=b"{}", now=signed_at)
    assert reason == "the body does not match its signed sha-512 digest"


# --- refusals while parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Host": "coop.example"}, "the request is not signed"),
        ({"Authorization": "Bearer abc"}, "the request is not signed"),
        ({"Signature": "this is not a signature"}, "malformed Signature header"),
        ({"Signature": 'keyId="a",keyId="b",signature="AA=="'}, "appears twice"),
        ({"Signature": 'algorithm="rsa-sha256",signature="AA=="'}, "lacks keyId"),
        ({"Signature": 'keyId="k",signature="not base64!"'}, "not valid base64"),
        ({"Signature": 'keyId="k",headers="date x-missing",signature="AA=="'}, "x-missing"),
        ({"Signature": 'keyId="k",algorithm="rsa-sha1",signature="AA=="'}, "unsupported"),
        ({"Signature": 'keyId="k",algorithm="hmac-sha256",signature="AA=="'}, "never accepted"),
        ({"Signature": 'keyId="k",headers="(nonsense)",signature="AA=="'}, "unknown pseudo"),
        ({"Signature": 'keyId="k",created="²",signature="AA=="'}, "not an integer"),
        (
            {"Signature": 'keyId="k",headers="date (created)",signature="AA=="'},
            "created parameter is missing",
        ),
        ({"Signature-Input": 'sig1=("@method"', "Signature": "sig1=:AA==:"}, "malformed RFC"),
        ({"Signature-Input": 'sig1=();keyid="k"', "Signature": "sig2=:AA==:"}, "labelled"),
        ({"Signature-Input": "sig1=();created=1", "Signature": "sig1=:AA==:"}, "no keyid"),
        (
            {"Signature-Input": 'a=("@method" "@method");keyid="k"', "Signature": "a=:AA==:"},
            "listed twice",
        ),
        (
            {"Signature-Input": 'a=("@bogus");keyid="k"', "Signature": "a=:AA==:"},
            "unknown derived component",
        ),
        (
            {"Signature-Input": 'a=();keyid="k";alg="hmac-sha256"', "Signature": "a=:AA==:"},
            "never accepted",
        ),
        (
            {"Signature-Input": 'a=();keyid="k";created="soon"', "Signature": "a=:AA==:"},
            "not an integer",
        ),
    ],
)
def test_malformed_or_forbidden_signatures_are_refused(
    headers: dict[str, str], expected: str
) -> None:
    # Given a request with a broken or forbidden signature (Date present for completeness)
    request_headers = {"Date": "Wed, 01 May 2024 12:00:00 GMT", **headers}
    # When we parse it, then it is refused with a reason that names the problem
    with pytest.raises(SignatureError) as refusal:
        parse_signature("POST", "/users/ana/inbox", request_headers, ACTIVITY)
    assert expected in refusal.value.reason


def test_headers_may_be_a_plain_dict_in_any_case() -> None:
    # Given the spec request with header names in odd cases, as a plain dict
    headers = {name.upper(): value for name, value in SPEC_REQUEST["headers"]}
    headers["sIgNaTuRe"] = CAVAGE_CASES["all-headers"]["signature_header_value"]
    # When we parse it, then it reads the same as a multidict would
    parsed = parse_signature("POST", SPEC_REQUEST["path"], headers, None)
    assert verify_signature(parsed, SPEC_PUBLIC_KEY) is True


def test_a_signature_error_is_a_401() -> None:
    error = SignatureError("the request is not signed")
    assert isinstance(error, NotAuthorized)
    assert error.status == 401
    assert error.reason == "the request is not signed"
