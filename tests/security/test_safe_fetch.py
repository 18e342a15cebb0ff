"""SafeFetcher against hostile servers and SSRF targets, using real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from ipaddress import ip_address
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from fedicoop.activitypub.fetch import (
    ACTIVITY_ACCEPT,
    FetchError,
    FetchTimeout,
    ForbiddenAddress,
    HttpStatusError,
    IdMismatch,
    ResponseTooLarge,
    SafeFetcher,
    WrongContentType,
    parse_retry_after,
)
from fedicoop.activitypub.netguard import AddressPolicy, AddressRefused, guarded_socket_factory

USER_AGENT = "fedicoop-test/1.0 (+http://127.0.0.1/)"
AS_JSON = "application/activity+json"
AS_LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

# Every request the test server saw: (method, path, headers, body).
SEEN = web.AppKey("seen", list[tuple[str, str, dict[str, str], bytes]])

Dialled = list[Any]
MakeFetcher = Callable[..., SafeFetcher]
ServerFactory = Callable[..., Awaitable[TestServer]]


# --- the test server -------------------------------------------------------------------------


def _actor(request: web.Request, claimed_id: str | None = None) -> bytes:
    """Return an actor document claiming ``claimed_id`` (default: the URL it is served from)."""
    document = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": claimed_id or str(request.url),
        "type": "Person",
        "preferredUsername": request.match_info.get("name", "someone"),
    }
    return json.dumps(document).encode()


@web.middleware
async def record(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Remember every request so tests can assert on what arrived."""
    body = await request.read()
    request.app[SEEN].append((request.method, request.path, dict(request.headers), body))
    return await handler(request)


async def actor(request: web.Request) -> web.Response:
    """Serve an honest actor."""
    return web.Response(body=_actor(request), content_type=AS_JSON)


async def actor_as_ld_json(request: web.Request) -> web.Response:
    """Serve an honest actor as JSON-LD with the ActivityStreams profile."""
    return web.Response(body=_actor(request), headers={"Content-Type": AS_LD_JSON})


async def actor_as_bare_ld_json(request: web.Request) -> web.Response:
    """Serve an actor as JSON-LD without saying which vocabulary."""
    return web.Response(body=_actor(request), headers={"Content-Type": "application/ld+json"})


async def actor_as_html(request: web.Request) -> web.Response:
    """Serve an actor document labelled as HTML (an uploaded file, say)."""
    return web.Response(body=_actor(request), content_type="text/html")


async def spoofed_actor(request: web.Request) -> web.Response:
    """Serve a document claiming to be another actor on the same host (CVE-2024-23832)."""
    victim = str(request.url.with_path("/users/victim"))
    return web.Response(body=_actor(request, claimed_id=victim), content_type=AS_JSON)


async def hop(request: web.Request) -> web.Response:
    """Redirect n times before landing on /users/alice."""
    remaining = int(request.match_info["n"])
    raise web.HTTPFound("/users/alice" if remaining <= 1 else f"/hop/{remaining - 1}")


async def redirect_to(request: web.Request) -> web.Response:
    """Redirect wherever the query says."""
    raise web.HTTPFound(request.query["location"])


async def big(request: web.Request) -> web.Response:
    """Serve n bytes with an honest Content-Length."""
    return web.Response(body=b" " * int(request.query["n"]), content_type=AS_JSON)


async def big_chunked(request: web.Request) -> web.StreamResponse:
    """Serve n bytes chunked, so no Content-Length warns the client."""
    response = web.StreamResponse(headers={"Content-Type": AS_JSON})
    response.enable_chunked_encoding()
    await response.prepare(request)
    remaining = int(request.query["n"])
    while remaining > 0:
        await response.write(b" " * min(remaining, 16_384))
        remaining -= 16_384
    await response.write_eof()
    return response


