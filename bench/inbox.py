"""Inbox throughput: signed Create(Note) POSTs to a real server's shared inbox.

    .venv/bin/python -m bench.inbox --engine sqlite --count 5000 --senders 50

Starts `fedicoop serve` on a fresh --dev instance, stores M remote sender actors (with their
public keys) straight into its database so the server never fetches them, pre-signs every
request before the clock starts, then POSTs them from load-generator processes with high
concurrency. Prints accepted/s (202s over wall time), POST latency, and processed/s (first POST
to the last inbox row the server settled, read from the inbox table).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import queue
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from bench.common import (
    BenchInstance,
    LoadResult,
    Progress,
    ServerProcess,
    SignedRequest,
    create_instance,
    generate_keys,
    load_average,
    load_worker,
    machine_summary,
    merge,
    percentile,
    run_async,
    sign_batch,
    tree_cpu_seconds,
    wall,
)
from fedicoop import clock
from fedicoop.activitypub.documents import PUBLIC, dumps
from fedicoop.activitypub.keys import KeyPair
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Database

TARGET_ACCEPTED = 1500.0
TARGET_PROCESSED = 800.0
# Remote senders live on loopback addresses where nothing listens (port 9, discard): should the
# server ever try to fetch one, the connection is refused on this machine.
SENDER_PORT = 9


@dataclass(frozen=True)
class Sender:
    """A remote actor the benchmark speaks for."""

    uri: str
    key_id: str
    keys: KeyPair

    @property
    def followers(self) -> str:
        """Return the sender's followers collection."""
        return f"{self.uri}/followers"


@dataclass(frozen=True)
class LevelFigures:
    """The figures of one run at one concurrency."""

    concurrency: int
    sent: int
    accepted: int
    wall: float
    accepted_per_s: float
    p50_ms: float
    p99_ms: float
    processed: int
    failed: int
    processed_per_s: float
    drain_per_s: float  # processing rate once posting had ended (no intake competing)
    drain_wall: float
    load_cpu: float  # load-generator CPU use while posting, in cores
    cpu_ms_per_post: float  # server CPU per accepted POST (some processing overlaps it)
    cpu_ms_per_processed: float  # server CPU per activity processed after the last POST
    # Server CPU from the first POST until the inbox was drained, per activity: intake and
    # processing together, however much of the processing overlapped the posting.
    cpu_ms_per_activity: float
    cpu_posting: float  # server CPU use while posting, in cores (1.0 = one core busy)
    cpu_draining: float  # the same from the last POST until the inbox was drained


def sender_host(index: int) -> str:
    """Return the loopback host:port of sender `index` (127.1.x.y, one host per sender)."""
    return f"127.1.{index // 250}.{index % 250 + 1}:{SENDER_PORT}"


def make_senders(keys: list[KeyPair]) -> list[Sender]:
    """Give each key pair a remote actor identity."""
    senders = []
    for index, pair in enumerate(keys):
        uri = f"http://{sender_host(index)}/users/sender{index}"
        senders.append(Sender(uri=uri, key_id=f"{uri}#main-key", keys=pair))
    return senders


async def store_senders(db: Database, senders: list[Sender]) -> None:
    """Insert the senders as already-fetched remote actors, so the server never fetches them."""
    async with db.transaction() as tx:
        actors = ActorRepository(tx)
        for index, sender in enumerate(senders):
            host = sender_host(index)
            await actors.insert(
                ActorRecord(
                    uri=sender.uri,
                    type="Person",
                    domain=host,
                    username=f"sender{index}",
                    inbox=f"{sender.uri}/inbox",
                    shared_inbox=f"http://{host}/inbox",
                    outbox=f"{sender.uri}/outbox",
                    followers_uri=sender.followers,
                    following_uri=f"{sender.uri}/following",
                    key_id=sender.key_id,
                    public_key_pem=sender.keys.public_pem,
                    fetched_at=clock.now_text(),
                )
            )


