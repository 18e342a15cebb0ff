"""One co-op in four processes: two web processes sharing the port and two workers.

On one PostgreSQL database, `fedicoop serve --workers 2 --no-worker` and two `fedicoop
worker` processes take a burst of signed activities from a Mastodon-shaped peer and a burst
of posts to deliver to it. Every activity is processed exactly once, every post delivered
exactly once, and a ride offered through one web process is found through both.
"""

import asyncio
import collections
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.federation.test_mastodon_shaped_peer import MastodonShapedPeer
from tests.servers import ApiClient, ServerProcess, fedicoop, free_port, init_instance

pytestmark = [pytest.mark.federation, pytest.mark.postgres, pytest.mark.timeout(300)]

PASSWORD = "long enough pw"
INBOUND = 300
OUTBOUND = 60
API = "/api/fedicoop/v1"


async def settled(url: str, check: str, patience: float = 90.0) -> Any:
    """Poll PostgreSQL until `check` returns a true first value; return the row."""
    connection = await asyncpg.connect(url)
    try:
        for _ in range(int(patience / 0.25)):
            row = await connection.fetchrow(check)
            if row is not None and row[0]:
                return row
            await asyncio.sleep(0.25)
        states = await connection.fetch(
            "SELECT state, count(*), max(attempts), min(error) FROM inbox GROUP BY state"
        )
        raise AssertionError(f"never true: {check} (last: {row}); inbox: {states}")
    finally:
        await connection.close()


async def scalar(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_two_web_and_two_workers_lose_nothing_and_double_nothing(
    tmp_path: Path, pg_database: str
) -> None:
    # Given a co-op on PostgreSQL served by two web processes and two workers
    directory = tmp_path / "grande"
    port, _ = await asyncio.to_thread(
        init_instance, directory, "Grande Coop", "--handle", "grande", "--database", pg_database
    )
    await asyncio.to_thread(
        fedicoop, "user", "add", str(directory), "alice", "--password", PASSWORD
    )
    server = ServerProcess(directory, port, extra=("--workers", "2", "--no-worker"))
    await asyncio.to_thread(server.start)
    log = (tmp_path / "workers.log").open("ab")

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "fedicoop", "worker", str(directory)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    workers = [await asyncio.to_thread(start_worker) for _ in range(2)]
    peer = MastodonShapedPeer(free_port())
    runner = web.AppRunner(peer.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        alice = await asyncio.to_thread(ApiClient, base, "alice", PASSWORD)
        # And the peer follows alice
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.origin}/follows/{uuid.uuid4()}",
            "type": "Follow",
            "actor": peer.actor["id"],
            "object": f"{base}/users/alice",
        }
        assert await peer.send(f"{base}/inbox", follow) == 202
        await settled(pg_database, "SELECT count(*) FROM follows WHERE state = 'accepted'")

        # And alice's app listens to the public stream (on whichever web process it lands)
        heard: list[str] = []

        async def listen() -> None:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"{base}/api/v1/streaming/public",
                    headers={"Authorization": f"Bearer {alice.token}"},
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=120),
                ) as stream,
            ):
                async for line in stream.content:
                    if line.startswith(b"data:") and b"burst " in line:
                        heard.append(line.decode())
                        return

        listening = asyncio.create_task(listen())
        await asyncio.sleep(0.5)

        # When the peer sends a burst of posts while alice posts a burst of her own
        semaphore = asyncio.Semaphore(16)

        async def send(number: int) -> int:
            async with semaphore:
                return await peer.send(f"{base}/inbox", peer.create(number))

        def post_all() -> list[int]:
            return [
                alice.call("POST", "/api/v1/statuses", {"status": f"out {n}"})[0]
                for n in range(OUTBOUND)
            ]

        statuses, answers = await asyncio.gather(
            asyncio.to_thread(post_all), asyncio.gather(*(send(n) for n in range(INBOUND)))
        )
        assert set(answers) == {202} and set(statuses) == {200}

        # Then every inbound activity is processed, each exactly once
        await settled(
            pg_database,
            f"SELECT count(*) = {INBOUND + 1} FROM inbox WHERE state = 'done' "
            f"AND actor_uri = '{peer.actor['id']}'",
        )
        await settled(pg_database, "SELECT count(*) = 0 FROM inbox WHERE state <> 'done'")
        assert await scalar(pg_database, "SELECT max(attempts) FROM inbox") == 1
        stored = await scalar(
            pg_database, "SELECT count(*) FROM objects WHERE uri LIKE '%/statuses/%'"
        )
        assert stored == INBOUND

        # And every post of alice's reaches the peer, each exactly once
        for _ in range(360):
            creates = [a for a in peer.received if a.get("type") == "Create"]
            if len(creates) >= OUTBOUND:
                break
            await asyncio.sleep(0.25)
        counted = collections.Counter(a["id"] for a in peer.received if a["type"] == "Create")
        assert len(counted) == OUTBOUND, f"{len(counted)} of {OUTBOUND} delivered"
        assert max(counted.values()) == 1, counted.most_common(3)
        assert await scalar(pg_database, "SELECT max(attempts) FROM deliveries") == 1
        # And the streaming client heard the peer's posts, processed by a worker process
        await asyncio.wait_for(listening, 30)
        assert heard

        # When alice offers a ride through one web process
        day = (datetime.now(UTC) + timedelta(days=3)).date()
        departure = datetime(day.year, day.month, day.day, 8, tzinfo=UTC).isoformat()
        status, ride = await asyncio.to_thread(
            alice.call,
            "POST",
            f"{API}/rides",
            {
                "role": "driver",
                "origin": {"lat": 45.7578, "lon": 4.8320, "label": "Part-Dieu"},
                "destination": {"lat": 45.1885, "lon": 5.7245, "label": "Grenoble"},
                "departure": departure,
                "seats": 2,
                "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
            },
        )
        assert status == 201, ride

        # Then a search finds it whichever web process answers (each its own connection)
        def found() -> bool:
            results = alice.get(
                f"{API}/rides/search",
                origin="45.76,4.83",
                destination="45.19,5.72",
                departure=departure,
                seats="1",
            )
            return any(r["url"] == ride["url"] for r in results)

        await asyncio.sleep(1.0)  # the other process hears of it on commit
        searches = [await asyncio.to_thread(found) for _ in range(12)]
        assert all(searches), searches
    finally:
        await runner.cleanup()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            await asyncio.to_thread(worker.wait, 20)
        await asyncio.to_thread(server.stop)
        log.close()