async def _drip(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Send one byte every 0.1 s; stops once the client hangs up and writes fail."""
    await response.prepare(request)
    for _ in range(100):
        await response.write(b" ")
        await asyncio.sleep(0.1)
    return response


async def slow_drip(request: web.Request) -> web.StreamResponse:
    """Answer promptly, then trickle the body forever (slowloris on the read side)."""
    return await _drip(request, web.StreamResponse(headers={"Content-Type": AS_JSON}))


async def lying_length(request: web.Request) -> web.StreamResponse:
    """Announce a huge body, then trickle: only an early Content-Length check stops this fast."""
    response = web.StreamResponse(headers={"Content-Type": AS_JSON})
    response.content_length = 50_000_000
    return await _drip(request, response)


async def status(request: web.Request) -> web.Response:
    """Answer with the status and Retry-After the query asks for."""
    headers = (
        {"Retry-After": request.query["retry_after"]} if "retry_after" in request.query else {}
    )
    return web.Response(status=int(request.query["status"]), headers=headers, text="nope")


async def webfinger(request: web.Request) -> web.Response:
    """Serve a JRD, which has no id."""
    jrd = {"subject": request.query["resource"], "links": []}
    return web.Response(body=json.dumps(jrd).encode(), content_type="application/jrd+json")


async def inbox(request: web.Request) -> web.Response:
    """Accept a delivery with the status, Retry-After and body size the query asks for."""
    headers = (
        {"Retry-After": request.query["retry_after"]} if "retry_after" in request.query else {}
    )
    body = b"x" * int(request.query.get("reply_bytes", "8"))
    return web.Response(status=int(request.query.get("status", "202")), headers=headers, body=body)


def build_app() -> web.Application:
    """Build the hostile-and-honest remote server."""
    app = web.Application(middlewares=[record])
    app[SEEN] = []
    app.router.add_get("/users/{name}", actor)
    app.router.add_get("/ld/users/{name}", actor_as_ld_json)
    app.router.add_get("/bare-ld/users/{name}", actor_as_bare_ld_json)
    app.router.add_get("/html/users/{name}", actor_as_html)
    app.router.add_get("/uploads/evil.json", spoofed_actor)
    app.router.add_get("/hop/{n}", hop)
    app.router.add_route("*", "/to", redirect_to)
    app.router.add_get("/big", big)
    app.router.add_get("/big-chunked", big_chunked)
    app.router.add_get("/slow", slow_drip)
    app.router.add_get("/lying-length", lying_length)
    app.router.add_get("/status", status)
    app.router.add_get("/.well-known/webfinger", webfinger)
    app.router.add_post("/inbox", inbox)
    return app


class StaticResolver(AbstractResolver):
    """Answer DNS from a fixed table, like an attacker controlling their own zone."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._table:
            raise OSError(f"NXDOMAIN {host}")
        address = self._table[host]
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
async def server(aiohttp_server: ServerFactory) -> TestServer:
    """Start the remote server on 127.0.0.1."""
    return await aiohttp_server(build_app())


@pytest.fixture
async def make_fetcher() -> AsyncIterator[MakeFetcher]:
    """Build fetchers (dev mode unless told otherwise) and close them afterwards."""
    fetchers: list[SafeFetcher] = []

    def make(**options: Any) -> SafeFetcher:
        options.setdefault("dev", True)
        options.setdefault("user_agent", USER_AGENT)
        fetcher = SafeFetcher(**options)
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        await fetcher.close()


@pytest.fixture
async def dialled(monkeypatch: pytest.MonkeyPatch) -> Dialled:
    """Record every address the event loop is asked to connect a socket to."""
    loop = asyncio.get_running_loop()
    original = loop.sock_connect
    addresses: Dialled = []

    async def spy(sock: socket.socket, address: Any) -> None:
        addresses.append(address)
        await original(sock, address)

    monkeypatch.setattr(loop, "sock_connect", spy)
    return addresses


def url(server: TestServer, path: str, **query: str) -> str:
    """Return the absolute URL of ``path`` on the test server."""
    return str(server.make_url(path).with_query(query or None))


def paths_seen(server: TestServer) -> list[str]:
    """Return the paths the test server was asked for, in order."""
    return [path for _, path, _, _ in server.app[SEEN]]


# --- the happy path --------------------------------------------------------------------------


async def test_dev_mode_fetches_an_actor_from_a_local_server(
    server: TestServer, make_fetcher: MakeFetcher, dialled: Dialled
) -> None:
    # Given a dev-mode fetcher and an instance on loopback (local federation)
    fetcher = make_fetcher(dev=True)
    actor_url = url(server, "/users/alice")

    # When we fetch the actor
    document = await fetcher.get_activity(actor_url)

    # Then we get the parsed document from the address we dialled
    assert document.url == actor_url
    assert document.status == 200
    assert document.content_type.startswith(AS_JSON)
    assert document.data["id"] == actor_url
    assert json.loads(document.body) == document.data
    assert [address[0] for address in dialled] == ["127.0.0.1"]


async def test_requests_carry_user_agent_and_activity_accept(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a fetcher without a signer
    fetcher = make_fetcher()

    # When it fetches an actor
    await fetcher.get_activity(url(server, "/users/alice"))

    # Then the server saw our User-Agent and the ActivityStreams Accept header
    _, _, headers, _ = server.app[SEEN][-1]
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Accept"] == ACTIVITY_ACCEPT


async def test_json_ld_with_the_activitystreams_profile_is_accepted(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a server answering application/ld+json with the AS profile
    fetcher = make_fetcher()

    # When we fetch from it
    document = await fetcher.get_activity(url(server, "/ld/users/alice"))

    # Then the document is accepted
    assert document.data["preferredUsername"] == "alice"


async def test_get_json_fetches_webfinger_without_an_id_check(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a WebFinger endpoint serving a JRD (which has no id)
    fetcher = make_fetcher()
    resource = "acct:alice@127.0.0.1"

    # When we look the account up
    document = await fetcher.get_json(
        url(server, "/.well-known/webfinger", resource=resource), accept="application/jrd+json"
    )

    # Then the JRD comes back and the server saw the Accept we asked for
    assert document.data["subject"] == resource
    assert server.app[SEEN][-1][2]["Accept"] == "application/jrd+json"


# --- address policy: SSRF --------------------------------------------------------------------

INTERNAL_URLS = [
    "http://127.0.0.1:{port}/users/alice",
    "http://localhost:{port}/users/alice",
    "http://[::1]:{port}/users/alice",
    "http://[::ffff:127.0.0.1]:{port}/users/alice",
    "http://0x7f.1:{port}/users/alice",
    "http://0x7f000001:{port}/users/alice",
    "http://2130706433:{port}/users/alice",
    "http://0177.0.0.1:{port}/users/alice",
    "http://127.1:{port}/users/alice",
    "http://127.0.0.1.:{port}/users/alice",
    "http://0.0.0.0:{port}/users/alice",
    "http://[::]:{port}/users/alice",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fec0::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:a00:1::1]/",
    "https://10.0.0.1/",
]


@pytest.mark.parametrize("template", INTERNAL_URLS)
async def test_production_refuses_internal_addresses_before_dialling(
    server: TestServer, make_fetcher: MakeFetcher, dialled: Dialled, template: str
) -> None:
    # Given a production fetcher, and a live server on loopback that would answer
    fetcher = make_fetcher(dev=False, total_timeout=3.0)

    # When asked to fetch an internal address, however it is spelled
    with pytest.raises(ForbiddenAddress):
        await fetcher.get_activity(template.format(port=server.port))

    # Then the guard refused before any connection was attempted
    assert dialled == []
    assert server.app[SEEN] == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
async def test_dev_mode_still_refuses_metadata_and_other_special_addresses(
    make_fetcher: MakeFetcher, dialled: Dialled, target: str
) -> None:
    # Given a dev-mode fetcher, which may reach loopback and private networks
    fetcher = make_fetcher(dev=True, total_timeout=3.0)

    # When asked for cloud metadata, CGNAT, link-local, unspecified or multicast addresses
    with pytest.raises(ForbiddenAddress):
        await fetcher.get_activity(target)

    # Then nothing was dialled
    assert dialled == []


async def test_a_name_resolving_to_loopback_is_refused(
    server: TestServer, make_fetcher: MakeFetcher, dialled: Dialled
) -> None:
    # Given an attacker's DNS name that resolves to 127.0.0.1 (or rebinds to it)
    resolver = StaticResolver({"rebind.attacker.test": "127.0.0.1"})
    fetcher = make_fetcher(dev=False, resolver=resolver, total_timeout=3.0)

    # When we fetch it
    with pytest.raises(ForbiddenAddress):
        await fetcher.get_activity(f"http://rebind.attacker.test:{server.port}/users/alice")

    # Then the resolved address was checked and never dialled
    assert dialled == []


async def test_trusted_network_and_dns_name_reach_the_server(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a production fetcher that trusts 127.0.0.1 and a name resolving to it
    resolver = StaticResolver({"social.example.test": "127.0.0.1"})
    fetcher = make_fetcher(dev=False, trusted_networks=["127.0.0.1/32"], resolver=resolver)
    actor_url = f"http://social.example.test:{server.port}/users/alice"

    # When we fetch through the name
    document = await fetcher.get_activity(actor_url)

    # Then the document's id matches the name we used
    assert document.url == actor_url


async def test_redirect_from_allowed_host_to_metadata_address_is_refused(
    server: TestServer, make_fetcher: MakeFetcher, dialled: Dialled
) -> None:
    # Given an allowed host that redirects to the cloud metadata service
    fetcher = make_fetcher(dev=False, trusted_networks=["127.0.0.1/32"], total_timeout=3.0)
    start = url(server, "/to", location="http://169.254.169.254/latest/meta-data/")

    # When we follow it
    with pytest.raises(ForbiddenAddress):
        await fetcher.get_activity(start)

    # Then only the allowed first hop was dialled
    assert [address[0] for address in dialled] == ["127.0.0.1"]


async def test_redirect_to_a_name_resolving_to_a_private_address_is_refused(
    server: TestServer, make_fetcher: MakeFetcher, dialled: Dialled
) -> None:
    # Given an allowed host redirecting to a name that resolves into the private network
    resolver = StaticResolver({"public.test": "127.0.0.1", "internal.test": "10.0.0.1"})
    fetcher = make_fetcher(
        dev=False, trusted_networks=["127.0.0.1/32"], resolver=resolver, total_timeout=3.0
    )
    start = f"http://public.test:{server.port}/to?location=http://internal.test/admin"

    # When we follow it
    with pytest.raises(ForbiddenAddress):
        await fetcher.get_activity(start)

    # Then the second hop was refused at resolution, before dialling 10.0.0.1
    assert [address[0] for address in dialled] == ["127.0.0.1"]


def test_socket_factory_refuses_a_forbidden_peer_whatever_path_produced_it() -> None:
    # Given the last-line socket factory of a production policy
    create_socket = guarded_socket_factory(AddressPolicy.build(dev=False))

    # When asked for sockets to loopback and to a public address
    with pytest.raises(AddressRefused):
        create_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    public = create_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)))

    # Then only the public one is created
    public.close()


@pytest.mark.parametrize(
    ("address", "dev", "permitted"),
    [
        ("93.184.216.34", False, True),
        ("2606:4700::1111", False, True),
        ("::ffff:93.184.216.34", False, True),
        ("64:ff9b::5db8:d822", False, True),
        ("127.0.0.1", True, True),
        ("10.1.2.3", True, True),
        ("fd00::1", True, True),
        ("::ffff:127.0.0.1", True, True),
        ("127.0.0.1", False, False),
        ("::ffff:10.0.0.1", False, False),
        ("169.254.169.254", True, False),
        ("100.64.0.1", True, False),
    ],
)
def test_address_policy(address: str, dev: bool, permitted: bool) -> None:
    # Given a policy, When asked about an address, Then public ones (and dev-local ones) pass
    assert AddressPolicy.build(dev=dev).permits(ip_address(address)) is permitted


# --- schemes and redirects -------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["ftp://127.0.0.1/users/alice", "file:///etc/passwd", "gopher://127.0.0.1:70/", "/users/x"],
)
async def test_non_http_schemes_are_refused(
    make_fetcher: MakeFetcher, dialled: Dialled, target: str
) -> None:
    # Given a fetcher
    fetcher = make_fetcher()

    # When asked for a URL that is not http(s)
    with pytest.raises(FetchError):
        await fetcher.get_activity(target)

    # Then nothing was dialled
    assert dialled == []