def create_note(sender: Sender, tag: str, number: int) -> bytes:
    """Return a Mastodon-like Create(Note) from `sender`, with ids unique to this run."""
    published = clock.as2_time(clock.now())
    note_uri = f"{sender.uri}/statuses/{tag}-{number}"
    note = {
        "id": note_uri,
        "type": "Note",
        "attributedTo": sender.uri,
        "content": f"<p>Benchmark note {number}: rides to the market on Saturday?</p>",
        "published": published,
        "to": [PUBLIC],
        "cc": [sender.followers],
        "url": note_uri,
        "sensitive": False,
        "tag": [],
    }
    activity = {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": f"{note_uri}/activity",
        "type": "Create",
        "actor": sender.uri,
        "published": published,
        "to": [PUBLIC],
        "cc": [sender.followers],
        "object": note,
    }
    return dumps(activity).encode()


def presign(
    senders: list[Sender], url: str, tag: str, count: int, progress: Progress
) -> list[SignedRequest]:
    """Build and sign `count` requests, round-robin over senders, on every core."""
    per_sender: list[list[bytes]] = [[] for _ in senders]
    for number in range(count):
        per_sender[number % len(senders)].append(
            create_note(senders[number % len(senders)], tag, number)
        )
    signed: list[list[SignedRequest]] = [[] for _ in senders]
    with ProcessPoolExecutor() as pool:
        futures = {
            pool.submit(sign_batch, s.keys.private_pem, s.key_id, url, bodies): index
            for index, (s, bodies) in enumerate(zip(senders, per_sender, strict=True))
            if bodies
        }
        done = 0
        for future, index in futures.items():
            signed[index] = future.result()
            done += len(signed[index])
            if progress.due():
                progress.say(f"signed {done}/{count} requests")
    # Interleave senders again, as real traffic from many servers would arrive.
    ordered: list[SignedRequest] = []
    for position in range(max(len(batch) for batch in signed)):
        ordered.extend(batch[position] for batch in signed if position < len(batch))
    return ordered


async def pending_count(db: Database) -> int:
    """Return how many inbox rows the server has not processed yet."""
    return int(await db.fetchval("SELECT count(*) FROM inbox WHERE state = 'pending'"))


@dataclass(frozen=True)
class Posting:
    """One level's load and what it cost the server."""

    load: LoadResult
    seconds: float  # from the start signal until every load generator reported
    server_cpu: float  # CPU seconds the server used meanwhile


async def post_all(
    url: str,
    requests: list[SignedRequest],
    *,
    concurrency: int,
    clients: int,
    time_limit: float,
    db: Database,
    server: ServerProcess,
    progress: Progress,
) -> Posting:
    """POST every request from `clients` processes sharing `concurrency` connections."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    counters = [context.Value("i", 0, lock=False) for _ in range(clients)]
    per_client = [concurrency // clients + (i < concurrency % clients) for i in range(clients)]
    workers = [
        context.Process(
            target=load_worker,
            args=(url, requests[i::clients], per_client[i], ready, go, counters[i], results),
            kwargs={"time_limit": time_limit},
            daemon=True,
        )
        for i in range(clients)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        if not await asyncio.to_thread(ready.acquire, True, 60):
            raise RuntimeError("a load generator did not start within 60 s")
    print(f"   posting {len(requests)} activities with {concurrency} connections ...", flush=True)
    cpu_start, started = tree_cpu_seconds(server.pid), time.monotonic()
    go.set()
    collected: list[LoadResult] = []
    last_posted, last_time = 0, time.monotonic()
    while len(collected) < clients:
        try:
            collected.append(await asyncio.to_thread(results.get, True, 0.5))
            continue
        except queue.Empty:
            pass
        if progress.due():
            posted = sum(counter.value for counter in counters)
            now = time.monotonic()
            rate = (posted - last_posted) / (now - last_time)
            last_posted, last_time = posted, now
            backlog = await pending_count(db)
            progress.say(
                f"posted {posted}/{len(requests)} (~{rate:.0f}/s), inbox pending {backlog}"
            )
        if time.monotonic() - started > time_limit + 90:
            raise RuntimeError("load generators did not finish in time")
    seconds, server_cpu = time.monotonic() - started, tree_cpu_seconds(server.pid) - cpu_start
    for worker in workers:
        worker.join(timeout=10)
    return Posting(merge(collected), seconds, server_cpu)


@dataclass(frozen=True)
class Processing:
    """How the server worked through one level's activities, read from its inbox table."""

    processed: int
    failed: int
    per_s: float  # from the first POST to the last processed_at
    drain_per_s: float  # from the last POST to the last processed_at
    wall: float
    after_posting: int  # how many were processed after the last POST


