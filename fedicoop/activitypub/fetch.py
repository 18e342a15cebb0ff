"""The one HTTP client fedicoop uses for everything remote: fetches, WebFinger and deliveries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from fedicoop.activitypub.as2_values import check_no_lone_surrogates
from fedicoop.activitypub.netguard import (
    AddressPolicy,
    AddressRefused,
    GuardedResolver,
    IPNetwork,
    check_url_host,
    guarded_socket_factory,
)

Signer = Callable[[str, str, bytes | None], Mapping[str, str]]
T = TypeVar("T")

AS_PROFILE = "https://www.w3.org/ns/activitystreams"
ACTIVITY_ACCEPT = f'application/activity+json, application/ld+json; profile="{AS_PROFILE}"'
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_POST_BODY_KEEP = 4096
_CHUNK = 65_536


class FetchError(Exception):
    """A remote document could not be fetched safely."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ForbiddenAddress(FetchError):
    """The URL (or a redirect) points at an address we must not connect to (SSRF)."""


class ResponseTooLarge(FetchError):
    """The response body exceeds the size cap."""


class WrongContentType(FetchError):
    """The response is not the media type we asked for."""


class IdMismatch(FetchError):
    """The document's id is not the URL it was served from."""


class FetchTimeout(FetchError):
    """The remote server did not answer within the deadline."""


class HttpStatusError(FetchError):
    """The remote server answered a GET with a non-2xx status."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP status {status}")
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchedDocument:
    """A JSON document fetched from ``url``, the final URL after redirects."""

    url: str
    status: int
    content_type: str
    body: bytes
    data: dict[str, Any]


@dataclass(frozen=True)
class PostResult:
    """What a remote inbox answered to a delivery."""

    status: int
    retry_after: float | None
    body: bytes


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return the delay in seconds a Retry-After header asks for, or None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _media_type(header: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type header into its lower-cased media type and parameters."""
    media_type, *raw_params = header.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, sep, value = raw.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), params


def is_activity_content_type(header: str) -> bool:
    """Return whether a Content-Type names an ActivityStreams document."""
    media_type, params = _media_type(header)
    if media_type == "application/activity+json":
        return True
    # Plain JSON-LD could be any vocabulary; only the AS profile makes it an activity.
    return media_type == "application/ld+json" and AS_PROFILE in params.get("profile", "").split()


