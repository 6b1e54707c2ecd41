"""The cohort plan: every capture record and image recipe, decided without drawing a pixel.

Why a module of its own: planning is cheap enough to check full-size counts in a unit
test, while rendering (in `cohort`) is not. `plan_cohort` draws the people and lesions
(`cohort_population`), turns them into captures in chronological order, plants the
re-uploaded duplicates, and only then hands out filenames and pseudonyms, in log order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermledger.synthetic.cohort_population import (
    Lesion,
    Patient,
    assign_lesions,
    draw_histories,
    draw_lesions,
    draw_patients,
    pick,
)
from dermledger.synthetic.cohort_reference import (
    DUPLICATE_KIND_ORDER,
    MALIGNANT_CATEGORIES,
    REFERENCE_DUPLICATES,
    REFERENCE_PATIENTS,
    REFERENCE_RECORDS,
    STUDY_DAYS,
    category_counts,
)
from dermledger.synthetic.duplicates import duplicate_suffix
from dermledger.synthetic.images import ImageSpec
from dermledger.synthetic.vocab import DEVICES


@dataclass(frozen=True)
class PlannedImage:
    """One capture record: its CSV rows and the recipe for its bytes.

    Originals are drawn from `spec`; a duplicate (`duplicate_seed` set) is made
    from its original's encoded bytes by `make_duplicate`.
    """

    metadata: dict[str, str]
    truth: dict[str, str]
    spec: ImageSpec
    duplicate_seed: int | None = None

    @property
    def filename(self) -> str:
        return self.metadata["filename"]

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_seed is not None

    def row(self) -> dict[str, str]:
        """Metadata and truth merged into one flat dict (filename once)."""
        return {**self.metadata, **self.truth}


@dataclass(frozen=True)
class CohortPlan:
    """Everything generate_cohort will write, decided but not drawn."""

    seed: int
    patients: list[dict[str, str]]
    records: list[PlannedImage]

    @property
    def originals(self) -> list[PlannedImage]:
        return [r for r in self.records if not r.is_duplicate]

    @property
    def duplicates(self) -> list[PlannedImage]:
        return [r for r in self.records if r.is_duplicate]


def _capture(rng: np.random.Generator, lesion: Lesion) -> tuple[str, str, bool, bool]:
    """Device, dermoscopic type, and whether hair and bubbles show."""
    assert lesion.patient is not None
    device = pick(rng, [(name, share) for name, (share, _) in DEVICES.items()])
    mode = pick(rng, DEVICES[device][1])
    scalp = "Scalp" in lesion.site
    p_hair = 0.9 if scalp else 0.45 if lesion.patient.sex == "male" else 0.15
    p_bubbles = {"contact non-polarized": 0.5, "contact polarized": 0.1}.get(mode, 0.0)
    return device, mode, bool(rng.random() < p_hair), bool(rng.random() < p_bubbles)


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class _Draft:
    """An original capture before it has a filename and pseudonymous ids."""

    lesion: Lesion
    day: int
    metadata: dict[str, str]
    spec: ImageSpec


@dataclass(frozen=True)
class _Reupload:
    """A planted duplicate of `source`, placed later in the capture log."""

    source: _Draft
    kind: str
    seed: int


def _drafts(rng: np.random.Generator, lesions: list[Lesion]) -> list[_Draft]:
    """One draft per image: first visit (or a later one), then follow-ups."""
    out: list[_Draft] = []
    for lesion in lesions:
        p = lesion.patient
        assert p is not None
        day = p.first_visit + (int(rng.integers(30, 120)) if rng.random() < 0.3 else 0)
        for _ in range(lesion.images):
            device, mode, hair, bubbles = _capture(rng, lesion)
            metadata = {
                "age": str(p.age),
                "sex": p.sex,
                "fitzpatrick_skin_type": p.fitzpatrick,
                "personal_hx_mm": _flag(p.personal_hx),
                "family_hx_mm": _flag(p.family_hx),
                "anatom_site": lesion.site,
                "clin_size_long_diam_mm": f"{lesion.diameter_mm:.1f}",
                "image_type": "dermoscopic",
                "dermoscopic_type": mode,
                "device": device,
            }
            spec = ImageSpec(
                lesion_seed=lesion.seed,
                capture_seed=int(rng.integers(0, 2**63 - 1)),
                category=lesion.category,
                fitzpatrick=p.fitzpatrick,
                diameter_mm=lesion.diameter_mm,
                hair=hair,
                bubbles=bubbles,
            )
            out.append(_Draft(lesion, min(day, STUDY_DAYS), metadata, spec))
            day += int(rng.integers(60, 200))  # a follow-up visit
    return out


def _log(
    rng: np.random.Generator, drafts: list[_Draft], duplicates: int
) -> list[_Draft | _Reupload]:
    """Chronological capture log; each duplicate is re-uploaded some time after its source."""
    keys = rng.random(len(drafts))
    order = sorted(range(len(drafts)), key=lambda i: (drafts[i].day, keys[i]))
    log: list[_Draft | _Reupload] = [drafts[i] for i in order]
    sources = [drafts[order[i]] for i in sorted(rng.choice(len(order), duplicates, replace=False))]
    for n, i in enumerate(rng.permutation(len(sources))):
        source = sources[int(i)]
        kind = DUPLICATE_KIND_ORDER[n % len(DUPLICATE_KIND_ORDER)]
        at = next(k for k, item in enumerate(log) if item is source)
        log.insert(
            int(rng.integers(at + 1, len(log) + 1)),
            _Reupload(source, kind, int(rng.integers(2**31))),
        )
    return log


def _records(log: list[_Draft | _Reupload]) -> tuple[list[PlannedImage], list[Patient]]:
    """Filenames in log order; patient and lesion pseudonyms in order of first capture."""
    width = max(5, len(str(len(log))))
    patients: list[Patient] = []
    lesion_count = 0
    named: dict[int, PlannedImage] = {}
    out: list[PlannedImage] = []
    for position, item in enumerate(log, start=1):
        if isinstance(item, _Reupload):
            source = named[id(item.source)]
            filename = f"IMG_{position:0{width}d}{duplicate_suffix(item.kind)}"
            truth = {
                **source.truth,
                "filename": filename,
                "duplicate_of": source.filename,
                "duplicate_kind": item.kind,
            }
            metadata = {**source.metadata, "filename": filename}
            out.append(PlannedImage(metadata, truth, source.spec, duplicate_seed=item.seed))
            continue
        lesion, p = item.lesion, item.lesion.patient
        assert p is not None
        if not p.patient_id:
            patients.append(p)
            p.patient_id = f"P{len(patients):04d}"
        if not lesion.lesion_id:
            lesion_count += 1
            lesion.lesion_id = f"L{lesion_count:04d}"
        filename = f"IMG_{position:0{width}d}.jpg"
        metadata = {
            "filename": filename,
            "patient_id": p.patient_id,
            "lesion_id": lesion.lesion_id,
            **{k: v for k, v in item.metadata.items() if k != "device"},
            "acquisition_day": str(item.day),
            "device": item.metadata["device"],
        }
        truth = {
            "filename": filename,
            "diagnosis": lesion.diagnosis,
            "category": lesion.category,
            "malignant": _flag(lesion.category in MALIGNANT_CATEGORIES),
            "duplicate_of": "",
            "duplicate_kind": "",
        }
        record = PlannedImage(metadata, truth, item.spec)
        named[id(item)] = record
        out.append(record)
    return out, patients


def _check_sizes(records: int, duplicates: int, patients: int) -> None:
    unique = records - duplicates
    if duplicates < 0 or patients < 1:
        raise ValueError("duplicates must be >= 0 and patients >= 1")
    if unique < len(MALIGNANT_CATEGORIES):
        raise ValueError(f"need at least {len(MALIGNANT_CATEGORIES)} unique images, got {unique}")
    if duplicates > unique:
        raise ValueError("cannot plant more duplicates than there are unique images")
    if patients > unique:
        raise ValueError(f"{patients} patients need at least as many unique images, got {unique}")


def plan_cohort(
    *,
    seed: int = 2026,
    records: int = REFERENCE_RECORDS,
    duplicates: int = REFERENCE_DUPLICATES,
    patients: int = REFERENCE_PATIENTS,
) -> CohortPlan:
    """Decide every row and image recipe of a cohort, deterministically, drawing nothing."""
    _check_sizes(records, duplicates, patients)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xC0407])))
    counts = category_counts(records - duplicates, records)
    people = draw_patients(rng, patients)
    lesions = draw_lesions(rng, counts, patients)
    assign_lesions(rng, lesions, people)
    draw_histories(rng, people)
    log = _log(rng, _drafts(rng, lesions), duplicates)
    planned, ordered_patients = _records(log)
    patient_rows = [
        {
            "patient_id": p.patient_id,
            "age": str(p.age),
            "sex": p.sex,
            "fitzpatrick_skin_type": p.fitzpatrick,
            "personal_hx_mm": _flag(p.personal_hx),
            "family_hx_mm": _flag(p.family_hx),
        }
        for p in ordered_patients
    ]
    return CohortPlan(seed=seed, patients=patient_rows, records=planned)
