"""Group fan-out: one post addressed to the co-op Group, relayed to F followers on H hosts.

    .venv/bin/python -m bench.fanout --followers 10000 --hosts 1000

The followers live on H loopback hosts 127.0.x.y (x, y from 1), all on one port of ONE sink
process. 127.0.0.0/8 is routed to `lo` on Linux, but a socket bound to 127.0.0.1 only receives
connections to 127.0.0.1, and binding 0.0.0.0 would listen on every interface (off-machine
too). So the sink binds one listening socket per host address (H sockets; no IP_FREEBIND or
IP_TRANSPARENT needed, since every 127.x.y.z address is already local). Every follower has
its own inbox but its host's shared inbox, so the instance collapses F followers into H
deliveries. The sink verifies every signature with the Group's public key.

Headline: a real `fedicoop serve` process, and the post made with `fedicoop act DIR ADMIN post
"... @group@domain"`; the time runs from the post being stored until the last host has the
Group's Announce. Then, with the server stopped, the same fan-out is repeated through a
Deliverer built in this process at several `concurrency` values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import queue
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bench.common import (
    BenchInstance,
    Progress,
    ServerProcess,
    cpu_seconds,
    create_instance,
    free_port,
    load_average,
    machine_summary,
    run_async,
    wall,
)
from fedicoop import __version__, clock
from fedicoop.activitypub.delivery import Deliverer
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC, dumps
from fedicoop.activitypub.fetch import SafeFetcher
from fedicoop.activitypub.signatures import (
    SignatureError,
    check_policy,
    load_public_key,
    parse_signature,
    verify_signature,
)
from fedicoop.instance import open_instance
from fedicoop.logs import JsonFormatter
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Database
from fedicoop.storage.follows import FollowRecord, FollowRepository

TARGET_SECONDS = 5.0
MAX_HOSTS = 250 * 254


@dataclass(frozen=True)
class Arrival:
    """One POST the sink received."""

    address: str  # the local address the connection reached (which host it was)
    activity_id: str
    activity_type: str
    object_id: str
    valid: bool
    reason: str
    at: float  # wall clock (time.time)


@dataclass(frozen=True)
class FanoutFigures:
    """What one fan-out took."""

    label: str
    hosts_reached: int
    hosts: int
    verified: int
    arrivals: int
    started: float  # wall clock of the moment the clock starts
    first_arrival: float
    last_arrival: float
    sender_cpu: float  # CPU seconds the delivering process used meanwhile
    sink_cpu: float  # CPU seconds the sink used meanwhile

    @property
    def seconds(self) -> float:
        """Return seconds from the start until the last host had it."""
        return self.last_arrival - self.started

    @property
    def complete(self) -> bool:
        """Return whether every host received it."""
        return self.hosts_reached == self.hosts


def host_addresses(count: int) -> list[str]:
    """Return `count` loopback addresses 127.0.x.y, x and y counted from 1."""
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"--hosts must be between 1 and {MAX_HOSTS}")
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(count)]


@dataclass(frozen=True)
class SinkConfig:
    """Where the sink listens and whose signatures it expects."""

    addresses: list[str]
    port: int
    public_pem: str
    key_id: str


def sink_main(config: SinkConfig, arrivals: Any, ready: Any, stop: Any) -> None:
    """Run the sink (in its own process) until `stop` is set."""
    # One listening socket per host plus the connections to them: more than the usual 1024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * len(config.addresses) + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            ready.put(f"the sink needs {wanted} open files; raise `ulimit -n` (hard {hard})")
            return
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    asyncio.run(_sink(config, arrivals, ready, stop))


async def _sink(config: SinkConfig, arrivals: Any, ready: Any, stop: Any) -> None:
    public_key = load_public_key(config.public_pem)

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        reason = ""
        try:
            parsed = parse_signature(
                request.method, request.raw_path, request.headers, body, scheme="http"
            )
            check_policy(
                parsed,
                method=request.method,
                headers=request.headers,
                body=body,
                now=datetime.now(UTC),
            )
            if parsed.key_id != config.key_id:
                raise SignatureError(f"signed with {parsed.key_id}, not the Group's key")
            if not verify_signature(parsed, public_key):
                raise SignatureError("signature does not verify")
        except SignatureError as error:
            reason = error.reason
        try:
            document = json.loads(body)
        except ValueError:
            document = {}
        target = document.get("object")
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        arrivals.put(
            Arrival(
                address=str(sockname[0]) if sockname else request.host,
                activity_id=str(document.get("id")),
                activity_type=str(document.get("type")),
                object_id=str(target.get("id") if isinstance(target, dict) else target),
                valid=not reason,
                reason=reason,
                at=arrived,
            )
        )
        return web.Response(status=401 if reason else 202)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        for address in config.addresses:
            await web.TCPSite(runner, address, config.port, backlog=512).start()
    except OSError as error:
        ready.put(f"cannot listen on {address}:{config.port}: {error}")
        await runner.cleanup()
        return
    ready.put("ok")
    await asyncio.to_thread(stop.wait)
    await runner.cleanup()


class Sink:
    """The sink process and the arrivals it reports."""

    def __init__(self, addresses: list[str], port: int, group: ActorRecord) -> None:
        context = multiprocessing.get_context("spawn")
        self.arrivals_queue = context.Queue()
        self.ready = context.Queue()
        self.stop_event = context.Event()
        assert group.public_key_pem and group.key_id
        config = SinkConfig(addresses, port, group.public_key_pem, group.key_id)
        self.process = context.Process(
            target=sink_main,
            args=(config, self.arrivals_queue, self.ready, self.stop_event),
            daemon=True,
        )
        self.arrivals: list[Arrival] = []

    def start(self) -> None:
        """Start the sink and wait until it listens on every address."""
        self.process.start()
        status = self.ready.get(timeout=60)
        if status != "ok":
            raise RuntimeError(status)

    def collect(self, wait: float) -> None:
        """Move reported arrivals into `self.arrivals`, waiting up to `wait` s for the first."""
        try:
            self.arrivals.append(self.arrivals_queue.get(timeout=wait))
            while True:
                self.arrivals.append(self.arrivals_queue.get_nowait())
        except queue.Empty:
            pass

    def of(self, predicate: Any) -> list[Arrival]:
        """Return the arrivals matching a predicate."""
        return [arrival for arrival in self.arrivals if predicate(arrival)]

    def cpu_seconds(self) -> float:
        """Return the CPU seconds the sink process has used."""
        assert self.process.pid is not None
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """Stop the sink process."""
        if self.process.pid is None:
            return
        self.stop_event.set()
        self.process.join(timeout=20)
        if self.process.is_alive():
            self.process.terminate()


async def store_followers(
    db: Database, group: ActorRecord, addresses: list[str], port: int, count: int
) -> None:
    """Insert `count` remote actors spread over the hosts, each an accepted follower."""
    progress = Progress()
    async with db.transaction() as tx:
        actors, follows = ActorRepository(tx), FollowRepository(tx)
        for number in range(count):
            host = f"{addresses[number % len(addresses)]}:{port}"
            uri = f"http://{host}/users/follower{number}"
            actor = await actors.insert(
                ActorRecord(
                    uri=uri,
                    type="Person",
                    domain=host,
                    username=f"follower{number}",
                    inbox=f"{uri}/inbox",
                    shared_inbox=f"http://{host}/inbox",
                    outbox=f"{uri}/outbox",
                    followers_uri=f"{uri}/followers",
                    following_uri=f"{uri}/following",
                    key_id=f"{uri}#main-key",
                    fetched_at=clock.now_text(),
                )
            )
            await follows.put(
                FollowRecord(
                    follower_id=actor.id,
                    followee_id=group.id,
                    uri=f"{uri}/follows/{number}",
                    state="accepted",
                )
            )
            if progress.due():
                progress.say(f"stored {number + 1}/{count} followers")


async def wait_for_hosts(
    sink: Sink,
    matches: Any,
    hosts: int,
    time_limit: float,
    db: Database,
    progress: Progress,
) -> list[Arrival]:
    """Collect arrivals until every host has one matching `matches`, or the time limit."""
    deadline = time.monotonic() + time_limit
    while time.monotonic() < deadline:
        await asyncio.to_thread(sink.collect, 0.2)
        found = sink.of(matches)
        if len({arrival.address for arrival in found}) >= hosts:
            return found
        if progress.due():
            pending = await db.fetchval("SELECT count(*) FROM deliveries WHERE state = 'pending'")
            valid = sum(arrival.valid for arrival in found)
            progress.say(
                f"{len({a.address for a in found})}/{hosts} hosts reached "
                f"({valid} signatures verified), {pending} deliveries pending"
            )
    print(f"   gave up after {time_limit:.0f} s")
    return sink.of(matches)


async def wait_settled(db: Database, activity_uri: str, time_limit: float = 15.0) -> int:
    """Wait until no delivery of an activity is pending (so stopping loses no settle)."""
    deadline = time.monotonic() + time_limit
    while True:
        pending = int(
            await db.fetchval(
                "SELECT count(*) FROM deliveries WHERE activity_uri = $1 AND state = 'pending'",
                activity_uri,
            )
        )
        if pending == 0 or time.monotonic() > deadline:
            return pending
        await asyncio.sleep(0.1)


def figures_of(
    label: str,
    found: list[Arrival],
    hosts: int,
    started: float,
    cpu: tuple[float, float] = (float("nan"), float("nan")),
) -> FanoutFigures:
    """Summarise the arrivals of one activity (and the CPU seconds spent sending, receiving)."""
    return FanoutFigures(
        label=label,
        hosts_reached=len({arrival.address for arrival in found}),
        hosts=hosts,
        verified=sum(arrival.valid for arrival in found),
        arrivals=len(found),
        started=started,
        first_arrival=min((arrival.at for arrival in found), default=float("nan")),
        last_arrival=max((arrival.at for arrival in found), default=float("nan")),
        sender_cpu=cpu[0],
        sink_cpu=cpu[1],
    )


async def post_as_admin(bench: BenchInstance) -> tuple[str, float, float]:
    """Post to the Group with `fedicoop act`; return the note's id, launch and exit times."""
    text = f"Fan-out benchmark: rides to the market? @{bench.group_handle}@{bench.domain}"
    command = [sys.executable, "-m", "fedicoop", "act", str(bench.directory)]
    command += [bench.admin_username, "post", text]
    print(f"posting: {' '.join(command[:-1])} {json.dumps(text)}", flush=True)
    launched = time.time()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    exited = time.time()
    if process.returncode != 0:
        raise RuntimeError(f"fedicoop act failed: {err.decode()}")
    note_uri = out.decode().strip().splitlines()[-1]
    print(f"   act returned after {exited - launched:.2f} s: {note_uri}", flush=True)
    return note_uri, launched, exited


