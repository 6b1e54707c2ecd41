"""Benchmark the near-duplicate index against a vectorised numpy linear scan.

Usage::

    .venv/bin/python bench/bench_near_duplicates.py [--sizes 100000 1000000] [--radius 10]
        [--queries 2000] [--distributions random clustered] [--alternatives]

For every distribution and size it builds the index (timed), then runs the same
queries through ``NearDuplicateIndex.query`` and through the numpy scan
(XOR + ``np.bitwise_count`` over a uint64 array, results sorted the same way)
in the same process, checks that both give identical answers, and reports
mean / p99 latency, queries per second and the speed-up. ``--alternatives``
also times other substring counts and a pure-Python dict-of-lists MIH, which is
how the default design was chosen (see the docstring of
``dermledger.projections.near_duplicates``).

Queries are stored hashes with 0..radius+2 random bits flipped (so most have a
true neighbour, as when a re-encoded image is registered) plus one in five
fresh random hashes. "clustered" data are noisy copies of 1,000 centres, each
bit flipped with probability 0.05, like phashes of crops and re-encodings.

``run(args)`` is the entry point for ``bench/run.py``: one row per distribution
at the study's 1.1M hashes, queries per second beside the scan's.
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from dermledger.projections.near_duplicates import (
    DEFAULT_SUBSTRINGS,
    HASH_BITS,
    NearDuplicateIndex,
    linear_scan,
    probe_radii,
    substring_widths,
)

if TYPE_CHECKING:
    from dermledger.bench.common import BenchArgs, Row

U64 = npt.NDArray[np.uint64]
Hits = list[tuple[str, int]]


# ------------------------------------------------------------------------ data


def random_hashes(n: int, rng: np.random.Generator) -> U64:
    """Uniform 64-bit hashes."""
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)


def clustered_hashes(n: int, rng: np.random.Generator, centres: int = 1000) -> U64:
    """Noisy copies of `centres` random centres; each bit flips with probability 0.05."""
    base = random_hashes(centres, rng)[rng.integers(0, centres, size=n)]
    noise = np.zeros(n, dtype=np.uint64)
    for bit in range(HASH_BITS):
        flips = rng.random(n) < 0.05
        noise[flips] |= np.uint64(1 << bit)
    return base ^ noise


def make_queries(hashes: U64, count: int, radius: int, rng: np.random.Generator) -> list[int]:
    """Perturbed stored hashes (0..radius+2 bits flipped) and 20% fresh random hashes."""
    picked = hashes[rng.integers(0, hashes.size, size=count)]
    queries = []
    for i, h in enumerate(picked.tolist()):
        if i % 5 == 4:
            queries.append(int(rng.integers(0, 1 << 63)) * 2 + int(rng.integers(0, 2)))
            continue
        for bit in rng.choice(HASH_BITS, size=int(rng.integers(0, radius + 3)), replace=False):
            h ^= 1 << int(bit)
        queries.append(h)
    return queries


DISTRIBUTIONS: dict[str, Callable[[int, np.random.Generator], U64]] = {
    "random": random_hashes,
    "clustered": clustered_hashes,
}


# ------------------------------------------------------------------ baselines


class NumpyScan:
    """The baseline: linear XOR + popcount scan, results shaped like the index's."""

    def __init__(self, ids: list[str], hashes: U64) -> None:
        self.ids = ids
        self.hashes = hashes

    def query(self, h: int, radius: int) -> Hits:
        positions, distances = linear_scan(self.hashes, h, radius)
        order = np.lexsort((positions, distances))
        ids = self.ids
        return [
            (ids[p], d)
            for p, d in zip(positions[order].tolist(), distances[order].tolist(), strict=True)
        ]


