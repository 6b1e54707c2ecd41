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
# pHash finds candidates; a second, independent hash (dHash, horizontal gradients)
# confirms them. On the demo cohort (1,044 records, 18 planted copies) every planted
# re-encoded, resized, cropped or brightness-shifted copy lies within pHash 12 and dHash 8
# (the worst: a 5% crop at pHash 12 / dHash 7), while pHash alone at 10 also flags ~300
# distinct lesions that share the dermatoscope's circular field; with the dHash
# confirmation 6 distinct pairs remain for review (recall 1.00, precision 0.75).
DEFAULT_THRESHOLD = 12
CONFIRM_THRESHOLD = 8


@dataclass(frozen=True)
class Candidate:
    image_id: str
    sha256: str
    pixel_sha256: str
    distance: int
    confirm_distance: int


@dataclass(frozen=True)
class SuspectedDuplicate:
    duplicate_of: str
    kind: str
    distance: int


def classify(
    *,
    sha256: str,
    pixel_sha256: str,
    candidates: Iterable[Candidate],
    threshold: int,
    confirm_threshold: int = CONFIRM_THRESHOLD,
) -> list[SuspectedDuplicate]:
    """Every candidate within the threshold, the most certain kind first, then by distance."""
    rank = {"exact-bytes": 0, "exact-pixels": 1, "near": 2}
    found = []
    for c in candidates:
        if c.sha256 == sha256:
            kind = "exact-bytes"
        elif c.pixel_sha256 == pixel_sha256:
            kind = "exact-pixels"
        elif c.distance <= threshold and c.confirm_distance <= confirm_threshold:
            kind = "near"
        else:
            continue
        found.append(SuspectedDuplicate(c.image_id, kind, c.distance))
    return sorted(found, key=lambda s: (rank[s.kind], s.distance, s.duplicate_of))