async def processing_of(db: Database, tag: str, load: LoadResult, drained: bool) -> Processing:
    """Read the inbox rows of one level and turn their timestamps into rates."""
    pattern = f"%/statuses/{tag}-%"
    row = await db.fetchrow(
        "SELECT sum(CASE WHEN state = 'done' THEN 1 ELSE 0 END) AS done, "
        "sum(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed, "
        "max(processed_at) AS last_processed FROM inbox WHERE activity_uri LIKE $1",
        pattern,
    )
    assert row is not None
    processed, failed = int(row["done"] or 0), int(row["failed"] or 0)
    if failed:
        sample = await db.fetchval(
            "SELECT error FROM inbox WHERE state = 'failed' AND activity_uri LIKE $1 LIMIT 1",
            pattern,
        )
        print(f"   {failed} activities failed processing, e.g.: {sample}")
    if not (row["last_processed"] and drained):
        return Processing(processed, failed, float("nan"), float("nan"), float("nan"), 0)
    last = wall(str(row["last_processed"]))
    after_posting = await db.fetchval(
        "SELECT count(*) FROM inbox WHERE activity_uri LIKE $1 AND processed_at > $2",
        pattern,
        clock.to_text(datetime.fromtimestamp(load.last_end, UTC)),
    )
    tail = last - load.last_end
    return Processing(
        processed=processed,
        failed=failed,
        per_s=(processed + failed) / (last - load.first_start),
        drain_per_s=int(after_posting) / tail if tail > 0 else float("nan"),
        wall=last - load.first_start,
        after_posting=int(after_posting),
    )


async def run_level(
    bench: BenchInstance,
    server: ServerProcess,
    db: Database,
    senders: list[Sender],
    *,
    count: int,
    concurrency: int,
    clients: int,
    time_limit: float,
) -> LevelFigures:
    """Post `count` fresh activities at one concurrency; wait until processed; return figures."""
    url = f"{bench.base_url}/inbox"
    tag = secrets.token_hex(4)
    progress = Progress()
    print(f"\n-- concurrency {concurrency}: signing {count} requests ...", flush=True)
    requests = presign(senders, url, tag, count, progress)

    posting = await post_all(
        url,
        requests,
        concurrency=concurrency,
        clients=clients,
        time_limit=time_limit,
        db=db,
        server=server,
        progress=progress,
    )
    load = posting.load
    cpu_posted, posted = tree_cpu_seconds(server.pid), time.monotonic()
    errors = f", errors {dict(load.errors)}" if load.errors else ""
    print(f"   statuses {dict(load.statuses)}{errors}")
    if load.sample_refusal:
        print(f"   first refusal: {load.sample_refusal}")

    drained = await wait_processed(db, time_limit, progress)
    cpu_drained, finished = tree_cpu_seconds(server.pid), time.monotonic()
    processing = await processing_of(db, tag, load, drained)
    accepted = load.statuses[202]
    wall = max(load.last_end - load.first_start, 1e-9)
    return LevelFigures(
        concurrency=concurrency,
        sent=count,
        accepted=accepted,
        wall=wall,
        accepted_per_s=accepted / wall,
        p50_ms=percentile(load.latencies, 0.50) * 1000,
        p99_ms=percentile(load.latencies, 0.99) * 1000,
        processed=processing.processed,
        failed=processing.failed,
        processed_per_s=processing.per_s,
        drain_per_s=processing.drain_per_s,
        drain_wall=processing.wall,
        load_cpu=load.cpu / posting.seconds,
        cpu_posting=posting.server_cpu / posting.seconds,
        cpu_draining=(cpu_drained - cpu_posted) / max(finished - posted, 1e-9),
        cpu_ms_per_post=1000 * posting.server_cpu / accepted if accepted else float("nan"),
        cpu_ms_per_activity=(
            1000 * (posting.server_cpu + cpu_drained - cpu_posted) / accepted
            if accepted and drained
            else float("nan")
        ),
        cpu_ms_per_processed=(
            1000 * (cpu_drained - cpu_posted) / processing.after_posting
            if processing.after_posting
            else float("nan")
        ),
    )


