"""Faults, short versions: the server killed mid-burst, a peer away for two days, a disk full.

Each test starts a real `fedicoop serve` process and a Mastodon-shaped peer (a real aiohttp
server in the test process that verifies every signature). The long versions, with thousands
of activities and a soak, are `bench/chaos.py`; figures in docs/reliability.md.
"""

import asyncio
import collections
import io
import json
import random
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from fedicoop import clock
from tests.federation.test_mastodon_shaped_peer import MastodonShapedPeer
from tests.servers import ApiClient, ServerProcess, fedicoop, free_port, init_instance, query

pytestmark = [pytest.mark.federation, pytest.mark.timeout(300)]

PASSWORD = "long enough pw"
SEED = 20261126


def age_by_two_days(database: Path) -> None:
    """Move the delivery queue two days into the past, as if the peer had been away so long."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT id, created_at FROM deliveries").fetchall()
        due = clock.to_text(clock.now() - timedelta(minutes=1))
        for row_id, created in rows:
            older = clock.to_text(clock.from_text(created) - timedelta(days=2))
            connection.execute(
                "UPDATE deliveries SET created_at = ?, next_attempt_at = ? WHERE id = ?",
                (older, due, row_id),
            )
        for host, since in connection.execute("SELECT host, failing_since FROM hosts").fetchall():
            if since:
                older = clock.to_text(clock.from_text(since) - timedelta(days=2))
                connection.execute(
                    "UPDATE hosts SET failing_since = ? WHERE host = ?", (older, host)
                )


async def start_peer(peer: MastodonShapedPeer) -> web.AppRunner:
    runner = web.AppRunner(peer.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    return runner


async def until(check: Any, what: str, patience: float = 120.0) -> Any:
    for _ in range(int(patience / 0.25)):
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"never happened: {what}")


async def followed_by_peer(directory: Path, base: str, peer: MastodonShapedPeer) -> None:
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.origin}/follows/{uuid.uuid4()}",
        "type": "Follow",
        "actor": peer.actor["id"],
        "object": f"{base}/users/alice",
    }
    assert await peer.send(f"{base}/inbox", follow) == 202
    await until(
        lambda: query(directory, "SELECT 1 FROM follows WHERE state = 'accepted'"),
        "the peer follows alice",
    )


async def instance_with_peer(tmp_path: Path) -> tuple[Path, ServerProcess, MastodonShapedPeer]:
    directory = tmp_path / "coop"
    port, _ = await asyncio.to_thread(init_instance, directory, "Fiable", "--handle", "fiable")
    await asyncio.to_thread(
        fedicoop, "user", "add", str(directory), "alice", "--password", PASSWORD
    )
    server = ServerProcess(directory, port)
    await asyncio.to_thread(server.start)
    return directory, server, MastodonShapedPeer(free_port())


async def test_kill_9_mid_burst_processes_everything_once_and_delivers_everything(
    tmp_path: Path,
) -> None:
    # Given a co-op whose member alice is followed by a Mastodon-shaped peer
    directory, server, peer = await instance_with_peer(tmp_path)
    runner = await start_peer(peer)
    base = server.base_url
    inbound, outbound = 300, 40
    try:
        await followed_by_peer(directory, base, peer)
        alice = await asyncio.to_thread(ApiClient, base, "alice", PASSWORD)
        rng = random.Random(SEED)

        async def send(number: int) -> None:
            # A real peer retries until the server answers 202.
            while True:
                try:
                    if await peer.send(f"{base}/inbox", peer.create(number)) == 202:
                        return
                except (OSError, aiohttp.ClientError):
                    pass
                await asyncio.sleep(0.2)

        def post(number: int) -> None:
            # The client retries too, with the same Idempotency-Key: one post, however often.
            while True:
                try:
                    status, _ = alice.call(
                        "POST",
                        "/api/v1/statuses",
                        {"status": f"out {number}"},
                        headers={"Idempotency-Key": f"post-{number}"},
                    )
                    if status == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.2)

        async def chaos() -> int:
            kills = 0
            for _ in range(3):
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                # When the server is killed with no chance to clean up, then started again
                assert server.process is not None
                server.process.send_signal(signal.SIGKILL)
                await asyncio.to_thread(server.process.wait)
                kills += 1
                await asyncio.to_thread(server.start)
            return kills

        semaphore = asyncio.Semaphore(8)

        async def send_bounded(number: int) -> None:
            async with semaphore:
                await send(number)

        kills, *_ = await asyncio.gather(
            chaos(),
            asyncio.gather(*(send_bounded(n) for n in range(inbound))),
            asyncio.to_thread(lambda: [post(n) for n in range(outbound)]),
        )
        assert kills == 3

        # Then every activity the server accepted is processed, with its effect once
        await until(
            lambda: not query(directory, "SELECT 1 FROM inbox WHERE state = 'pending'"),
            "inbox drained",
        )
        failed = query(directory, "SELECT error FROM inbox WHERE state = 'failed'")
        assert not failed, failed[:3]
        stored = query(directory, "SELECT count(*) FROM objects WHERE uri LIKE ?", "%/statuses/%")
        assert stored[0][0] == inbound
        # And alice has exactly her posts, each delivered to the peer at least once
        mine = query(
            directory,
            "SELECT count(*) FROM objects o JOIN actors a ON a.id = o.actor_id "
            "WHERE a.username = 'alice' AND o.local = 1",
        )
        assert mine[0][0] == outbound

        def delivered() -> bool:
            ids = {a["object"]["content"] for a in peer.received if a.get("type") == "Create"}
            return len(ids) == outbound

        await until(delivered, "every post delivered")
        copies = collections.Counter(a["id"] for a in peer.received if a["type"] == "Create")
        (tmp_path / "duplicates.json").write_text(json.dumps(copies.most_common(5)))
    finally:
        await runner.cleanup()
        await asyncio.to_thread(server.stop)


async def test_a_peer_away_for_two_days_gets_everything_when_back(tmp_path: Path) -> None:
    # Given alice's follower on a peer that then goes away
    directory, server, peer = await instance_with_peer(tmp_path)
    runner = await start_peer(peer)
    base = server.base_url
    try:
        await followed_by_peer(directory, base, peer)
        await runner.cleanup()
        alice = await asyncio.to_thread(ApiClient, base, "alice", PASSWORD)
        # When alice posts while the peer is away
        for number in range(10):
            status, _ = await asyncio.to_thread(
                alice.call, "POST", "/api/v1/statuses", {"status": f"away {number}"}
            )
            assert status == 200
        await until(
            lambda: len(query(directory, "SELECT 1 FROM deliveries WHERE attempts >= 1")) >= 10,
            "first attempts failed",
        )
        # And two days pass (the server stopped meanwhile: the queue's clock is moved back)
        await asyncio.to_thread(server.stop)
        age_by_two_days(directory / "fedicoop.db")
        # And the peer comes back as the server starts again
        runner = await start_peer(peer)
        await asyncio.to_thread(server.start)

        # Then every post reaches it, none given up
        def arrived() -> bool:
            return len({a["id"] for a in peer.received if a.get("type") == "Create"}) == 10

        await until(arrived, "every post delivered after two days")
        assert not query(directory, "SELECT 1 FROM deliveries WHERE state = 'failed'")
    finally:
        await runner.cleanup()
        await asyncio.to_thread(server.stop)


def png_bytes(size: int) -> bytes:
    image = Image.effect_noise((size, size), 64).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def upload(base: str, token: str, data: bytes) -> tuple[int, Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(f"{base}/api/v2/media", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 2 MB tmpfs for an instance's media (the test machine runs as root)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_an_upload_clearly_and_keeps_what_was_there(
    tmp_path: Path, small_disk: Path
) -> None:
    # Given an instance whose media live on a small disk, nearly full
    directory = tmp_path / "coop"
    port, _ = init_instance(directory, "Pleine", "--handle", "pleine")
    fedicoop("user", "add", str(directory), "alice", "--password", PASSWORD)
    (directory / "media").symlink_to(small_disk, target_is_directory=True)
    server = ServerProcess(directory, port).start()
    try:
        alice = ApiClient(server.base_url, "alice", PASSWORD)
        status, first = upload(server.base_url, alice.token, png_bytes(64))
        assert status == 200, first
        before = sorted(p.name for p in small_disk.iterdir())
        (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 64 * 1024))
        # When a member uploads a picture that does not fit
        status, body = upload(server.base_url, alice.token, png_bytes(400))
        # Then the answer says so, in Mastodon's error shape
        assert status == 507 and "disk space" in body["error"], body
        # And nothing half-written is left, and the first picture is intact and served
        assert sorted(p.name for p in small_disk.iterdir() if p.name != "filler") == before
        assert len(query(directory, "SELECT 1 FROM media")) == 1
        status, again = alice.call("GET", f"/api/v1/media/{first['id']}")
        assert status == 200 and again["url"] == first["url"]
    finally:
        server.stop()