async def test_redirect_to_file_scheme_is_refused(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a server redirecting to a local file
    fetcher = make_fetcher()

    # When we follow it, Then it is refused
    with pytest.raises(FetchError, match="unsupported URL"):
        await fetcher.get_activity(url(server, "/to", location="file:///etc/passwd"))


async def test_redirects_are_followed_and_the_id_matches_the_final_url(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given an object that moved (three redirects, the most we allow)
    fetcher = make_fetcher()

    # When we fetch the old URL
    document = await fetcher.get_activity(url(server, "/hop/3"))

    # Then we land on the final URL, whose id the document carries
    assert document.url == url(server, "/users/alice")
    assert document.data["id"] == document.url
    assert paths_seen(server) == ["/hop/3", "/hop/2", "/hop/1", "/users/alice"]


async def test_more_than_three_redirects_are_refused(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a chain of four redirects
    fetcher = make_fetcher()

    # When we fetch its start
    with pytest.raises(FetchError, match="redirects"):
        await fetcher.get_activity(url(server, "/hop/4"))

    # Then we stopped after the third redirect
    assert paths_seen(server) == ["/hop/4", "/hop/3", "/hop/2", "/hop/1"]


# --- what the response may contain ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/html/users/alice", "/bare-ld/users/alice"])
async def test_non_activitystreams_content_type_is_refused(
    server: TestServer, make_fetcher: MakeFetcher, path: str
) -> None:
    # Given a JSON actor served as HTML, or as JSON-LD without the AS profile
    fetcher = make_fetcher()

    # When we fetch it, Then it is refused
    with pytest.raises(WrongContentType):
        await fetcher.get_activity(url(server, path))


async def test_get_json_refuses_html(server: TestServer, make_fetcher: MakeFetcher) -> None:
    # Given a page served as HTML
    fetcher = make_fetcher()

    # When fetched as JSON, Then it is refused
    with pytest.raises(WrongContentType):
        await fetcher.get_json(url(server, "/html/users/alice"))


async def test_document_claiming_another_id_is_refused(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given an uploaded file claiming to be another user's actor (CVE-2024-23832)
    fetcher = make_fetcher()

    # When we fetch it, Then the id mismatch is refused
    with pytest.raises(IdMismatch):
        await fetcher.get_activity(url(server, "/uploads/evil.json"))


async def test_redirect_to_spoofed_document_is_refused(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a redirect to a document whose id is neither the start nor the final URL
    fetcher = make_fetcher()

    # When we follow it, Then it is refused
    with pytest.raises(IdMismatch):
        await fetcher.get_activity(url(server, "/to", location="/uploads/evil.json"))


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_body_over_the_cap_is_refused(
    server: TestServer, make_fetcher: MakeFetcher, path: str
) -> None:
    # Given a 4 KiB cap and a 64 KiB body, with and without Content-Length
    fetcher = make_fetcher(max_bytes=4096)

    # When we fetch it, Then it is refused
    with pytest.raises(ResponseTooLarge):
        await fetcher.get_activity(url(server, path, n="65536"))


async def test_too_large_content_length_is_refused_without_reading(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a server announcing 50 MB and then trickling bytes
    fetcher = make_fetcher(total_timeout=5.0)

    # When we fetch it, Then the header alone gets it refused (not the deadline)
    with pytest.raises(ResponseTooLarge, match="Content-Length"):
        await fetcher.get_activity(url(server, "/lying-length"))


async def test_slow_drip_server_hits_the_total_deadline(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a server that sends a byte every 0.1 s, and a 0.5 s deadline
    fetcher = make_fetcher(total_timeout=0.5)

    # When we fetch from it, Then the deadline ends the read
    with pytest.raises(FetchTimeout):
        await fetcher.get_activity(url(server, "/slow"))


async def test_non_2xx_raises_with_retry_after(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a server that is overloaded and says when to come back
    fetcher = make_fetcher()

    # When we fetch from it
    with pytest.raises(HttpStatusError) as caught:
        await fetcher.get_activity(url(server, "/status", status="503", retry_after="120"))

    # Then the status and delay are reported
    assert caught.value.status == 503
    assert caught.value.retry_after == 120.0


async def test_not_found_has_no_retry_after(server: TestServer, make_fetcher: MakeFetcher) -> None:
    # Given a gone object, When fetched, Then 404 is reported without a delay
    fetcher = make_fetcher()
    with pytest.raises(HttpStatusError) as caught:
        await fetcher.get_json(url(server, "/status", status="404"))
    assert (caught.value.status, caught.value.retry_after) == (404, None)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    # Given a fixed clock
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)

    # When parsing each form, Then both become seconds and junk becomes None
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after(later, now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# --- signing ---------------------------------------------------------------------------------


async def test_signer_headers_arrive_on_every_hop(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a signer that signs (method, url, body)
    calls: list[tuple[str, str, bytes | None]] = []

    def signer(method: str, target: str, body: bytes | None) -> dict[str, str]:
        calls.append((method, target, body))
        return {"Signature": f'keyId="test",signature="{method} {target}"'}

    fetcher = make_fetcher(signer=signer)
    start, final = url(server, "/hop/1"), url(server, "/users/alice")

    # When we fetch through a redirect
    await fetcher.get_activity(start)

    # Then each hop was signed for its own URL, and the server saw those signatures
    assert calls == [("GET", start, None), ("GET", final, None)]
    signatures = [headers["Signature"] for _, _, headers, _ in server.app[SEEN]]
    assert signatures == [
        f'keyId="test",signature="GET {start}"',
        f'keyId="test",signature="GET {final}"',
    ]


async def test_unsigned_fetch_does_not_call_the_signer(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given a fetcher with a signer
    def signer(method: str, target: str, body: bytes | None) -> dict[str, str]:
        raise AssertionError("must not sign")

    fetcher = make_fetcher(signer=signer)

    # When we fetch with signed=False, Then no Signature header is sent
    await fetcher.get_activity(url(server, "/users/alice"), signed=False)
    assert "Signature" not in server.app[SEEN][-1][2]


# --- delivery --------------------------------------------------------------------------------


async def test_post_delivers_and_returns_the_status(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given an inbox that accepts deliveries
    fetcher = make_fetcher()
    activity = b'{"type": "Create"}'
    headers = {"Content-Type": AS_JSON, "Signature": 'keyId="alice#main-key"'}

    # When we deliver
    result = await fetcher.post(url(server, "/inbox"), activity, headers)

    # Then the status comes back and the inbox saw our body and headers
    assert (result.status, result.retry_after, result.body) == (202, None, b"x" * 8)
    method, path, seen_headers, body = server.app[SEEN][-1]
    assert (method, path, body) == ("POST", "/inbox", activity)
    assert seen_headers["Signature"] == 'keyId="alice#main-key"'
    assert seen_headers["User-Agent"] == USER_AGENT


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("30", 30.0),
        (format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True), 0.0),
    ],
)
async def test_post_reports_rate_limits_without_raising(
    server: TestServer, make_fetcher: MakeFetcher, retry_after: str, expected: float
) -> None:
    # Given an inbox that rate-limits us
    fetcher = make_fetcher()

    # When we deliver
    target = url(server, "/inbox", status="429", retry_after=retry_after)
    result = await fetcher.post(target, b"{}", {"Content-Type": AS_JSON})

    # Then the status and Retry-After are returned, not raised
    assert (result.status, result.retry_after) == (429, expected)


async def test_post_keeps_only_the_first_kilobytes_of_the_answer(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given an inbox that answers with a long error page
    fetcher = make_fetcher()

    # When we deliver
    result = await fetcher.post(
        url(server, "/inbox", status="500", reply_bytes="100000"), b"{}", {}
    )

    # Then only the start of the body is kept
    assert result.status == 500
    assert result.body == b"x" * 4096


async def test_post_does_not_follow_redirects(
    server: TestServer, make_fetcher: MakeFetcher
) -> None:
    # Given an inbox URL that redirects
    fetcher = make_fetcher()

    # When we deliver to it
    result = await fetcher.post(url(server, "/to", location="/inbox"), b"{}", {})

    # Then the redirect status is returned and the body went nowhere else
    assert result.status == 302
    assert paths_seen(server) == ["/to"]


async def test_post_to_internal_address_is_refused(
    make_fetcher: MakeFetcher, dialled: Dialled
) -> None:
    # Given a production fetcher
    fetcher = make_fetcher(dev=False)

    # When a remote actor names an internal inbox, Then delivery is refused undialled
    with pytest.raises(ForbiddenAddress):
        await fetcher.post("http://169.254.169.254/inbox", b"{}", {})
    assert dialled == []
