"""The reference dermoscopy study's numbers, and how a smaller cohort scales them.

Why a module of its own: these counts are what the generated cohort is checked against
(tests and the demo rely on them), and `apportion` is the one place a count is scaled, in
exact rational arithmetic, so a cohort of any size is decided without float rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Final

from dermledger.synthetic.duplicates import DUPLICATE_KINDS
from dermledger.synthetic.lesions import CATEGORIES

REFERENCE_RECORDS: Final = 1044
REFERENCE_DUPLICATES: Final = 18
REFERENCE_PATIENTS: Final = 443

# Unique images per category at reference size (sum 1,026): a general
# dermatology clinic's mix, benign nevi dominating, then keratoses. The three
# malignant counts are fixed by the reference study; the rest are our choice.
CATEGORY_COUNTS: Final[dict[str, int]] = {
    "NV": 642,
    "BKL": 196,
    "OTHER": 46,
    "AK": 41,
    "VASC": 34,
    "DF": 28,
    "MEL": 18,
    "BCC": 15,
    "SCC": 6,
}
MALIGNANT_CATEGORIES: Final = ("MEL", "BCC", "SCC")
SEX_COUNTS: Final[dict[str, int]] = {"female": 279, "male": 164}
AGE_MIN: Final = 2
AGE_MEDIAN: Final = 38
AGE_MAX: Final = 90
# Follow-up images of benign lesions: at reference size 1,026 images show 958
# lesions. Malignant lesions get exactly one image each (39 lesions, 39 images).
REFERENCE_EXTRA_IMAGES: Final = 68
STUDY_DAYS: Final = 730
# Duplicate kinds cycle in this order, so even four duplicates are varied.
DUPLICATE_KIND_ORDER: Final = (
    "exact",
    "resize",
    "crop",
    "brightness",
    "reencode",
    "crop+resize",
    "png",
    "brightness+reencode",
    "crop+brightness+resize",
)

assert set(CATEGORY_COUNTS) == set(CATEGORIES)
assert sum(CATEGORY_COUNTS.values()) == REFERENCE_RECORDS - REFERENCE_DUPLICATES
assert set(DUPLICATE_KIND_ORDER) == set(DUPLICATE_KINDS)


# -- proportional scaling --------------------------------------------------------


def apportion(
    total: int, weights: Mapping[str, float], minimum: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Split `total` in proportion to `weights` (largest remainder), honouring minimums.

    Exact rational arithmetic, so integer weights that already sum to `total`
    come back unchanged and the result never depends on float rounding.
    """
    minimum = minimum or {}
    if sum(minimum.values()) > total:
        raise ValueError(f"cannot fit minimums {dict(minimum)} into {total}")
    wsum = sum(Fraction(w) for w in weights.values())
    quota = {k: Fraction(w) * total / wsum for k, w in weights.items()}
    counts = {k: max(int(q), minimum.get(k, 0)) for k, q in quota.items()}
    keys = list(weights)
    while sum(counts.values()) < total:  # hand out seats by largest remainder
        best = max(keys, key=lambda k: (quota[k] - counts[k], -keys.index(k)))
        counts[best] += 1
    while sum(counts.values()) > total:  # take back from the most over-served
        spare = [k for k in keys if counts[k] > minimum.get(k, 0)]
        worst = max(spare, key=lambda k: (counts[k] - quota[k], -keys.index(k)))
        counts[worst] -= 1
    return counts


def category_counts(unique: int, records: int | None = None) -> dict[str, int]:
    """Unique images per category for a cohort of `unique` images.

    Always at least one of each malignant type (when there are three images);
    at least one of every category once the cohort has 20 records.
    """
    records = unique if records is None else records
    minimum: dict[str, int] = {}
    if unique >= len(MALIGNANT_CATEGORIES):
        minimum = dict.fromkeys(MALIGNANT_CATEGORIES, 1)
    if records >= 20 and unique >= len(CATEGORIES):
        minimum = dict.fromkeys(CATEGORIES, 1)
    return apportion(unique, CATEGORY_COUNTS, minimum)
