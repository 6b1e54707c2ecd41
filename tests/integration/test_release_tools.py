"""A real release, checked by the tools its readers will use: ISIC's CLI and mlcroissant.

The release comes from `DermLedger.create_release` on a SQLite ledger with a small verified
study (three patients, JPEG and PNG captures, consensus and histology labels, one image
that no gate lets through). Then:

- `isic metadata validate` (isic-cli, the ISIC Archive's own command-line tool) runs
  offline on metadata.csv rejoined into ISIC input notation (DESIGN section 6: the published
  columns themselves are only listed as unrecognised), and must pass with every column
  recognised; corrupted copies must fail, named by field.
- mlcroissant loads croissant.json offline, its `images` RecordSet yields exactly the
  released images with the values of metadata.csv, each record's image is the file under
  images/, and `mlcroissant validate` accepts the document.

isic-cli is a test dependency (pyproject's `test` extra); without its `isic` executable the
CLI tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import mlcroissant as mlc
import numpy as np
import pytest
from PIL import Image

from dermledger.ledger.bootstrap import Settings
from dermledger.policies.metadata_schema import FIELDS, to_isic_input
from dermledger.projections.release.columns import COLUMN_TYPES, RELEASE_COLUMNS
from dermledger.projections.release.verify import verify_release_dir
from dermledger.synthetic.images import draw_image, encode_jpeg, encode_png
from tests.support import LedgerHandle, open_handle, register_with_consent

# rdflib (inside mlcroissant) uses its own deprecated ConjunctiveGraph when parsing JSON-LD.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

FAST_KDF = 10  # the real key-file cipher with a lower scrypt cost, as in tests/conftest.py
CLI_TIMEOUT = 120

PATIENTS = {
    "P1": {
        "age": "47",
        "sex": "female",
        "fitzpatrick_skin_type": "II",
        "personal_hx_mm": "false",
        "family_hx_mm": "true",
    },
    "P2": {"age": "63", "sex": "male", "fitzpatrick_skin_type": "III"},
    "P3": {"age": "8", "sex": "female", "fitzpatrick_skin_type": "IV"},
}
# (patient, lesion, site, size in mm, PNG?, diagnosis, histology?) per image; the last
# one stops at the initial annotation and is left out by the consensus gate.
CAPTURES = [
    ("P1", "L1", "Trunk:Posterior trunk", "6.5", False, "Nevus, NOS, Compound", False),
    ("P1", "L2", "Head and neck:Head:Face:Cheek", "4", True, "Seborrheic keratosis", False),
    ("P2", "L3", "Upper extremity:Forearm", "12", False, "Melanoma Invasive", True),
    ("P2", "L4", "Lower extremity:Lower leg", "", False, "Basal cell carcinoma, Superficial", True),
    ("P3", "L5", "", "3.5", False, "Nevus", False),
    ("P3", "L6", "Trunk:Anterior trunk", "5", False, "Nevus", None),
]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A published release `v1` of the study above, built once for the module."""
    tmp = tmp_path_factory.mktemp("release-tools")
    team = open_handle(Settings(home=tmp / "home", kdf_log2_n=FAST_KDF))
    try:
        for patient_id, fields in PATIENTS.items():
            register_with_consent(team, patient_id, fields)
        for seed, capture in enumerate(CAPTURES, start=1):
            study_image(team, seed, *capture)
        summary = team.ledger.releases.create_release(team["ada"], "v1", tmp / "v1")
    finally:
        team.ledger.close()
    assert summary["images"] == len(CAPTURES) - 1
    assert verify_release_dir(tmp / "v1")[1] == []
    yield tmp / "v1"


def study_image(
    team: LedgerHandle,
    seed: int,
    patient_id: str,
    lesion_id: str,
    site: str,
    size_mm: str,
    png: bool,
    diagnosis: str,
    histology: bool | None,
) -> None:
    pixels = draw_image(seed, size=(480, 360))
    metadata = {
        "image_type": "dermoscopic",
        "dermoscopic_type": "contact polarized",
        "anatom_site": site or None,
        "clin_size_long_diam_mm": size_mm or None,
        "acquisition_day": str(10 * seed),
    }
    image_id = team.ledger.capture.capture(
        team["ada"],
        encode_png(pixels) if png else encode_jpeg(pixels),
        patient_id=patient_id,
        lesion_id=lesion_id,
        metadata=metadata,
    ).image_id
    team.ledger.confirmation.annotate(team["ann"], image_id, diagnosis, [])
    if histology is None:
        return
    for reader in ("sam", "sue", "sid"):
        team.ledger.confirmation.vote(team[reader], image_id, diagnosis)
    if histology:
        team.ledger.confirmation.record_histology(
            team["pat"], image_id, diagnosis, f"PATH-{seed}", "2026-11-01"
        )


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --- isic-cli ------------------------------------------------------------------------------


