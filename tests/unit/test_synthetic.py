"""The synthetic data generator: determinism, cohort shape, ISIC validity, focus, hashes.

Everything else in the test suite and the demo stands on this generator (the
project has no real images), so it is held to the numbers the rest relies on.
Full-size counts are checked on the plan (no pixels drawn); a small cohort is
generated end to end on disk. The full-size perceptual-hash survey is slow and
opt-in: DERMLEDGER_SLOW_TESTS=1.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import imagehash
import numpy as np
import pytest
from isic_metadata.anatom_site_hierarchical import AnatomSiteEnum
from isic_metadata.diagnosis_hierarchical import DiagnosisEnum
from isic_metadata.fields import DermoscopicTypeEnum
from isic_metadata.metadata import MetadataBatch, MetadataRow
from PIL import Image

from dermledger.synthetic.cohort import (
    CATEGORY_COUNTS,
    METADATA_COLUMNS,
    PATIENT_COLUMNS,
    TRUTH_COLUMNS,
    Cohort,
    CohortPlan,
    apportion,
    category_counts,
    generate_cohort,
    plan_cohort,
)
from dermledger.synthetic.duplicates import (
    DUPLICATE_KINDS,
    hard_negatives,
    make_duplicate,
    plant_duplicates,
    recapture,
)
from dermledger.synthetic.hashstats import hash_report
from dermledger.synthetic.images import (
    CATEGORIES,
    FITZPATRICK_TYPES,
    ImageSpec,
    blur,
    decode,
    draw_image,
    encode_jpeg,
    image_bytes,
    laplacian_variance,
    render,
)
from dermledger.synthetic.vocab import DEVICES, DIAGNOSES, SITES

SMALL = {"records": 60, "duplicates": 4, "patients": 25}
MALIGNANT = {"MEL": 18, "BCC": 15, "SCC": 6}


def phash(data: bytes) -> imagehash.ImageHash:
    with Image.open(io.BytesIO(data)) as im:
        return imagehash.phash(im)


@pytest.fixture(scope="module")
def full_plan() -> CohortPlan:
    return plan_cohort()


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    calls: list[tuple[int, int]] = []
    cohort = generate_cohort(
        tmp_path_factory.mktemp("cohort"),
        **SMALL,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(i, 60) for i in range(1, 61)]
    return cohort


# -- images ----------------------------------------------------------------------


def test_same_spec_gives_identical_pixels_and_bytes() -> None:
    spec = ImageSpec(lesion_seed=7, capture_seed=11, category="MEL", fitzpatrick="II")
    assert np.array_equal(render(spec), render(spec))
    assert image_bytes(spec) == image_bytes(spec)
    assert image_bytes(spec, "png") == image_bytes(spec, "png")


def test_different_seeds_give_different_images() -> None:
    base = ImageSpec(lesion_seed=7, capture_seed=11)
    others = [
        ImageSpec(lesion_seed=8, capture_seed=11),
        ImageSpec(lesion_seed=7, capture_seed=12),
        ImageSpec(lesion_seed=7, capture_seed=11, category="VASC"),
        ImageSpec(lesion_seed=7, capture_seed=11, fitzpatrick="V"),
    ]
    digests = {image_bytes(s) for s in [base, *others]}
    assert len(digests) == 5


def test_image_shape_and_encoding() -> None:
    img = draw_image(3, "BCC")
    assert img.shape == (480, 640, 3) and img.dtype == np.uint8
    assert draw_image(3, "BCC", size=(320, 200)).shape == (200, 320, 3)
    data = encode_jpeg(img)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.size == (640, 480)
        assert "exif" not in im.info and not im.getexif()
    assert decode(data).shape == img.shape


def test_rejects_unknown_category_and_skin_type() -> None:
    with pytest.raises(ValueError, match="category"):
        render(ImageSpec(1, 1, category="XYZ"))
    with pytest.raises(ValueError, match="Fitzpatrick"):
        render(ImageSpec(1, 1, fitzpatrick="VII"))


def test_categories_look_different_on_average() -> None:
    """Mean lesion-area colour separates e.g. vascular (red) from nevi (brown)."""
    means = {}
    for category in ("NV", "VASC", "BCC"):
        px = [render(ImageSpec(s, 1, category, diameter_mm=8)) for s in range(3)]
        centre = np.stack([p[200:280, 280:360].reshape(-1, 3) for p in px]).mean(axis=(0, 1))
        means[category] = centre
    red_ratio = {k: v[0] / v[1] for k, v in means.items()}  # R over G
    assert red_ratio["VASC"] > red_ratio["NV"]
    assert means["BCC"].mean() > means["NV"].mean()  # pink is paler than brown


@pytest.mark.parametrize("fitzpatrick", FITZPATRICK_TYPES)
def test_focus_measure_sharp_and_blurred(fitzpatrick: str) -> None:
    """After JPEG, every category on every skin type stays far above a 50-100 focus
    threshold, and a modest blur drops far below it."""
    for i, category in enumerate(CATEGORIES):
        img = decode(encode_jpeg(draw_image(100 + i, category, fitzpatrick=fitzpatrick)))
        assert laplacian_variance(img) > 100, (category, fitzpatrick)
        assert laplacian_variance(blur(img, 2.5)) < 10, (category, fitzpatrick)


def test_laplacian_variance_matches_the_4_neighbour_kernel() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    grey = np.random.default_rng(0).integers(0, 256, (40, 50)).astype(np.float64)
    expected = ndimage.laplace(grey)[1:-1, 1:-1].var()
    assert laplacian_variance(grey) == pytest.approx(expected)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    assert laplacian_variance(rgb) == pytest.approx(expected, rel=1e-6)
    assert laplacian_variance(np.full((10, 10), 7)) == 0.0
    assert np.array_equal(blur(rgb, 0), rgb)


# -- duplicates ------------------------------------------------------------------


@pytest.fixture(scope="module")
def originals() -> list[bytes]:
    return [image_bytes(ImageSpec(s, s + 500, CATEGORIES[s % 9], "III")) for s in range(9)]


def test_duplicates_are_deterministic_and_of_the_right_kind(originals: list[bytes]) -> None:
    data = originals[0]
    w, h = 640, 480
    dups = plant_duplicates(data, seed=5)
    assert set(dups) == set(DUPLICATE_KINDS)
    assert dups == plant_duplicates(data, seed=5)
    assert dups["exact"] == data
    assert dups["png"].startswith(b"\x89PNG") and np.array_equal(decode(dups["png"]), decode(data))
    assert dups["reencode"] != data and decode(dups["reencode"]).shape == (h, w, 3)
    rh, rw = decode(dups["resize"]).shape[:2]
    assert 0.55 < rw / w < 0.95 and abs(rw / w - rh / h) < 0.01
    ch, cw = decode(dups["crop"]).shape[:2]
    assert 0.95 <= cw / w <= 0.98 + 1e-9 and 0.95 <= ch / h <= 0.98 + 1e-9
    ratio = decode(dups["brightness"]).mean() / decode(data).mean()
    assert 0.9 < ratio < 1.1 and abs(ratio - 1) > 0.02
    with pytest.raises(ValueError):
        make_duplicate(data, "rotate", 1)


def test_duplicate_phash_distances(originals: list[bytes]) -> None:
    """Non-crop kinds stay within 4 bits; crops move phash more (it is not shift-invariant)."""
    crop_distances = []
    for i, data in enumerate(originals):
        h0 = phash(data)
        for kind, dup in plant_duplicates(data, seed=i).items():
            d = h0 - phash(dup)
            if "crop" in kind:
                crop_distances.append(d)
            else:
                assert d <= 4, (kind, d)
    assert np.median(crop_distances) <= 10
    assert max(crop_distances) <= 20


def test_hard_negatives_and_recaptures_are_far() -> None:
    spec = ImageSpec(21, 42, "NV", "II", diameter_mm=5.0)
    h0 = phash(image_bytes(spec))
    negatives = hard_negatives(spec, 6, seed=3)
    assert all(n.category == "NV" and n.fitzpatrick == "II" for n in negatives)
    assert all(n.lesion_seed != spec.lesion_seed for n in negatives)
    assert negatives == hard_negatives(spec, 6, seed=3)
    assert min(h0 - phash(image_bytes(n)) for n in negatives) > 10
    again = recapture(spec, seed=1)
    assert again.lesion_seed == spec.lesion_seed and again.capture_seed != spec.capture_seed
    assert h0 - phash(image_bytes(again)) > 10
    same_setup = hard_negatives(spec, 2, seed=3, same_capture=True)
    assert all(n.capture_seed == spec.capture_seed for n in same_setup)


# -- cohort plan -----------------------------------------------------------------


def test_apportion_is_exact_at_reference_size_and_honours_minimums() -> None:
    assert apportion(1026, CATEGORY_COUNTS) == CATEGORY_COUNTS
    assert sum(apportion(57, CATEGORY_COUNTS).values()) == 57
    small = apportion(10, CATEGORY_COUNTS, dict.fromkeys(CATEGORY_COUNTS, 1))
    assert sum(small.values()) == 10 and min(small.values()) == 1
    with pytest.raises(ValueError):
        apportion(3, CATEGORY_COUNTS, dict.fromkeys(CATEGORY_COUNTS, 1))


def test_full_size_plan_matches_the_reference_cohort(full_plan: CohortPlan) -> None:
    records, originals, dups = full_plan.records, full_plan.originals, full_plan.duplicates
    assert (len(records), len(originals), len(dups)) == (1044, 1026, 18)
    assert len(full_plan.patients) == 443
    assert Counter(p["sex"] for p in full_plan.patients) == {"female": 279, "male": 164}
    ages = [int(p["age"]) for p in full_plan.patients]
    assert (min(ages), float(np.median(ages)), max(ages)) == (2, 38.0, 90)
    assert Counter(r.truth["category"] for r in originals) == CATEGORY_COUNTS
    malignant_lesions = {
        (r.metadata["lesion_id"], r.truth["category"])
        for r in originals
        if r.truth["malignant"] == "true"
    }
    assert Counter(c for _, c in malignant_lesions) == MALIGNANT
    assert sum(MALIGNANT.values()) == 39
    assert Counter(r.truth["duplicate_kind"] for r in dups) == dict.fromkeys(DUPLICATE_KINDS, 2)


def test_plan_structure(full_plan: CohortPlan) -> None:
    records = full_plan.records
    filenames = [r.filename for r in records]
    assert len(set(filenames)) == len(filenames)
    assert all(re.fullmatch(r"IMG_\d{5}\.(jpg|png)", f) for f in filenames)
    patient_ids = [p["patient_id"] for p in full_plan.patients]
    assert patient_ids == [f"P{i:04d}" for i in range(1, 444)]
    assert {r.metadata["patient_id"] for r in records} == set(patient_ids)
    lesion_patients: dict[str, set[str]] = defaultdict(set)
    images_per_lesion: Counter[str] = Counter()
    for r in full_plan.originals:
        lesion_patients[r.metadata["lesion_id"]].add(r.metadata["patient_id"])
        images_per_lesion[r.metadata["lesion_id"]] += 1
    assert all(len(p) == 1 for p in lesion_patients.values())
    lesions_per_patient = Counter(next(iter(p)) for p in lesion_patients.values())
    assert max(lesions_per_patient.values()) >= 4  # several lesions per patient
    assert 1 < max(images_per_lesion.values()) <= 3  # occasional follow-up images
    by_name = {r.filename: r for r in records}
    for dup in full_plan.duplicates:
        source = by_name[dup.truth["duplicate_of"]]
        assert not source.is_duplicate and filenames.index(source.filename) < filenames.index(
            dup.filename
        )
        assert {k: v for k, v in dup.metadata.items() if k != "filename"} == {
            k: v for k, v in source.metadata.items() if k != "filename"
        }
        assert dup.truth["diagnosis"] == source.truth["diagnosis"]
        assert dup.spec == source.spec


def test_plan_is_deterministic() -> None:
    a, b = plan_cohort(**SMALL), plan_cohort(**SMALL)
    assert a == b
    assert plan_cohort(**SMALL, seed=1) != a


@pytest.mark.parametrize(
    ("records", "duplicates", "patients"),
    [(20, 1, 8), (60, 4, 25), (100, 2, 40), (333, 6, 140), (2000, 30, 800)],
)
def test_scaled_plans_keep_every_category(records: int, duplicates: int, patients: int) -> None:
    plan = plan_cohort(records=records, duplicates=duplicates, patients=patients)
    assert (len(plan.records), len(plan.duplicates)) == (records, duplicates)
    assert len(plan.patients) == patients
    counts = Counter(r.truth["category"] for r in plan.originals)
    assert set(counts) == set(CATEGORIES)
    assert counts == category_counts(records - duplicates, records)
    assert counts.most_common(1)[0][0] == "NV"
    ages = sorted(int(p["age"]) for p in plan.patients)
    assert (ages[0], float(np.median(ages)), ages[-1]) == (2, 38.0, 90)


def test_tiny_plans_keep_one_malignant_of_each_type() -> None:
    counts = Counter(
        r.truth["category"] for r in plan_cohort(records=5, duplicates=1, patients=2).originals
    )
    assert all(counts[c] == 1 for c in MALIGNANT)
    for bad in (
        {"records": 2, "duplicates": 0, "patients": 1},
        {"records": 10, "duplicates": 0, "patients": 11},
    ):
        with pytest.raises(ValueError):
            plan_cohort(**bad)


# -- ISIC validity ---------------------------------------------------------------


def test_every_metadata_row_validates_with_isic_metadata(full_plan: CohortPlan) -> None:
    rows = []
    for r in full_plan.records:
        assert tuple(r.metadata) == METADATA_COLUMNS
        row = {k: v for k, v in r.metadata.items() if k not in ("filename", "device")}
        parsed = MetadataRow.model_validate(row)
        assert parsed.unstructured == {}
        assert parsed.image_type == "dermoscopic"
        rows.append(parsed)
    MetadataBatch(items=rows)  # one patient per lesion across the batch


def test_every_diagnosis_is_an_isic_label_consistent_with_its_category(
    full_plan: CohortPlan,
) -> None:
    for r in full_plan.records:
        assert tuple(r.truth) == TRUTH_COLUMNS
        assert r.truth["diagnosis"] in DiagnosisEnum._value2member_map_
        malignant = r.truth["diagnosis"].startswith("Malignant:")
        assert r.truth["malignant"] == ("true" if malignant else "false")
        assert malignant == (r.truth["category"] in MALIGNANT)


def test_vocabulary_is_spelled_as_in_isic_metadata() -> None:
    for options in DIAGNOSES.values():
        for label, _ in options:
            assert DiagnosisEnum(label).value == label
    for sites in SITES.values():
        for site in sites:
            assert AnatomSiteEnum(site).value == site
    for _, modes in DEVICES.values():
        for mode, _ in modes:
            assert DermoscopicTypeEnum(mode).value == mode


# -- small cohort on disk --------------------------------------------------------


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_small_cohort_files_and_csvs(small_cohort: Cohort) -> None:
    plan = plan_cohort(**SMALL)
    header, patients = read_csv(small_cohort.patients_csv)
    assert tuple(header) == PATIENT_COLUMNS and patients == plan.patients == small_cohort.patients
    header, metadata = read_csv(small_cohort.metadata_csv)
    assert tuple(header) == METADATA_COLUMNS
    assert metadata == [r.metadata for r in plan.records]
    header, truth = read_csv(small_cohort.truth_csv)
    assert tuple(header) == TRUTH_COLUMNS
    assert truth == [r.truth for r in plan.records]
    assert small_cohort.records == [r.row() for r in plan.records]
    for r in plan.originals[::6]:  # a sample: each original is exactly its spec's bytes
        assert small_cohort.image_path(r.filename).read_bytes() == image_bytes(r.spec)
    for r in plan.duplicates:
        data = small_cohort.image_path(r.filename).read_bytes()
        source = small_cohort.image_path(r.truth["duplicate_of"]).read_bytes()
        assert data == make_duplicate(source, r.truth["duplicate_kind"], r.duplicate_seed or 0)
        assert (data == source) == (r.truth["duplicate_kind"] == "exact")
    for row in metadata:
        MetadataRow.model_validate(
            {k: v for k, v in row.items() if k not in ("filename", "device")}
        )


def test_small_cohort_is_byte_identical_in_parallel(small_cohort: Cohort, tmp_path: Path) -> None:
    again = generate_cohort(tmp_path, **SMALL, workers=2)
    for r in small_cohort.records:
        name = r["filename"]
        assert again.image_path(name).read_bytes() == small_cohort.image_path(name).read_bytes()
    assert again.metadata_csv.read_bytes() == small_cohort.metadata_csv.read_bytes()


def test_small_cohort_focus_and_hashes(small_cohort: Cohort) -> None:
    report = hash_report(small_cohort.out_dir)
    assert report.planted_phash["all"].n == 4 and report.planted_phash["all"].max <= 10
    assert report.distinct_phash.median >= 24
    assert report.rule[(12, 8)] == (4, 0)  # the ledger's pHash 12 + dHash 8 rule
    for r in small_cohort.records:
        if not r["duplicate_of"]:
            img = decode(small_cohort.image_path(r["filename"]).read_bytes())
            assert laplacian_variance(img) > 100


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("DERMLEDGER_SLOW_TESTS"), reason="set DERMLEDGER_SLOW_TESTS=1"
)
def test_full_cohort_hash_distributions(tmp_path: Path) -> None:
    """The survey behind the dedup thresholds (about a minute of CPU); see
    `python -m dermledger.synthetic.hashstats` for the numbers themselves."""
    cohort = generate_cohort(tmp_path)
    report = hash_report(cohort.out_dir)
    non_crop = [d for k, d in report.planted_phash.items() if "crop" not in k and k != "all"]
    assert max(d.max for d in non_crop) <= 4
    assert report.planted_phash["all"].max <= 20
    assert report.distinct_phash.median >= 24
    caught, flagged = report.rule[(12, 8)]
    assert caught >= 17 and flagged <= 20
