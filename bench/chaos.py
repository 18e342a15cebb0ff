"""Chaos: kill -9 the server (or one of its processes) again and again during a burst.

    .venv/bin/python -m bench.chaos                                   # 5,000 activities, SQLite
    .venv/bin/python -m bench.chaos --engine postgresql --workers 2   # 2 web + 1 worker, PG

A peer sends signed posts (retrying until it gets 202, as servers do) while a member posts
(with an Idempotency-Key, retrying likewise), so half the burst comes in and half goes out.
Meanwhile, at random moments (fixed seed), a process is killed with SIGKILL: the single
server, which is started again; or, with --workers, a web process or the worker, which the
supervising `serve` restarts. Then the run waits for everything to drain and checks:
every accepted activity processed exactly once (one stored note each, none failed), every
member post stored once and delivered at least once (duplicates counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.common import (
    Progress,
    ServerProcess,
    children_of,
    create_instance,
    free_port,
    machine_summary,
    password_token,
    run_async,
)
from bench.peer import Peer

PASSWORD = "chaos password long"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def run(args: argparse.Namespace) -> int:
    print(f"machine: {await machine_summary()}")
    rng = random.Random(args.seed)
    instance = await create_instance(args.engine, "Chaos Coop")
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fedicoop", "user", "add", str(instance.directory), "alice",
         "--password", PASSWORD],
        check=True,
        capture_output=True,
    )  # fmt: skip
    extra = ["--workers", str(args.workers)] if args.workers > 1 else []
    server = ServerProcess(instance.directory, instance.port, serve_args=extra)
    await asyncio.to_thread(server.start)
    peer = Peer(free_port())
    await peer.start()
    base = instance.base_url
    database = await instance.open_db()
    inbound = args.activities // 2
    outbound = args.activities - inbound
    kills: list[str] = []
    accepted = 0
    posted = 0
    started = time.monotonic()
    progress = Progress(5.0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            token = await password_token(session, base, "alice", PASSWORD, "chaos")
            bearer = {"Authorization": f"Bearer {token}"}
            await peer.send_until_accepted(f"{base}/inbox", peer.follow(f"{base}/users/alice"))
            for _ in range(150):
                if await database.fetchval("SELECT count(*) FROM follows WHERE state = 'accepted'"):
                    break
                await asyncio.sleep(0.2)
            done = asyncio.Event()
            senders = asyncio.Semaphore(16)

            async def send(number: int) -> None:
                nonlocal accepted
                async with senders:
                    await peer.send_until_accepted(f"{base}/inbox", peer.create(number))
                    accepted += 1

            async def post(number: int) -> None:
                nonlocal posted
                while True:
                    try:
                        async with session.post(
                            f"{base}/api/v1/statuses",
                            json={"status": f"chaos {number}"},
                            headers={**bearer, "Idempotency-Key": f"chaos-{number}"},
                        ) as answer:
                            await answer.read()
                            if answer.status == 200:
                                posted += 1
                                return
                    except (aiohttp.ClientError, OSError, TimeoutError):
                        pass
                    await asyncio.sleep(0.2)

            async def poster() -> None:
                posters = asyncio.Semaphore(4)

                async def one(number: int) -> None:
                    async with posters:
                        await post(number)

                await asyncio.gather(*(one(n) for n in range(outbound)))

            async def chaos() -> None:
                while not done.is_set() and len(kills) < args.kills:
                    await asyncio.sleep(rng.uniform(0.3, args.kill_every))
                    if done.is_set():
                        return
                    assert server.process is not None
                    if args.workers > 1:
                        victims = sorted(children_of(server.process.pid))
                        if not victims:
                            continue
                        victim = rng.choice(victims)
                        role = "worker" if b"worker" in _cmdline(victim) else "web"
                        os.kill(victim, signal.SIGKILL)
                        kills.append(role)
                        continue  # the supervisor starts it again
                    server.process.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(server.process.wait)
                    kills.append("server")
                    await asyncio.to_thread(server.start)

            async def report() -> None:
                while not done.is_set():
                    await asyncio.sleep(1)
                    if progress.due():
                        Progress.say(
                            f"accepted {accepted}/{inbound}  posted {posted}/{outbound}  "
                            f"delivered {peer.count('Create')}  kills {len(kills)}"
                        )

            async def burst() -> None:
                await asyncio.gather(*(send(n) for n in range(inbound)), poster())
                done.set()

            await asyncio.gather(burst(), chaos(), report())
            burst_seconds = time.monotonic() - started
            Progress.say(f"burst over after {burst_seconds:.0f} s, {len(kills)} kills; draining")
            deadline = time.monotonic() + args.drain_minutes * 60
            while time.monotonic() < deadline:
                pending = await database.fetchval(
                    "SELECT count(*) FROM inbox WHERE state = 'pending'"
                )
                if not pending and peer.count("Create") >= outbound:
                    break
                if progress.due():
                    Progress.say(f"inbox pending {pending}, delivered {peer.count('Create')}")
                await asyncio.sleep(1)
        stored = await database.fetchval(
            "SELECT count(*) FROM objects WHERE uri LIKE '%/users/peer/statuses/%'"
        )
        failed = await database.fetchval("SELECT count(*) FROM inbox WHERE state = 'failed'")
        mine = await database.fetchval(
            "SELECT count(*) FROM objects WHERE local = 1 AND content LIKE '%chaos %'"
        )
        drained = time.monotonic() - started
    finally:
        await database.close()
        await peer.stop()
        server.stop()
    delivered = peer.count("Create")
    print(f"\nkills: {len(kills)} ({', '.join(kills)})")
    print(f"inbound: {inbound} sent, {accepted} accepted, {stored} stored once, {failed} failed")
    print(f"outbound: {outbound} posted, {mine} stored, {delivered} delivered, "
          f"{peer.duplicates()} duplicate deliveries, {peer.refused} refused")  # fmt: skip
    print(f"burst and drain took {drained:.0f} s")
    ok = stored == inbound and not failed and mine == outbound and delivered == outbound
    print("OK: nothing lost, nothing processed twice" if ok else "FAILED")
    await instance.remove(keep=not ok)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-every", type=float, default=4.0, help="max seconds between kills")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="web processes (PostgreSQL)")
    parser.add_argument("--drain-minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=20261126)
    return run_async(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
