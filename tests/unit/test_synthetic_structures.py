"""The demo's annotations carry dermoscopic structures that fit their category (issue 18,
item 10): drawn from the study's vocabulary, deterministic, and scored as a dermatologist
would expect (melanomas mostly 3 or more on the 7-point checklist, nevi mostly below)."""

from __future__ import annotations

import random
import statistics

from dermledger.policies.categories import CATEGORIES
from dermledger.policies.structures import VOCABULARY, parse_structures, seven_point_score
from dermledger.synthetic.cohort import plan_cohort
from dermledger.synthetic.structures import draw_structures


def _scores(category: str, n: int = 400) -> list[int]:
    rng = random.Random(f"test {category}")
    return [seven_point_score(parse_structures(draw_structures(category, rng))) for _ in range(n)]


def test_every_category_fills_the_whole_checklist_from_the_vocabulary() -> None:
    rng = random.Random(1)
    for category in CATEGORIES:
        found = parse_structures(draw_structures(category, rng))  # raises outside the vocabulary
        assert set(found) == set(VOCABULARY), category


def test_melanomas_score_three_or_more_and_benign_lesions_mostly_do_not() -> None:
    melanoma = _scores("MEL")
    assert sum(s >= 3 for s in melanoma) / len(melanoma) >= 0.85
    for benign in ("NV", "BKL", "DF", "VASC", "AK"):
        scores = _scores(benign)
        assert sum(s >= 3 for s in scores) / len(scores) <= 0.15, benign
        assert statistics.median(scores) <= 1, benign


def test_category_signatures() -> None:
    rng = random.Random(7)
    draws = {c: [parse_structures(draw_structures(c, rng)) for _ in range(300)] for c in CATEGORIES}

    def share(category: str, name: str, value: str) -> float:
        return sum(d[name] == value for d in draws[category]) / len(draws[category])

    assert share("MEL", "pigment_network", "atypical") > 0.6
    assert share("MEL", "blue_whitish_veil", "present") > 0.4
    assert share("NV", "pigment_network", "typical") > 0.6
    assert share("BKL", "isic2018:milia_like_cyst", "present") > 0.4
    assert share("BCC", "vascular_pattern", "arborizing") > 0.5
    assert share("VASC", "pigment_network", "typical") == 0.0


def test_the_reference_cohorts_melanomas_score_as_melanomas_and_draws_repeat() -> None:
    categories = [r.truth["category"] for r in plan_cohort().originals]
    first = [draw_structures(c, random.Random("dermoscopic structures")) for c in categories[:50]]
    again = [draw_structures(c, random.Random("dermoscopic structures")) for c in categories[:50]]
    assert first == again
    seen = random.Random("dermoscopic structures")
    melanoma = [
        seven_point_score(parse_structures(draw_structures(c, seen)))
        for c in categories
        if c == "MEL"
    ]
    assert len(melanoma) == 18
    assert sum(s >= 3 for s in melanoma) >= 15
