"""Soak: mixed federation and client traffic against one server for a long time.

    .venv/bin/python -m bench.soak --minutes 30                 # the full run (docs/reliability.md)
    .venv/bin/python -m bench.soak --minutes 1 --json out.json  # the short one the tests run

A Mastodon-shaped peer follows a member and sends signed posts at a steady rate; the member
posts (delivered back to the peer); readers page through the home, public and notifications
timelines. Every 10 s the server's RSS and the backlog are sampled. At the end the inbox and
delivery queue must drain; the run prints latencies (p50/p99) per kind of request, errors,
memory over time, and writes the curves as an SVG chart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from bench.chart import line_chart
from bench.common import (
    Progress,
    ServerProcess,
    create_instance,
    free_port,
    machine_summary,
    password_token,
    percentile,
    rss_anon_kib,
    rss_kib,
    run_async,
)
from bench.peer import Peer

PASSWORD = "soak password long"


class Recorder:
    """Latencies and statuses per kind of request."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def record(self, kind: str, started: float, status: int) -> None:
        self.latencies[kind].append((time.perf_counter() - started) * 1000)
        if not 200 <= status < 300:
            self.errors[f"{kind} {status}"] += 1


async def scalar(database: Any, sql: str) -> int:
    return int(await database.fetchval(sql))


async def wait_until(database: Any, sql: str, patience: float = 30.0) -> None:
    """Poll the database until `sql` counts something (another process writes it)."""
    for _ in range(int(patience / 0.2)):
        if await scalar(database, sql):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"never true: {sql}")


