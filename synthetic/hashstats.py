"""Perceptual-hash distance distributions on synthetic data, for the dedup thresholds.

The dedup policy flags a pair when pHash is within a threshold and dHash
confirms it. This measures, on a cohort written by `generate_cohort`, how far
planted duplicates sit from their originals (per kind) and how close distinct
images come to each other under pHash, dHash and both, so thresholds are
chosen from data. The planted set is small (18 at full size), so
`duplicate_survey` also plants every duplicate kind on many originals.

Run `python -m dermledger.synthetic.hashstats COHORT_DIR [--survey N]`.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

__all__ = [
    "Distribution",
    "HashReport",
    "duplicate_survey",
    "hash_pair",
    "hash_report",
    "main",
]


@dataclass(frozen=True)
class Distribution:
    """Summary of a list of Hamming distances."""

    n: int
    min: int
    median: float
    max: int

    @classmethod
    def of(cls, values: Iterable[int]) -> Distribution:
        a = np.fromiter(values, dtype=np.int64)
        if a.size == 0:
            return cls(0, 0, float("nan"), 0)
        return cls(int(a.size), int(a.min()), float(np.median(a)), int(a.max()))

    def __str__(self) -> str:
        return f"n={self.n} min={self.min} median={self.median:g} max={self.max}"


@dataclass(frozen=True)
class HashReport:
    """Distances on one cohort: planted duplicates against distinct images."""

    planted_phash: dict[str, Distribution]  # per kind, plus "all"
    planted_dhash: dict[str, Distribution]
    distinct_phash: Distribution
    distinct_dhash: Distribution
    same_lesion_phash: Distribution  # another capture of the same lesion: not a duplicate
    # (phash threshold, dhash threshold) -> (planted pairs caught, distinct pairs flagged);
    # a dhash threshold of 64 means pHash alone.
    rule: dict[tuple[int, int], tuple[int, int]]


def hash_pair(data_or_path: bytes | Path) -> tuple[int, int]:
    """(pHash, dHash) of an image as 64-bit integers, computed as the ledger does."""
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with Image.open(source) as im:
        rgb = im.convert("RGB")
    return int(str(imagehash.phash(rgb)), 16), int(str(imagehash.dhash(rgb)), 16)


def _pairwise(values: np.ndarray) -> np.ndarray:
    """Hamming distances of all unordered pairs (row-major upper triangle)."""
    out = [np.bitwise_count(values[i] ^ values[i + 1 :]) for i in range(len(values) - 1)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.uint8)


def _pairwise_equal(labels: np.ndarray) -> np.ndarray:
    """Same pair order as _pairwise: do both entries carry the same label?"""
    out = [labels[i] == labels[i + 1 :] for i in range(len(labels) - 1)]
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _by_kind(pairs: dict[str, list[int]]) -> dict[str, Distribution]:
    out = {k: Distribution.of(v) for k, v in sorted(pairs.items())}
    out["all"] = Distribution.of(d for v in pairs.values() for d in v)
    return out


def hash_report(
    cohort_dir: Path,
    rules: Sequence[tuple[int, int]] = ((8, 64), (10, 64), (12, 64), (10, 8), (12, 8), (14, 10)),
) -> HashReport:
    """Measure a cohort directory (images/ plus metadata.csv and truth.csv)."""
    cohort_dir = Path(cohort_dir)
    with (cohort_dir / "truth.csv").open(newline="", encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    with (cohort_dir / "metadata.csv").open(newline="", encoding="utf-8") as f:
        lesion_of = {r["filename"]: r["lesion_id"] for r in csv.DictReader(f)}
    hashes = {r["filename"]: hash_pair(cohort_dir / "images" / r["filename"]) for r in truth}

    planted_p: dict[str, list[int]] = defaultdict(list)
    planted_d: dict[str, list[int]] = defaultdict(list)
    for r in truth:
        if r["duplicate_of"]:
            (p1, d1), (p2, d2) = hashes[r["filename"]], hashes[r["duplicate_of"]]
            planted_p[r["duplicate_kind"]].append((p1 ^ p2).bit_count())
            planted_d[r["duplicate_kind"]].append((d1 ^ d2).bit_count())

    unique = [r["filename"] for r in truth if not r["duplicate_of"]]
    p = _pairwise(np.array([hashes[f][0] for f in unique], dtype=np.uint64))
    d = _pairwise(np.array([hashes[f][1] for f in unique], dtype=np.uint64))
    same = _pairwise_equal(np.array([lesion_of[f] for f in unique]))
    pp = np.array([v for vs in planted_p.values() for v in vs])
    pd = np.array([v for vs in planted_d.values() for v in vs])
    rule = {
        (tp, td): (
            int(((pp <= tp) & (pd <= td)).sum()),
            int(((p <= tp) & (d <= td) & ~same).sum()),
        )
        for tp, td in rules
    }
    return HashReport(
        planted_phash=_by_kind(planted_p),
        planted_dhash=_by_kind(planted_d),
        distinct_phash=Distribution.of(p[~same].tolist()),
        distinct_dhash=Distribution.of(d[~same].tolist()),
        same_lesion_phash=Distribution.of(p[same].tolist()),
        rule=rule,
    )


def duplicate_survey(
    originals: int = 200, seed: int = 2026
) -> tuple[dict[str, Distribution], dict[str, Distribution]]:
    """Plant every duplicate kind on the first `originals` images of the reference plan.

    Returns (pHash, dHash) distance distributions per kind: a larger sample of
    the duplicate side than the 18 planted in a cohort.
    """
    from dermledger.synthetic.cohort import plan_cohort
    from dermledger.synthetic.duplicates import plant_duplicates
    from dermledger.synthetic.images import image_bytes

    by_p: dict[str, list[int]] = defaultdict(list)
    by_d: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(plan_cohort(seed=seed).originals[:originals]):
        data = image_bytes(record.spec)
        p0, d0 = hash_pair(data)
        for kind, dup in plant_duplicates(data, seed=i).items():
            p1, d1 = hash_pair(dup)
            by_p[kind].append((p0 ^ p1).bit_count())
            by_d[kind].append((d0 ^ d1).bit_count())
    return _by_kind(by_p), _by_kind(by_d)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report for a cohort directory (and optionally a duplicate survey)."""
    parser = argparse.ArgumentParser(prog="python -m dermledger.synthetic.hashstats")
    parser.add_argument("cohort_dir", type=Path)
    parser.add_argument("--survey", type=int, default=0, help="also plant all kinds on N images")
    args = parser.parse_args(argv)
    report = hash_report(args.cohort_dir)
    print("planted duplicates (pHash | dHash):")
    for kind, dist in report.planted_phash.items():
        print(f"  {kind:<24} {dist} | {report.planted_dhash[kind]}")
    print(f"distinct images pHash {report.distinct_phash}")
    print(f"distinct images dHash {report.distinct_dhash}")
    print(f"same lesion, other capture pHash {report.same_lesion_phash}")
    planted = report.planted_phash["all"].n
    for (tp, td), (caught, false) in report.rule.items():
        rule = f"pHash<={tp}" + (f" and dHash<={td}" if td < 64 else "")
        print(f"  {rule:<26} planted caught {caught}/{planted}, distinct pairs flagged {false}")
    if args.survey:
        by_p, by_d = duplicate_survey(args.survey)
        print(f"survey: every kind planted on {args.survey} originals (pHash | dHash):")
        for kind, dist in by_p.items():
            print(f"  {kind:<24} {dist} | {by_d[kind]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