async def headline(
    bench: BenchInstance, server: ServerProcess, db: Database, sink: Sink, args: argparse.Namespace
) -> FanoutFigures:
    """Post as the admin through `fedicoop act` to the Group; time the relay by the server."""
    cpu_before = cpu_seconds(server.pid), sink.cpu_seconds()
    note_uri, launched, act_done = await post_as_admin(bench)
    found = await wait_for_hosts(
        sink,
        lambda a: a.activity_type == "Announce" and a.object_id == note_uri,
        args.hosts,
        args.time_limit,
        db,
        Progress(),
    )
    cpu_used = cpu_seconds(server.pid) - cpu_before[0], sink.cpu_seconds() - cpu_before[1]
    announce_uri = found[0].activity_id if found else ""
    unsettled = await wait_settled(db, announce_uri)
    stored = await db.fetchval("SELECT published FROM objects WHERE uri = $1", note_uri)
    create = await db.fetchrow(
        "SELECT received_at, processed_at FROM inbox WHERE raw LIKE $1 AND raw LIKE $2",
        '%"type":"Create"%',
        f"%{note_uri}%",
    )
    queued = await db.fetchrow(
        "SELECT min(created_at) AS first, max(updated_at) AS last_settled, count(*) AS n, "
        "sum(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END) AS delivered, "
        "max(attempts) AS attempts FROM deliveries WHERE activity_uri = $1",
        announce_uri,
    )
    label = "fedicoop serve (concurrency 32)"
    figures = figures_of(label, found, args.hosts, wall(stored), cpu_used)
    print("   timeline (seconds after the post was stored):")
    for name, moment in (
        ("act process started", launched),
        ("post stored (objects.published)", wall(stored)),
        ("act process exited", act_done),
        ("Create put in the inbox (by act)", wall(create and create["received_at"])),
        ("server finished processing the Create", wall(create and create["processed_at"])),
        ("Announce queued for delivery", wall(queued and queued["first"])),
        ("first host received it", figures.first_arrival),
        ("last host received it", figures.last_arrival),
        ("last delivery settled in the queue", wall(queued and queued["last_settled"])),
    ):
        print(f"     {moment - figures.started:+7.2f}  {name}")
    if unsettled:
        print(f"   {unsettled} deliveries still unsettled 15 s after the last arrival")
    if queued:
        print(
            f"   deliveries queued {queued['n']}, delivered {queued['delivered']}, "
            f"most attempts {queued['attempts']}"
        )
    return figures


