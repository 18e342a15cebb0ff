"""`fedicoop worker` and `fedicoop serve --workers N`: one instance in several processes.

A co-op that outgrows one process keeps one PostgreSQL database and runs several web
processes (sharing the port with `SO_REUSEPORT`, so the kernel spreads connections) and one
or more workers (inbox processing, delivery, maintenance). Work is claimed from the database
with `FOR UPDATE SKIP LOCKED` and leases, signals travel over `LISTEN`/`NOTIFY`, and one
worker at a time leads the periodic maintenance. `serve --workers N` starts and watches
them all; `worker` runs one more worker by itself (on another machine, say).
"""

import argparse
import asyncio
import contextlib
import ctypes
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from fedicoop.activitypub.runtime import Role
from fedicoop.errors import Invalid
from fedicoop.instance import open_instance
from fedicoop.logs import configure as configure_logging
from fedicoop.services import build_federation
from fedicoop.storage.database import engine_of

PR_SET_PDEATHSIG = 1
RESTART_DELAY_SECONDS = 1.0


def register(commands: Any) -> None:
    """Add worker."""
    worker = commands.add_parser(
        "worker",
        help="process the inbox and deliver, without serving HTTP (PostgreSQL)",
        description="Run one worker of an instance that runs in several processes: it claims "
        "inbox activities and deliveries from the database, and the worker that leads runs "
        "the periodic maintenance. Start as many as the machine (or machines) can carry.",
    )
    worker.add_argument("directory", metavar="DIR")
    worker.add_argument(
        "--concurrency", type=int, default=32, metavar="N", help="deliveries in flight (32)"
    )
    worker.set_defaults(run=run_worker)


def _die_with_parent() -> None:
    """Have the kernel stop a child when the supervising `serve` dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process and how to start it again."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, preexec_fn=_die_with_parent)  # noqa: S603
        self.started_at = time.monotonic()


async def supervise(args: argparse.Namespace) -> int:
    """Start N web processes and (unless --no-worker) one worker; restart any that dies."""
    instance = await open_instance(args.directory)
    try:
        if engine_of(instance.config.database) != "postgresql":
            raise Invalid(
                "--workers needs PostgreSQL (SQLite allows one writer): create the instance "
                "with --database postgresql://… or restore it onto PostgreSQL"
            )
        port = args.port or _port_of(instance.config.domain) or 8080
        name, base = instance.config.name, instance.config.base_url
    finally:
        await instance.close()
    python = [sys.executable, "-m", "fedicoop"]
    web = [
        *python, "serve", args.directory, "--host", args.host, "--port", str(port), "--role", "web"
    ]  # fmt: skip
    children = [Child(f"web {n + 1}", web) for n in range(args.workers)]
    if args.worker_processes < 1:
        raise Invalid("--worker-processes must be at least 1 (or use --no-worker)")
    workers = 0 if args.no_worker else args.worker_processes
    children += [
        Child(f"worker {n + 1}", [*python, "worker", args.directory]) for n in range(workers)
    ]
    for child in children:
        child.start()
    print(
        f"fedicoop: serving {name} at {base}/ with {args.workers} web processes on "
        f"http://{args.host}:{port} and {workers} worker" + ("s" if workers != 1 else ""),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    while not stop.is_set():
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                code = child.process.returncode
                print(f"fedicoop: {child.name} exited ({code}); restarting it", flush=True)
                child.restarts += 1
                child.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RESTART_DELAY_SECONDS)
    print("fedicoop: stopping every process", flush=True)
    for child in children:
        if child.process is not None and child.process.poll() is None:
            child.process.terminate()
    for child in children:
        if child.process is not None:
            await asyncio.to_thread(child.process.wait)
    return 0


async def run_worker(args: argparse.Namespace) -> int:
    """Run the inbox and delivery loops (and maintenance when leading) until stopped."""
    configure_logging()
    if args.concurrency < 1:
        raise Invalid("--concurrency must be at least 1")
    instance = await open_instance(args.directory)
    federation = build_federation(instance)
    federation.as_one_of_several(Role.WORKER)
    federation.deliverer.concurrency = args.concurrency
    await federation.start()
    print(f"fedicoop: worker for {instance.config.base_url}/ running; Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await federation.stop()
    await instance.close()
    return 0


def _port_of(domain: str) -> int | None:
    return int(domain.rsplit(":", 1)[1]) if ":" in domain else None
