"""A synthetic study cohort shaped like the reference dermoscopy study.

At full size: 1,044 capture records, 18 of them planted near/exact duplicates
(so 1,026 unique images), 443 patients (279 female, 164 male, ages 2-90,
median 38), nine diagnostic categories with 39 malignant lesions (18 MEL,
15 BCC, 6 SCC). Smaller cohorts scale every count proportionally and
deterministically, so unit tests run the same code path on 60 records.

`plan_cohort` (in `cohort_plan`, on the numbers of `cohort_reference` and the
people of `cohort_population`) decides every row and every image's recipe
without drawing a pixel (cheap enough to check full-size counts in a unit
test); `generate_cohort` renders the plan to `out_dir/images/` and writes
patients.csv, metadata.csv (the ISIC-notation import file) and truth.csv
(diagnoses and the planted duplicates, which the import never sees). Every
name of those modules that callers use is importable from here.

Run `python -m dermledger.synthetic.cohort OUT_DIR [--records N ...]`.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from dermledger.policies import csv_rows
from dermledger.synthetic.cohort_plan import CohortPlan, PlannedImage, plan_cohort
from dermledger.synthetic.cohort_reference import (
    AGE_MAX,
    AGE_MEDIAN,
    AGE_MIN,
    CATEGORY_COUNTS,
    DUPLICATE_KIND_ORDER,
    MALIGNANT_CATEGORIES,
    REFERENCE_DUPLICATES,
    REFERENCE_EXTRA_IMAGES,
    REFERENCE_PATIENTS,
    REFERENCE_RECORDS,
    SEX_COUNTS,
    STUDY_DAYS,
    apportion,
    category_counts,
)
from dermledger.synthetic.duplicates import make_duplicate
from dermledger.synthetic.images import ImageSpec, image_bytes

__all__ = [
    "AGE_MAX",
    "AGE_MEDIAN",
    "AGE_MIN",
    "CATEGORY_COUNTS",
    "DUPLICATE_KIND_ORDER",
    "MALIGNANT_CATEGORIES",
    "METADATA_COLUMNS",
    "PATIENT_COLUMNS",
    "REFERENCE_DUPLICATES",
    "REFERENCE_EXTRA_IMAGES",
    "REFERENCE_PATIENTS",
    "REFERENCE_RECORDS",
    "SEX_COUNTS",
    "STUDY_DAYS",
    "TRUTH_COLUMNS",
    "Cohort",
    "CohortPlan",
    "PlannedImage",
    "apportion",
    "category_counts",
    "generate_cohort",
    "main",
    "plan_cohort",
    "summarize",
]

PATIENT_COLUMNS: Final = (
    "patient_id",
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "personal_hx_mm",
    "family_hx_mm",
)
# The import CSV's columns, in the order the import policy defines them.
METADATA_COLUMNS: Final = csv_rows.COLUMNS
TRUTH_COLUMNS: Final = (
    "filename",
    "diagnosis",
    "category",
    "malignant",
    "duplicate_of",
    "duplicate_kind",
)


# -- rendering -------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """A generated cohort on disk."""

    out_dir: Path
    images_dir: Path
    patients: list[dict[str, str]]
    records: list[dict[str, str]]
    patients_csv: Path
    metadata_csv: Path
    truth_csv: Path

    def image_path(self, filename: str) -> Path:
        return self.images_dir / filename


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed blocks instead of returning them to the OS at once.

    Rendering allocates and frees dozens of ~1 MB numpy temporaries per image.
    By default glibc maps and unmaps each one, and the resulting page faults
    cost about a quarter of the render time in system CPU. Only called in
    processes this module owns (pool workers, the CLI); elsewhere a no-op.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    mallopt(m_trim_threshold, 256 * 1024 * 1024)


def _render_original(job: tuple[ImageSpec, Path]) -> str:
    """Worker: draw one original and write its JPEG (top-level so it pickles)."""
    spec, path = job
    path.write_bytes(image_bytes(spec))
    return path.name


def _render_all(jobs: list[tuple[ImageSpec, Path]], workers: int | None) -> Iterator[str]:
    """Render originals, in a process pool when the batch is big enough to pay for it.

    Each image depends only on its own spec, so parallelism cannot change a byte.
    """
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(jobs) >= 100 else 1
    if workers <= 1:
        yield from map(_render_original, jobs)
        return
    # spawn, not fork: the caller (a CLI, a test runner, a web app) may hold threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=_keep_freed_memory) as pool:
        yield from pool.map(_render_original, jobs, chunksize=16)


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row[c] for c in columns})


def generate_cohort(
    out_dir: Path,
    *,
    seed: int = 2026,
    records: int = REFERENCE_RECORDS,
    duplicates: int = REFERENCE_DUPLICATES,
    patients: int = REFERENCE_PATIENTS,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> Cohort:
    """Render the planned cohort: out_dir/images/* plus patients, metadata and truth CSVs.

    Same arguments, same bytes, whatever `workers` is (None: up to 4 processes
    for 100+ images). Files of the same name are overwritten; others are left.
    `progress(done, total)` is called after each image is written.
    """
    plan = plan_cohort(seed=seed, records=records, duplicates=duplicates, patients=patients)
    out_dir = Path(out_dir)
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    total, done = len(plan.records), 0
    jobs = [(r.spec, images_dir / r.filename) for r in plan.originals]
    for _ in _render_all(jobs, workers):
        done += 1
        if progress:
            progress(done, total)
    for r in plan.duplicates:
        source = (images_dir / r.truth["duplicate_of"]).read_bytes()
        assert r.duplicate_seed is not None
        data = make_duplicate(source, r.truth["duplicate_kind"], r.duplicate_seed)
        (images_dir / r.filename).write_bytes(data)
        done += 1
        if progress:
            progress(done, total)
    cohort = Cohort(
        out_dir=out_dir,
        images_dir=images_dir,
        patients=plan.patients,
        records=[r.row() for r in plan.records],
        patients_csv=out_dir / "patients.csv",
        metadata_csv=out_dir / "metadata.csv",
        truth_csv=out_dir / "truth.csv",
    )
    _write_csv(cohort.patients_csv, PATIENT_COLUMNS, plan.patients)
    _write_csv(cohort.metadata_csv, METADATA_COLUMNS, (r.metadata for r in plan.records))
    _write_csv(cohort.truth_csv, TRUTH_COLUMNS, (r.truth for r in plan.records))
    return cohort


# -- summary and command line ----------------------------------------------------


def summarize(plan: CohortPlan) -> dict[str, object]:
    """Headline counts, for the CLI and for eyeballing a plan."""
    originals = plan.originals
    ages = sorted(int(p["age"]) for p in plan.patients)
    return {
        "records": len(plan.records),
        "unique_images": len(originals),
        "duplicates": len(plan.duplicates),
        "patients": len(plan.patients),
        "lesions": len({r.metadata["lesion_id"] for r in originals}),
        "sex": dict(Counter(p["sex"] for p in plan.patients)),
        "age_min_median_max": (ages[0], float(np.median(ages)), ages[-1]),
        "categories": dict(Counter(r.truth["category"] for r in originals).most_common()),
        "malignant_lesions": len(
            {r.metadata["lesion_id"] for r in originals if r.truth["malignant"] == "true"}
        ),
        "duplicate_kinds": dict(Counter(r.truth["duplicate_kind"] for r in plan.duplicates)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a cohort into OUT_DIR and print what was made."""
    parser = argparse.ArgumentParser(
        prog="python -m dermledger.synthetic.cohort", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--records", type=int, default=REFERENCE_RECORDS)
    parser.add_argument("--duplicates", type=int, default=REFERENCE_DUPLICATES)
    parser.add_argument("--patients", type=int, default=REFERENCE_PATIENTS)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)

    def show(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            print(f"\r{done}/{total} images", end="", file=sys.stderr, flush=True)

    _keep_freed_memory()
    started = time.perf_counter()
    try:
        cohort = generate_cohort(
            args.out_dir,
            seed=args.seed,
            records=args.records,
            duplicates=args.duplicates,
            patients=args.patients,
            progress=None if args.quiet else show,
            workers=args.workers,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if not args.quiet:
        print(file=sys.stderr)
    plan = plan_cohort(
        seed=args.seed, records=args.records, duplicates=args.duplicates, patients=args.patients
    )
    for key, value in summarize(plan).items():
        print(f"{key}: {value}")
    print(f"written to {cohort.out_dir} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
