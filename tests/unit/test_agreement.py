"""Agreement statistics against values computed by hand, step by step, in the comments.

Fleiss' kappa: a 6-image, 3-reader table worked through exactly, and the 10-subject,
14-rater worked example of Fleiss' kappa (Wikipedia). Krippendorff's alpha: Krippendorff's
own 4-observer, 12-unit example with missing data ("Computing Krippendorff's
Alpha-Reliability", 2011; nominal alpha = 0.743), worked through the coincidence matrix,
and a mixed panel (3-vote, 2-vote and 1-vote images). Exact fractions are checked to 1e-9.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction

import krippendorff
import numpy as np
import pytest

from dermledger.ledger.errors import InvalidInput
from dermledger.policies.categories import CATEGORIES as POLICY_CATEGORIES
from dermledger.projections.agreement import (
    CATEGORIES,
    AgreementReport,
    agreement,
    reliability_data,
)

# A 3-reader panel, every image complete. Per-image counts n_ij and
# P_i = (sum_j n_ij^2 - n) / (n (n - 1)) with n = 3, so n (n - 1) = 6:
#   i1 MEL MEL MEL   MEL 3          (9 - 3) / 6 = 1
#   i2 MEL MEL NV    MEL 2, NV 1    (4 + 1 - 3) / 6 = 1/3
#   i3 NV  NV  NV    NV 3           1
#   i4 NV  BKL BKL   NV 1, BKL 2    1/3
#   i5 BCC BCC BCC   BCC 3          1
#   i6 MEL NV  BCC   1, 1, 1        (3 - 3) / 6 = 0
# P_bar = (1 + 1/3 + 1 + 1/3 + 1 + 0) / 6 = (11/3) / 6 = 11/18
# Category totals over N*n = 18 ratings: MEL 6, NV 6, BKL 2, BCC 4
#   p_j = 1/3, 1/3, 1/9, 2/9
# P_e = sum p_j^2 = 1/9 + 1/9 + 1/81 + 4/81 = 23/81
# kappa = (P_bar - P_e) / (1 - P_e) = (99/162 - 46/162) / (116/162) = 53/116
COMPLETE_PANEL: dict[str, list[str]] = {
    "i1": ["MEL", "MEL", "MEL"],
    "i2": ["MEL", "MEL", "NV"],
    "i3": ["NV", "NV", "NV"],
    "i4": ["NV", "BKL", "BKL"],
    "i5": ["BCC", "BCC", "BCC"],
    "i6": ["MEL", "NV", "BCC"],
}
COMPLETE_KAPPA = Fraction(53, 116)

# Krippendorff alpha (nominal) of COMPLETE_PANEL, via the coincidence matrix.
# o_cc = sum_u n_uc (n_uc - 1) / (m_u - 1), with m_u = 3 so divide by 2:
#   i1 MEL: 3*2/2 = 3   i2 MEL: 2*1/2 = 1   i3 NV: 3   i4 BKL: 1   i5 BCC: 3   i6: 0
#   sum_c o_cc = 11
# n_c = MEL 6, NV 6, BKL 2, BCC 4; n = 18
# sum_c n_c (n_c - 1) = 30 + 30 + 2 + 12 = 74;  n (n - 1) = 306
# alpha = ((n - 1) sum o_cc - sum n_c (n_c - 1)) / (n (n - 1) - sum n_c (n_c - 1))
#       = (17 * 11 - 74) / (306 - 74) = 113 / 232
COMPLETE_ALPHA = Fraction(113, 232)


def close(actual: float | None, expected: Fraction | float, tol: float = 1e-9) -> bool:
    return actual is not None and abs(actual - float(expected)) <= tol


def test_categories_match_the_policy() -> None:
    assert CATEGORIES == POLICY_CATEGORIES


# --- (1) Fleiss' kappa, by hand ------------------------------------------------------------


def test_fleiss_kappa_small_table_by_hand() -> None:
    report = agreement(COMPLETE_PANEL)
    assert close(report.fleiss_kappa, COMPLETE_KAPPA)
    assert report.fleiss_ratings_per_item == 3
    assert report.fleiss_items == 6
    assert report.fleiss_excluded_items == 0
    # Percent agreement over equal-sized items is Fleiss' P_bar = 11/18.
    assert close(report.percent_agreement, Fraction(11, 18))
    assert close(report.krippendorff_alpha, COMPLETE_ALPHA)


# The worked example of Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters, 5 categories
# (here MEL, BCC, SCC, NV, BKL). Rows are n_ij; P_i = (sum n_ij^2 - 14) / (14 * 13 = 182):
WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14],  # 196 - 14 = 182 -> 182/182
    [0, 2, 6, 4, 2],  # 4 + 36 + 16 + 4 = 60 -> 46/182
    [0, 0, 3, 5, 6],  # 9 + 25 + 36 = 70 -> 56/182
    [0, 3, 9, 2, 0],  # 9 + 81 + 4 = 94 -> 80/182
    [2, 2, 8, 1, 1],  # 4 + 4 + 64 + 1 + 1 = 74 -> 60/182
    [7, 7, 0, 0, 0],  # 49 + 49 = 98 -> 84/182
    [3, 2, 6, 3, 0],  # 9 + 4 + 36 + 9 = 58 -> 44/182
    [2, 5, 3, 2, 2],  # 4 + 25 + 9 + 4 + 4 = 46 -> 32/182
    [6, 5, 2, 1, 0],  # 36 + 25 + 4 + 1 = 66 -> 52/182
    [0, 2, 2, 3, 7],  # 4 + 4 + 9 + 49 = 66 -> 52/182
]
# P_bar = (182 + 46 + 56 + 80 + 60 + 84 + 44 + 32 + 52 + 52) / 1820 = 688/1820 (0.378)
# Column totals 20, 28, 39, 21, 32 of 140:
#   P_e = (400 + 784 + 1521 + 441 + 1024) / 19600 = 4170/19600 (0.213)
# Over the common denominator 254800: P_bar = 96320, P_e = 54210, 1 = 254800
#   kappa = (96320 - 54210) / (254800 - 54210) = 42110 / 200590 = 4211/20059 (0.210)
WIKIPEDIA_KAPPA = Fraction(4211, 20059)


def test_fleiss_kappa_wikipedia_worked_example() -> None:
    codes = CATEGORIES[:5]
    votes = {
        f"s{i:02d}": [code for code, n in zip(codes, row, strict=True) for _ in range(n)]
        for i, row in enumerate(WIKIPEDIA_TABLE)
    }
    report = agreement(votes)
    assert report.fleiss_ratings_per_item == 14
    assert report.fleiss_items == 10
    assert close(report.fleiss_kappa, WIKIPEDIA_KAPPA)
    assert round(report.fleiss_kappa, 3) == 0.210
    assert close(report.percent_agreement, Fraction(688, 1820))


# --- (2) Krippendorff's alpha with missing data, by hand -----------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: observers
# A-D, units 1-12, values 1-5, "." missing (values mapped to codes below):
#   A: 1 2 3 3 2 1 4 1 2 . . .
#   B: 1 2 3 3 2 2 4 1 2 5 . 3
#   C: . 3 3 3 2 3 4 2 2 5 1 .
#   D: 1 2 3 3 2 4 4 1 2 5 1 .
_K = "x"  # missing
KRIPPENDORFF_OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _K, _K, _K],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _K, 3],
    [_K, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _K],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _K],
]
VALUE_CODE = {1: "MEL", 2: "BCC", 3: "SCC", 4: "NV", 5: "BKL"}
# Values per unit (m_u) and coincidences o_ck += n_uc n_uk / (m_u - 1), o_cc with n_uc (n_uc-1):
#   u1  {1,1,1}   m=3  o11 += 3*2/2 = 3
#   u2  {2,2,3,2} m=4  o22 += 3*2/3 = 2;  o23 = o32 += 3*1/3 = 1
#   u3  {3,3,3,3} m=4  o33 += 4*3/3 = 4
#   u4  {3,3,3,3} m=4  o33 += 4
#   u5  {2,2,2,2} m=4  o22 += 4
#   u6  {1,2,3,4} m=4  every ordered pair of {1,2,3,4} += 1/3
#   u7  {4,4,4,4} m=4  o44 += 4
#   u8  {1,1,2,1} m=4  o11 += 2;  o12 = o21 += 1
#   u9  {2,2,2,2} m=4  o22 += 4
#   u10 {5,5,5}   m=3  o55 += 3
#   u11 {1,1}     m=2  o11 += 2*1/1 = 2
#   u12 {3}       m=1  not pairable: left out
# Diagonal: o11 = 7, o22 = 10, o33 = 8, o44 = 4, o55 = 3;  sum o_cc = 32
# Off-diagonal: o12 = o21 = o23 = o32 = 4/3; o13, o14, o24, o34 (and mirrors) = 1/3
# Marginals n_c (row sums): n1 = 7 + 4/3 + 1/3 + 1/3 = 9, n2 = 10 + 4/3 + 4/3 + 1/3 = 13,
#   n3 = 8 + 1/3 + 4/3 + 1/3 = 10, n4 = 4 + 3 * 1/3 = 5, n5 = 3;  n = 40
# sum n_c (n_c - 1) = 72 + 156 + 90 + 20 + 6 = 344;  n (n - 1) = 1560
# alpha_nominal = (39 * 32 - 344) / (1560 - 344) = 904 / 1216 = 113/152 = 0.7434...
KRIPPENDORFF_ALPHA = Fraction(113, 152)


def krippendorff_votes() -> dict[str, list[str]]:
    return {
        f"u{unit + 1:02d}": [
            VALUE_CODE[row[unit]] for row in KRIPPENDORFF_OBSERVERS if row[unit] != _K
        ]
        for unit in range(12)
    }


def test_krippendorff_alpha_own_example_by_hand() -> None:
    report = agreement(krippendorff_votes())
    assert close(report.krippendorff_alpha, KRIPPENDORFF_ALPHA)
    assert round(report.krippendorff_alpha, 3) == 0.743
    assert report.alpha_items == 11  # u12 has a single value
    assert report.pairable_values == 40
    assert report.n_items == 12
    # Fleiss: 8 units have the modal 4 values; u1, u10 (3), u11 (2), u12 (1) are left out.
    assert report.fleiss_ratings_per_item == 4
    assert (report.fleiss_items, report.fleiss_excluded_items) == (8, 4)


def test_alpha_same_for_observer_identity_and_reader_slots() -> None:
    """The rater dimension does not matter: observers A-D as rows, or votes packed in slots."""
    by_observer = np.array(
        [[np.nan if v == _K else float(v) for v in row] for row in KRIPPENDORFF_OBSERVERS]
    )
    direct = krippendorff.alpha(reliability_data=by_observer, level_of_measurement="nominal")
    assert close(float(direct), KRIPPENDORFF_ALPHA)

    ids, by_slot = reliability_data(krippendorff_votes())
    assert ids == [f"u{u:02d}" for u in range(1, 13)]
    assert by_slot.shape == (4, 12)
    # u1 had A, B, D (C missing): packed into slots 1-3, slot 4 empty.
    assert np.isnan(by_slot[3, 0]) and not np.isnan(by_slot[:3, 0]).any()
    via_slots = krippendorff.alpha(reliability_data=by_slot, level_of_measurement="nominal")
    assert float(via_slots) == pytest.approx(float(direct), abs=1e-12)


def test_order_of_votes_and_images_does_not_matter() -> None:
    votes = krippendorff_votes()
    expected = agreement(votes)
    rng = random.Random(7)
    for _ in range(5):
        ids = list(votes)
        rng.shuffle(ids)
        shuffled = {i: rng.sample(votes[i], len(votes[i])) for i in ids}
        assert agreement(shuffled) == expected  # bit-identical, not just close


# --- (3) Perfect agreement -----------------------------------------------------------------


def test_perfect_agreement_is_one() -> None:
    votes = {"a": ["MEL"] * 3, "b": ["NV"] * 3, "c": ["BCC"] * 3, "d": ["NV", "NV"]}
    report = agreement(votes)
    assert report.fleiss_kappa == pytest.approx(1.0, abs=1e-12)
    assert report.krippendorff_alpha == pytest.approx(1.0, abs=1e-12)
    assert report.percent_agreement == 1.0


# --- (4) Missing votes ----------------------------------------------------------------------

# COMPLETE_PANEL plus two 2-vote images and one 1-vote image:
#   i7 MEL MEL   i8 NV BKL   i9 SCC
# Fleiss: modal count 3 -> i1..i6 only, so kappa is still 53/116; i7, i8, i9 excluded.
# Alpha: pairable i1..i8 (i9 has one vote); n = 18 + 2 + 2 = 22.
#   o_cc: i1..i6 give 11 (as above); i7 (m=2): o_MEL,MEL += 2*1/1 = 2; i8: 0  -> sum 13
#   n_c: MEL 6 + 2 = 8, NV 6 + 1 = 7, BKL 2 + 1 = 3, BCC 4
#   sum n_c (n_c - 1) = 56 + 42 + 6 + 12 = 116;  n (n - 1) = 462
#   alpha = (21 * 13 - 116) / (462 - 116) = 157/346
# Percent agreement over i1..i8: (1 + 1/3 + 1 + 1/3 + 1 + 0 + 1 + 0) / 8 = (14/3) / 8 = 7/12
MIXED_PANEL = {**COMPLETE_PANEL, "i7": ["MEL", "MEL"], "i8": ["NV", "BKL"], "i9": ["SCC"]}


def test_missing_votes_count_in_alpha_not_in_fleiss() -> None:
    report = agreement(MIXED_PANEL)
    assert close(report.fleiss_kappa, COMPLETE_KAPPA)
    assert report.fleiss_ratings_per_item == 3
    assert report.fleiss_items == 6
    assert report.fleiss_excluded_items == 3
    assert close(report.krippendorff_alpha, Fraction(157, 346))
    assert report.alpha_items == 8
    assert report.pairable_values == 22
    assert close(report.percent_agreement, Fraction(7, 12))
    assert report.n_items == 9
    assert dict(report.categories) == {
        "MEL": 8, "BCC": 4, "SCC": 1, "NV": 7, "BKL": 3, "DF": 0, "VASC": 0, "AK": 0, "OTHER": 0,
    }  # fmt: skip
    assert [c for c, _ in report.categories] == list(CATEGORIES)


def test_modal_count_tie_goes_to_more_readers() -> None:
    votes = {
        "a": ["MEL", "MEL", "NV"],
        "b": ["NV", "NV", "NV"],
        "c": ["MEL", "NV"],
        "d": ["MEL", "MEL"],
    }
    report = agreement(votes)
    assert report.fleiss_ratings_per_item == 3
    assert (report.fleiss_items, report.fleiss_excluded_items) == (2, 2)


def test_two_vote_panel_uses_two_for_fleiss() -> None:
    votes = {"a": ["MEL", "MEL"], "b": ["NV", "NV"], "c": ["MEL", "NV"], "d": ["DF"]}
    report = agreement(votes)
    assert report.fleiss_ratings_per_item == 2
    assert (report.fleiss_items, report.fleiss_excluded_items) == (3, 1)
    # n = 2: P_i = 1, 1, 0 -> P_bar = 2/3; MEL 3/6, NV 3/6 -> P_e = 1/2; kappa = 1/3
    assert close(report.fleiss_kappa, Fraction(1, 3))


# --- (5) Empty and degenerate input ---------------------------------------------------------


def test_empty_input() -> None:
    report = agreement({})
    assert report == AgreementReport(
        fleiss_kappa=None,
        fleiss_ratings_per_item=None,
        fleiss_items=0,
        fleiss_excluded_items=0,
        krippendorff_alpha=None,
        alpha_items=0,
        pairable_values=0,
        percent_agreement=None,
        n_items=0,
        categories=tuple((c, 0) for c in CATEGORIES),
    )
    assert reliability_data({})[1].shape == (0, 0)


@pytest.mark.parametrize(
    "votes",
    [
        {"a": []},
        {"a": ["MEL"], "b": ["NV"]},  # nothing pairable
        {"a": ["MEL", "NV", "NV"]},  # a single item
        {"a": ["MEL", "NV", "NV"], "b": ["MEL"], "c": []},  # one pairable item
    ],
)
def test_too_few_items_give_none(votes: dict[str, list[str]]) -> None:
    report = agreement(votes)
    assert report.fleiss_kappa is None
    assert report.krippendorff_alpha is None


def test_single_category_everywhere_gives_none_but_full_raw_agreement() -> None:
    # P_e = 1 and D_e = 0: both coefficients are 0/0.
    report = agreement({"a": ["NV"] * 3, "b": ["NV"] * 3, "c": ["NV", "NV"], "d": ["MEL"]})
    assert report.fleiss_kappa is None
    assert report.krippendorff_alpha is None  # MEL in "d" is not pairable
    assert report.percent_agreement == 1.0
    assert report.fleiss_items == 2


def test_invalid_codes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="'melanoma'"):
        agreement({"a": ["MEL", "melanoma"]})
    with pytest.raises(InvalidInput, match="list of codes"):
        agreement({"a": "MEL"})
    with pytest.raises(InvalidInput, match="None"):
        agreement({"a": ["MEL", None]})  # type: ignore[list-item]


def test_as_dict_is_json_ready() -> None:
    report = agreement(MIXED_PANEL)
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["categories"]["MEL"] == 8
    assert data["fleiss_items"] == 6
    assert isinstance(data["krippendorff_alpha"], float)
    assert agreement({}).as_dict()["fleiss_kappa"] is None
