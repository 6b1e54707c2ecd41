"""The cohort's people and lesions: who the patients are and which lesions they carry.

Why a module of its own: this is the epidemiology of the synthetic study (ages, sexes,
skin types, lesion categories by age and skin, melanoma history), kept apart from the
bookkeeping of capture records. Every draw comes from the caller's generator, in a fixed
order: the plan is deterministic only as long as that order does not change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dermledger.synthetic.cohort_reference import (
    AGE_MAX,
    AGE_MEDIAN,
    AGE_MIN,
    MALIGNANT_CATEGORIES,
    REFERENCE_DUPLICATES,
    REFERENCE_EXTRA_IMAGES,
    REFERENCE_RECORDS,
    SEX_COUNTS,
    STUDY_DAYS,
    apportion,
)
from dermledger.synthetic.lesions import CATEGORIES, DIAMETER_MM
from dermledger.synthetic.vocab import DIAGNOSES, FITZPATRICK_SHARES, SITE_WEIGHTS, SITES


@dataclass
class Patient:
    """One patient as drawn; `lesions`, the history flags and the pseudonym come later."""

    index: int
    age: int
    sex: str
    fitzpatrick: str
    mole_proneness: float
    first_visit: int
    lesions: list[Lesion] = field(default_factory=list)
    personal_hx: bool = False
    family_hx: bool = False
    patient_id: str = ""


@dataclass
class Lesion:
    """One lesion as drawn; its patient and pseudonym are given when it is assigned, captured."""

    category: str
    images: int
    diagnosis: str
    site: str
    diameter_mm: float
    seed: int
    patient: Patient | None = None
    lesion_id: str = ""


def pick(rng: np.random.Generator, options: Sequence[tuple[str, float]]) -> str:
    """One option, drawn with probability proportional to its weight."""
    weights = np.array([w for _, w in options], dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _ages(rng: np.random.Generator, n: int) -> list[int]:
    """Ages with the reference minimum, maximum and median (exact for n >= 3)."""
    mids = 1 if n % 2 else 2
    half = max(0, (n - mids) // 2)
    low = [int(AGE_MIN + round((AGE_MEDIAN - AGE_MIN) * b)) for b in rng.beta(2.5, 1.3, half)]
    high = [int(AGE_MEDIAN + round((AGE_MAX - AGE_MEDIAN) * b)) for b in rng.beta(1.3, 2.2, half)]
    if half:
        low[0], high[0] = AGE_MIN, AGE_MAX
    ages = low + [AGE_MEDIAN] * min(mids, n) + high
    return [ages[i] for i in rng.permutation(len(ages))]


def draw_patients(rng: np.random.Generator, n: int) -> list[Patient]:
    """`n` patients with the reference shares of sex and skin type, and reference ages."""
    sexes = apportion(n, SEX_COUNTS)
    sex_list = ["female"] * sexes["female"] + ["male"] * sexes["male"]
    fitz = apportion(n, FITZPATRICK_SHARES)
    fitz_list = [t for t, k in fitz.items() for _ in range(k)]
    ages = _ages(rng, n)
    sex_order = rng.permutation(n)
    fitz_order = rng.permutation(n)
    return [
        Patient(
            index=i,
            age=ages[i],
            sex=sex_list[sex_order[i]],
            fitzpatrick=fitz_list[fitz_order[i]],
            mole_proneness=float(rng.gamma(1.5, 1 / 1.5)),
            first_visit=int(rng.integers(0, STUDY_DAYS - 130)),
        )
        for i in range(n)
    ]


def draw_lesions(
    rng: np.random.Generator, counts: Mapping[str, int], patients: int
) -> list[Lesion]:
    """Lesions per category; some benign lesions get a second or third image."""
    unique = sum(counts.values())
    extra_total = min(
        unique * REFERENCE_EXTRA_IMAGES // (REFERENCE_RECORDS - REFERENCE_DUPLICATES),
        unique - patients,
    )
    benign = [c for c in CATEGORIES if c not in MALIGNANT_CATEGORIES and counts[c] > 1]
    slots = [c for c in benign for _ in range(counts[c])]
    chosen = Counter(slots[i] for i in rng.choice(len(slots), size=extra_total, replace=False))
    lesions: list[Lesion] = []
    for category in CATEGORIES:
        extra = max(0, min(chosen.get(category, 0), counts[category] - 1))
        n_lesions = counts[category] - extra
        images = [1] * n_lesions
        for i in rng.integers(0, n_lesions, size=extra) if n_lesions else ():
            images[int(i)] += 1
        low, high = DIAMETER_MM[category]
        regions = SITE_WEIGHTS[category]
        for k in images:
            region = pick(rng, list(regions.items()))
            sites = SITES[region]
            lesions.append(
                Lesion(
                    category=category,
                    images=k,
                    diagnosis=pick(rng, DIAGNOSES[category]),
                    site=sites[int(rng.integers(len(sites)))],
                    diameter_mm=round(float(rng.uniform(low, high)), 1),
                    seed=int(rng.integers(0, 2**63 - 1)),
                )
            )
    return lesions


def _affinity(category: str, p: Patient) -> float:
    """How likely this patient is to carry a lesion of this category (relative)."""
    age, fair = p.age, p.fitzpatrick in ("I", "II")
    uv = 1.6 if fair else {"III": 1.0, "IV": 0.5}.get(p.fitzpatrick, 0.2)
    match category:
        case "NV":
            return (1.6 if age < 40 else 1.0 if age < 60 else 0.5) * p.mole_proneness
        case "MEL":
            return (0.05 if age < 18 else 0.5 + age / 40) * uv
        case "BCC":
            return (0.01 if age < 30 else ((age - 25) / 20) ** 1.5) * uv
        case "SCC" | "AK":
            return (0.01 if age < 40 else ((age - 35) / 20) ** 2) * uv
        case "BKL":
            return 0.005 if age < 25 else 0.05 if age < 35 else (age - 20) / 25
        case "DF":
            return 1.0 if 20 <= age <= 60 else 0.3
        case "VASC":
            return 0.5 + age / 80
        case _:
            return 1.0


def assign_lesions(rng: np.random.Generator, lesions: list[Lesion], people: list[Patient]) -> None:
    """Give every patient one lesion, then spread the rest by category affinity.

    The first pass (patients in random order, each taking a lesion category in
    proportion to affinity times what is left) guarantees nobody is empty
    without shaving the heavy tail of mole-prone patients the second pass makes.
    """
    pool: dict[str, list[Lesion]] = {c: [] for c in CATEGORIES}
    for lesion in lesions:
        pool[lesion.category].append(lesion)

    def give(lesion: Lesion, patient: Patient) -> None:
        lesion.patient = patient
        patient.lesions.append(lesion)

    for i in rng.permutation(len(people)):
        patient = people[int(i)]
        w = np.array([_affinity(c, patient) * len(pool[c]) for c in CATEGORIES])
        category = CATEGORIES[int(rng.choice(len(CATEGORIES), p=w / w.sum()))]
        give(pool[category].pop(), patient)
    for category in CATEGORIES:
        w = np.array([_affinity(category, p) for p in people])
        cumulative = np.cumsum(w / w.sum())
        for lesion in pool[category]:
            i = int(np.searchsorted(cumulative, rng.random(), side="right"))
            give(lesion, people[min(i, len(people) - 1)])


def draw_histories(rng: np.random.Generator, people: list[Patient]) -> None:
    """Melanoma history flags, commoner among patients who have a melanoma here."""
    for p in people:
        has_mel = any(ls.category == "MEL" for ls in p.lesions)
        p.personal_hx = bool(rng.random() < (0.3 if has_mel else 0.04))
        p.family_hx = bool(rng.random() < (0.2 if has_mel else 0.09))
