"""Inter-rater agreement of the consensus panel: Fleiss' kappa, Krippendorff's alpha, raw agreement.

Each image is rated by specialist readers, each giving one nominal category code (the nine
study categories, MEL ... OTHER). Normally three readers rate an image, but some images
have fewer votes (a reader did not vote), and readers come from a pool, so different
images may have different readers. `agreement(votes)` takes ``image_id -> [codes]``, one
code per distinct reader who voted (missing votes are simply absent), and returns an
`AgreementReport`.

Libraries (maintained, and checked against hand-computed values in the unit tests)
------------------------------------------------------------------------------------
- Fleiss' kappa: ``statsmodels.stats.inter_rater.fleiss_kappa`` on the count table from
  ``aggregate_raters`` (statsmodels 0.15.0). statsmodels is the reference scientific
  Python stack and its implementation is the textbook formula (P_i, P_bar, P_e). Its
  ``fleiss_kappa`` asserts that every item has the same number of ratings, which is
  exactly Fleiss' requirement (see below).
- Krippendorff's alpha: ``krippendorff.alpha(..., level_of_measurement="nominal")``
  (krippendorff 0.9.0), the maintained, widely used implementation via the coincidence
  matrix; it takes missing values (NaN) natively and reproduces Krippendorff's own worked
  examples. statsmodels has no alpha. irrCAC (0.4.4, last released 2024-11) would
  duplicate both for a third, far less used dependency, so it is not used.

Neither library is imported until a statistic is computed: ``statsmodels.stats`` takes
seconds to import, and importing this module must not slow the CLI down.

Fleiss' kappa and missing votes
-------------------------------
Fleiss' kappa is defined for a constant number ``n`` of ratings per item: P_i divides by
``n(n-1)`` and P_e pools the category proportions over ``N*n`` ratings. With missing votes
the formula has no standard meaning, so it is computed over the items that have exactly
the *modal* number of ratings (the most common vote count among items with at least two
votes; 3 for this panel; a tie goes to the larger count, i.e. more readers per item). The
report gives that count (``fleiss_ratings_per_item``), the items used (``fleiss_items``)
and the items left out (``fleiss_excluded_items``: every other item, i.e. those with
missing votes, plus any with an unusual extra vote). Votes are never imputed, and items
are never trimmed to the modal count by dropping votes: which vote to drop would be an
arbitrary choice that changes the result. Krippendorff's alpha is the statistic that uses
every item with missing votes.

Krippendorff's alpha: which rater dimension
-------------------------------------------
The reliability data matrix has one row per *reader slot* (the 1st, 2nd, 3rd ... vote
of an image, in the order given) and one column per image; absent votes are NaN. The
caller gives vote lists, not reader identities, so slots are the only rater dimension
available, and they are also exactly right: alpha is computed from the coincidence matrix,
which counts the pairs of values *within each unit* and never compares rows across units.
Any assignment of an image's votes to distinct rows, by slot or by specialist identity,
gives the same per-unit value counts and therefore the same alpha (the unit tests check
this on Krippendorff's own 4-observer example laid out by observer and by slot). Slots
also keep the matrix small (3 rows instead of the size of the specialist pool) and do not
pretend that "reader 1" of two images is the same person. Only images with at least two
votes are pairable (``alpha_items``); ``pairable_values`` is Krippendorff's ``n``.

Observed percent agreement
--------------------------
Pairwise: for each image with ``m >= 2`` votes the share of its ``m(m-1)`` ordered reader
pairs that agree, averaged over those images with equal weight (Gwet's percent agreement
for a varying number of raters; over images with equal ``m`` it is Fleiss' P_bar).

When a value is None
--------------------
- fewer than two usable items (Fleiss: items with the modal count; alpha: pairable items):
  a chance-corrected coefficient estimated from one item is meaningless, as its expected
  agreement would be estimated from the very same votes;
- a single category across all the usable votes: every reader gave the same code, so the
  expected agreement by chance is already 1 (Fleiss: P_e = 1; alpha: D_e = 0) and both
  coefficients are 0/0. Raw agreement is 100% but carries no information beyond chance;
  ``percent_agreement`` still reports it;
- ``percent_agreement``: no image with two or more votes.

Deterministic: images are processed in sorted id order and categories in the study's
fixed order, so the same votes give bit-identical results whatever the mapping's order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from dermledger.ledger.errors import InvalidInput

# The study's nine categories, in the order of `dermledger.policies.categories.CATEGORIES`
# (projections sit below policies and may not import them; a unit test keeps the two equal).
CATEGORIES: Final[tuple[str, ...]] = (
    "MEL",
    "BCC",
    "SCC",
    "NV",
    "BKL",
    "DF",
    "VASC",
    "AK",
    "OTHER",
)
_CODE: Final[dict[str, int]] = {category: i for i, category in enumerate(CATEGORIES)}


@dataclass(frozen=True, slots=True)
class AgreementReport:
    """Agreement statistics of one panel; see the module docstring for definitions."""

    fleiss_kappa: float | None
    fleiss_ratings_per_item: int | None  # the modal vote count Fleiss' kappa was computed at
    fleiss_items: int  # items with exactly that many votes, used for Fleiss' kappa
    fleiss_excluded_items: int  # every other item (missing votes, or an extra vote)
    krippendorff_alpha: float | None
    alpha_items: int  # items with at least two votes (pairable)
    pairable_values: int  # votes in those items: Krippendorff's n
    percent_agreement: float | None  # mean pairwise agreement over items with >= 2 votes
    n_items: int
    categories: tuple[tuple[str, int], ...]  # (code, votes) for all nine codes, fixed order

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; ``categories`` becomes ``{code: votes}``."""
        return {
            "fleiss_kappa": self.fleiss_kappa,
            "fleiss_ratings_per_item": self.fleiss_ratings_per_item,
            "fleiss_items": self.fleiss_items,
            "fleiss_excluded_items": self.fleiss_excluded_items,
            "krippendorff_alpha": self.krippendorff_alpha,
            "alpha_items": self.alpha_items,
            "pairable_values": self.pairable_values,
            "percent_agreement": self.percent_agreement,
            "n_items": self.n_items,
            "categories": dict(self.categories),
        }


