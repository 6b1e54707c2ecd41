"""A synthetic study cohort shaped like the reference dermoscopy study.

At full size: 1,044 capture records, 18 of them planted near/exact duplicates
(so 1,026 unique images), 443 patients (279 female, 164 male, ages 2-90,
median 38), nine diagnostic categories with 39 malignant lesions (18 MEL,
15 BCC, 6 SCC). Smaller cohorts scale every count proportionally and
deterministically, so unit tests run the same code path on 60 records.

`plan_cohort` decides every row and every image's recipe without drawing a
pixel (cheap enough to check full-size counts in a unit test);
`generate_cohort` renders the plan to `out_dir/images/` and writes
patients.csv, metadata.csv (the ISIC-notation import file) and truth.csv
(diagnoses and the planted duplicates, which the import never sees).

Run `python -m dermledger.synthetic.cohort OUT_DIR [--records N ...]`.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Final

import numpy as np

from dermledger.policies import csv_rows
from dermledger.synthetic.duplicates import DUPLICATE_KINDS, duplicate_suffix, make_duplicate
from dermledger.synthetic.images import ImageSpec, image_bytes
from dermledger.synthetic.lesions import CATEGORIES, DIAMETER_MM
from dermledger.synthetic.vocab import (
    DEVICES,
    DIAGNOSES,
    FITZPATRICK_SHARES,
    SITE_WEIGHTS,
    SITES,
)

__all__ = [
    "CATEGORY_COUNTS",
    "METADATA_COLUMNS",
    "PATIENT_COLUMNS",
    "TRUTH_COLUMNS",
    "Cohort",
    "CohortPlan",
    "PlannedImage",
    "apportion",
    "category_counts",
    "generate_cohort",
    "main",
    "plan_cohort",
    "summarize",
]

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

PATIENT_COLUMNS: Final = (
    "patient_id",
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "personal_hx_mm",
    "family_hx_mm",
)
# The import CSV's columns, in the order the import policy defines them.
METADATA_COLUMNS: Final = csv_rows.COLUMNS
TRUTH_COLUMNS: Final = (
    "filename",
    "diagnosis",
    "category",
    "malignant",
    "duplicate_of",
    "duplicate_kind",
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


# -- plan data -------------------------------------------------------------------


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


@dataclass
class _Patient:
    index: int
    age: int
    sex: str
    fitzpatrick: str
    mole_proneness: float
    first_visit: int
    lesions: list[_Lesion] = field(default_factory=list)
    personal_hx: bool = False
    family_hx: bool = False
    patient_id: str = ""


@dataclass
class _Lesion:
    category: str
    images: int
    diagnosis: str
    site: str
    diameter_mm: float
    seed: int
    patient: _Patient | None = None
    lesion_id: str = ""


# -- planning steps --------------------------------------------------------------


def _pick(rng: np.random.Generator, options: Sequence[tuple[str, float]]) -> str:
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


def _patients(rng: np.random.Generator, n: int) -> list[_Patient]:
    sexes = apportion(n, SEX_COUNTS)
    sex_list = ["female"] * sexes["female"] + ["male"] * sexes["male"]
    fitz = apportion(n, FITZPATRICK_SHARES)
    fitz_list = [t for t, k in fitz.items() for _ in range(k)]
    ages = _ages(rng, n)
    sex_order = rng.permutation(n)
    fitz_order = rng.permutation(n)
    return [
        _Patient(
            index=i,
            age=ages[i],
            sex=sex_list[sex_order[i]],
            fitzpatrick=fitz_list[fitz_order[i]],
            mole_proneness=float(rng.gamma(1.5, 1 / 1.5)),
            first_visit=int(rng.integers(0, STUDY_DAYS - 130)),
        )
        for i in range(n)
    ]


def _lesions(rng: np.random.Generator, counts: Mapping[str, int], patients: int) -> list[_Lesion]:
    """Lesions per category; some benign lesions get a second or third image."""
    unique = sum(counts.values())
    extra_total = min(
        unique * REFERENCE_EXTRA_IMAGES // (REFERENCE_RECORDS - REFERENCE_DUPLICATES),
        unique - patients,
    )
    benign = [c for c in CATEGORIES if c not in MALIGNANT_CATEGORIES and counts[c] > 1]
    slots = [c for c in benign for _ in range(counts[c])]
    chosen = Counter(slots[i] for i in rng.choice(len(slots), size=extra_total, replace=False))
    lesions: list[_Lesion] = []
    for category in CATEGORIES:
        extra = max(0, min(chosen.get(category, 0), counts[category] - 1))
        n_lesions = counts[category] - extra
        images = [1] * n_lesions
        for i in rng.integers(0, n_lesions, size=extra) if n_lesions else ():
            images[int(i)] += 1
        low, high = DIAMETER_MM[category]
        regions = SITE_WEIGHTS[category]
        for k in images:
            region = _pick(rng, list(regions.items()))
            sites = SITES[region]
            lesions.append(
                _Lesion(
                    category=category,
                    images=k,
                    diagnosis=_pick(rng, DIAGNOSES[category]),
                    site=sites[int(rng.integers(len(sites)))],
                    diameter_mm=round(float(rng.uniform(low, high)), 1),
                    seed=int(rng.integers(0, 2**63 - 1)),
                )
            )
    return lesions


def _affinity(category: str, p: _Patient) -> float:
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


def _assign(rng: np.random.Generator, lesions: list[_Lesion], people: list[_Patient]) -> None:
    """Give every patient one lesion, then spread the rest by category affinity.

    The first pass (patients in random order, each taking a lesion category in
    proportion to affinity times what is left) guarantees nobody is empty
    without shaving the heavy tail of mole-prone patients the second pass makes.
    """
    pool: dict[str, list[_Lesion]] = {c: [] for c in CATEGORIES}
    for lesion in lesions:
        pool[lesion.category].append(lesion)

    def give(lesion: _Lesion, patient: _Patient) -> None:
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


def _histories(rng: np.random.Generator, people: list[_Patient]) -> None:
    """Melanoma history flags, commoner among patients who have a melanoma here."""
    for p in people:
        has_mel = any(ls.category == "MEL" for ls in p.lesions)
        p.personal_hx = bool(rng.random() < (0.3 if has_mel else 0.04))
        p.family_hx = bool(rng.random() < (0.2 if has_mel else 0.09))


def _capture(rng: np.random.Generator, lesion: _Lesion) -> tuple[str, str, bool, bool]:
    """Device, dermoscopic type, and whether hair and bubbles show."""
    assert lesion.patient is not None
    device = _pick(rng, [(name, share) for name, (share, _) in DEVICES.items()])
    mode = _pick(rng, DEVICES[device][1])
    scalp = "Scalp" in lesion.site
    p_hair = 0.9 if scalp else 0.45 if lesion.patient.sex == "male" else 0.15
    p_bubbles = {"contact non-polarized": 0.5, "contact polarized": 0.1}.get(mode, 0.0)
    return device, mode, bool(rng.random() < p_hair), bool(rng.random() < p_bubbles)


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class _Draft:
    """An original capture before it has a filename and pseudonymous ids."""

    lesion: _Lesion
    day: int
    metadata: dict[str, str]
    spec: ImageSpec


@dataclass(frozen=True)
class _Reupload:
    """A planted duplicate of `source`, placed later in the capture log."""

    source: _Draft
    kind: str
    seed: int


def _drafts(rng: np.random.Generator, lesions: list[_Lesion]) -> list[_Draft]:
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


def _records(log: list[_Draft | _Reupload]) -> tuple[list[PlannedImage], list[_Patient]]:
    """Filenames in log order; patient and lesion pseudonyms in order of first capture."""
    width = max(5, len(str(len(log))))
    patients: list[_Patient] = []
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
    people = _patients(rng, patients)
    lesions = _lesions(rng, counts, patients)
    _assign(rng, lesions, people)
    _histories(rng, people)
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


# -- rendering -------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """A generated cohort on disk."""

    out_dir: Path
    images_dir: Path
    patients: list[dict[str, str]]
    records: list[dict[str, str]]
    patients_csv: Path
    metadata_csv: Path
    truth_csv: Path

    def image_path(self, filename: str) -> Path:
        return self.images_dir / filename


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed blocks instead of returning them to the OS at once.

    Rendering allocates and frees dozens of ~1 MB numpy temporaries per image.
    By default glibc maps and unmaps each one, and the resulting page faults
    cost about a quarter of the render time in system CPU. Only called in
    processes this module owns (pool workers, the CLI); elsewhere a no-op.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    mallopt(m_trim_threshold, 256 * 1024 * 1024)


def _render_original(job: tuple[ImageSpec, Path]) -> str:
    """Worker: draw one original and write its JPEG (top-level so it pickles)."""
    spec, path = job
    path.write_bytes(image_bytes(spec))
    return path.name


def _render_all(jobs: list[tuple[ImageSpec, Path]], workers: int | None) -> Iterator[str]:
    """Render originals, in a process pool when the batch is big enough to pay for it.

    Each image depends only on its own spec, so parallelism cannot change a byte.
    """
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(jobs) >= 100 else 1
    if workers <= 1:
        yield from map(_render_original, jobs)
        return
    # spawn, not fork: the caller (a CLI, a test runner, a web app) may hold threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=_keep_freed_memory) as pool:
        yield from pool.map(_render_original, jobs, chunksize=16)


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row[c] for c in columns})


def generate_cohort(
    out_dir: Path,
    *,
    seed: int = 2026,
    records: int = REFERENCE_RECORDS,
    duplicates: int = REFERENCE_DUPLICATES,
    patients: int = REFERENCE_PATIENTS,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> Cohort:
    """Render the planned cohort: out_dir/images/* plus patients, metadata and truth CSVs.

    Same arguments, same bytes, whatever `workers` is (None: up to 4 processes
    for 100+ images). Files of the same name are overwritten; others are left.
    `progress(done, total)` is called after each image is written.
    """
    plan = plan_cohort(seed=seed, records=records, duplicates=duplicates, patients=patients)
    out_dir = Path(out_dir)
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    total, done = len(plan.records), 0
    jobs = [(r.spec, images_dir / r.filename) for r in plan.originals]
    for _ in _render_all(jobs, workers):
        done += 1
        if progress:
            progress(done, total)
    for r in plan.duplicates:
        source = (images_dir / r.truth["duplicate_of"]).read_bytes()
        assert r.duplicate_seed is not None
        data = make_duplicate(source, r.truth["duplicate_kind"], r.duplicate_seed)
        (images_dir / r.filename).write_bytes(data)
        done += 1
        if progress:
            progress(done, total)
    cohort = Cohort(
        out_dir=out_dir,
        images_dir=images_dir,
        patients=plan.patients,
        records=[r.row() for r in plan.records],
        patients_csv=out_dir / "patients.csv",
        metadata_csv=out_dir / "metadata.csv",
        truth_csv=out_dir / "truth.csv",
    )
    _write_csv(cohort.patients_csv, PATIENT_COLUMNS, plan.patients)
    _write_csv(cohort.metadata_csv, METADATA_COLUMNS, (r.metadata for r in plan.records))
    _write_csv(cohort.truth_csv, TRUTH_COLUMNS, (r.truth for r in plan.records))
    return cohort


# -- summary and command line ----------------------------------------------------


def summarize(plan: CohortPlan) -> dict[str, object]:
    """Headline counts, for the CLI and for eyeballing a plan."""
    originals = plan.originals
    ages = sorted(int(p["age"]) for p in plan.patients)
    return {
        "records": len(plan.records),
        "unique_images": len(originals),
        "duplicates": len(plan.duplicates),
        "patients": len(plan.patients),
        "lesions": len({r.metadata["lesion_id"] for r in originals}),
        "sex": dict(Counter(p["sex"] for p in plan.patients)),
        "age_min_median_max": (ages[0], float(np.median(ages)), ages[-1]),
        "categories": dict(Counter(r.truth["category"] for r in originals).most_common()),
        "malignant_lesions": len(
            {r.metadata["lesion_id"] for r in originals if r.truth["malignant"] == "true"}
        ),
        "duplicate_kinds": dict(Counter(r.truth["duplicate_kind"] for r in plan.duplicates)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a cohort into OUT_DIR and print what was made."""
    parser = argparse.ArgumentParser(
        prog="python -m dermledger.synthetic.cohort", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--records", type=int, default=REFERENCE_RECORDS)
    parser.add_argument("--duplicates", type=int, default=REFERENCE_DUPLICATES)
    parser.add_argument("--patients", type=int, default=REFERENCE_PATIENTS)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)

    def show(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            print(f"\r{done}/{total} images", end="", file=sys.stderr, flush=True)

    _keep_freed_memory()
    started = time.perf_counter()
    try:
        cohort = generate_cohort(
            args.out_dir,
            seed=args.seed,
            records=args.records,
            duplicates=args.duplicates,
            patients=args.patients,
            progress=None if args.quiet else show,
            workers=args.workers,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if not args.quiet:
        print(file=sys.stderr)
    plan = plan_cohort(
        seed=args.seed, records=args.records, duplicates=args.duplicates, patients=args.patients
    )
    for key, value in summarize(plan).items():
        print(f"{key}: {value}")
    print(f"written to {cohort.out_dir} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