async def in_process(
    bench: BenchInstance, sink: Sink, concurrency: int, args: argparse.Namespace
) -> FanoutFigures:
    """Deliver one Announce to every host through a Deliverer built here, with `concurrency`."""
    instance = await open_instance(bench.directory)
    fetcher = SafeFetcher(dev=True, user_agent=f"fedicoop/{__version__} (bench)")
    deliverer = Deliverer(instance, fetcher, concurrency=concurrency, per_host=args.per_host)
    runner: asyncio.Task[None] | None = None
    try:
        group = await ActorRepository(instance.db).by_handle(bench.group_handle, bench.domain)
        assert group is not None
        note = await instance.db.fetchval(
            "SELECT uri FROM objects WHERE local = 1 ORDER BY id DESC LIMIT 1"
        )
        activity_uri = f"{bench.base_url}/activities/bench-{concurrency}-{time.time_ns()}"
        announce = {
            "@context": OBJECT_CONTEXT,
            "id": activity_uri,
            "type": "Announce",
            "actor": group.uri,
            "object": note,
            "to": [PUBLIC],
            "cc": [group.followers_uri],
            "published": clock.as2_time(clock.now()),
        }
        started = time.time()
        cpu_before = time.process_time(), sink.cpu_seconds()
        inboxes = await FollowRepository(instance.db).remote_follower_inboxes(group.id)
        await deliverer.enqueue(activity_uri, dumps(announce), group, inboxes)
        runner = asyncio.create_task(deliverer.run())
        found = await wait_for_hosts(
            sink,
            lambda a: a.activity_id == activity_uri,
            args.hosts,
            args.time_limit,
            instance.db,
            Progress(),
        )
        await wait_settled(instance.db, activity_uri)
        return figures_of(
            f"in-process Deliverer(concurrency={concurrency}, per_host={args.per_host})",
            found,
            args.hosts,
            started,
            (time.process_time() - cpu_before[0], sink.cpu_seconds() - cpu_before[1]),
        )
    finally:
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await fetcher.close()
        await instance.close()