async def wait_processed(db: Database, time_limit: float, progress: Progress) -> bool:
    """Wait until the inbox has no pending rows; return False at the time limit."""
    deadline = time.monotonic() + time_limit
    while time.monotonic() < deadline:
        backlog = await pending_count(db)
        if backlog == 0:
            return True
        if progress.due():
            progress.say(f"waiting for processing: {backlog} pending")
        await asyncio.sleep(0.2)
    print(f"   gave up waiting for processing after {time_limit:.0f} s")
    return False


async def probe(bench: BenchInstance, sender: Sender) -> None:
    """POST one signed activity and insist on 202 before any figure is taken."""
    url = f"{bench.base_url}/inbox"
    body = create_note(sender, f"probe{secrets.token_hex(3)}", 0)
    [(headers, _)] = sign_batch(sender.keys.private_pem, sender.key_id, url, [body])
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        if response.status != 202:
            raise RuntimeError(f"probe POST answered {response.status}: {await response.text()}")


def print_figures(figures: list[LevelFigures], args: argparse.Namespace) -> None:
    """Print one table of every level and the targets to compare with."""
    print("\n== inbox results ==")
    print(f"engine {args.engine}, {args.senders} senders, {args.clients} load process(es)")
    print(
        f"{'conc':>5} {'sent':>6} {'202':>6} {'accepted/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'processed':>9} {'failed':>6} {'processed/s':>12} {'drain/s':>8} "
        f"{'cpu post':>9} {'cpu drain':>9} {'cpu load':>9} {'ms/post':>8} {'ms/proc':>8} "
        f"{'ms/act':>7}"
    )
    for f in figures:
        print(
            f"{f.concurrency:>5} {f.sent:>6} {f.accepted:>6} {f.accepted_per_s:>11.0f} "
            f"{f.p50_ms:>8.1f} {f.p99_ms:>8.1f} {f.processed:>9} {f.failed:>6} "
            f"{f.processed_per_s:>12.0f} {f.drain_per_s:>8.0f} "
            f"{f.cpu_posting:>9.2f} {f.cpu_draining:>9.2f} {f.load_cpu:>9.2f} "
            f"{f.cpu_ms_per_post:>8.2f} {f.cpu_ms_per_processed:>8.2f} "
            f"{f.cpu_ms_per_activity:>7.2f}"
        )
    print(
        "processed/s: from the first POST to the last processed_at; drain/s: processing rate "
        "after the last POST; cpu: cores used (1.00 = one core busy) by the server while "
        "posting / while draining, and by the load generator while posting; ms/post, "
        "ms/proc: server CPU milliseconds per accepted POST (processing that overlaps the "
        "posting included) and per activity processed after the last POST; ms/act: server CPU "
        "from the first POST until drained, per activity, intake and processing together "
        "(1000 / ms = the rate one uncontended core could sustain)"
    )
    print(f"targets: >= {TARGET_ACCEPTED:,.0f}/s accepted, >= {TARGET_PROCESSED:,.0f}/s processed")
    best = max(figures, key=lambda f: f.accepted_per_s)
    print(
        f"best accepted/s {best.accepted_per_s:.0f} "
        f"({'meets' if best.accepted_per_s >= TARGET_ACCEPTED else 'MISSES'} target); "
        f"processed/s {best.processed_per_s:.0f} "
        f"({'meets' if best.processed_per_s >= TARGET_PROCESSED else 'MISSES'} target)"
    )