async def run(args: argparse.Namespace) -> int:
    print(f"machine: {await machine_summary()}")
    instance = await create_instance(args.engine, "Soak Coop")
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fedicoop", "user", "add", str(instance.directory), "alice",
         "--password", PASSWORD],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ServerProcess(instance.directory, instance.port).start()
    peer = Peer(free_port())
    await peer.start()
    base = instance.base_url
    database = await instance.open_db()
    recorder = Recorder()
    samples: list[tuple[float, float, float, int, int]] = []  # minute, RSS, anon MiB, backlogs
    posts = 0
    sent = 0
    try:
        async with aiohttp.ClientSession() as session:
            token = await password_token(session, base, "alice", PASSWORD, "soak")
            bearer = {"Authorization": f"Bearer {token}"}
            assert await peer.send(f"{base}/inbox", peer.follow(f"{base}/users/alice")) == 202
            await wait_until(database, "SELECT count(*) FROM follows WHERE state = 'accepted'")
            start = time.monotonic()
            deadline = start + args.minutes * 60
            progress = Progress(10.0)

            async def inbound() -> None:
                nonlocal sent
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    status = await peer.send(f"{base}/inbox", peer.create(sent))
                    recorder.record("inbox POST", began, status)
                    sent += 1
                    await asyncio.sleep(
                        max(0.0, 1 / args.inbound_rate - (time.perf_counter() - began))
                    )

            async def posting() -> None:
                nonlocal posts
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    async with session.post(
                        f"{base}/api/v1/statuses",
                        json={"status": f"soak {posts} {secrets.token_hex(4)}"},
                        headers={**bearer, "Idempotency-Key": f"soak-{posts}"},
                    ) as answer:
                        await answer.read()
                        recorder.record("POST /api/v1/statuses", began, answer.status)
                    posts += 1
                    await asyncio.sleep(1 / args.posts_rate)

            async def reader(path: str) -> None:
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    async with session.get(f"{base}{path}", headers=bearer) as answer:
                        await answer.read()
                        recorder.record(f"GET {path.split('?')[0]}", began, answer.status)
                    await asyncio.sleep(1 / args.read_rate)

            async def sampler() -> None:
                while time.monotonic() < deadline + 1:
                    minute = (time.monotonic() - start) / 60
                    rss = rss_kib(server.pid)[0] / 1024
                    anon = rss_anon_kib(server.pid) / 1024
                    backlog = await scalar(
                        database, "SELECT count(*) FROM inbox WHERE state = 'pending'"
                    )
                    queued = await scalar(
                        database, "SELECT count(*) FROM deliveries WHERE state = 'pending'"
                    )
                    samples.append((minute, rss, anon, backlog, queued))
                    if progress.due() or not samples[:-1]:
                        Progress.say(
                            f"{minute:5.1f} min  RSS {rss:6.1f} MiB (own {anon:5.1f})  "
                            f"inbox backlog {backlog}  "
                            f"deliveries pending {queued}  sent {sent}  posted {posts}"
                        )
                    await asyncio.sleep(10)

            await asyncio.gather(
                inbound(),
                posting(),
                reader("/api/v1/timelines/home?limit=40"),
                reader("/api/v1/timelines/public?limit=40"),
                reader("/api/v1/notifications?limit=30"),
                sampler(),
            )
            # Then everything drains: the inbox processed, every post delivered.
            drain_deadline = time.monotonic() + 120
            while time.monotonic() < drain_deadline:
                backlog = await scalar(
                    database, "SELECT count(*) FROM inbox WHERE state = 'pending'"
                )
                if not backlog and peer.count("Create") >= posts:
                    break
                await asyncio.sleep(0.5)
        processed = await scalar(
            database, "SELECT count(*) FROM objects WHERE uri LIKE '%/users/peer/statuses/%'"
        )
        failed = await scalar(database, "SELECT count(*) FROM inbox WHERE state = 'failed'")
        server_errors = server.count_log('"level": "error"')
    finally:
        await database.close()
        await peer.stop()
        server.stop()
    creates = peer.count("Create")
    result = {
        "minutes": args.minutes,
        "engine": args.engine,
        "sent": sent,
        "processed": processed,
        "failed": failed,
        "posted": posts,
        "delivered": creates,
        "duplicates": peer.duplicates(),
        "refused_by_peer": peer.refused,
        "server_error_log_lines": server_errors,
        "errors": dict(recorder.errors),
        "rss_mib": [[round(m, 2), round(r, 1)] for m, r, _, _, _ in samples],
        "rss_anon_mib": [[round(m, 2), round(a, 1)] for m, _, a, _, _ in samples],
        "latency_ms": {
            kind: {
                "count": len(values),
                "p50": round(percentile(values, 0.5), 1),
                "p99": round(percentile(values, 0.99), 1),
            }
            for kind, values in sorted(recorder.latencies.items())
        },
    }
    print(f"\n{'request':32} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, figures in result["latency_ms"].items():
        print(f"{kind:32} {figures['count']:>7} {figures['p50']:>8} {figures['p99']:>8}")
    first, last = samples[0][1], samples[-1][1]
    peak = max(r for _, r, _, _, _ in samples)
    print(f"RSS: {first:.1f} MiB at start, {last:.1f} at the end, peak {peak:.1f}")
    print(
        f"own memory (RssAnon): {samples[0][2]:.1f} MiB at start, {samples[-1][2]:.1f} at the end"
    )
    print(f"inbound: {sent} sent, {processed} processed, {failed} failed; outbound: {posts} "
          f"posted, {creates} delivered; errors: {dict(recorder.errors) or 'none'}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.svg:
        Path(args.svg).write_text(
            line_chart(
                {
                    "RSS (MiB)": [(m, r) for m, r, _, _, _ in samples],
                    "own memory, RssAnon (MiB)": [(m, a) for m, _, a, _, _ in samples],
                },
                title=f"Soak, {args.minutes} min, {args.engine}",
                x_label="minutes",
                y_label="MiB",
            )
        )
        print(f"chart: {args.svg}")
    ok = processed == sent and not failed and creates >= posts and not recorder.errors
    await instance.remove()
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--inbound-rate", type=float, default=20.0, help="peer posts per second")
    parser.add_argument("--posts-rate", type=float, default=1.0, help="member posts per second")
    parser.add_argument("--read-rate", type=float, default=5.0, help="reads per second per reader")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--svg", help="write the memory curve to this SVG file")
    return run_async(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
