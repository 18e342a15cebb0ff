"""The database goes away for a while: requests fail with 503, nothing is lost, all resumes.

The instance reaches PostgreSQL through a TCP proxy in the test, which is cut (every open
connection dropped, new ones refused) and then restored: what a network partition or a
database restart looks like from the server.
"""

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.federation.test_mastodon_shaped_peer import MastodonShapedPeer
from tests.reliability.test_faults import start_peer
from tests.servers import ApiClient, ServerProcess, fedicoop, free_port, init_instance

pytestmark = [pytest.mark.federation, pytest.mark.postgres, pytest.mark.timeout(240)]

PASSWORD = "long enough pw"


class TcpProxy:
    """Forwards 127.0.0.1:port to PostgreSQL until cut."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.close()
            return
        self.writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


def request(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(url, data=data, method=method)
    sent.add_header("Content-Type", "application/json")
    if token:
        sent.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


async def count(url: str, sql: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


async def test_database_outage_answers_503_then_everything_resumes(
    tmp_path: Path, pg_database: str
) -> None:
    # Given an instance on PostgreSQL reached through a proxy, followed by a peer
    proxy = TcpProxy(5432)
    await proxy.start()
    through_proxy = pg_database.replace(":5432/", f":{proxy.port}/")
    directory = tmp_path / "coop"
    port, _ = await asyncio.to_thread(
        init_instance, directory, "Tenace", "--handle", "tenace", "--database", through_proxy
    )
    await asyncio.to_thread(
        fedicoop, "user", "add", str(directory), "alice", "--password", PASSWORD
    )
    server = ServerProcess(directory, port)
    await asyncio.to_thread(server.start)
    base = server.base_url
    peer = MastodonShapedPeer(free_port())
    runner = await start_peer(peer)
    try:
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.origin}/follows/{uuid.uuid4()}",
            "type": "Follow",
            "actor": peer.actor["id"],
            "object": f"{base}/users/alice",
        }
        assert await peer.send(f"{base}/inbox", follow) == 202
        alice = await asyncio.to_thread(ApiClient, base, "alice", PASSWORD)
        for _ in range(80):
            if await count(pg_database, "SELECT count(*) FROM follows WHERE state = 'accepted'"):
                break
            await asyncio.sleep(0.25)

        # When the database becomes unreachable
        await proxy.cut()
        # Then the health check, a member's post and a peer's delivery all get 503
        status, headers, body = await asyncio.to_thread(request, f"{base}/health")
        assert status == 503 and "database" in body["error"]
        status, headers, body = await asyncio.to_thread(
            request, f"{base}/api/v1/statuses", "POST", {"status": "lost?"}, alice.token
        )
        assert status == 503 and body["error"], body
        assert headers.get("Retry-After") == "5", (headers, body)
        note = peer.create(1)
        note["object"]["published"] = datetime.now(UTC).isoformat()
        assert await peer.send(f"{base}/inbox", note) == 503

        # When it comes back
        await proxy.start()
        for _ in range(120):
            status, _, _ = await asyncio.to_thread(request, f"{base}/health")
            if status == 200:
                break
            await asyncio.sleep(0.25)
        assert status == 200
        # Then the peer's retry is accepted and processed, and alice's post is delivered
        assert await peer.send(f"{base}/inbox", note) == 202
        status, _, posted = await asyncio.to_thread(
            request, f"{base}/api/v1/statuses", "POST", {"status": "back"}, alice.token
        )
        assert status == 200, posted
        for _ in range(120):
            stored = await count(
                pg_database, "SELECT count(*) FROM objects WHERE uri LIKE '%/statuses/1'"
            )
            got = [a for a in peer.received if a.get("type") == "Create"]
            if stored and got:
                break
            await asyncio.sleep(0.25)
        assert stored == 1
        assert [a["object"]["content"] for a in got] == ["<p>back</p>"]
        # And the post refused during the outage was never half-stored
        assert not await count(
            pg_database, "SELECT count(*) FROM objects WHERE content LIKE '%lost?%'"
        )
    finally:
        await runner.cleanup()
        await asyncio.to_thread(server.stop)
        with contextlib.suppress(AssertionError):
            await proxy.cut()
