"""SSRF through the inbox: key ids and boosted objects that point inside the network.

A signed POST names the URL of its key, and a boost names the URL of a post: both make the
receiving server fetch. Here the instance runs with the production address policy (as any
instance without --dev does), and every such URL points at loopback, link-local metadata or
private addresses, spelled as IP literals in odd notations or as DNS names that resolve there.
Each is refused before any connection is made: the server behind them sees no request, no
socket is dialled to them, and nothing is stored. The honest twin (the same key served by a
reachable server, under the dev policy that allows loopback) verifies, so the refusals come
from the address policy and not from a broken fetch.
"""

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from fedicoop.activitypub.documents import ACTIVITY_JSON
from fedicoop.activitypub.fetch import SafeFetcher
from fedicoop.activitypub.signatures import load_private_key, sign_request
from fedicoop.storage.objects import ObjectRepository
from tests.activitypub.remote import (
    REMOTE_ORIGIN,
    Coop,
    RemoteActor,
    add_remote_actor,
    keypair,
)
from tests.security.hostile import encode, refused, snapshot

ATTACKER_KEY = keypair("ssrf-attacker")


class AttackerDNS(AbstractResolver):
    """DNS as an attacker's zone answers it: names of theirs resolving to internal addresses."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.table:
            raise OSError(f"NXDOMAIN {host}")
        address = self.table[host]
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


DNS = {
    "localhost": "127.0.0.1",
    "rebind.attacker.test": "127.0.0.1",
    "v6-loopback.attacker.test": "::1",
    "mapped.attacker.test": "::ffff:127.0.0.1",
    "metadata.attacker.test": "169.254.169.254",
    "lan.attacker.test": "192.168.1.10",
    "private.attacker.test": "10.0.0.7",
    "cgnat.attacker.test": "100.64.0.1",
    "ula.attacker.test": "fd00::7",
}
INTERNAL_ADDRESSES = {"127.0.0.1", "::1", "169.254.169.254", "192.168.1.10", "10.0.0.7"}

# Where the "key" or the "post" lives: {port} is a real server on 127.0.0.1 that would answer.
TARGETS = {
    "loopback": "http://127.0.0.1:{port}",
    "localhost": "http://localhost:{port}",
    "ipv6-loopback": "http://[::1]:{port}",
    "ipv4-mapped-ipv6": "http://[::ffff:127.0.0.1]:{port}",
    "hex-short": "http://0x7f.1:{port}",
    "decimal": "http://2130706433:{port}",
    "octal": "http://0177.0.0.1:{port}",
    "short-form": "http://127.1:{port}",
    "trailing-dot": "http://127.0.0.1.:{port}",
    "unspecified": "http://0.0.0.0:{port}",
    "metadata": "http://169.254.169.254",
    "metadata-mapped": "http://[::ffff:169.254.169.254]",
    "dns-to-loopback": "http://rebind.attacker.test:{port}",
    "dns-to-ipv6-loopback": "http://v6-loopback.attacker.test:{port}",
    "dns-to-mapped-loopback": "http://mapped.attacker.test:{port}",
    "dns-to-metadata": "http://metadata.attacker.test",
    "dns-to-lan": "http://lan.attacker.test",
    "dns-to-private": "http://private.attacker.test",
    "dns-to-cgnat": "http://cgnat.attacker.test",
    "dns-to-ula": "http://ula.attacker.test",
}


class Bait:
    """A server on loopback that would serve an actor with the attacker's key, and a post."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server: TestServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        origin = f"http://{request.host}"
        if request.path.startswith("/notes/"):
            document: dict[str, Any] = {
                "id": f"{origin}{request.path}",
                "type": "Note",
                "attributedTo": f"{origin}/users/bait",
                "content": "<p>internal</p>",
            }
        else:
            actor = f"{origin}/users/bait"
            document = {
                "id": actor,
                "type": "Person",
                "preferredUsername": "bait",
                "inbox": f"{actor}/inbox",
                "publicKey": {
                    "id": f"{actor}#main-key",
                    "owner": actor,
                    "publicKeyPem": ATTACKER_KEY.public_pem,
                },
            }
        return web.Response(text=json.dumps(document), content_type=ACTIVITY_JSON)


@pytest.fixture
async def bait(aiohttp_server: AiohttpServer) -> Bait:
    bait = Bait()
    app = web.Application()
    app.router.add_get("/{tail:.*}", bait.handle)
    bait.server = await aiohttp_server(app, host="127.0.0.1")
    return bait


