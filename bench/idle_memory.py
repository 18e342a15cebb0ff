"""Idle memory: the resident size of a `fedicoop serve` process that has nothing to do.

    .venv/bin/python -m bench.idle_memory

Starts a real server on a fresh --dev instance, waits (10 s by default) without sending it a
request beyond the health check, then reads VmRSS (and the peak, VmHWM) from /proc/PID/status.
It also starts bare interpreters that only import what the server imports, to show how much
of the figure is the interpreter and the libraries rather than the instance itself.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from bench.common import (
    Progress,
    ServerProcess,
    create_instance,
    load_average,
    machine_summary,
    rss_kib,
    run_async,
)

TARGET_MB = 80.0  # 10^6 bytes, as /proc reports KiB (1024 bytes)
# Cumulative import steps, each in a fresh interpreter: the difference between two lines is
# what that step's libraries cost.
IMPORT_STEPS = (
    ("python only", ()),
    ("+ aiohttp", ("aiohttp.web",)),
    (
        "+ cryptography, argon2, nh3",
        ("cryptography.hazmat.primitives.asymmetric.rsa", "argon2", "nh3"),
    ),
    ("+ aiosqlite, asyncpg", ("aiosqlite", "asyncpg")),
    ("+ pydantic", ("pydantic",)),
    ("+ pyld (pulls requests, urllib3, lxml)", ("pyld.jsonld",)),
    ("+ sqlalchemy async, alembic (schema check)", ("sqlalchemy.ext.asyncio", "alembic.command")),
    ("+ fedicoop (everything `serve` imports)", ("fedicoop.web.app", "fedicoop.cli.main")),
)
PRINT_RSS = "import pathlib; print(next(l.split()[1] for l in pathlib.Path('/proc/self/status')"
PRINT_RSS += ".read_text().splitlines() if l.startswith('VmRSS')))"


def import_rss_kib(modules: tuple[str, ...]) -> int:
    """Return VmRSS (KiB) of a fresh interpreter after importing `modules`."""
    statement = "".join(f"import {module}\n" for module in modules)
    result = subprocess.run(
        [sys.executable, "-c", f"{statement}{PRINT_RSS}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(result.stdout.strip().splitlines()[-1])


def print_breakdown() -> None:
    """Print the resident size of fresh interpreters after more and more of the imports."""
    print("\nwhere it comes from (fresh interpreters, VmRSS after cumulative imports):")
    modules: tuple[str, ...] = ()
    previous = 0
    for label, step in IMPORT_STEPS:
        modules += step
        rss_step = import_rss_kib(modules)
        added = f"(+{(rss_step - previous) / 1024:.1f})" if previous else ""
        print(f"  {label:<48} {rss_step / 1024:6.1f} MiB {added}")
        previous = rss_step


async def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print its figures."""
    print(f"machine: {await machine_summary()}")
    print(f"creating a --dev instance on {args.engine} ...", flush=True)
    bench = await create_instance(args.engine)
    server = ServerProcess(bench.directory, bench.port)
    try:
        print(f"starting: {' '.join(server.command())}", flush=True)
        server.start()
        progress = Progress(interval=2.0)
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            if progress.due():
                rss, _ = rss_kib(server.pid)
                left = deadline - time.monotonic()
                progress.say(f"idle, VmRSS {rss / 1024:.1f} MiB, {left:.0f} s to go")
            await asyncio.sleep(0.2)
        rss, peak = rss_kib(server.pid)
    finally:
        try:
            server.stop()
        finally:
            await bench.remove(keep=args.keep)

    if args.breakdown:
        print_breakdown()
    print("\n== idle memory ==")
    print(f"engine {args.engine}, idle {args.wait:.0f} s after /health answered")
    print(
        f"VmRSS {rss / 1024:.1f} MiB = {rss * 1024 / 1e6:.1f} MB (peak VmHWM {peak / 1024:.1f} MiB)"
    )
    verdict = "meets" if rss * 1024 / 1e6 <= TARGET_MB else "MISSES"
    print(f"target: <= {TARGET_MB:.0f} MB ({verdict} target)")
    print(f"load average {load_average()} at the end")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.idle_memory",
        description="Measure the resident memory of an idle `fedicoop serve`. Prints figures; "
        "asserts nothing.",
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--wait", type=float, default=10.0, help="idle seconds (10)")
    parser.add_argument(
        "--breakdown",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also show what the imports cost, in fresh interpreters (on)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the instance and its database")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s idle, no breakdown")
    args = parser.parse_args(argv)
    if args.quick:
        args.wait, args.breakdown = 3.0, False
    if args.wait < 0:
        parser.error("--wait must not be negative")
    return args


if __name__ == "__main__":
    sys.exit(run_async(main(parse_args())))