def agreement(votes: Mapping[str, Sequence[str]]) -> AgreementReport:
    """Agreement of the readers' category votes, ``image_id -> [code per reader]``.

    Raises InvalidInput for a code outside the nine categories or a vote list given as a
    bare string; empty or degenerate input gives None statistics, never an exception.
    """
    items = _encode(votes)
    counts = Counter(code for _, item in items for code in item)
    categories = tuple((category, counts[_CODE[category]]) for category in CATEGORIES)
    pairable = [item for _, item in items if len(item) >= 2]

    modal = _modal_count(pairable)
    fleiss_subset = [item for item in pairable if len(item) == modal] if modal else []

    return AgreementReport(
        fleiss_kappa=_fleiss(fleiss_subset),
        fleiss_ratings_per_item=modal,
        fleiss_items=len(fleiss_subset),
        fleiss_excluded_items=len(items) - len(fleiss_subset),
        krippendorff_alpha=_alpha(pairable),
        alpha_items=len(pairable),
        pairable_values=sum(len(item) for item in pairable),
        percent_agreement=_percent_agreement(pairable),
        n_items=len(items),
        categories=categories,
    )


def reliability_data(votes: Mapping[str, Sequence[str]]) -> tuple[list[str], npt.NDArray]:
    """Krippendorff's reliability data matrix: reader slots x images, NaN where no vote.

    Returns the image ids (sorted; the column order) and a float matrix of category
    indices into `CATEGORIES`, with as many rows as the largest number of votes.
    """
    items = _encode(votes)
    return [image_id for image_id, _ in items], _matrix([item for _, item in items])


def _encode(votes: Mapping[str, Sequence[str]]) -> list[tuple[str, tuple[int, ...]]]:
    encoded = []
    for image_id in sorted(votes):
        item = votes[image_id]
        if isinstance(item, str):
            raise InvalidInput(f"votes for image {image_id!r} must be a list of codes")
        try:
            encoded.append((image_id, tuple(_CODE[code] for code in item)))
        except (KeyError, TypeError):
            unknown = sorted({repr(c) for c in item if not isinstance(c, str) or c not in _CODE})
            raise InvalidInput(
                f"image {image_id!r} has votes outside the categories "
                f"{', '.join(CATEGORIES)}: {', '.join(unknown)}"
            ) from None
    return encoded


def _modal_count(pairable: Sequence[tuple[int, ...]]) -> int | None:
    sizes = Counter(len(item) for item in pairable)
    if not sizes:
        return None
    return max(sizes, key=lambda size: (sizes[size], size))


def _fleiss(subset: Sequence[tuple[int, ...]]) -> float | None:
    if len(subset) < 2 or len({code for item in subset for code in item}) < 2:
        return None
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    # items x raters -> items x nine category counts (columns fixed by n_cat).
    table, _ = aggregate_raters(np.array(subset, dtype=np.int64), n_cat=len(CATEGORIES))
    return _finite(fleiss_kappa(table, method="fleiss"))


def _alpha(pairable: Sequence[tuple[int, ...]]) -> float | None:
    if len(pairable) < 2 or len({code for item in pairable for code in item}) < 2:
        return None
    import krippendorff

    return _finite(
        krippendorff.alpha(
            reliability_data=_matrix(pairable),
            value_domain=np.arange(len(CATEGORIES), dtype=np.float64),
            level_of_measurement="nominal",
        )
    )


def _matrix(items: Sequence[tuple[int, ...]]) -> npt.NDArray:
    rows = max((len(item) for item in items), default=0)
    matrix = np.full((rows, len(items)), np.nan)
    for column, item in enumerate(items):
        matrix[: len(item), column] = item
    return matrix


def _percent_agreement(pairable: Sequence[tuple[int, ...]]) -> float | None:
    if not pairable:
        return None
    shares = (
        sum(n * (n - 1) for n in Counter(item).values()) / (len(item) * (len(item) - 1))
        for item in pairable
    )
    return math.fsum(shares) / len(pairable)


def _finite(value: Any) -> float | None:
    result = float(value)
    return result if math.isfinite(result) else None
