"""Release creation ÷ SHA-256+copy in CPU seconds, on the cached SQLite release study.

For comparing two trees in the same minutes on a shared machine: run it once per tree
(`PYTHONPATH=<tree> .venv/bin/python bench/release_cpu.py N`), alternating. Each
repetition times the baseline (SHA-256 and a copy of every image file, as
`bench_release.baseline`) and then one full release built and signed without publishing,
both in CPU seconds (getrusage of the process and its reaped children), and prints both
ratios and the 1-minute load. `--profile` prints a cProfile of one release instead.

    PYTHONPATH=/work/wt/base .venv/bin/python bench/release_cpu.py 10000 --reps 2
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import time
import uuid
from pathlib import Path

from dermledger.bench import release_study
from dermledger.bench.bench_cpu import cpu_seconds
from dermledger.bench.bench_release import Study, baseline, blob_paths, release, warm_up


def compare(study: Study, workdir: Path, tag: str) -> str:
    """One baseline and one release: their CPU and wall seconds and ratios."""
    paths = blob_paths(study.ledger)
    cpu, wall = cpu_seconds(), time.perf_counter()
    baseline(paths, workdir / f"baseline-copy-{uuid.uuid4().hex[:8]}")
    base_cpu, base_wall = cpu_seconds() - cpu, time.perf_counter() - wall
    cpu, wall = cpu_seconds(), time.perf_counter()
    _, images = release(study, workdir, publish=False)
    ours_cpu, ours_wall = cpu_seconds() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"{tag} n={images} release cpu {ours_cpu:.2f}s wall {ours_wall:.2f}s | baseline cpu "
        f"{base_cpu:.2f}s wall {base_wall:.2f}s | CPU ratio {base_cpu / ours_cpu:.3f} wall "
        f"ratio {base_wall / ours_wall:.3f} | maxrss {peak:.0f} MiB load {os.getloadavg()[0]:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=int)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/relbench"))
    parser.add_argument("--tag", default=os.environ.get("TAG", "?"))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    large = release_study.open_or_build(args.workdir, args.images)
    study = Study(large.ledger, large.lead, large.half_seq, large.half)
    try:
        warm_up(study, args.workdir)
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(release, study, args.workdir, publish=False)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
            return 0
        for _ in range(args.reps):
            print(compare(study, args.workdir, args.tag), flush=True)
    finally:
        large.ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