class PurePythonMIH:
    """The same 4 x 16-bit MIH with dicts of lists and `int.bit_count`: no numpy at query time.

    Kept here, not in the product, only to measure why the numpy layout was chosen.
    """

    def __init__(self, ids: list[str], hashes: U64, substrings: int = 4) -> None:
        self.ids = ids
        self.hashes = hashes.tolist()
        self.widths = substring_widths(substrings)
        self.shifts = [HASH_BITS - sum(self.widths[: t + 1]) for t in range(substrings)]
        self.tables: list[dict[int, list[int]]] = [{} for _ in range(substrings)]
        for pos, h in enumerate(self.hashes):
            for table, shift, width in zip(self.tables, self.shifts, self.widths, strict=True):
                table.setdefault((h >> shift) & ((1 << width) - 1), []).append(pos)
        self.masks: dict[tuple[int, int], list[int]] = {}

    def _masks(self, width: int, radius: int) -> list[int]:
        key = (width, radius)
        if key not in self.masks:
            self.masks[key] = [m for m in range(1 << width) if m.bit_count() <= radius]
        return self.masks[key]

    def query(self, h: int, radius: int) -> Hits:
        radii = probe_radii(radius, self.widths)
        found: dict[int, int] = {}
        hashes = self.hashes
        for table, shift, width, rad in zip(
            self.tables, self.shifts, self.widths, radii, strict=True
        ):
            if rad < 0:
                continue
            sub = (h >> shift) & ((1 << width) - 1)
            for mask in self._masks(width, rad):
                for pos in table.get(sub ^ mask, ()):
                    if pos not in found:
                        d = (hashes[pos] ^ h).bit_count()
                        if d <= radius:
                            found[pos] = d
        ids = self.ids
        return [(ids[p], d) for p, d in sorted(found.items(), key=lambda pd: (pd[1], pd[0]))]


# ------------------------------------------------------------------ measuring


@dataclass
class Latency:
    """Wall-clock mean and p99, plus mean CPU time of the calling thread.

    The CPU figure excludes time spent descheduled, so it stays meaningful when
    other jobs share the machine; the wall figures are what a caller waits.
    """

    mean_us: float
    p99_us: float
    cpu_us: float

    @property
    def qps(self) -> float:
        return 1e6 / self.mean_us


def time_queries(
    designs: Sequence[Callable[[int, int], Hits]], queries: Sequence[int], radius: int
) -> list[tuple[Latency, list[Hits]]]:
    """Per-query wall and CPU time and the answers of each design, interleaved.

    Every query runs through all designs back to back, so that load from other
    processes on this shared machine falls on all of them alike and the ratios
    stay fair. 20 warm-up queries first (probe plans, caches).
    """
    for query in designs:
        for q in queries[:20]:
            query(q, radius)
    samples: list[list[int]] = [[] for _ in designs]
    cpu: list[int] = [0 for _ in designs]
    answers: list[list[Hits]] = [[] for _ in designs]
    gc.disable()
    try:
        for q in queries:
            for d, query in enumerate(designs):
                cpu_start = time.thread_time_ns()
                start = time.perf_counter_ns()
                answer = query(q, radius)
                samples[d].append(time.perf_counter_ns() - start)
                cpu[d] += time.thread_time_ns() - cpu_start
                answers[d].append(answer)
    finally:
        gc.enable()
    results = []
    for times, cpu_ns, found in zip(samples, cpu, answers, strict=True):
        times.sort()
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
        latency = Latency(statistics.fmean(times) / 1e3, p99 / 1e3, cpu_ns / len(times) / 1e3)
        results.append((latency, found))
    return results


def build_index(
    ids: list[str], hashes: U64, substrings: int
) -> tuple[NearDuplicateIndex[str], float]:
    index: NearDuplicateIndex[str] = NearDuplicateIndex(substrings)
    start = time.perf_counter()
    index.add_many(ids, hashes)
    return index, time.perf_counter() - start


def traced_build(ids: list[str], hashes: U64, substrings: int) -> tuple[float, float]:
    """(retained MB, peak MB) allocated while building an index, per tracemalloc.

    A separate build, because tracing slows the timed one down.
    """
    gc.collect()
    tracemalloc.start()
    index, _ = build_index(ids, hashes, substrings)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return current / 1e6, peak / 1e6


def peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def incremental_rate(index: NearDuplicateIndex[str], hashes: U64, count: int) -> float:
    """add() calls per second on top of `index`, merges included."""
    extra = hashes[:count].tolist()
    start = time.perf_counter()
    for i, h in enumerate(extra):
        index.add(f"extra-{i}", h)
    return count / (time.perf_counter() - start)


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 1_100_000])
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--substrings", type=int, default=4)
    parser.add_argument(
        "--distributions", nargs="+", choices=sorted(DISTRIBUTIONS), default=["random", "clustered"]
    )
    parser.add_argument("--incremental", type=int, default=50_000, help="add() calls to time")
    parser.add_argument("--alternatives", action="store_true", help="also time other designs")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    rng = np.random.default_rng(args.seed)

    latency = Table(title=f"Query latency, radius {args.radius}, index m={args.substrings}")
    for column in (
        "data", "n", "index mean µs", "index p99 µs", "index cpu µs", "index q/s",
        "scan mean µs", "scan p99 µs", "scan cpu µs", "scan q/s", "speed-up wall/cpu", "hits/q",
    ):  # fmt: skip
        latency.add_column(column, justify="right")
    building = Table(title="Build and memory")
    for column in (
        "data", "n", "add_many s", "index arrays MB", "traced retained MB", "traced peak MB",
        "add() on top, /s",
    ):  # fmt: skip
        building.add_column(column, justify="right")

    mismatches = 0
    for name in args.distributions:
        for n in args.sizes:
            hashes = DISTRIBUTIONS[name](n, rng)
            ids = [f"ISIC_{i:07d}" for i in range(n)]
            queries = make_queries(hashes, args.queries, args.radius, rng)
            index, build_s = build_index(ids, hashes, args.substrings)
            (index_lat, index_answers), (scan_lat, scan_answers) = time_queries(
                [index.query, NumpyScan(ids, hashes).query], queries, args.radius
            )
            mismatches += sum(a != b for a, b in zip(index_answers, scan_answers, strict=True))
            hits = statistics.fmean(len(a) for a in index_answers)
            arrays_mb = index.nbytes / 1e6
            adds = incremental_rate(index, random_hashes(args.incremental, rng), args.incremental)
            del index
            retained, peak = traced_build(ids, hashes, args.substrings)
            latency.add_row(
                name, f"{n:,}",
                f"{index_lat.mean_us:.0f}", f"{index_lat.p99_us:.0f}", f"{index_lat.cpu_us:.0f}",
                f"{index_lat.qps:,.0f}",
                f"{scan_lat.mean_us:.0f}", f"{scan_lat.p99_us:.0f}", f"{scan_lat.cpu_us:.0f}",
                f"{scan_lat.qps:,.0f}",
                f"{scan_lat.mean_us / index_lat.mean_us:.1f}x / "
                f"{scan_lat.cpu_us / index_lat.cpu_us:.1f}x",
                f"{hits:.1f}",
            )  # fmt: skip
            building.add_row(
                name, f"{n:,}", f"{build_s:.2f}", f"{arrays_mb:.1f}",
                f"{retained:.0f}", f"{peak:.0f}", f"{adds:,.0f}",
            )  # fmt: skip
            console.print(f"[dim]done: {name} n={n:,}[/dim]")
    console.print(latency)
    console.print(building)

    if args.alternatives:
        mismatches += run_alternatives(console, rng, max(args.sizes), args)

    console.print(
        f"exactness: {mismatches} answers differed from the numpy scan; "
        f"peak RSS {peak_rss_mb():,.0f} MB"
    )
    return 1 if mismatches else 0


