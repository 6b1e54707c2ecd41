"""The one entry point of the benchmarks: `.venv/bin/python bench/run.py [--events N]`.

Runs every benchmark module in MODULES that is present and prints one table: each
measure beside its baseline, measured side by side in this process, and their ratio.
Ratios, not absolute rates, are what carries from one machine to another; nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

from dermledger.bench.before import before
from dermledger.bench.common import MEMORY, POSTGRES, SQLITE, Backend, BenchArgs, Row

POSTGRES_ENV = "DERMLEDGER_TEST_POSTGRES_URL"

# The benchmark modules, in table order: bench/<name>.py exposing `run(args) -> list[Row]`.
# A name whose file is absent, or which exposes no `run`, is skipped with a note on stderr.
MODULES = (
    "bench_ed25519",
    "bench_ledger",
    "bench_near_duplicates",
    "bench_import",
    "bench_release",
    "bench_rebuild",
    "bench_page",
    "bench_witness",
    "bench_station",
)

err = Console(stderr=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="DermLedger benchmarks, each beside a baseline run in the same process.",
        epilog="example: .venv/bin/python bench/run.py --events 100000 --postgres",
    )
    parser.add_argument(
        "--events", type=int, default=10_000, help="events per measure (default 10000)"
    )
    parser.add_argument(
        "--sqlite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include SQLite (default on; off e.g. for a PostgreSQL-only 1M run)",
    )
    parser.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"include PostgreSQL at ${POSTGRES_ENV} (default: when it is set)",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include eventsourcing's in-memory store: the CPU cost without I/O (default on)",
    )
    parser.add_argument(
        "--only", action="append", choices=MODULES, help="run only this module (repeatable)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead of the table, cProfile N signed appends on SQLite (top 10 cumulative)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where ledgers are made (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    if args.events < 1 or (args.profile is not None and args.profile < 1):
        parser.error("counts must be at least 1")
    if args.postgres and not os.environ.get(POSTGRES_ENV):
        parser.error(f"--postgres needs ${POSTGRES_ENV}, e.g. postgresql://postgres@127.0.0.1/test")
    if not backends(args):
        parser.error("no backend left to measure: keep --sqlite, or set --postgres or --memory")
    return args


def backends(args: argparse.Namespace) -> tuple[Backend, ...]:
    """SQLite, then PostgreSQL, then memory: the in-memory store, which grows the heap
    most, goes last so that its leftovers do not inflate the others' peak memory."""
    chosen = [Backend(SQLITE)] if getattr(args, "sqlite", True) else []
    url = os.environ.get(POSTGRES_ENV)
    if url and args.postgres is not False:
        chosen.append(Backend(POSTGRES, url))
    if args.memory:
        chosen.append(Backend(MEMORY))
    return tuple(chosen)


def load(name: str) -> Callable[[BenchArgs], list[Row]] | None:
    """A module's `run`, or None (with a note) when it is absent or has none."""
    if not (Path(__file__).parent / f"{name}.py").exists():
        return None
    module: ModuleType = importlib.import_module(f"dermledger.bench.{name}")
    run = getattr(module, "run", None)
    if not callable(run):
        err.print(f"[yellow]skipped bench/{name}.py: it exposes no run(args) -> list[Row][/]")
        return None
    return run


def render(rows: list[Row], args: BenchArgs, seconds: float) -> None:
    table = Table(
        title=f"DermLedger benchmarks ({os.cpu_count()} cores, Python {platform.python_version()})"
    )
    columns = ("measure", "backend", "n", "ours/s", "baseline/s", "ratio", "before #19", "peak MiB")
    for column in columns:
        left = column in ("measure", "backend")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.measure,
            row.backend,
            f"{row.n:,}",
            f"{row.ours_per_s:,.0f}",
            f"{row.baseline_per_s:,.0f}",
            f"{row.ratio:.2f}",
            before(row.measure, row.backend) or "-",
            f"{row.peak_mib:.0f}",
        )
    out = Console(width=None if sys.stdout.isatty() else 140)
    out.print(table)
    out.print(
        "ratio = ours/s ÷ baseline/s; before #19 = the ratio recorded before issue 19 "
        "(bench/before.json); peak = this process's peak RSS during ours."
    )
    for measure, baseline in dict((row.measure, row.baseline) for row in rows).items():
        out.print(f"  {measure} — baseline: {baseline}")
    load = os.getloadavg()[0]
    out.print(
        f"{args.events:,} events a measure; {seconds:.0f} s in all; 1-minute load average "
        f"{load:.1f} on {os.cpu_count()} cores (this run alone makes about 1)."
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    with tempfile.TemporaryDirectory(prefix="dermledger-bench-") as tmp:
        workdir = options.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if options.profile is not None:
            from dermledger.bench.bench_ledger import profile_appends

            print(profile_appends(Backend(SQLITE), options.profile, workdir))
            return 0
        args = BenchArgs(events=options.events, backends=backends(options), workdir=workdir)
        started = time.perf_counter()
        rows: list[Row] = []
        for name in options.only or MODULES:
            run = load(name)
            if run is not None:
                err.print(f"running bench/{name}.py …")
                rows += run(args)
        render(rows, args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