@pytest.fixture
async def production_policy(coop: Coop) -> AsyncIterator[None]:
    """Give the instance the fetcher every non-dev instance has, with the attacker's DNS."""
    federation = coop.federation
    fetcher = SafeFetcher(
        dev=False,
        user_agent="fedicoop-test",
        signer=federation.fetcher._signer,
        resolver=AttackerDNS(DNS),
        connect_timeout=2.0,
        total_timeout=4.0,
    )
    original = federation.fetcher
    federation.fetcher = federation.resolver.fetcher = federation.deliverer.fetcher = fetcher
    yield
    federation.fetcher = federation.resolver.fetcher = federation.deliverer.fetcher = original
    await fetcher.close()


@pytest.fixture
async def dialled(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every address a socket of this event loop connects to."""
    loop = asyncio.get_running_loop()
    original = loop.sock_connect
    addresses: list[Any] = []

    async def spy(sock: socket.socket, address: Any) -> None:
        addresses.append(address)
        await original(sock, address)

    monkeypatch.setattr(loop, "sock_connect", spy)
    return addresses


def target_origin(name: str, bait: Bait) -> str:
    return TARGETS[name].format(port=bait.port)


def post_signed_by_key_at(coop: Coop, origin: str) -> tuple[bytes, dict[str, str]]:
    """A Create by `origin`/users/bait, signed with the attacker's key named at that origin."""
    actor = f"{origin}/users/bait"
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{origin}/activities/1",
        "type": "Create",
        "actor": actor,
        "object": {
            "id": f"{origin}/notes/1",
            "type": "Note",
            "attributedTo": actor,
            "content": "<p>hi</p>",
        },
    }
    body = encode(activity)
    headers = sign_request(
        "POST",
        f"{coop.base_url}/inbox",
        key_id=f"{actor}#main-key",
        private_key=load_private_key(ATTACKER_KEY.private_pem),
        body=body,
        content_type=ACTIVITY_JSON,
    )
    return body, headers


def internal_dials(dialled: list[Any], bait: Bait) -> list[Any]:
    """The connections made to the bait server or to any internal address but our own app."""
    return [
        address
        for address in dialled
        if address[1] == bait.port or (address[0] in INTERNAL_ADDRESSES - {"127.0.0.1"})
    ]


@pytest.mark.usefixtures("production_policy")
@pytest.mark.parametrize("target", list(TARGETS), ids=list(TARGETS))
async def test_a_key_id_pointing_inside_the_network_is_never_fetched(
    coop: Coop, bait: Bait, dialled: list[Any], target: str
) -> None:
    # Given a signed POST whose key id (and actor) live at an internal address
    before = await snapshot(coop)
    body, headers = post_signed_by_key_at(coop, target_origin(target, bait))
    # When it arrives
    response = await coop.client.post("/inbox", data=body, headers=headers)
    # Then it cannot be verified (the key is not fetched), and nothing reached the target
    await refused(response, 401)
    assert bait.requests == []
    assert internal_dials(dialled, bait) == []
    await coop.process()
    assert await snapshot(coop) == before


async def test_the_same_key_id_verifies_when_the_policy_allows_loopback(
    coop: Coop, bait: Bait
) -> None:
    # The honest twin: with --dev (loopback allowed), the key is fetched and the POST verifies.
    body, headers = post_signed_by_key_at(coop, target_origin("loopback", bait))
    response = await coop.client.post("/inbox", data=body, headers=headers)
    assert response.status == 202, await response.text()
    assert bait.requests, "the key was fetched"


BOOSTED = ["loopback", "hex-short", "decimal", "metadata", "dns-to-loopback", "dns-to-private"]


@pytest.mark.usefixtures("production_policy")
@pytest.mark.parametrize("target", BOOSTED, ids=BOOSTED)
async def test_a_boost_of_a_post_inside_the_network_is_not_fetched(
    coop: Coop, bait: Bait, dialled: list[Any], target: str
) -> None:
    # Given a known remote actor boosting a "post" at an internal address
    mallory: RemoteActor = await add_remote_actor(coop.db, f"{REMOTE_ORIGIN}/users/mallory")
    post = f"{target_origin(target, bait)}/notes/1"
    # When the boost is received and processed
    await coop.receive(mallory, mallory.activity("Announce", post))
    # Then the post was never requested, nor stored, nor boosted
    assert bait.requests == []
    assert internal_dials(dialled, bait) == []
    assert await ObjectRepository(coop.db).by_uri(post) is None
    assert await coop.count("announces") == 0
