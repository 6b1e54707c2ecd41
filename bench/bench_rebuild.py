"""Read-model rebuild: `ReadModel.rebuild` beside merely reading and decoding the same log.

Ours: `ReadModel.rebuild(ledger)`: drop and recreate the tables, then read the log in
batches of 5,000, fold every image with `apply_image_event` (holding image states in
memory between batches), build audit rows with `trail_rows`, merge duplicate clusters,
one transaction per batch; every image's row (label derived once, by the verification
policy) and the tracking position go in the last transaction, the secondary indexes
are made at the end. Up to 20,000 events also: a catch-up from empty tables in steps of
100 events a transaction (the incremental path after a few commands), each writing its
images' rows and the tracking position.

Baseline, on the same log and store: `read_log` of the recorder plus msgspec's
`decode_envelope` of every entry (fetch and decode the fastest way, nothing else), the
least any projection of this log must do, run twice after ours. A second row per
measure divides by the older baseline, pydantic's `.envelope()`, run before and after.

The log is study-shaped and written phase by phase, as a study writes it (patients and
consent, captures with duplicate suspicions, metadata corrections, duplicate decisions,
annotations, three rounds of votes, histology): so every later phase meets every image
again, long after its capture. It is made by `bench/study_log.py` (real signed events,
saved thousands a transaction); SQLite logs are kept in a cache folder
(`$DERMLEDGER_BENCH_CACHE`, default `~/.cache/dermledger-bench`) and reused by reruns,
PostgreSQL logs are built in a fresh schema and dropped.

    .venv/bin/python bench/run.py --only bench_rebuild      # sizes: --events, or
    DERMLEDGER_BENCH_REBUILD_EVENTS=100000,1000000 .venv/bin/python bench/run.py ...
    .venv/bin/python bench/bench_rebuild.py --rebuild-events 100000,1000000 [--postgres]
    .venv/bin/python bench/bench_rebuild.py --rebuild-events 100000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

from dermledger.bench import study_log
from dermledger.bench.common import (
    MEMORY,
    Backend,
    BenchArgs,
    PeakMemory,
    Row,
    Stopwatch,
    location,
    rate,
    say,
)
from dermledger.ledger.envelope_fast import decode_envelope
from dermledger.ledger.store import read_log
from dermledger.projections.readmodel import ReadModel
from dermledger.study.ledger import DermLedger

EVENTS_ENV = "DERMLEDGER_BENCH_REBUILD_EVENTS"
CACHE_ENV = "DERMLEDGER_BENCH_CACHE"
STEPS_UP_TO = 20_000  # the 100-events-a-transaction catch-up is measured up to this size
BASELINE = "read_log + .envelope() (pydantic) of the same log, same store, before and after"
FAST_BASELINE = "read_log + msgspec's decode_envelope (the fastest decode), same store, after"


def cache_folder() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dermledger-bench")


def run(args: BenchArgs, sizes: list[int] | None = None, profile: bool = False) -> list[Row]:
    env = os.environ.get(EVENTS_ENV)
    sizes = sizes or (list(study_log.iter_sizes(env)) if env else [args.events])
    rows: list[Row] = []
    for backend in args.backends:
        if backend.name == MEMORY:
            say("  memory: skipped (the read model is SQL tables; events in memory say nothing)")
            continue
        for size in sizes:
            rows += run_one(backend, size, args.workdir, profile)
    return rows


def run_one(backend: Backend, events: int, workdir: Path, profile: bool) -> list[Row]:
    """One backend and log size: build (or reuse) the log, then measure."""
    progress = _progress(backend, events)
    if backend.url is None:
        started = time.perf_counter()
        settings, size = study_log.cached_log(cache_folder(), events, progress)
        say(f"  sqlite: log of {size:,} events ready in {time.perf_counter() - started:.0f} s "
            f"({settings.home})")  # fmt: skip
        ledger = DermLedger(settings)
        try:
            return measure(ledger, backend, size, profile)
        finally:
            ledger.close()
    with location(backend, workdir, "rebuild") as settings:
        ledger, lead = study_log.open_founded(settings)
        try:
            started = time.perf_counter()
            size = study_log.build(ledger, lead, events, progress)
            say(f"  {backend.name}: log of {size:,} events built in "
                f"{time.perf_counter() - started:.0f} s")  # fmt: skip
            return measure(ledger, backend, size, profile)
        finally:
            ledger.close()


def measure(ledger: DermLedger, backend: Backend, size: int, profile: bool) -> list[Row]:
    peak = PeakMemory()
    peak.reset()
    before = read_and_decode(ledger)
    say(f"  {backend.name}: baseline read+decode of {size:,} events: {size / before:,.0f}/s, "
        f"peak {peak.mib():.0f} MiB")  # fmt: skip
    measures: list[tuple[str, int]] = [("read-model rebuild ÷ read+decode", 5000)]
    if size <= STEPS_UP_TO:
        measures.append(("read-model catch-up, 100 events/transaction ÷ read+decode", 100))
    timed: list[tuple[str, float, float]] = []
    for label, batch_size in measures:
        with ReadModel(ledger.settings) as model:
            if batch_size < 5000:
                model.clear()  # a catch-up from empty tables, one transaction a step
            peak.reset()
            profiler = cProfile.Profile() if profile else None
            with Stopwatch() as watch:
                if profiler:
                    profiler.enable()
                if batch_size < 5000:
                    applied = model.catch_up(ledger, batch_size=batch_size)
                else:
                    applied = model.rebuild(ledger, batch_size=batch_size)
                if profiler:
                    profiler.disable()
            if applied != size:
                raise RuntimeError(f"{label}: applied {applied} of {size} events")
            stats = model.stats
            say(f"    {label.split(' ÷ ')[0]}: {size / watch.seconds:,.0f}/s, {stats.batches:,} "
                f"batches; image states: {stats.captured:,} begun by a capture, "
                f"{stats.held:,} continued from memory, {stats.loaded:,} from the table; "
                f"{peak.mib():.0f} MiB")  # fmt: skip
            timed.append((label, watch.seconds, peak.mib()))
            if profiler:
                say(top_of(profiler))
    after = read_and_decode(ledger)
    fast = read_and_decode(ledger, fast=True) + read_and_decode(ledger, fast=True)
    baseline, fast_baseline = rate(2 * size, before + after), rate(2 * size, fast)
    say(f"  {backend.name}: baseline after: {size / after:,.0f}/s; with msgspec's decode: "
        f"{fast_baseline:,.0f}/s; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    return [
        Row(label + suffix, backend.name, size, rate(size, seconds), base, mib, what)
        for label, seconds, mib in timed
        for suffix, base, what in (
            ("", fast_baseline, FAST_BASELINE),
            (" (pydantic)", baseline, BASELINE),
        )
    ]


def read_and_decode(ledger: DermLedger, *, fast: bool = False) -> float:
    """Seconds to read the log and decode every envelope: with pydantic (the baseline
    the targets were set against) or, `fast`, as the rebuild now does (msgspec)."""
    with Stopwatch() as watch:
        if fast:
            for entry in read_log(ledger.kernel.recorder):
                decode_envelope(entry.state) or entry.envelope()
        else:
            for entry in read_log(ledger.kernel.recorder):
                entry.envelope()
    return watch.seconds


def top_of(profiler: cProfile.Profile, count: int = 20) -> str:
    """The profile's top functions by their own time (where the time really goes)."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(count)
    return out.getvalue()