def isic_executable() -> Path:
    """The `isic` console script of isic-cli: beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "isic"
    found = beside if beside.is_file() else shutil.which("isic")
    if found:
        return Path(found)
    reason = (
        f"isic-cli is not installed: no `isic` executable beside {sys.executable} or on PATH "
        "(install the test extra: pip install -e '.[test]')"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI is set, so this is a failure, not a skip: {reason}")
    pytest.skip(reason)


@functools.cache
def offline_prefix() -> tuple[str, ...]:
    """`unshare -n` where this process may make a network namespace (root, or user
    namespaces): the command then provably runs without a network. Elsewhere nothing, and
    the CLI's own offline switches (--no-version-check, --guest) are what keeps it local."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
    return (unshare, "-n") if probe.returncode == 0 else ()


def tool_env(home: Path) -> dict[str, str]:
    """A hermetic environment: its own HOME and XDG folders, a wide terminal (rich wraps
    messages at 80 columns otherwise), no Sentry DSN inherited from anything else."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "ISIC_"))}
    return env | {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }


def isic_validate(csv_path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`isic --no-version-check --guest metadata validate CSV`: no version check against
    PyPI, no login restored, no request to the archive; validation is local."""
    command = [str(isic_executable()), "--no-version-check", "--guest"]
    return subprocess.run(
        [*offline_prefix(), *command, "metadata", "validate", str(csv_path)],
        capture_output=True,
        text=True,
        env=tool_env(home),
        timeout=CLI_TIMEOUT,
        check=False,
    )


