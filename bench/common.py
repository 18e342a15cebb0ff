"""Shared parts of the benchmarks: throwaway instances, server processes, a load generator.

Everything here stays on this machine: instances listen on 127.0.0.1, remote actors live on
other loopback addresses (127.0.0.0/8), and PostgreSQL is the local server on 127.0.0.1:5432.
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from fedicoop import clock
from fedicoop.activitypub.documents import ACTIVITY_JSON
from fedicoop.activitypub.keys import KeyPair, generate_rsa_keypair
from fedicoop.activitypub.signatures import load_private_key, sign_request
from fedicoop.bootstrap import init_instance
from fedicoop.storage.database import Database, open_database

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
GROUP_HANDLE = "bench"
ENGINES = ("sqlite", "postgresql")


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the value below which `fraction` of the values fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[rank]


class Progress:
    """Print a progress line at most every `interval` seconds, so long runs show they move."""

    def __init__(self, interval: float = 3.0) -> None:
        self.interval = interval
        self._last = time.monotonic()

    def due(self) -> bool:
        """Return whether a line is due now (and start the next interval if so)."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False

    @staticmethod
    def say(text: str) -> None:
        """Print one timestamped progress line."""
        print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def generate_keys(count: int) -> list[KeyPair]:
    """Make `count` RSA-2048 key pairs, on every core (each takes ~50-200 ms)."""
    if count <= 2:
        return [generate_rsa_keypair() for _ in range(count)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = [pool.submit(generate_rsa_keypair) for _ in range(count)]
        return [future.result() for future in futures]


async def create_postgres_database() -> str:
    """Create an empty database with a random name; return its URL."""
    name = f"fedicoop_bench_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database (closing its leftover sessions)."""
    name = url.rsplit("/", 1)[1]
    if not name.startswith("fedicoop_bench_"):
        raise ValueError(f"refusing to drop {name}: not a benchmark database")
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@dataclass
class BenchInstance:
    """A throwaway --dev instance on 127.0.0.1:port, in a temporary directory."""

    engine: str
    workdir: Path
    port: int
    database_url: str
    admin_username: str = ""
    group_handle: str = GROUP_HANDLE

    @property
    def directory(self) -> Path:
        """Return the instance directory (inside the workdir)."""
        return self.workdir / "instance"

    @property
    def domain(self) -> str:
        """Return host:port, the instance's domain."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Return the instance's origin."""
        return f"http://{self.domain}"

    async def open_db(self) -> Database:
        """Open a connection (pool) of our own to the instance's database."""
        return await open_database(self.database_url)

    async def remove(self, keep: bool = False) -> None:
        """Drop the PostgreSQL database and delete the directory (unless asked to keep it)."""
        if keep:
            print(f"kept {self.workdir} (database {self.database_url})")
            return
        if self.engine == "postgresql":
            await drop_postgres_database(self.database_url)
        shutil.rmtree(self.workdir, ignore_errors=True)


async def create_instance(engine: str, name: str = "Bench Coop") -> BenchInstance:
    """Initialise a --dev instance with the given engine on a free loopback port."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    workdir = Path(tempfile.mkdtemp(prefix="fedicoop-bench-"))
    port = free_port()
    database_url = await create_postgres_database() if engine == "postgresql" else ""
    bench = BenchInstance(engine=engine, workdir=workdir, port=port, database_url=database_url)
    result = await init_instance(
        bench.directory,
        domain=bench.domain,
        name=name,
        handle=GROUP_HANDLE,
        database=database_url or None,
        dev=True,
    )
    bench.database_url = result.config.database
    bench.admin_username = result.admin_username
    return bench


@dataclass
class ServerProcess:
    """One real `python -m fedicoop serve DIR --port P` process, its output in a log file."""

    directory: Path
    port: int
    extra_args: Sequence[str] = ()  # for the Python interpreter (-X importtime…)
    serve_args: Sequence[str] = ()  # for `fedicoop serve` (--workers 2…)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory.parent / "server.log"

    @property
    def pid(self) -> int:
        """Return the server's process id."""
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        return [
            sys.executable,
            *self.extra_args,
            "-m",
            "fedicoop",
            "serve",
            str(self.directory),
            "--port",
            str(self.port),
            *self.serve_args,
        ]

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server and return once /health answers 200."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            try:
                url = f"http://127.0.0.1:{self.port}/health"
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """Stop the server with SIGTERM (SIGKILL after 20 s); return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines the server printed."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def count_log(self, needle: str) -> int:
        """Return how many log lines contain `needle` (e.g. '"level": "error"')."""
        if not self.log_path.exists():
            return 0
        return sum(needle in line for line in self.log_path.read_text(errors="replace").split("\n"))


def wall(text: str | None) -> float:
    """Return a time stored by fedicoop as a wall-clock timestamp (NaN when missing)."""
    return clock.from_text(text).timestamp() if text else float("nan")


def rss_kib(pid: int) -> tuple[int, int]:
    """Return (VmRSS, VmHWM) of a process in KiB, read from /proc/PID/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def rss_anon_kib(pid: int) -> int:
    """Return RssAnon of a process in KiB: its own memory, without mapped files.

    VmRSS also counts file pages mapped into the process, SQLite's database above all (it is
    opened with mmap_size=256 MiB), which grows as the database grows: a leak shows in
    RssAnon, not in the file part.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == "RssAnon":
            return int(rest.split()[0])
    return 0


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system, every thread) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5) (utime, stime) are the 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """Return the pids whose parent is `pid` (the processes a supervising serve started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """Return the CPU time of a process and of every process under it (serve --workers)."""
    total = 0.0
    for member in [pid, *children_of(pid)]:
        try:
            total += cpu_seconds(member) if member == pid else tree_cpu_seconds(member)
        except OSError:
            continue  # it exited meanwhile
    return total


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


async def _postgres_version() -> str:
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return "unreachable"
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


async def machine_summary() -> str:
    """Return one line describing this machine and the software the figures depend on."""
    postgres = await _postgres_version()
    return (
        f"{os.cpu_count()} cores ({_cpu_model()}), {_ram_gib():.1f} GiB RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres}, {platform.system()} {platform.release()}; "
        f"load average {load_average()} at start"
    )


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages (other work on the machine skews figures)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """Run a benchmark's async main and turn Ctrl-C into exit code 130."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        return 130


# The load generator: pre-signed POSTs fired from processes of their own, so that signing
# (~1 ms each in Python) happens before the clock starts and the load never competes with the
# measuring process for its event loop.

SignedRequest = tuple[dict[str, str], bytes]


@dataclass
class LoadResult:
    """What one load-generator process saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: float = 0.0  # CPU seconds the load generator itself used
    first_start: float = float("inf")  # wall clock (time.time), to compare with the database
    last_end: float = 0.0
    sample_refusal: str = ""


def sign_batch(private_pem: str, key_id: str, url: str, bodies: list[bytes]) -> list[SignedRequest]:
    """Sign POSTs of `bodies` to `url` (runs in a pool process: ~1 ms per signature)."""
    key = load_private_key(private_pem)
    signed = []
    for body in bodies:
        headers = sign_request(
            "POST", url, key_id=key_id, private_key=key, body=body, content_type=ACTIVITY_JSON
        )
        signed.append((headers, body))
    return signed


async def fire_requests(
    url: str,
    requests: list[SignedRequest],
    concurrency: int,
    done: Synchronized[int],
    deadline: float,
) -> LoadResult:
    """POST every request over `concurrency` keep-alive connections; record what came back."""
    result = LoadResult()
    pending = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)

    async def client(session: aiohttp.ClientSession) -> None:
        for headers, body in pending:
            if time.monotonic() > deadline:
                result.errors["stopped at the time limit"] += 1
                continue
            started = time.perf_counter()
            result.first_start = min(result.first_start, time.time())
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as error:
                result.errors[type(error).__name__] += 1
                continue
            result.latencies.append(time.perf_counter() - started)
            result.last_end = time.time()
            result.statuses[status] += 1
            if status != 202 and not result.sample_refusal:
                result.sample_refusal = f"{status} {answer[:300].decode(errors='replace')}"
            done.value += 1

    cpu_start = time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    result.cpu = time.process_time() - cpu_start
    return result


def load_worker(
    url: str,
    requests: list[SignedRequest],
    concurrency: int,
    ready: Any,
    go: Any,
    done: Synchronized[int],
    results: Any,
    *,
    time_limit: float,
) -> None:
    """Wait for the start signal, POST every request with `concurrency` connections, report."""
    ready.release()
    go.wait()
    deadline = time.monotonic() + time_limit
    results.put(asyncio.run(fire_requests(url, requests, concurrency, done, deadline)))


def merge(parts: list[LoadResult]) -> LoadResult:
    """Combine what every load-generator process saw."""
    merged = LoadResult()
    for part in parts:
        merged.statuses.update(part.statuses)
        merged.errors.update(part.errors)
        merged.latencies.extend(part.latencies)
        merged.cpu += part.cpu
        merged.first_start = min(merged.first_start, part.first_start)
        merged.last_end = max(merged.last_end, part.last_end)
        merged.sample_refusal = merged.sample_refusal or part.sample_refusal
    return merged


async def password_token(
    session: aiohttp.ClientSession, base: str, username: str, password: str, client: str
) -> str:
    """Register an app and log a member in with the password grant; return the token."""
    async with session.post(
        f"{base}/api/v1/apps",
        json={
            "client_name": client,
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read write",
        },
    ) as answer:
        app = await answer.json()
    async with session.post(
        f"{base}/oauth/token",
        json={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": username,
            "password": password,
            "scope": "read write",
        },
    ) as answer:
        return str((await answer.json())["access_token"])