def _progress(backend: Backend, events: int) -> study_log.Progress:
    step = max(events // 10, 1)
    marks = iter(range(step, 100 * events, step))
    mark = next(marks)

    def report(written: int) -> None:
        nonlocal mark
        if written >= mark:
            say(f"    {backend.name}: {written:,} of about {events:,} events written")
            while mark <= written:
                mark = next(marks)

    return report


def main(argv: list[str] | None = None) -> int:
    from dermledger.bench import run as suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild-events", default="10000", metavar="N[,N...]",
                        help="log sizes, comma-separated (default 10000)")  # fmt: skip
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile each rebuild; top 20 by own time on stderr")  # fmt: skip
    parser.set_defaults(memory=False)  # suite.backends reads it: no in-memory row here
    options = parser.parse_args(argv)
    sizes = list(study_log.iter_sizes(options.rebuild_events))
    if min(sizes) < 100:
        parser.error("--rebuild-events must be at least 100")
    if options.postgres and not os.environ.get(suite.POSTGRES_ENV):
        parser.error(f"--postgres needs ${suite.POSTGRES_ENV}")
    chosen = tuple(b for b in suite.backends(options) if options.sqlite or b.url is not None)
    with tempfile.TemporaryDirectory(prefix="dermledger-bench-") as tmp:
        args = BenchArgs(sizes[0], chosen, Path(tmp))
        started = time.perf_counter()
        rows = run(args, sizes, options.profile)
        suite.render(rows, args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
