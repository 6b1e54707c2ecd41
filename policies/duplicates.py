"""Duplicate detection as a named, versioned policy: which earlier images a capture repeats.

Exact duplicates share the file's bytes or its decoded pixels. Near duplicates are
found in two steps: the whole image's 64-bit pHash finds candidates (an exact
multi-index search within DEFAULT_THRESHOLD, in projections), and the *region
distance* confirms them: the Hamming distance between the earlier image's 192-bit
hash of the centre of its frame and the closest of the capture's 625 reframings of
its own centre (scales 0.94-1.06, shifts up to 2.5% per axis; ledger/imaging.py).
The reframing search makes the confirmation tolerant of crops and resizes, which
move the whole-image pHash; hashing the centre keeps the dermatoscope's dark
circular field, which makes distinct lesions look alike, out of it. This rule only
classifies the measured candidates, so the same measurements always give the same
suspicions; it does no I/O.

Images captured under version 1 carry no region hash; a candidate without one is
judged by the version 1 rule (pHash within LEGACY_THRESHOLD, dHash within
CONFIRM_THRESHOLD).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dermledger.policies.base import Decision

POLICY_NAME = "duplicate-detection"
POLICY_VERSION = "2"
# Measured with the production hashes (ledger/imaging.py, projections/dedup_index.py) on
# the seed-2026 demo cohort (1,044 records, 18 planted copies) and on a survey planting
# every duplicate kind on its first 200 originals (1,800 copies, each measured both ways:
# the copy captured after and before its original):
# * Whole-image pHash, the candidate generator. Copies lie within 18 (the crop kinds 0-18,
#   every other kind <= 4). At 16 the survey keeps 1,798/1,800 (the two misses are crops
#   at 18) and the cohort all 18, with 6,539 pairs of different images as candidates
#   (1.2% of all pairs: the dark circular field); at 18 every copy is kept, for 14,069.
# * Region distance, the confirmation. Every survey copy lies within 11 in either order
#   (crop+resize 11, crop 10, resize 8, brightness 7); the nearest pair of different
#   images among the cohort's 6,539 candidates is at 18 (then 20, 22); other lesions of the
#   same patient and device, and recaptures of the same lesion, at 37 or more. The
#   threshold sits in that gap, 3 above the copies and 4 below the nearest distinct pair.
# At 16 / 14, capture by capture through DermLedger.import_folder on the cohort: 18/18
# planted copies flagged, 0 pairs of different images (precision 1.00); survey recall
# 0.9989. Version 1 (pHash 12 + dHash 8) caught 17/18, flagged 8 distinct pairs, survey
# 0.978. Known limit: `hard_negatives(same_capture=True)` (the same photograph with another
# lesion painted in) is flagged for 54 of 120 such pairs (version 1: 106).
DEFAULT_THRESHOLD = 16
REGION_THRESHOLD = 14
# Version 1, for candidates captured before region hashes existed.
LEGACY_THRESHOLD = 12
CONFIRM_THRESHOLD = 8


@dataclass(frozen=True)
class Candidate:
    image_id: str
    sha256: str
    pixel_sha256: str
    distance: int  # whole-image pHash
    confirm_distance: int  # whole-image dHash (version 1 confirmation)
    region_distance: int | None = None  # None: the earlier image has no region hash


@dataclass(frozen=True)
class SuspectedDuplicate:
    duplicate_of: str
    kind: str
    distance: int


def hamming_hex(a: str, b: str) -> int:
    """Bits in which two hex-encoded perceptual hashes differ: the distance both rules use."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_near(
    c: Candidate,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    region_threshold: int = REGION_THRESHOLD,
    confirm_threshold: int = CONFIRM_THRESHOLD,
) -> bool:
    """The near-duplicate rule for one measured candidate."""
    if c.region_distance is not None:
        return c.distance <= threshold and c.region_distance <= region_threshold
    return c.distance <= min(threshold, LEGACY_THRESHOLD) and c.confirm_distance <= (
        confirm_threshold
    )


def classify(
    *,
    sha256: str,
    pixel_sha256: str,
    candidates: Iterable[Candidate],
    threshold: int,
    confirm_threshold: int = CONFIRM_THRESHOLD,
    region_threshold: int = REGION_THRESHOLD,
) -> list[SuspectedDuplicate]:
    """Every candidate within the threshold, the most certain kind first, then by distance."""
    rank = {"exact-bytes": 0, "exact-pixels": 1, "near": 2}
    found = []
    for c in candidates:
        if c.sha256 == sha256:
            kind = "exact-bytes"
        elif c.pixel_sha256 == pixel_sha256:
            kind = "exact-pixels"
        elif is_near(
            c,
            threshold=threshold,
            region_threshold=region_threshold,
            confirm_threshold=confirm_threshold,
        ):
            kind = "near"
        else:
            continue
        found.append(SuspectedDuplicate(c.image_id, kind, c.distance))
    return sorted(found, key=lambda s: (rank[s.kind], s.distance, s.duplicate_of))


# Clearing a suspicion as distinct is its own rule (the detection above is unchanged): an
# exact copy (the same bytes or the same decoded pixels) is the same photograph, so saying
# it is distinct needs an explicit override, which the DuplicateResolved event records.
RESOLUTION_POLICY = "duplicate-resolution"
RESOLUTION_VERSION = "1"
EXACT_KINDS = frozenset({"exact-bytes", "exact-pixels"})


def check_distinct(
    image_id: str, open_: Sequence[tuple[str, str]], *, override_exact: bool
) -> Decision:
    """May the open suspicions `open_` ((duplicate_of, kind) pairs) of `image_id` be cleared
    as distinct? Exact copies need `override_exact`; the override is refused where there is
    no exact copy to override, so the event never claims one that was not needed."""
    exact = [f"{kind} copy of {other}" for other, kind in open_ if kind in EXACT_KINDS]
    reason = None
    if exact and not override_exact:
        reason = (
            f"{image_id} is an {', '.join(exact)}; clearing it as distinct needs "
            "--override-exact with a --reason"
        )
    elif override_exact and not exact:
        reason = f"{image_id} is suspected of no exact copy; --override-exact does not apply"
    return Decision.of(RESOLUTION_POLICY, RESOLUTION_VERSION, reason)