def run_alternatives(
    console: Console, rng: np.random.Generator, n: int, args: argparse.Namespace
) -> int:
    """Time other substring counts and a pure-Python MIH on random data of size n."""
    hashes = random_hashes(n, rng)
    ids = [f"ISIC_{i:07d}" for i in range(n)]
    queries = make_queries(hashes, args.queries, args.radius, rng)
    names, designs = ["numpy linear scan"], [NumpyScan(ids, hashes).query]
    rows = [["-", f"{n:,}", "-"]]
    sizes = [hashes.nbytes / 1e6]
    indexes = []
    pure_row = ["-", "-"]  # the pure-Python MIH probes like m=4
    for m in (3, 4, 5, 6, 8, 11):
        widths = substring_widths(m)
        per_table = [
            sum(math.comb(w, i) for i in range(rad + 1))
            for w, rad in zip(widths, probe_radii(args.radius, widths), strict=True)
        ]
        probes = sum(per_table)
        # Expected bucket entries touched for uniform hashes: probes x n / 2**width.
        candidates = sum(p * n / (1 << w) for p, w in zip(per_table, widths, strict=True))
        index, build_s = build_index(ids, hashes, m)
        indexes.append(index)
        names.append(f"MIH numpy m={m} ({'/'.join(map(str, sorted(set(widths))))} bits)")
        designs.append(index.query)
        rows.append([f"{probes:,}", f"{candidates:,.0f}", f"{build_s:.2f}"])
        if m == 4:
            pure_row = rows[-1][:2]
        sizes.append(index.nbytes / 1e6)
    console.print("[dim]alternatives built[/dim]")
    timed = time_queries(designs, queries, args.radius)
    scan_lat, expected = timed[0]
    table = Table(title=f"Alternatives: {n:,} random hashes, radius {args.radius}")
    for column in (
        "design", "probes/q", "candidates/q", "build s", "mean µs", "p99 µs", "cpu µs",
        "vs scan (cpu)", "arrays MB",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    mismatches = 0
    for name, row, size, (lat, answers) in zip(names, rows, sizes, timed, strict=True):
        mismatches += sum(a != b for a, b in zip(answers, expected, strict=True))
        table.add_row(name, *row, f"{lat.mean_us:.0f}", f"{lat.p99_us:.0f}", f"{lat.cpu_us:.0f}",
                      f"{scan_lat.cpu_us / lat.cpu_us:.1f}x", f"{size:.1f}")  # fmt: skip
    del indexes, designs
    start = time.perf_counter()
    pure = PurePythonMIH(ids, hashes)
    build_s = time.perf_counter() - start
    few = queries[: max(20, len(queries) // 10)]
    (lat, answers), (few_scan, _) = time_queries(
        [pure.query, NumpyScan(ids, hashes).query], few, args.radius
    )
    mismatches += sum(a != b for a, b in zip(answers, expected, strict=False))
    table.add_row(f"MIH pure Python m=4 ({len(few)} queries)", *pure_row, f"{build_s:.2f}",
                  f"{lat.mean_us:.0f}", f"{lat.p99_us:.0f}", f"{lat.cpu_us:.0f}",
                  f"{few_scan.cpu_us / lat.cpu_us:.1f}x", "-")  # fmt: skip
    console.print(table)
    return mismatches


# ------------------------------------------------------------ bench/run.py


STUDY_SIZE = 1_100_000
STUDY_RADIUS = 10


def run(args: BenchArgs) -> list[Row]:
    """Rows for `bench/run.py`: radius-10 queries at study scale, index beside the scan.

    The index size is the study's 1.1M hashes whatever `--events` says (the index
    only pays off at scale; below ~34k hashes it scans itself); `--events` sets
    the number of queries (a tenth of it, 500-5000). Raises if any answer differs
    from the scan's.
    """
    # Imported here so that this file also runs as a plain script without them.
    from dermledger.bench.common import PeakMemory, Row, say

    count = min(5000, max(500, args.events // 10))
    rng = np.random.default_rng(20240601)
    peak = PeakMemory()
    rows = []
    for name in ("random", "clustered"):
        say(f"near duplicates: {STUDY_SIZE:,} {name} hashes, {count:,} queries …")
        hashes = DISTRIBUTIONS[name](STUDY_SIZE, rng)
        ids = [f"ISIC_{i:07d}" for i in range(STUDY_SIZE)]
        queries = make_queries(hashes, count, STUDY_RADIUS, rng)
        peak.reset()
        index, _ = build_index(ids, hashes, DEFAULT_SUBSTRINGS)
        (ours, found), (scan, expected) = time_queries(
            [index.query, NumpyScan(ids, hashes).query], queries, STUDY_RADIUS
        )
        if found != expected:
            raise AssertionError(f"near-duplicate index disagrees with the scan ({name})")
        rows.append(
            Row(
                measure=f"near-dup query r={STUDY_RADIUS}, {name} hashes",
                backend="in-process",
                n=STUDY_SIZE,
                ours_per_s=ours.qps,
                baseline_per_s=scan.qps,
                peak_mib=peak.mib(),
                baseline="numpy scan, XOR + bitwise_count over uint64, same queries interleaved",
            )
        )
        del index
    return rows


if __name__ == "__main__":
    sys.exit(main())