def plot(figures: list[LevelFigures], path: str, engine: str) -> None:
    """Write accepted/s and processed/s against concurrency as a PNG, if matplotlib is here."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no picture written to {path}")
        return
    levels = [f.concurrency for f in figures]
    fig, axis = plt.subplots(figsize=(6, 4))
    axis.plot(levels, [f.accepted_per_s for f in figures], marker="o", label="accepted/s")
    axis.plot(levels, [f.processed_per_s for f in figures], marker="s", label="processed/s")
    axis.axhline(TARGET_ACCEPTED, linestyle="--", color="C0", alpha=0.5, label="accepted target")
    axis.axhline(TARGET_PROCESSED, linestyle=":", color="C1", alpha=0.7, label="processed target")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("concurrent connections")
    axis.set_ylabel("activities per second")
    axis.set_title(f"fedicoop shared inbox ({engine})")
    axis.set_xticks(levels, [str(level) for level in levels])
    axis.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


async def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print its figures."""
    print(f"machine: {await machine_summary()}")
    print(f"creating a --dev instance on {args.engine} ...", flush=True)
    bench = await create_instance(args.engine)
    serve_args: tuple[str, ...] = ()
    if args.workers > 1:
        serve_args = (
            "--workers",
            str(args.workers),
            "--worker-processes",
            str(args.worker_processes),
        )
    server = ServerProcess(bench.directory, bench.port, serve_args=serve_args)
    db: Database | None = None
    try:
        print(f"generating {args.senders} sender keys ...", flush=True)
        senders = make_senders(await asyncio.to_thread(generate_keys, args.senders))
        db = await bench.open_db()
        await store_senders(db, senders)
        print(f"starting: {' '.join(server.command())}", flush=True)
        server.start()
        print(f"server pid {server.pid}, log {server.log_path}", flush=True)
        await probe(bench, senders[0])
        figures = []
        for concurrency in args.concurrency:
            figures.append(
                await run_level(
                    bench,
                    server,
                    db,
                    senders,
                    count=args.count,
                    concurrency=concurrency,
                    clients=args.clients,
                    time_limit=args.time_limit,
                )
            )
        print_figures(figures, args)
        print(f"load average {load_average()} at the end")
        errors = server.count_log('"level": "error"')
        if errors:
            print(f"server logged {errors} error lines; see {server.log_path}")
        if args.plot:
            plot(figures, args.plot, args.engine)
    finally:
        try:
            server.stop()
            if db is not None:
                await db.close()
        finally:
            await bench.remove(keep=args.keep)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbox",
        description="Measure how fast a real `fedicoop serve` accepts and processes signed "
        "Create(Note) POSTs to its shared inbox. Prints figures; asserts nothing.",
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--count",
        type=int,
        help="activities per level (5000 on SQLite; 2000 on PostgreSQL, which processes "
        "~100/s here, to stay under two minutes)",
    )
    parser.add_argument("--senders", type=int, default=50, help="remote sender actors (50)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="web processes (`serve --workers N`, PostgreSQL)",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="with --workers: worker processes beside them (1)",
    )
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[64],
        help="concurrent connections; a comma list (e.g. 8,32,128) runs one level each (64)",
    )
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes (1)")
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="seconds allowed per phase (120)"
    )
    parser.add_argument("--plot", metavar="PNG", help="write a curve (needs matplotlib)")
    parser.add_argument("--keep", action="store_true", help="keep the instance and its database")
    parser.add_argument("--quick", action="store_true", help="10-second smoke run")
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = 2000 if args.engine == "postgresql" else 5000
    if args.quick:
        args.count, args.senders, args.concurrency = 500, 5, [32]
        args.time_limit = min(args.time_limit, 30.0)
    if args.count < 1 or args.senders < 1 or args.clients < 1 or min(args.concurrency) < 1:
        parser.error("--count, --senders, --clients and --concurrency must be positive")
    return args


if __name__ == "__main__":
    sys.exit(run_async(main(parse_args())))
