"""The cohort table of a release (a paper's Table 1), computed from metadata.csv rows."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from isic_metadata import AnatomSiteEnum

from dermledger.policies.categories import CATEGORIES, CATEGORY_NAMES, MALIGNANT
from dermledger.policies.metadata_schema import (
    VERIFICATION_STAGES,
)
from dermledger.projections.release.columns import (
    FITZPATRICK,
    INCONSISTENT,
    NOT_RECORDED,
    SEX_ORDER,
)


def _site_rank(site_1: str, site_2: str) -> tuple[int, int, str, str]:
    """Grouped by anatom_site_1 in ISIC's own anatomical order (head to feet), a site
    given at level 1 only before its level-2 sites; sites ISIC does not list go last."""
    last = len(_SITE_ORDER)
    level_2 = _SITE_ORDER.get(f"{site_1}:{site_2}", last) if site_2 else -1
    return (_SITE_ORDER.get(site_1, last), level_2, site_1, site_2)


_SITE_ORDER: Final[dict[str, int]] = {
    str(member.value): i for i, member in enumerate(AnatomSiteEnum)
}


def _ordered(counts: Counter[str], order: Sequence[str]) -> list[tuple[str, int]]:
    """Every value of `order` (zeros too: coverage shows gaps), then any other value
    sorted, then "not recorded" and "inconsistent" when present."""
    tail = (NOT_RECORDED, INCONSISTENT)
    result = [(key, counts[key]) for key in order]
    result += sorted((key, n) for key, n in counts.items() if key not in order and key not in tail)
    result += [(key, counts[key]) for key in tail if counts[key]]
    return result


def _patient_value(values: set[str]) -> str:
    known = values - {""}
    if not known:
        return NOT_RECORDED
    return known.pop() if len(known) == 1 else INCONSISTENT


@dataclass(frozen=True, slots=True)
class CohortTable:
    """The cohort of one release, as a paper's Table 1, computed from metadata.csv rows.

    Image-level: `categories` (all nine codes, fixed order), malignancy and histology
    counts, `stages`, `fitzpatrick_images`, `sites` ((anatom_site_1, anatom_site_2), n).
    Patient-level (one value per distinct patient_id): `sex_patients`,
    `fitzpatrick_patients` (a patient whose images disagree counts as "inconsistent"),
    and age: each patient's youngest age_approx (nearest 5 years, capped at 85), so the
    median and range are of age_approx, never of exact ages.
    """

    images: int
    patients: int
    lesions: int
    categories: tuple[tuple[str, int], ...]
    malignant: int  # images in MEL, BCC or SCC
    malignant_histology: int  # of those, at stage histology
    other_malignant: int  # OTHER whose ISIC label is under "Malignant"
    other_malignant_histology: int
    histology: int  # images at stage histology, any category
    stages: tuple[tuple[str, int], ...]
    sex_patients: tuple[tuple[str, int], ...]
    age_patients: tuple[tuple[int, int], ...]  # (age_approx, patients), ascending
    age_median: float | None
    age_min: int | None
    age_max: int | None
    age_not_recorded: int  # patients without any age_approx
    fitzpatrick_patients: tuple[tuple[str, int], ...]
    fitzpatrick_images: tuple[tuple[str, int], ...]
    sites: tuple[tuple[tuple[str, str], int], ...]

    @classmethod
    def from_rows(cls, metadata_rows: Iterable[Mapping[str, str]]) -> CohortTable:
        """Compute the table from metadata.csv rows (strings, as csv.DictReader gives).

        Raises ValueError for a category or stage outside the study's values, or an
        age_approx that is not a whole number: nothing is dropped silently.
        """
        tally = _Tally()
        for row in metadata_rows:  # one pass: this may be a stream (a release's metadata.csv)
            tally.add(row)
        return tally.table(cls)


@dataclass(slots=True)
class _Tally:
    """What `CohortTable.from_rows` counts as the rows go by, images and patients at once."""

    images: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)
    fitz_images: Counter[str] = field(default_factory=Counter)
    sites: Counter[tuple[str, str]] = field(default_factory=Counter)
    sex_of: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    fitz_of: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    age_of: dict[str, int | None] = field(default_factory=dict)
    lesions: set[tuple[str, str]] = field(default_factory=set)
    malignant: int = 0
    malignant_histology: int = 0
    other_malignant: int = 0  # OTHER whose ISIC label is under "Malignant"
    other_malignant_histology: int = 0
    histology: int = 0

    def add(self, row: Mapping[str, str]) -> None:
        """Count one image; patient values are collected per patient_id, resolved at the end."""
        self.images += 1
        self._add_label(row)
        patient = row.get("patient_id", "")
        self.lesions.add((patient, row.get("lesion_id", "")))
        self.sex_of[patient].add(row.get("sex", ""))
        fitz = row.get("fitzpatrick_skin_type", "")
        self.fitz_of[patient].add(fitz)
        self.fitz_images[fitz or NOT_RECORDED] += 1
        age, known = _age(row), self.age_of.get(patient)
        self.age_of[patient] = age if known is None else known if age is None else min(age, known)
        site_1 = row.get("anatom_site_1", "")
        self.sites[(site_1, row.get("anatom_site_2", "")) if site_1 else (NOT_RECORDED, "")] += 1

    def _add_label(self, row: Mapping[str, str]) -> None:
        """Category, stage and malignancy; refuses values the study does not have."""
        category, stage = row.get("category", ""), row.get("verification_stage", "")
        if category not in CATEGORY_NAMES:
            raise ValueError(f"image {row.get('image_id')!r}: unknown category {category!r}")
        if stage not in VERIFICATION_STAGES:
            raise ValueError(f"image {row.get('image_id')!r}: unknown stage {stage!r}")
        self.categories[category] += 1
        self.stages[stage] += 1
        verified = stage == "histology"
        self.histology += verified
        if category in MALIGNANT:
            self.malignant += 1
            self.malignant_histology += verified
        elif row.get("diagnosis_1") == "Malignant":
            self.other_malignant += 1
            self.other_malignant_histology += verified

    def table(self, cls: type[CohortTable]) -> CohortTable:
        """The finished table: fixed orders, zeros kept, one value per patient."""
        ages = sorted(age for age in self.age_of.values() if age is not None)
        sex = Counter(_patient_value(values) for values in self.sex_of.values())
        fitz_patients = Counter(_patient_value(values) for values in self.fitz_of.values())
        return cls(
            images=self.images,
            patients=len(self.sex_of),
            lesions=len(self.lesions),
            categories=tuple((code, self.categories[code]) for code in CATEGORIES),
            malignant=self.malignant,
            malignant_histology=self.malignant_histology,
            other_malignant=self.other_malignant,
            other_malignant_histology=self.other_malignant_histology,
            histology=self.histology,
            stages=tuple((stage, self.stages[stage]) for stage in VERIFICATION_STAGES),
            sex_patients=tuple(_ordered(sex, SEX_ORDER)),
            age_patients=tuple(sorted(Counter(ages).items())),
            age_median=float(statistics.median(ages)) if ages else None,
            age_min=ages[0] if ages else None,
            age_max=ages[-1] if ages else None,
            age_not_recorded=len(self.age_of) - len(ages),
            fitzpatrick_patients=tuple(_ordered(fitz_patients, FITZPATRICK)),
            fitzpatrick_images=tuple(_ordered(self.fitz_images, FITZPATRICK)),
            sites=tuple(
                sorted(
                    self.sites.items(),
                    key=lambda kv: (kv[0][0] == NOT_RECORDED, _site_rank(*kv[0])),
                )
            ),
        )


def _age(row: Mapping[str, str]) -> int | None:
    text = (row.get("age_approx") or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"image {row.get('image_id')!r}: age_approx {text!r} is not a whole number"
        ) from None


# --- the datasheet -----------------------------------------------------------------------

CHART_FILES: Final[dict[str, str]] = {
    "categories": "datasheet-categories.png",
    "age": "datasheet-age.png",
    "sex": "datasheet-sex.png",
    "fitzpatrick": "datasheet-fitzpatrick.png",
    "sites": "datasheet-sites.png",
}
DATASHEET: Final = "datasheet.md"
DPI: Final = 100
WIDTH_IN: Final = 7.0
MALIGNANT_COLOUR: Final = "#b2182b"
BENIGN_COLOUR: Final = "#4d6a8a"
SECOND_COLOUR: Final = "#9bb3c9"