def isic_input_csv(rows: list[dict[str, str]], path: Path) -> Path:
    """metadata.csv rows rejoined into ISIC input notation, with `filename` (a column the
    archive reserves) kept; columns in the information model's order."""
    converted = [{"filename": row["filename"], **to_isic_input(row)} for row in rows]
    present = {key for row in converted for key in row}
    columns = ["filename", *(name for name in FIELDS if name in present)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(converted)
    return path


def test_isic_cli_validates_the_rejoined_metadata(release: Path, tmp_path: Path) -> None:
    rows = read_rows(release / "metadata.csv")
    rejoined = isic_input_csv(rows, tmp_path / "isic-input.csv")
    header = rejoined.read_text(encoding="utf-8").splitlines()[0].split(",")
    # Input notation, not published: joined labels and the exact age, nothing left over.
    assert {"diagnosis", "anatom_site", "age", "patient_id", "lesion_id", "sex"} <= set(header)
    assert not {"age_approx", "diagnosis_1", "anatom_site_1", "image_id"} & set(header)
    diagnoses = {row["diagnosis"] for row in read_rows(rejoined)}
    assert "Malignant:Malignant melanocytic proliferations (Melanoma):Melanoma Invasive" in (
        diagnoses
    )

    result = isic_validate(rejoined, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No structural errors found!" in output
    assert "Unrecognized Fields" not in output  # every column is one ISIC knows


def test_isic_cli_lists_the_published_columns_as_unrecognised(
    release: Path, tmp_path: Path
) -> None:
    """Why the rejoin is needed: on metadata.csv as released, the CLI checks only the few
    columns it knows and lists diagnosis_1..5, anatom_site_1..5 and age_approx as unknown."""
    result = isic_validate(release / "metadata.csv", tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Unrecognized Fields" in output
    for column in ("age_approx", "diagnosis_1", "anatom_site_1", "category"):
        assert column in output


def invalid_sex(row: dict[str, str]) -> None:
    row["sex"] = "unknown"


def unknown_diagnosis(row: dict[str, str]) -> None:
    row["diagnosis_3"] = "Melanoma Imaginary"


def lesion_of_two_patients(row: dict[str, str]) -> None:
    row["patient_id"] = "P9"  # its lesion_id stays with the other images of P1 or P2


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (invalid_sex, "sex"),
        (unknown_diagnosis, "Unknown diagnosis"),
        (lesion_of_two_patients, "Batch Level Errors"),
    ],
)
def test_isic_cli_rejects_a_corrupted_copy(
    release: Path, tmp_path: Path, corrupt: Callable[[dict[str, str]], None], expected: str
) -> None:
    rows = read_rows(release / "metadata.csv")
    two_images = {}
    for row in rows:
        two_images.setdefault(row["patient_id"], []).append(row)
    victim = next(r for r in rows if len(two_images[r["patient_id"]]) > 1)
    if corrupt is lesion_of_two_patients:
        # A second image of the victim's lesion, still filed under the right patient.
        rows.append(victim | {"image_id": "extra", "filename": "extra.jpg"})
    corrupt(victim)
    result = isic_validate(isic_input_csv(rows, tmp_path / "bad.csv"), tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert expected in output, output
    assert "No structural errors found!" not in output


# --- mlcroissant ---------------------------------------------------------------------------


def expected_value(column: str, text: str) -> object:
    """What mlcroissant yields for a metadata.csv cell of `column` (its declared type)."""
    if text == "":
        return None
    kind = COLUMN_TYPES[column]
    if kind == "sc:Integer":
        return int(text)
    if kind == "sc:Float":
        return pytest.approx(float(text))
    if kind == "sc:Boolean":
        return {"true": True, "false": False}[text]
    return text.encode()


def croissant_warnings(dataset: mlc.Dataset) -> list[str]:
    return sorted(dataset.metadata.ctx.issues.warnings)


def test_croissant_loads_offline_and_yields_the_released_images(release: Path) -> None:
    dataset = mlc.Dataset(jsonld=release / "croissant.json")
    issues = dataset.metadata.ctx.issues
    assert not issues.errors, issues.report()
    assert croissant_warnings(dataset) == []

    rows = {row["image_id"]: row for row in read_rows(release / "metadata.csv")}
    records = list(dataset.records("images"))
    assert len(records) == len(rows) == len(CAPTURES) - 1
    by_id = {record["images/image_id"].decode(): record for record in records}
    assert set(by_id) == set(rows)

    released_files = sorted(p.name for p in (release / "images").iterdir())
    assert released_files == sorted(row["filename"] for row in rows.values())
    assert {Path(name).suffix for name in released_files} == {".jpg", ".png"}

    pixels_seen = set()
    for image_id, row in rows.items():
        record = by_id[image_id]
        for column in RELEASE_COLUMNS:
            assert record[f"images/{column}"] == expected_value(column, row[column]), (
                image_id,
                column,
            )
        image = record["images/image"]
        assert isinstance(image, Image.Image)
        with Image.open(release / "images" / row["filename"]) as expected:
            np.testing.assert_array_equal(
                np.asarray(image.convert("RGB")), np.asarray(expected.convert("RGB"))
            )
        pixels_seen.add(image.convert("RGB").tobytes())
    # Every image differs from every other, so a join on the wrong file could not pass.
    assert len(pixels_seen) == len(rows)
    # The values checked are not all empty: the columns that matter carry data.
    melanoma = next(r for r in rows.values() if r["category"] == "MEL")
    assert by_id[melanoma["image_id"]]["images/diagnosis_confirm_type"] == b"histopathology"
    assert by_id[melanoma["image_id"]]["images/age_approx"] == 65


def test_croissant_has_no_validation_warning(release: Path) -> None:
    assert croissant_warnings(mlc.Dataset(jsonld=release / "croissant.json")) == []


def test_mlcroissant_validate_accepts_the_document(release: Path, tmp_path: Path) -> None:
    """`mlcroissant validate --jsonld croissant.json`, the validation entry point of the
    mlcroissant command (it exits 1 on any error and logs warnings)."""
    script = Path(sys.executable).parent / "mlcroissant"
    command = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "from mlcroissant.scripts.cli import main; main()"]
    )
    result = subprocess.run(
        [*offline_prefix(), *command, "validate", "--jsonld", str(release / "croissant.json")],
        capture_output=True,
        text=True,
        env=tool_env(tmp_path / "home"),
        timeout=CLI_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Done." in output, output
    assert "error(s)" not in output and not re.search(r"^E\d{4} ", output, re.M), output
    issues = [line for line in output.splitlines() if "Exception(" in line]
    assert issues == [], output
