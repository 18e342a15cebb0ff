"""A remote fediverse server for long runs: one actor, a verifying inbox that counts arrivals.

Serves its actor document (with a fresh RSA key) on 127.0.0.1, signs what it sends as
Mastodon does (draft-cavage rsa-sha256 through fedicoop's own signer), and checks every
signature it receives against the sender's published key before counting the activity.
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from fedicoop.activitypub.keys import generate_rsa_keypair
from fedicoop.activitypub.signatures import (
    check_policy,
    load_private_key,
    load_public_key,
    parse_signature,
    sign_request,
    verify_signature,
)
from fedicoop.clock import now

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]


class Peer:
    """One remote actor and its verifying inbox."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.keys = generate_rsa_keypair()
        self.private_key = load_private_key(self.keys.private_pem)
        self.actor_id = f"{self.origin}/users/peer"
        self.received: collections.Counter[str] = collections.Counter()  # by activity id
        self.types: dict[str, str] = {}  # activity id -> type
        self.refused = 0
        self._keys: dict[str, Any] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def actor(self) -> dict[str, Any]:
        return {
            "@context": CONTEXT,
            "id": self.actor_id,
            "type": "Person",
            "preferredUsername": "peer",
            "inbox": f"{self.actor_id}/inbox",
            "outbox": f"{self.actor_id}/outbox",
            "followers": f"{self.actor_id}/followers",
            "endpoints": {"sharedInbox": f"{self.origin}/inbox"},
            "publicKey": {
                "id": f"{self.actor_id}#main-key",
                "owner": self.actor_id,
                "publicKeyPem": self.keys.public_pem,
            },
        }

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/users/peer", self._serve_actor)
        app.router.add_post("/inbox", self._inbox)
        app.router.add_post("/users/peer/inbox", self._inbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve_actor(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self.actor()), content_type="application/activity+json")

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = parse_signature(
                request.method, request.raw_path, request.headers, body, scheme="http"
            )
            check_policy(parsed, method="POST", headers=request.headers, body=body, now=now())
            owner = parsed.key_id.split("#")[0]
            if owner not in self._keys:
                assert self._session is not None
                async with self._session.get(
                    owner, headers={"Accept": "application/activity+json"}
                ) as answer:
                    document = await answer.json(content_type=None)
                self._keys[owner] = load_public_key(document["publicKey"]["publicKeyPem"])
            if not verify_signature(parsed, self._keys[owner]):
                raise ValueError("bad signature")
        except Exception:  # a refusal, counted: the run reports it
            self.refused += 1
            return web.json_response({"error": "refused"}, status=401)
        activity = json.loads(body)
        self.received[str(activity.get("id"))] += 1
        self.types[str(activity.get("id"))] = str(activity.get("type"))
        return web.json_response({}, status=202)

    def count(self, activity_type: str) -> int:
        """Return how many distinct activities of a type arrived."""
        return sum(1 for kind in self.types.values() if kind == activity_type)

    def duplicates(self) -> int:
        """Return how many arrivals were repeats of an activity already received."""
        return sum(times - 1 for times in self.received.values())

    def follow(self, target: str) -> dict[str, Any]:
        return {
            "@context": CONTEXT[0],
            "id": f"{self.origin}/follows/{uuid.uuid4()}",
            "type": "Follow",
            "actor": self.actor_id,
            "object": target,
        }

    def create(self, number: int, text: str = "") -> dict[str, Any]:
        object_id = f"{self.actor_id}/statuses/{number}"
        return {
            "@context": CONTEXT[0],
            "id": f"{object_id}/activity",
            "type": "Create",
            "actor": self.actor_id,
            "to": [PUBLIC],
            "object": {
                "id": object_id,
                "type": "Note",
                "attributedTo": self.actor_id,
                "content": f"<p>{text or f'note {number}'}</p>",
                "published": datetime.now(UTC).isoformat(),
                "to": [PUBLIC],
            },
        }

    async def send_until_accepted(self, inbox: str, activity: dict[str, Any]) -> None:
        """Send until the server answers 202, as a server retries a delivery."""
        while True:
            if await self.send(inbox, activity) == 202:
                return
            await asyncio.sleep(0.2)

    async def send(self, inbox: str, activity: dict[str, Any]) -> int:
        """POST a signed activity; return the status (0 when the server did not answer)."""
        assert self._session is not None
        body = json.dumps(activity).encode()
        headers = sign_request(
            "POST",
            inbox,
            key_id=f"{self.actor_id}#main-key",
            private_key=self.private_key,
            body=body,
            content_type="application/activity+json",
        )
        headers.pop("Host", None)
        try:
            async with self._session.post(inbox, data=body, headers=headers) as answer:
                return answer.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return 0