def print_figures(results: list[FanoutFigures], args: argparse.Namespace) -> None:
    """Print one line per measurement and the target."""
    print("\n== fan-out results ==")
    print(
        f"engine {args.engine}: {args.followers} followers on {args.hosts} hosts "
        f"({args.followers // args.hosts} per shared inbox)"
    )
    print(
        f"{'measurement':<52} {'hosts':>11} {'verified':>9} {'seconds':>8} {'per s':>7} "
        f"{'cpu send':>8} {'cpu sink':>8} {'ms/deliv':>8}"
    )
    for f in results:
        spread = f.last_arrival - f.first_arrival
        rate = f.arrivals / spread if spread > 0 else float("nan")
        print(
            f"{f.label:<52} {f.hosts_reached:>5}/{f.hosts:<5} {f.verified:>9} "
            f"{f.seconds:>8.2f} {rate:>7.0f} {f.sender_cpu:>8.2f} {f.sink_cpu:>8.2f} "
            f"{1000 * f.sender_cpu / max(f.arrivals, 1):>8.2f}"
        )
    print(
        f"target: every inbox has it within {TARGET_SECONDS:.0f} s of the post; "
        "'per s' = deliveries per second between the first and the last arrival; "
        "cpu = CPU seconds used meanwhile by the sending process (server, or this one) "
        "and by the sink; ms/deliv = sender CPU milliseconds per delivery"
    )
    head = results[0]
    verdict = "meets" if head.complete and head.seconds <= TARGET_SECONDS else "MISSES"
    print(f"headline (real server): {head.seconds:.2f} s ({verdict} target)")
    meeting = [f for f in results[1:] if f.complete and f.seconds <= TARGET_SECONDS]
    if len(results) > 1:
        if meeting:
            print(f"lowest in-process setting meeting the target: {meeting[0].label}")
        else:
            print("no in-process setting met the target")


