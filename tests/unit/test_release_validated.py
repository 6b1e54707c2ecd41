"""The release's record memo gives exactly what validating every record gives."""

from __future__ import annotations

import random
from typing import Any

from dermledger.policies import metadata_schema
from dermledger.projections.release.candidate import record_problem
from dermledger.projections.release.validated import RecordMemo


def validated(values: dict[str, Any]) -> tuple[Any, ...]:
    """The record's fields, published row and problem, by validating it whole."""
    return seen(record_problem(values))


def seen(outcome: tuple[Any, str | None]) -> tuple[Any, ...]:
    record, problem = outcome
    if record is None:
        return None, None, problem
    return record.model_dump(), metadata_schema.to_isic_published(record), problem


# Valid and invalid values of each field, typed as image metadata and verdicts hold them.
POOLS: dict[str, list[Any]] = {
    "age": [None, 0, 34, 35, 85, 90, 120, 121, -1, 40.0, True],
    "sex": [None, "male", "female", "other"],
    "fitzpatrick_skin_type": [None, "I", "IV", "VII"],
    "personal_hx_mm": [None, True, False],
    "anatom_site": [None, "Trunk:Posterior trunk", "Head & Neck", "Nowhere"],
    "clin_size_long_diam_mm": [None, 4.5, 4, 250.0, 0.0],
    "image_type": [None, "dermoscopic", "clinical: overview", "TBP tile: close-up"],
    "dermoscopic_type": [None, "contact polarized", "non-contact polarized"],
    "acquisition_day": [None, 3, -5],
    "diagnosis": [
        None,
        "Benign:Benign melanocytic proliferations:Nevus:Nevus, NOS, Compound",
        "Melanoma Invasive",
        "Not a diagnosis",
    ],
    "diagnosis_confirm_type": [
        None,
        "histopathology",
        "single image expert consensus",
        "single contributor clinical assessment",
    ],
    "melanocytic": [None, True, False],
    "verification_stage": [None, "clinical", "consensus", "histology"],
}
IDS = ["P-001", "p.2", "L_17", "a" * 64, "a" * 65, " P-001", "Jane Doe", "", "-x", 7, None]


VALID = {
    "age": 40,
    "sex": "male",
    "anatom_site": "Trunk:Posterior trunk",
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "melanocytic": True,
    "verification_stage": "clinical",
    "diagnosis": POOLS["diagnosis"][1],
    "diagnosis_confirm_type": "single contributor clinical assessment",
}


def record(rng: random.Random) -> dict[str, Any]:
    """A valid record with a field or two drawn from its pool (often making it invalid)."""
    values = dict(VALID)
    for name in rng.sample(sorted(POOLS), rng.choice([0, 0, 1, 2])):
        values[name] = rng.choice(POOLS[name])
    values["patient_id"] = rng.choice(IDS) if rng.random() < 0.2 else f"P-{rng.randint(1, 999)}"
    values["lesion_id"] = rng.choice(IDS) if rng.random() < 0.2 else f"L-{rng.randint(1, 999)}"
    return {k: v for k, v in values.items() if v is not None}


def test_the_memo_gives_what_validating_every_record_gives() -> None:
    rng = random.Random(23)
    memo = RecordMemo("6.1.0")
    outcomes = {"valid": 0, "invalid": 0}
    # Few distinct records (pseudonyms aside), met many times: as in a study.
    shapes = [record(rng) for _ in range(60)]
    for n in range(2500):
        values = dict(rng.choice(shapes))
        for name in rng.sample(sorted(POOLS), rng.choice([0, 1, 3])):  # parts recombined
            values[name] = rng.choice(POOLS[name])
        values["patient_id"] = rng.choice(IDS) if n % 7 == 0 else f"P-{n}"
        values["lesion_id"] = rng.choice(IDS) if n % 11 == 0 else f"L-{n}"
        values = {k: v for k, v in values.items() if v is not None}
        expected = validated(dict(values))
        assert seen(memo.record_problem(dict(values))) == expected, values
        outcomes["valid" if expected[0] is not None else "invalid"] += 1
    assert memo.reused > 1000
    assert min(outcomes.values()) > 100  # both verdicts are exercised


def test_values_equal_in_python_but_of_other_types_are_not_confused() -> None:
    memo = RecordMemo("6.1.0")
    base = VALID | {"patient_id": "P-1", "lesion_id": "L-1"}
    for flag in (True, 1, 1.0, False, 0):
        values = base | {"personal_hx_mm": flag, "age": flag}
        assert seen(memo.record_problem(values)) == validated(values)
