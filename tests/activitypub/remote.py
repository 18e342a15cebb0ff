"""Test helpers: an in-process fedicoop on a real loopback socket, and fake remote servers.

`start_coop` runs `init` in-process for a port chosen beforehand, so the instance's domain is
exactly the Host its test client sends. `add_remote_actor` stores a remote actor with its
public key, so the resolver verifies that actor's signatures without fetching anything.
`start_origin` is a remote server on loopback that serves documents (for refetches).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.activitypub.documents import ACTIVITY_JSON, PUBLIC
from fedicoop.activitypub.keys import KeyPair, generate_rsa_keypair
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.signatures import load_private_key, sign_request
from fedicoop.bootstrap import init_instance
from fedicoop.instance import Instance, open_instance
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Database, Executor
from fedicoop.web.app import create_app
from fedicoop.web.keys import FEDERATION
from tests.servers import free_port

REMOTE_ORIGIN = "http://remote.test"
COOP_NAME = "Test Coop"
COOP_HANDLE = "test_coop"  # slugify(COOP_NAME)
_serial = itertools.count(1)


@lru_cache(maxsize=16)
def keypair(name: str) -> KeyPair:
    """Return one RSA key pair per name, made once per session (generation takes ~100 ms)."""
    return generate_rsa_keypair()


@dataclass(frozen=True)
class RemoteActor:
    """An actor of another server whose private key the test holds."""

    record: ActorRecord
    private_pem: str = field(repr=False)

    @property
    def uri(self) -> str:
        return self.record.uri

    @property
    def key_id(self) -> str:
        assert self.record.key_id is not None
        return self.record.key_id

    @property
    def origin(self) -> str:
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def followers(self) -> str:
        return f"{self.uri}/followers"

    def new_id(self, kind: str = "activities") -> str:
        """Return a fresh id on this actor's origin."""
        return f"{self.origin}/{kind}/{next(_serial)}"

    def activity(self, kind: str, obj: Any, **more: Any) -> dict[str, Any]:
        """Return an activity by this actor, public unless `to`/`cc` say otherwise."""
        document: dict[str, Any] = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self.new_id(),
            "type": kind,
            "actor": self.uri,
            "object": obj,
            "to": [PUBLIC],
            "cc": [self.followers],
        }
        document.update(more)
        return document

    def note(self, content: str, **more: Any) -> dict[str, Any]:
        """Return a public Note by this actor."""
        document: dict[str, Any] = {
            "id": self.new_id("notes"),
            "type": "Note",
            "attributedTo": self.uri,
            "content": content,
            "published": "2024-05-01T12:00:00Z",
            "to": [PUBLIC],
            "cc": [self.followers],
        }
        document.update(more)
        return document

    def create(self, note: dict[str, Any], **more: Any) -> dict[str, Any]:
        """Return Create(note) addressed as the note is."""
        addressing: dict[str, Any] = {key: note[key] for key in ("to", "cc") if key in note}
        return self.activity("Create", note, **{**addressing, **more})

    def signed_headers(
        self,
        url: str,
        body: bytes,
        *,
        content_type: str | None = ACTIVITY_JSON,
        now: datetime | None = None,
        key_id: str | None = None,
    ) -> dict[str, str]:
        """Sign a POST of `body` to `url` the way Mastodon does (cavage, rsa-sha256)."""
        headers = sign_request(
            "POST",
            url,
            key_id=key_id or self.key_id,
            private_key=load_private_key(self.private_pem),
            body=body,
            content_type=content_type,
            now=now,
        )
        return headers


async def add_remote_actor(
    db: Executor,
    uri: str,
    *,
    key: str | None = None,
    actor_type: str = "Person",
    shared_inbox: str | None = None,
) -> RemoteActor:
    """Store a remote actor with a public key (named `key`, default: its uri)."""
    pair = keypair(key or uri)
    parts = urlsplit(uri)
    record = await ActorRepository(db).insert(
        ActorRecord(
            uri=uri,
            type=actor_type,
            domain=parts.netloc,
            username=uri.rstrip("/").rsplit("/", 1)[-1],
            local=False,
            display_name=uri.rsplit("/", 1)[-1].title(),
            url=uri,
            inbox=f"{uri}/inbox",
            shared_inbox=shared_inbox,
            outbox=f"{uri}/outbox",
            followers_uri=f"{uri}/followers",
            following_uri=f"{uri}/following",
            key_id=f"{uri}#main-key",
            public_key_pem=pair.public_pem,
        )
    )
    return RemoteActor(record=record, private_pem=pair.private_pem)