def is_json_content_type(header: str) -> bool:
    """Return whether a Content-Type names JSON or a +json type (JRD, NodeInfo, AS)."""
    media_type, _ = _media_type(header)
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object, refusing anything else."""
    try:
        data = json.loads(body)
        # A lone "\ud800" in a fetched actor made the inbox answer 500 (tests/security).
        check_no_lone_surrogates(body, data)
    except (ValueError, RecursionError) as exc:  # RecursionError: hostile [[[[…]]]] nesting
        raise FetchError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FetchError("JSON document is not an object")
    return data


def _same_url(claimed: str, served: str) -> bool:
    """Return whether an id names the same URL as the one served (host case, encoding)."""
    try:
        return URL(claimed) == URL(served)
    except ValueError:
        return False


def _find_refusal(exc: BaseException) -> AddressRefused | None:
    """Return the AddressRefused behind an aiohttp connection error, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AddressRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class SafeFetcher:
    """Fetch and deliver over HTTP, refusing SSRF targets, spoofed ids and hostile responses."""

    def __init__(
        self,
        *,
        dev: bool,
        user_agent: str,
        signer: Signer | None = None,
        max_bytes: int = 1_048_576,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        max_redirects: int = 3,
        limit_per_host: int = 8,
        trusted_networks: Iterable[IPNetwork | str] = (),
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._policy = AddressPolicy.build(dev=dev, trusted_networks=trusted_networks)
        self._user_agent = user_agent
        self._signer = signer
        self._max_bytes = max_bytes
        self._connect_timeout = connect_timeout
        self._total_timeout = total_timeout
        self._max_redirects = max_redirects
        self._limit_per_host = limit_per_host
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        """Create the shared session on first use (it needs a running event loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._policy, self._resolver),
                socket_factory=guarded_socket_factory(self._policy),
                limit_per_host=self._limit_per_host,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self._total_timeout,
                    connect=self._connect_timeout,
                    sock_connect=self._connect_timeout,
                ),
                # A proxy from the environment would resolve names itself, past our guard.
                trust_env=False,
                # Nothing one remote server sets may ride along to the next request.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Gzip bombs: aiohttp inflates in bounded steps and our cap counts inflated bytes.
                auto_decompress=True,
            )
        return self._session

    def _checked_url(self, url: str, base: URL | None = None) -> URL:
        """Parse ``url`` (relative to ``base``), refusing schemes and addresses off limits."""
        try:
            parsed = URL(url) if base is None else base.join(URL(url))
        except ValueError as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}") from None
        # file://, ftp://, gopher:// and friends reach things no federation peer should.
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchError(f"unsupported URL {str(parsed)!r}: http(s) with a host only")
        try:
            check_url_host(parsed.host, self._policy)
        except AddressRefused as exc:
            raise ForbiddenAddress(str(exc)) from None
        # The server never sees the fragment, so the document is the fragment-less URL's.
        return parsed.with_fragment(None)

    def _headers(
        self, method: str, url: URL, body: bytes | None, *, accept: str, signed: bool
    ) -> dict[str, str]:
        """Build request headers, signing for this exact hop when asked."""
        headers = {"Accept": accept}
        if signed and self._signer is not None:
            headers.update(self._signer(method, str(url), body))
        headers["User-Agent"] = self._user_agent
        return headers

    async def _read_capped(self, response: aiohttp.ClientResponse, limit: int) -> bytes:
        """Read at most ``limit`` bytes of body, refusing anything bigger."""
        # An early refusal saves reading a body the server admits is too big.
        if response.content_length is not None and response.content_length > limit:
            raise ResponseTooLarge(f"Content-Length {response.content_length} exceeds {limit}")
        # Chunked or lying servers: count while streaming so memory never exceeds the cap.
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                raise ResponseTooLarge(f"body exceeds {limit} bytes")
        return bytes(body)

    async def _get(
        self, url: str, *, accept: str, signed: bool, content_type_ok: Callable[[str], bool]
    ) -> FetchedDocument:
        """GET ``url``, following redirects one checked hop at a time."""
        session = self._ensure_session()
        current = self._checked_url(url)
        for _ in range(self._max_redirects + 1):
            headers = self._headers("GET", current, None, accept=accept, signed=signed)
            # aiohttp's own redirect following would skip our per-hop scheme and address checks.
            async with session.get(current, headers=headers, allow_redirects=False) as response:
                if response.status in _REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"redirect {response.status} without Location")
                    current = self._checked_url(location, base=current)
                    continue
                if not 200 <= response.status < 300:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    raise HttpStatusError(response.status, retry_after)
                content_type = response.headers.get("Content-Type", "")
                if not content_type_ok(content_type):
                    raise WrongContentType(f"unexpected Content-Type {content_type!r}")
                body = await self._read_capped(response, self._max_bytes)
                return FetchedDocument(
                    url=str(current),
                    status=response.status,
                    content_type=content_type,
                    body=body,
                    data=_parse_json_object(body),
                )
        raise FetchError(f"more than {self._max_redirects} redirects")

    async def _guarded(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a request under the overall deadline, mapping transport errors to FetchError."""
        try:
            # One deadline over every hop and the whole body: a slow-drip server cannot hold us.
            async with asyncio.timeout(self._total_timeout):
                return await operation()
        except TimeoutError as exc:
            raise FetchTimeout(f"no complete answer within {self._total_timeout}s") from exc
        except aiohttp.ClientError as exc:
            refusal = _find_refusal(exc)
            if refusal is not None:
                raise ForbiddenAddress(str(refusal)) from exc
            raise FetchError(f"network error: {exc}") from exc
        except AddressRefused as exc:
            raise ForbiddenAddress(str(exc)) from exc

    async def get_activity(self, url: str, *, signed: bool = True) -> FetchedDocument:
        """Fetch an ActivityStreams object whose id is the URL it was finally served from."""

        async def fetch() -> FetchedDocument:
            return await self._get(
                url, accept=ACTIVITY_ACCEPT, signed=signed, content_type_ok=is_activity_content_type
            )

        document = await self._guarded(fetch)
        # CVE-2024-23832: a server may only speak for ids it actually serves, or an attacker's
        # upload could claim to be someone else's actor or note.
        claimed = document.data.get("id")
        if not isinstance(claimed, str) or not _same_url(claimed, document.url):
            raise IdMismatch(f"document id {claimed!r} is not its URL {document.url!r}")
        return document

    async def get_json(self, url: str, *, accept: str = "application/json") -> FetchedDocument:
        """Fetch a JSON object (WebFinger, NodeInfo) unsigned and without an id check."""

        async def fetch() -> FetchedDocument:
            return await self._get(
                url, accept=accept, signed=False, content_type_ok=is_json_content_type
            )

        return await self._guarded(fetch)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        """POST a delivery and report the status; HTTP errors are results, not exceptions."""

        async def send() -> PostResult:
            session = self._ensure_session()
            target = self._checked_url(url)
            # Deliveries are signed per sending actor by the caller, so no signer here.
            request_headers = {**headers, "User-Agent": self._user_agent}
            # Never follow a redirect with a signed body: the signature names this inbox only.
            async with session.post(
                target, data=body, headers=request_headers, allow_redirects=False
            ) as response:
                kept = bytearray()
                while len(kept) < _POST_BODY_KEEP:
                    chunk = await response.content.read(_POST_BODY_KEEP - len(kept))
                    if not chunk:
                        break
                    kept += chunk
                return PostResult(
                    status=response.status,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    body=bytes(kept),
                )

        return await self._guarded(send)

    async def close(self) -> None:
        """Close the shared session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
