"""Bulk import: `DermLedger.import_folder` beside the least work any importer must do.

Ours is the real service path: CSV validation; a pass that reads, fully decodes and measures
every file (SHA-256, pixel SHA-256, pHash, dHash, region hash and probe, focus) on a pool of
W spawned worker processes (W = the cores, as `import_folder` chooses at this size) and runs
the SOP; then, 64 images a transaction, a second read of the bytes (no second decode: the
facts are passed on), the metadata, consent, SOP and duplicate decisions, the blob writes
(flushed together), signed events.

Baselines, run on the same files just before and just after the import, on a pool of the
same W spawned workers started inside the timing as ours is (like with like: comparing a
pooled import with a one-process baseline would flatter the ratio by up to W): read + full
Pillow decode + SHA-256, and that plus pHash and dHash (the least an importer
that detects near-duplicates must do; imagehash's values by the fastest code available,
`study.imaging`'s, which needs no scipy). Cohort: 300 records, 6 planted duplicates, 120
patients registered with consent outside the timing. Each row also gives the CPU ratio
(baseline CPU seconds ÷ ours, this process plus its reaped workers, `getrusage`), which a
shared machine moves far less than the wall ratio.

    .venv/bin/python bench/run.py --only bench_import   # size: $DERMLEDGER_BENCH_IMPORT_RECORDS
    .venv/bin/python bench/bench_import.py [--import-records N] [--postgres] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import hashlib
import io
import multiprocessing
import os
import pstats
import resource
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from dermledger.bench.common import (
    SQLITE,
    Backend,
    BenchArgs,
    PeakMemory,
    Row,
    Stopwatch,
    location,
    rate,
    say,
)
from dermledger.study.imaging import dhash_hex, phash_hex

if TYPE_CHECKING:  # the study is imported inside the functions that use it (see below)
    from dermledger.ledger.bootstrap import Settings
    from dermledger.ledger.signing import Signer
    from dermledger.study.ledger import DermLedger
    from dermledger.synthetic.cohort import Cohort

RECORDS_ENV = "DERMLEDGER_BENCH_IMPORT_RECORDS"
# Every spawned worker imports this module (the baseline's function lives here) and, when
# it is run as a script, runs its top level again: so its top level imports only what the
# baseline's work needs, as the CLI's entry point does for the import's own workers
# (`commands/entry.py`). With the study imported here, each worker of both sides spent
# about 2 s of CPU importing it, 4 s of the baseline's 7 for 300 images.
CHILDREN = resource.RUSAGE_CHILDREN
Prepared = tuple["DermLedger", "Signer", list[str], list[dict[str, str]]]
Spent = tuple[float, float]  # (CPU seconds of this process and its reaped workers, wall)
BASELINES = {
    "import ÷ decode+SHA-256": "read bytes + full Pillow decode + SHA-256, same files",
    "import ÷ decode+SHA-256+pHash+dHash": (
        "read + decode + SHA-256 + pHash, dHash (imagehash's values, without scipy)"
    ),
}


def cpu_seconds() -> float:
    """User and system CPU of this process and of every child it has reaped."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make_cohort(n: int, workdir: Path) -> Cohort:
    from dermledger.synthetic.cohort import generate_cohort

    say(f"  generating a {n:,}-record cohort")
    out = workdir / f"import-cohort-{uuid.uuid4().hex[:8]}"
    return generate_cohort(out, records=n, duplicates=n // 50, patients=n * 2 // 5)


def prepared(backend: Backend, settings: Settings, cohort: Cohort) -> Prepared:
    """A founded ledger with the cohort's patients registered with consent, and the CSV."""
    from dermledger.bench.bench_ledger import open_ledger

    ledger, lead = open_ledger(backend, settings)
    for row in cohort.patients:
        ledger.patients.register_patient(lead, row["patient_id"], row)
        ledger.patients.record_consent(lead, row["patient_id"], "study", b"consent form v3")
    with cohort.metadata_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    return ledger, lead, list(reader.fieldnames or []), rows


def baseline_file(job: tuple[str, bool]) -> str:
    """The baseline's work on one file: read, decode, SHA-256 (and pHash, dHash)."""
    path, hashes = job
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        out = hashlib.sha256(data).hexdigest()
        if hashes:
            # The fastest pHash and dHash available: imagehash's values without scipy's
            # import (study.imaging's own, which the import's workers use too).
            gray = img.convert("L")
            out += phash_hex(gray) + dhash_hex(gray)
    return out


def baseline(paths: list[Path], hashes: bool, workers: int = 1) -> Spent:
    """(CPU, wall) seconds of the baseline's work on every file, on `workers` spawned
    processes started inside the timing (as `import_folder` starts its own), in order,
    chunks of 8. The pool is shut down (its workers reaped) inside, so their CPU counts."""
    jobs = [(str(path), hashes) for path in paths]
    cpu = cpu_seconds()
    with Stopwatch() as watch:
        if workers <= 1:
            list(map(baseline_file, jobs))
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, context) as pool:
                list(pool.map(baseline_file, jobs, chunksize=8))
    return cpu_seconds() - cpu, watch.seconds