@dataclass
class Coop:
    """One fedicoop instance served on 127.0.0.1:port, with a client pointed at it."""

    instance: Instance
    server: TestServer
    client: TestClient[Any, Any]

    @property
    def federation(self) -> Federation:
        assert self.server.app is not None
        return self.server.app[FEDERATION]

    @property
    def db(self) -> Database:
        return self.instance.db

    @property
    def domain(self) -> str:
        return self.instance.domain

    @property
    def base_url(self) -> str:
        return self.instance.config.base_url

    async def group(self) -> ActorRecord:
        return await self.federation.group_actor()

    async def local_actor(self, username: str = "admin") -> ActorRecord:
        actor = await ActorRepository(self.db).by_handle(username, self.domain)
        assert actor is not None
        return actor

    async def post_signed(
        self, sender: RemoteActor, activity: dict[str, Any], *, path: str = "/inbox"
    ) -> ClientResponse:
        """POST an activity to one of our inboxes, signed by `sender`."""
        body = json.dumps(activity).encode()
        headers = sender.signed_headers(self.base_url + path, body)
        return await self.client.post(path, data=body, headers=headers)

    async def receive(
        self, sender: RemoteActor, activity: dict[str, Any], *, path: str = "/inbox"
    ) -> None:
        """Deliver an activity, expect 202, and run the inbox processor over it."""
        response = await self.post_signed(sender, activity, path=path)
        assert response.status == 202, await response.text()
        await self.process()

    async def process(self) -> int:
        """Run the inbox processor until nothing is pending; return how many it handled."""
        handled = 0
        while count := await self.federation.processor.process_pending():
            handled += count
        return handled

    async def count(self, table: str, where: str = "", *args: Any) -> int:
        """Return how many rows a table holds (optionally filtered)."""
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(await self.db.fetchval(sql, *args))


async def start_coop(
    directory: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    """Init a dev instance on a free port, open it, and serve it (no background loops)."""
    port = free_port()
    await init_instance(
        directory,
        domain=f"127.0.0.1:{port}",
        name=COOP_NAME,
        dev=True,
        database=database_url,
        admin_password="correct horse battery staple",
    )
    instance = await open_instance(directory)
    server = await aiohttp_server(create_app(instance, background=False), port=port)
    client: TestClient[Any, Any] = await aiohttp_client(server)
    return Coop(instance=instance, server=server, client=client)


@dataclass
class Origin:
    """A remote server on loopback serving stored documents as application/activity+json."""

    base_url: str
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def serve(self, document: dict[str, Any]) -> None:
        """Serve a document at the path of its id."""
        self.documents[urlsplit(document["id"]).path] = document

    def serve_actor(self, actor: RemoteActor) -> None:
        """Serve an actor's document with its public key, as its server would."""
        record = actor.record
        self.serve(
            {
                "@context": [
                    "https://www.w3.org/ns/activitystreams",
                    "https://w3id.org/security/v1",
                ],
                "id": record.uri,
                "type": record.type,
                "preferredUsername": record.username,
                "inbox": record.inbox,
                "outbox": record.outbox,
                "followers": record.followers_uri,
                "publicKey": {
                    "id": record.key_id,
                    "owner": record.uri,
                    "publicKeyPem": record.public_key_pem,
                },
            }
        )

    async def handle(self, request: web.Request) -> web.Response:
        document = self.documents.get(request.path)
        if document is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.Response(text=json.dumps(document), content_type=ACTIVITY_JSON)


async def start_origin(aiohttp_server: AiohttpServer) -> Origin:
    """Serve an empty Origin on a free loopback port."""
    port = free_port()
    origin = Origin(base_url=f"http://127.0.0.1:{port}")
    app = web.Application()
    app.router.add_get("/{tail:.*}", origin.handle)
    await aiohttp_server(app, port=port)
    return origin
