"""Duplicate detection as a named, versioned policy: which earlier images a capture repeats.

Exact duplicates share the file's bytes or its decoded pixels; near duplicates have
perceptual hashes (64-bit pHash) within a Hamming threshold. The index that finds
candidates lives in projections; this rule only classifies them, so the same
candidates always give the same suspicions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

POLICY_NAME = "duplicate-detection"
POLICY_VERSION = "1"
# Planted re-encoded, resized, cropped and brightness-shifted copies of the synthetic
# cohort lie within this distance, distinct lesions far beyond it (tests/unit/test_dedup_policy.py).
DEFAULT_THRESHOLD = 10


@dataclass(frozen=True)
class Candidate:
    image_id: str
    sha256: str
    pixel_sha256: str
    distance: int


@dataclass(frozen=True)
class SuspectedDuplicate:
    duplicate_of: str
    kind: str
    distance: int


def classify(
    *, sha256: str, pixel_sha256: str, candidates: Iterable[Candidate], threshold: int
) -> list[SuspectedDuplicate]:
    """Every candidate within the threshold, the most certain kind first, then by distance."""
    rank = {"exact-bytes": 0, "exact-pixels": 1, "near": 2}
    found = []
    for c in candidates:
        if c.sha256 == sha256:
            kind = "exact-bytes"
        elif c.pixel_sha256 == pixel_sha256:
            kind = "exact-pixels"
        elif c.distance <= threshold:
            kind = "near"
        else:
            continue
        found.append(SuspectedDuplicate(c.image_id, kind, c.distance))
    return sorted(found, key=lambda s: (rank[s.kind], s.distance, s.duplicate_of))