def pool_size(records: int) -> int:
    """The worker processes `import_folder` uses for this many files."""
    from dermledger.study.imports import PARALLEL_IMPORT_FROM

    return (os.cpu_count() or 1) if records >= PARALLEL_IMPORT_FROM else 1


def run(args: BenchArgs, records: int | None = None) -> list[Row]:
    records = records or int(os.environ.get(RECORDS_ENV) or 300)
    cohort = make_cohort(records, args.workdir)
    try:
        return measure(args, cohort, records)
    finally:
        shutil.rmtree(cohort.out_dir, ignore_errors=True)


def measure(args: BenchArgs, cohort: Cohort, records: int) -> list[Row]:
    """Baselines, ours, baselines again on every backend: wall rates in the table, and the
    CPU ratio (baseline CPU ÷ ours, workers included) beside the wall ratio."""
    paths = [cohort.image_path(r["filename"]) for r in cohort.records]
    baseline(paths[:10], hashes=True)  # warm up Pillow and imagehash
    workers = pool_size(records)
    rows: list[Row] = []
    for backend in args.backends:
        with location(backend, args.workdir, "import") as settings:
            ledger, lead, header, csv_rows = prepared(backend, settings, cohort)
            try:
                say(f"  {backend.name}: baselines, import of {records:,} images, baselines")
                before = [baseline(paths, hashes, workers) for hashes in (False, True)]
                peak = PeakMemory()
                peak.reset()
                cpu = cpu_seconds()
                with Stopwatch() as watch:
                    report = ledger.imports.import_folder(lead, cohort.images_dir, header, csv_rows)
                ours = (cpu_seconds() - cpu, watch.seconds)
                mib = peak.mib()
            finally:
                ledger.close()
            after = [baseline(paths, hashes, workers) for hashes in (False, True)]
        if report.captured != records:
            raise RuntimeError(f"captured {report.captured} of {records} images")
        for (label, what), first, second in zip(BASELINES.items(), before, after, strict=True):
            theirs = rate(2 * len(paths), first[1] + second[1])  # before and after: evens drift
            cpu_ratio = (first[0] + second[0]) / 2 / ours[0]
            wall_ratio = rate(records, ours[1]) / theirs
            say(f"  {label}, {backend.name}, {records:,} images, {workers} workers: CPU "
                f"{ours[0]:.2f} s, baseline {(first[0] + second[0]) / 2:.2f} s: CPU ratio "
                f"{cpu_ratio:.2f}; wall ratio {wall_ratio:.2f}; "
                f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
            what = f"{what}, {workers} worker process{'es' if workers > 1 else ''} as ours"
            label = f"{label} (CPU ratio {cpu_ratio:.2f})"
            ours_rate = rate(records, ours[1])
            rows.append(Row(label, backend.name, records, ours_rate, theirs, mib, what))
    return rows


def profile_import(records: int, workdir: Path, top: int = 25) -> str:
    """cProfile of one SQLite import of a fresh cohort (the main process only: the pool's
    work shows as waits), the `top` entries by own time, after the CPU split between this
    process and the reaped workers."""
    cohort, backend = make_cohort(records, workdir), Backend(SQLITE)
    with location(backend, workdir, "import-profile") as settings:
        ledger, lead, header, csv_rows = prepared(backend, settings, cohort)
        try:
            own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, CHILDREN))
            profiler = cProfile.Profile()
            profiler.runcall(
                ledger.imports.import_folder, lead, cohort.images_dir, header, csv_rows
            )
            own_after, children_after = (
                resource.getrusage(w) for w in (resource.RUSAGE_SELF, CHILDREN)
            )
        finally:
            ledger.close()
    fields = ("ru_utime", "ru_stime")
    main_cpu = sum(getattr(own_after, f) - getattr(own, f) for f in fields)
    pool_cpu = sum(getattr(children_after, f) - getattr(children, f) for f in fields)
    out = io.StringIO()
    out.write(f"CPU: main process {main_cpu:.2f} s (under cProfile), workers {pool_cpu:.2f} s\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    from dermledger.bench import run as suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--import-records", type=int, default=300, metavar="N")
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=None)
    parser.set_defaults(memory=False)  # suite.backends reads it: no in-memory row here
    parser.add_argument("--profile", action="store_true", help="cProfile a SQLite import, top 25")
    options = parser.parse_args(argv)
    if options.import_records < 50:
        parser.error("--import-records must be at least 50")
    if options.postgres and not os.environ.get(suite.POSTGRES_ENV):
        parser.error(f"--postgres needs ${suite.POSTGRES_ENV}")
    with tempfile.TemporaryDirectory(prefix="dermledger-bench-") as tmp:
        if options.profile:
            print(profile_import(options.import_records, Path(tmp)))
            return 0
        args = BenchArgs(options.import_records, suite.backends(options), Path(tmp))
        started = time.perf_counter()
        rows = run(args, options.import_records)
        suite.render(rows, args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