async def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print its figures."""
    print(f"machine: {await machine_summary()}")
    addresses = host_addresses(args.hosts)
    print(f"creating a --dev instance on {args.engine} ...", flush=True)
    bench = await create_instance(args.engine)
    server = ServerProcess(bench.directory, bench.port)
    db: Database | None = None
    sink: Sink | None = None
    try:
        db = await bench.open_db()
        group = await ActorRepository(db).by_handle(bench.group_handle, bench.domain)
        assert group is not None
        port = free_port()
        print(f"starting the sink on {args.hosts} addresses {addresses[0]}..{addresses[-1]}:{port}")
        sink = Sink(addresses, port, group)
        sink.start()
        print(f"storing {args.followers} followers ...", flush=True)
        await store_followers(db, group, addresses, port, args.followers)
        print(f"starting: {' '.join(server.command())}", flush=True)
        server.start()
        print(f"server pid {server.pid}, log {server.log_path}", flush=True)
        results = [await headline(bench, server, db, sink, args)]
        server.stop()
        # The server logs each delivery as a JSON line; do the same, to a file, to be fair.
        logging.getLogger().setLevel(logging.INFO)
        handler = logging.FileHandler(bench.workdir / "in-process.log")
        handler.setFormatter(JsonFormatter())
        logging.getLogger().addHandler(handler)
        for concurrency in args.concurrency:
            print(f"\nin-process Deliverer, concurrency {concurrency} ...", flush=True)
            results.append(await in_process(bench, sink, concurrency, args))
        print_figures(results, args)
        print(f"load average {load_average()} at the end")
        invalid = [a for a in sink.arrivals if not a.valid]
        if invalid:
            print(f"{len(invalid)} signatures failed, e.g.: {invalid[0].reason}")
        errors = server.count_log('"level": "error"')
        if errors:
            print(f"server logged {errors} error lines; see {server.log_path}")
    finally:
        try:
            server.stop()
            if sink is not None:
                sink.stop()
            if db is not None:
                await db.close()
        finally:
            await bench.remove(keep=args.keep)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description="Measure how long a real `fedicoop serve` takes to relay one post, "
        "addressed to the co-op Group, to every follower host. Prints figures; asserts nothing.",
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--followers", type=int, default=10_000, help="remote followers (10000)")
    parser.add_argument("--hosts", type=int, default=1000, help="distinct follower hosts (1000)")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[32, 64, 128],
        help="in-process Deliverer concurrency values to try after the headline; "
        "empty to skip (32,64,128)",
    )
    parser.add_argument("--per-host", type=int, default=4, help="Deliverer per_host (4)")
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds allowed per fan-out (60)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the instance and its database")
    parser.add_argument("--quick", action="store_true", help="10-second smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.followers, args.hosts, args.concurrency = 500, 50, [64]
        args.time_limit = min(args.time_limit, 20.0)
    if args.followers < args.hosts or args.hosts < 1:
        parser.error("--followers must be at least --hosts, and --hosts at least 1")
    return args


if __name__ == "__main__":
    sys.exit(run_async(main(parse_args())))
