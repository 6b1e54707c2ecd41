"""The kappa bootstrap of evidence.json, resampled in chunks, against the whole array.

`evidence._resampled` draws the 1,000 resamples a few at a time instead of holding a
resamples x images x categories array (720 MB at 10k images); evidence.json must not
change by one bit, so the kappas it yields are compared exactly with the whole-array
formula it replaced, with chunks small enough that every case is cut in several.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from dermledger.policies.categories import CATEGORIES
from dermledger.projections.release import evidence


def _whole_array_kappas(table: np.ndarray, modal: int) -> np.ndarray:
    """The formula before chunking: every resample's picked rows at once."""
    n = len(table)
    rng = np.random.default_rng(evidence.BOOTSTRAP_SEED)
    picked = table[rng.integers(0, n, (evidence.BOOTSTRAP_RESAMPLES, n))]
    shares = picked.sum(axis=1) / (n * modal)
    agree = ((picked**2).sum(axis=2) - modal) / (modal * (modal - 1))
    chance = (shares**2).sum(axis=1)
    usable = chance < 1
    return (agree.mean(axis=1)[usable] - chance[usable]) / (1 - chance[usable])


def _table(rng: random.Random, n: int, modal: int, spread: int) -> np.ndarray:
    categories = CATEGORIES[:spread]
    table = np.zeros((n, len(CATEGORIES)))
    for row in range(n):
        for _ in range(modal):
            usual = categories[row % len(categories)]
            vote = rng.choice(categories) if rng.random() < 0.3 else usual
            table[row, CATEGORIES.index(vote)] += 1
    return table


@pytest.mark.parametrize(
    ("n", "modal", "spread", "cells"),
    [(2, 3, 2, 1), (7, 3, 9, 5), (150, 3, 4, 1000), (301, 4, 9, 3001), (400, 3, 1, 7777)],
)
def test_chunked_resamples_are_bit_identical(n: int, modal: int, spread: int, cells: int) -> None:
    table = _table(random.Random(n), n, modal, spread)
    agree, chance = evidence._resampled(
        table, modal, np.random.default_rng(evidence.BOOTSTRAP_SEED), cells
    )
    usable = chance < 1
    kappas = (agree[usable] - chance[usable]) / (1 - chance[usable])
    assert np.array_equal(kappas, _whole_array_kappas(table, modal))


def test_interval_as_before_on_a_vote_table() -> None:
    rng = random.Random(5)
    votes = {f"img-{i:04d}": [rng.choice(CATEGORIES[:3]) for _ in range(3)] for i in range(600)}
    interval = evidence.kappa_interval(votes)
    modal = 3
    items = [votes[k] for k in sorted(votes)]
    table = np.zeros((len(items), len(CATEGORIES)))
    for row, item in enumerate(items):
        for vote in item:
            table[row, CATEGORIES.index(vote)] += 1
    low, high = np.percentile(_whole_array_kappas(table, modal), [2.5, 97.5])
    assert interval == [evidence.rounded(low), evidence.rounded(high)]
    assert Counter(len(v) for v in votes.values()) == {3: 600}
