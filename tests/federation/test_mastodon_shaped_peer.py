"""A Mastodon-shaped remote (captured actor, httpsig-signed requests) follows a co-op Group.

The peer is a small aiohttp server in the test process that serves a real captured Mastodon
actor document (re-homed onto loopback, with a test key) and signs with the independent
`httpsig` package; the co-op is a real `fedicoop serve` process.
"""

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpsig
import pytest
from aiohttp import web

from fedicoop.activitypub.keys import generate_rsa_keypair
from fedicoop.activitypub.signatures import (
    check_policy,
    digest_header,
    load_public_key,
    parse_signature,
    verify_signature,
)
from fedicoop.clock import now
from tests.servers import ServerProcess, fedicoop, free_port, init_instance

pytestmark = pytest.mark.federation

FIXTURE = Path(__file__).parents[1] / "fixtures" / "activitypub" / "mastodon" / "actor-person.json"
CAPTURED_ORIGIN = "https://masto.qa.urbanwildlife.biz"


class MastodonShapedPeer:
    """Serves a captured Mastodon actor and records what arrives in its inboxes, verified."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.keys = generate_rsa_keypair()
        text = FIXTURE.read_text(encoding="utf-8").replace(CAPTURED_ORIGIN, self.origin)
        self.actor: dict[str, Any] = json.loads(text)
        self.actor["publicKey"]["publicKeyPem"] = self.keys.public_pem
        self.received: list[dict[str, Any]] = []
        self.verified_by_httpsig = 0

    @property
    def key_id(self) -> str:
        return str(self.actor["publicKey"]["id"])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/users/mastodon", self.serve_actor)
        app.router.add_post("/inbox", self.inbox)
        app.router.add_post("/users/mastodon/inbox", self.inbox)
        return app

    async def serve_actor(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self.actor), content_type="application/activity+json")

    async def inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        parsed = parse_signature(
            request.method, request.raw_path, request.headers, body, scheme="http"
        )
        check_policy(parsed, method="POST", headers=request.headers, body=body, now=now())
        async with aiohttp.ClientSession() as session:
            owner = parsed.key_id.split("#")[0]
            async with session.get(
                owner, headers={"Accept": "application/activity+json"}
            ) as answer:
                signer = await answer.json(content_type=None)
        pem = signer["publicKey"]["publicKeyPem"]
        if not verify_signature(parsed, load_public_key(pem)):
            return web.json_response({"error": "bad signature"}, status=401)
        verifier = httpsig.HeaderVerifier(
            dict(request.headers),
            pem,
            required_headers=["(request-target)", "host", "date", "digest"],
            method="POST",
            path=request.raw_path,
            sign_header="signature",
        )
        if verifier.verify():
            self.verified_by_httpsig += 1
        activity = json.loads(body)
        assert activity["actor"] == signer["id"], "signed by someone other than the actor"
        self.received.append(activity)
        return web.json_response({}, status=202)

    def create(self, number: int) -> dict[str, Any]:
        """Return a public Create of a new Note by this actor (the `number`th)."""
        object_id = f"{self.origin}/users/mastodon/statuses/{number}"
        public = "https://www.w3.org/ns/activitystreams#Public"
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{object_id}/activity",
            "type": "Create",
            "actor": self.actor["id"],
            "to": [public],
            "object": {
                "id": object_id,
                "type": "Note",
                "attributedTo": self.actor["id"],
                "content": f"<p>burst {number}</p>",
                "published": now().isoformat(),
                "to": [public],
            },
        }

    async def send(self, inbox: str, activity: dict[str, Any]) -> int:
        """POST an activity signed with httpsig, as Mastodon signs it."""
        body = json.dumps(activity).encode()
        url = aiohttp.client.URL(inbox)
        headers = {
            "Host": f"{url.host}:{url.port}",
            "Date": now().strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "Digest": digest_header(body),
            "Content-Type": "application/activity+json",
        }
        signer = httpsig.HeaderSigner(
            self.key_id,
            self.keys.private_pem,
            algorithm="rsa-sha256",
            headers=["(request-target)", "host", "date", "digest", "content-type"],
            sign_header="signature",
        )
        signed = signer.sign(headers, method="POST", path=url.path)
        async with aiohttp.ClientSession() as session:
            async with session.post(inbox, data=body, headers=signed) as answer:
                return answer.status


async def wait_for(predicate: Any, what: str, patience: float = 20.0) -> None:
    for _ in range(int(patience / 0.2)):
        if predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_mastodon_shaped_actor_follows_group_and_receives_posts(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    # Given a co-op served by a real process, with a member
    coop = tmp_path / "coop"
    port, _ = init_instance(coop, "Vélo Lyon", "--handle", "velo")
    fedicoop("user", "add", str(coop), "carol", "--password", "long enough pw")
    server = ServerProcess(coop, port).start()
    peer = MastodonShapedPeer(free_port())
    await aiohttp_server(peer.app(), port=peer.port)
    group = f"http://127.0.0.1:{port}/users/velo"
    try:
        # When the Mastodon-shaped actor sends a Follow signed by httpsig
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.origin}/{uuid.uuid4()}",
            "type": "Follow",
            "actor": peer.actor["id"],
            "object": group,
        }
        assert await peer.send(f"http://127.0.0.1:{port}/inbox", follow) == 202
        # Then the Group accepts it, signed so that both verifiers agree
        await wait_for(lambda: any(a["type"] == "Accept" for a in peer.received), "Accept")
        accept = next(a for a in peer.received if a["type"] == "Accept")
        assert accept["actor"] == group and accept["object"]["id"] == follow["id"]
        # When a member addresses a post to the Group
        post = fedicoop(
            "act", str(coop), "carol", "post", f"Bike repair café tonight @velo@127.0.0.1:{port}"
        ).stdout.strip()
        # Then the Group's Announce reaches the follower's shared inbox
        await wait_for(
            lambda: any(a["type"] == "Announce" and a["object"] == post for a in peer.received),
            "Announce of the member's post",
        )
        assert peer.verified_by_httpsig == len(peer.received)
    finally:
        server.stop()
