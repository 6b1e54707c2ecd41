"""croissant.json and datasheet.md of a small, real release folder built in tmp.

The folder has what a release has where these documents look: images/<image_id>.<ext>
drawn by the synthetic renderer (JPEG and PNG) and a metadata.csv whose rows pass ISIC's
own validation. croissant.json is then loaded with mlcroissant, offline, and its records
are read back, images included; the datasheet's numbers are checked against counts done by
hand below, and every output is written twice to show the bytes do not change.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import mlcroissant as mlc
import numpy as np
import pytest
from isic_metadata.metadata import MetadataRow
from mlcroissant._src.core.context import Context, CroissantVersion
from mlcroissant._src.core.rdf import make_context
from PIL import Image

from dermledger.policies.categories import category_of
from dermledger.policies.metadata_schema import (
    CONFIRM_TYPE_OF_STAGE,
    PUBLISHED_COLUMNS,
    to_isic_input,
    to_isic_published,
    validate_record,
)
from dermledger.projections.release.cohort import CHART_FILES, CohortTable
from dermledger.projections.release.columns import COLUMN_TYPES, CROISSANT_CONTEXT, RELEASE_COLUMNS
from dermledger.projections.release.croissant import (
    GateCount,
    RaiFacts,
    croissant_document,
    croissant_json,
    write_croissant,
)
from dermledger.projections.release.datasheet import write_datasheet
from dermledger.synthetic.images import draw_image, encode_jpeg, encode_png

# rdflib (inside mlcroissant) uses its own deprecated ConjunctiveGraph when parsing JSON-LD.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Six images of four patients. By hand:
#   categories  MEL 1, BCC 1, NV 2, BKL 1, OTHER 1 (a malignant vascular tumour)
#   malignant (MEL/BCC/SCC) 2, both histology; OTHER malignant 1, histology; histology 3
#   stages      consensus 3, histology 3
#   patients    P001 female 38/39 -> age_approx 40/40, P002 male 62 -> 60,
#               P003 female 7 -> 5, P004 male, no age
#   ages        5, 40, 60: median 40, range 5-60, 1 patient not recorded
#   Fitzpatrick patients I 1, II 1, III 1, inconsistent 1 (P004: IV and V)
#               images   I 1, II 2, III 1, IV 1, V 1
#   sites       Head and neck/Head 1, Trunk/Posterior trunk 1, Upper extremity/Forearm 1,
#               Lower extremity/Lower leg 2, not recorded 1
RECORDS: list[dict[str, str]] = [
    {
        "patient_id": "P001", "age": "38", "sex": "female", "fitzpatrick_skin_type": "II",
        "personal_hx_mm": "false", "family_hx_mm": "true", "lesion_id": "P001-L1",
        "anatom_site": "Cheek", "clin_size_long_diam_mm": "6.5",
        "image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
        "acquisition_day": "0", "diagnosis": "Melanoma in situ", "melanocytic": "true",
        "verification_stage": "histology",
    },
    {
        "patient_id": "P001", "age": "39", "sex": "female", "fitzpatrick_skin_type": "II",
        "lesion_id": "P001-L2", "anatom_site": "Upper back", "image_type": "dermoscopic",
        "dermoscopic_type": "contact non-polarized", "acquisition_day": "30",
        "diagnosis": "Nevus", "verification_stage": "consensus",
    },
    {
        "patient_id": "P002", "age": "62", "sex": "male", "fitzpatrick_skin_type": "III",
        "lesion_id": "P002-L1", "anatom_site": "Forearm", "clin_size_long_diam_mm": "12",
        "image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
        "diagnosis": "Basal cell carcinoma, Superficial", "verification_stage": "histology",
    },
    {
        "patient_id": "P003", "age": "7", "sex": "female", "fitzpatrick_skin_type": "I",
        "lesion_id": "P003-L1", "image_type": "dermoscopic",
        "dermoscopic_type": "non-contact polarized", "diagnosis": "Nevus",
        "verification_stage": "consensus",
    },
    {
        "patient_id": "P004", "sex": "male", "fitzpatrick_skin_type": "IV",
        "lesion_id": "P004-L1", "anatom_site": "Lower leg", "image_type": "dermoscopic",
        "dermoscopic_type": "contact polarized",
        "diagnosis": "Hemangioendothelioma, Kaposiform", "verification_stage": "histology",
    },
    {
        "patient_id": "P004", "sex": "male", "fitzpatrick_skin_type": "V",
        "lesion_id": "P004-L2", "anatom_site": "Lower leg", "image_type": "dermoscopic",
        "dermoscopic_type": "contact polarized", "diagnosis": "Seborrheic keratosis",
        "verification_stage": "consensus",
    },
]  # fmt: skip

AGREEMENT: dict[str, Any] = {
    "fleiss_kappa": 0.6123456,
    "fleiss_ratings_per_item": 3,
    "fleiss_items": 5,
    "fleiss_excluded_items": 1,
    "krippendorff_alpha": 0.5876,
    "alpha_items": 6,
    "pairable_values": 17,
    "percent_agreement": 0.8,
    "n_items": 6,
    "categories": {"MEL": 3, "BCC": 3, "NV": 6, "BKL": 3, "OTHER": 2},
}
GATES = [
    GateCount("consent", "1", 2, "consent not in force at the as-of position"),
    GateCount("not-excluded", "1", 1, "excluded by a coordinator (reason in the audit trail)"),
    GateCount("duplicates", "1", 3, "unresolved duplicate suspicion | or a duplicate"),
    GateCount("stage", "1", 4, "verification stage below consensus"),
    GateCount("malignant-histology", "1", 1, "malignant label without histology"),
    GateCount("metadata-valid", "1", 0, "metadata not valid for ISIC"),
]
AS_OF = {"seq": 1234, "recorded_at": "2026-03-01T12:00:00Z"}


@dataclasses.dataclass
class Release:
    root: Path
    rows: list[dict[str, str]]
    files: list[tuple[str, str, int]]
    csv_sha256: str


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_release(root: Path) -> Release:
    """images/ and metadata.csv, as the release writer lays them out."""
    (root / "images").mkdir(parents=True)
    rows, files = [], []
    for i, values in enumerate(RECORDS):
        stage = values["verification_stage"]
        record = validate_record({**values, "diagnosis_confirm_type": CONFIRM_TYPE_OF_STAGE[stage]})
        assert record.diagnosis is not None
        image_id = f"IMG-{hashlib.sha256(str(i).encode()).hexdigest()[:16]}"
        ext = "png" if i == 2 else "jpg"
        pixels = draw_image(i, category_of(record.diagnosis), size=(64, 64))
        data = encode_png(pixels) if ext == "png" else encode_jpeg(pixels)
        (root / "images" / f"{image_id}.{ext}").write_bytes(data)
        files.append((f"images/{image_id}.{ext}", hashlib.sha256(data).hexdigest(), len(data)))
        published = {k: _text(v) for k, v in to_isic_published(record).items()}
        rows.append(
            {
                "image_id": image_id,
                "filename": f"{image_id}.{ext}",
                **published,
                "category": category_of(record.diagnosis),
                "verification_stage": stage,
                "file_name": f"images/{image_id}.{ext}",
            }
        )
    with (root / "metadata.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RELEASE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as handle:
        read_back = list(csv.DictReader(handle))
    digest = hashlib.sha256((root / "metadata.csv").read_bytes()).hexdigest()
    return Release(root, read_back, files, digest)


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return build_release(tmp_path / "release")


def document(release: Release, **changes: Any) -> dict[str, Any]:
    table = CohortTable.from_rows(release.rows)
    arguments: dict[str, Any] = {
        "name": "dermledger-demo-2026-03",
        "description": "Synthetic dermoscopic images of a DermLedger demo study.",
        "version": "1.0.0",
        "date_published": "2026-03-01",
        "license": "https://creativecommons.org/licenses/by-nc/4.0/",
        "url": None,
        "metadata_rows": release.rows,
        "image_files": release.files,
        "csv_sha256": release.csv_sha256,
        "rai": RaiFacts.from_release(table, AGREEMENT, GATES),
        "cite_as": "@misc{dermledger_demo, title={DermLedger demo release}}",
    }
    return croissant_document(**(arguments | changes))


def load(path: Path) -> mlc.Dataset:
    return mlc.Dataset(jsonld=path)


# --- columns and context -----------------------------------------------------------------


def test_release_columns_and_their_types() -> None:
    assert (
        "image_id",
        "filename",
        *PUBLISHED_COLUMNS,
        "category",
        "verification_stage",
        "file_name",
    ) == RELEASE_COLUMNS
    assert list(COLUMN_TYPES) == list(RELEASE_COLUMNS)
    assert {c for c, t in COLUMN_TYPES.items() if t == "sc:Integer"} == {
        "age_approx",
        "acquisition_day",
    }
    assert {c for c, t in COLUMN_TYPES.items() if t == "sc:Float"} == {"clin_size_long_diam_mm"}
    assert {c for c, t in COLUMN_TYPES.items() if t == "sc:Boolean"} == {
        "personal_hx_mm",
        "family_hx_mm",
        "melanocytic",
    }
    assert set(COLUMN_TYPES.values()) == {"sc:Text", "sc:Integer", "sc:Float", "sc:Boolean"}


def test_context_is_mlcroissants_standard_context_for_croissant_1_0() -> None:
    ctx = Context()
    ctx.conforms_to = CroissantVersion.V_1_0
    assert make_context(ctx) == CROISSANT_CONTEXT
    assert CROISSANT_CONTEXT["rai"] == "http://mlcommons.org/croissant/RAI/"


def test_fixture_rows_are_valid_isic_metadata(release: Release) -> None:
    assert len(release.rows) == len(RECORDS)
    for row in release.rows:
        assert list(row) == list(RELEASE_COLUMNS)
        MetadataRow.model_validate(to_isic_input(row))


# --- croissant.json ----------------------------------------------------------------------


def test_croissant_loads_in_mlcroissant_and_yields_every_record(release: Release) -> None:
    path = release.root / "croissant.json"
    write_croissant(path, document(release))

    dataset = load(path)
    issues = dataset.metadata.ctx.issues
    assert not issues.errors
    assert not issues.warnings

    records = list(dataset.records("images"))
    assert len(records) == len(release.rows)
    by_id = {record["images/image_id"].decode(): record for record in records}
    assert set(by_id) == {row["image_id"] for row in release.rows}

    first = by_id[release.rows[0]["image_id"]]
    assert first["images/patient_id"] == b"P001"
    assert first["images/age_approx"] == 40
    assert first["images/clin_size_long_diam_mm"] == pytest.approx(6.5)
    assert first["images/acquisition_day"] == 0
    assert first["images/personal_hx_mm"] is False
    assert first["images/family_hx_mm"] is True
    assert first["images/melanocytic"] is True
    assert first["images/diagnosis_3"] == b"Melanoma in situ"
    assert first["images/diagnosis_4"] is None
    assert first["images/category"] == b"MEL"
    assert first["images/diagnosis_confirm_type"] == b"histopathology"
    assert by_id[release.rows[4]["image_id"]]["images/age_approx"] is None

    # Every record carries its own image: the join on filename matched the right file.
    for row in release.rows:
        image = by_id[row["image_id"]]["images/image"]
        assert isinstance(image, Image.Image)
        with Image.open(release.root / "images" / row["filename"]) as expected:
            np.testing.assert_array_equal(
                np.asarray(image.convert("RGB")), np.asarray(expected.convert("RGB"))
            )


def test_croissant_carries_the_rai_fields(release: Release) -> None:
    doc = document(release)
    assert doc["conformsTo"] == [
        "http://mlcommons.org/croissant/1.0",
        "http://mlcommons.org/croissant/RAI/1.0",
    ]
    expected = {
        "rai:dataCollection",
        "rai:dataCollectionType",
        "rai:dataAnnotationProtocol",
        "rai:dataAnnotationPlatform",
        "rai:annotationsPerItem",
        "rai:annotatorDemographics",
        "rai:dataAnnotationAnalysis",
        "rai:personalSensitiveInformation",
        "rai:dataUseCases",
        "rai:dataLimitations",
        "rai:dataBiases",
    }
    assert expected <= set(doc)
    assert "mobile (smartphone) dermatoscopes" in doc["rai:dataCollection"]
    assert "three distinct specialists" in doc["rai:dataAnnotationProtocol"]
    assert "histopathology" in doc["rai:dataAnnotationProtocol"]
    assert "Not recorded" in doc["rai:annotatorDemographics"][0]
    analysis = doc["rai:dataAnnotationAnalysis"][0]
    assert "Fleiss' kappa 0.612" in analysis
    assert "Krippendorff's alpha (nominal) 0.588" in analysis
    assert "80.0%" in analysis
    assert "pseudonym" in " ".join(doc["rai:personalSensitiveInformation"])
    assert "I: 1, II: 2, III: 1, IV: 1, V: 1, VI: 0" in doc["rai:dataBiases"][0]
    gates = doc["rai:dataPreprocessingProtocol"]
    assert "Release gate stage (version 1) left out 4 images" in " ".join(gates)

    path = release.root / "croissant.json"
    write_croissant(path, doc)
    metadata = load(path).metadata
    assert metadata.data_collection == doc["rai:dataCollection"]
    assert metadata.data_annotation_analysis == doc["rai:dataAnnotationAnalysis"]
    assert metadata.personal_sensitive_information == doc["rai:personalSensitiveInformation"]
    assert metadata.data_biases == doc["rai:dataBiases"]


def test_rai_texts_say_when_agreement_is_not_computable(release: Release) -> None:
    table = CohortTable.from_rows(release.rows)
    none = {key: None for key in AGREEMENT}
    doc = document(release, rai=RaiFacts.from_release(table, none))
    analysis = doc["rai:dataAnnotationAnalysis"][0]
    assert "Fleiss' kappa not computable" in analysis
    assert "mean pairwise agreement not computable" in analysis
    assert doc["rai:dataPreprocessingProtocol"][1:] == []  # no gates given


def test_distribution_describes_the_files(release: Release) -> None:
    csv_file, images = document(release)["distribution"]
    assert csv_file["contentUrl"] == "metadata.csv"
    assert csv_file["sha256"] == release.csv_sha256
    assert images["@type"] == "cr:FileSet"
    assert images["includes"] == ["images/*.jpg", "images/*.png"]
    assert images["encodingFormat"] == ["image/jpeg", "image/png"]
    assert f"({sum(size for _, _, size in release.files)} bytes)" in images["description"]


def test_mlcroissant_checks_the_csv_digest(release: Release) -> None:
    path = release.root / "croissant.json"
    write_croissant(path, document(release, csv_sha256="0" * 64))
    with pytest.raises(mlc.GenerationError, match=r"Download\(metadata\.csv\)") as excinfo:
        list(load(path).records("images"))
    assert "Hash of downloaded file" in str(excinfo.value.__cause__)


def test_extra_files_are_listed_with_their_digest(release: Release) -> None:
    annotations = b"image_id,kind,actor,diagnosis\n"
    (release.root / "annotations.csv").write_bytes(annotations)
    extra = [
        (
            "annotations.csv",
            hashlib.sha256(annotations).hexdigest(),
            len(annotations),
            "text/csv",
        )
    ]
    path = release.root / "croissant.json"
    write_croissant(path, document(release, extra_files=extra))
    dataset = load(path)
    assert not dataset.metadata.ctx.issues.errors
    assert [f.name for f in dataset.metadata.file_objects] == ["metadata.csv", "annotations.csv"]
    assert len(list(dataset.records("images"))) == len(release.rows)


def test_optional_url_and_citation(release: Release) -> None:
    doc = document(release, url="https://example.org/dermledger", cite_as=None)
    assert doc["url"] == "https://example.org/dermledger"
    assert "citeAs" not in doc
    assert "url" not in document(release)


@pytest.mark.parametrize(
    "change",
    [
        "a row whose file is missing",
        "a file without a row",
        "a file outside images/",
        "a filename that is not the image_id",
        "a file_name that is not images/<filename>",
        "a missing column",
        "a bad digest",
    ],
)
def test_croissant_refuses_inconsistent_inputs(release: Release, change: str) -> None:
    rows, files, digest = [dict(r) for r in release.rows], list(release.files), release.csv_sha256
    if change == "a row whose file is missing":
        files = files[1:]
    elif change == "a file without a row":
        rows = rows[1:]
    elif change == "a file outside images/":
        files[0] = ("other/" + files[0][0].split("/")[1], files[0][1], files[0][2])
    elif change == "a filename that is not the image_id":
        rows[0]["filename"] = "IMG_0001.jpg"
    elif change == "a file_name that is not images/<filename>":
        rows[0]["file_name"] = rows[0]["filename"]
    elif change == "a missing column":
        del rows[0]["verification_stage"]
    else:
        digest = "ABC"
    with pytest.raises(ValueError):
        document(release, metadata_rows=rows, image_files=files, csv_sha256=digest)


def test_croissant_bytes_are_reproducible(release: Release, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_croissant(first, document(release))
    # The same inputs, the image files listed in another order: the same bytes.
    write_croissant(second, document(release, image_files=list(reversed(release.files))))
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert data.endswith(b"}\n")
    assert list(json.loads(data))[:4] == ["@context", "@type", "name", "description"]
    assert croissant_json(document(release)) == data


# --- the cohort table --------------------------------------------------------------------


def test_cohort_table_counts(release: Release) -> None:
    table = CohortTable.from_rows(release.rows)
    assert table.images == 6
    assert table.patients == 4
    assert table.lesions == 6
    assert table.categories == (
        ("MEL", 1), ("BCC", 1), ("SCC", 0), ("NV", 2), ("BKL", 1),
        ("DF", 0), ("VASC", 0), ("AK", 0), ("OTHER", 1),
    )  # fmt: skip
    assert (table.malignant, table.malignant_histology) == (2, 2)
    assert (table.other_malignant, table.other_malignant_histology) == (1, 1)
    assert table.histology == 3
    assert table.stages == (("clinical", 0), ("consensus", 3), ("histology", 3))
    assert table.sex_patients == (("female", 2), ("male", 2))
    assert table.age_patients == ((5, 1), (40, 1), (60, 1))
    assert (table.age_median, table.age_min, table.age_max) == (40.0, 5, 60)
    assert table.age_not_recorded == 1
    assert table.fitzpatrick_patients == (
        ("I", 1), ("II", 1), ("III", 1), ("IV", 0), ("V", 0), ("VI", 0), ("inconsistent", 1),
    )  # fmt: skip
    assert table.fitzpatrick_images == (
        ("I", 1), ("II", 2), ("III", 1), ("IV", 1), ("V", 1), ("VI", 0),
    )  # fmt: skip
    assert table.sites == (
        (("Head and neck", "Head"), 1),
        (("Trunk", "Posterior trunk"), 1),
        (("Upper extremity", "Forearm"), 1),
        (("Lower extremity", "Lower leg"), 2),
        (("not recorded", ""), 1),
    )


def test_cohort_table_does_not_depend_on_row_order(release: Release) -> None:
    assert CohortTable.from_rows(reversed(release.rows)) == CohortTable.from_rows(release.rows)


def test_cohort_table_of_nothing() -> None:
    table = CohortTable.from_rows([])
    assert (table.images, table.patients, table.malignant) == (0, 0, 0)
    assert table.age_median is None and table.age_min is None
    assert table.sex_patients == (("female", 0), ("male", 0))


@pytest.mark.parametrize(
    ("column", "value"),
    [("category", "MELANOMA"), ("category", ""), ("verification_stage", "draft"),
     ("age_approx", "forty")],
)  # fmt: skip
def test_cohort_table_refuses_unknown_values(release: Release, column: str, value: str) -> None:
    rows = [dict(row) for row in release.rows]
    rows[0][column] = value
    with pytest.raises(ValueError, match=repr(value)):
        CohortTable.from_rows(rows)


# --- datasheet.md and charts -------------------------------------------------------------


def png_chunks(data: bytes) -> list[bytes]:
    assert data.startswith(PNG_SIGNATURE)
    chunks, i = [], len(PNG_SIGNATURE)
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        chunks.append(data[i + 4 : i + 8])
        i += 12 + length
    return chunks


def write(release: Release, out: Path) -> list[str]:
    return write_datasheet(
        out,
        name="dermledger-demo-2026-03",
        table=CohortTable.from_rows(release.rows),
        gates=GATES,
        agreement=AGREEMENT,
        as_of=AS_OF,
    )


def test_datasheet_has_the_cohort_table_agreement_and_gates(release: Release) -> None:
    written = write(release, release.root)
    assert written == sorted(["datasheet.md", *CHART_FILES.values()])
    text = (release.root / "datasheet.md").read_text(encoding="utf-8")
    lines = text.splitlines()

    assert lines[0] == "# Datasheet: dermledger-demo-2026-03"
    assert "as of ledger position 1234, recorded at 2026-03-01T12:00:00Z" in text
    for row in [
        "| Patients | 4 |",
        "| female | 2 (50.0%) |",
        "| Images | 6 |",
        "| MEL (melanoma) | 1 (16.7%) |",
        "| SCC (squamous cell carcinoma) | 0 (0.0%) |",
        "| OTHER (other) | 1 (16.7%) |",
        "| **Malignant (MEL, BCC, SCC)** | 2 (33.3%) |",
        "| histologically verified | 2 (100.0%) |",
        "| **Other malignant labels (in OTHER)** | 1 (16.7%) |",
        "| consensus | 3 (50.0%) |",
        "| inconsistent | 1 (25.0%) |",
        "| age not recorded | 1 (25.0%) |",
        "| Lower extremity / Lower leg | 2 (33.3%) |",
        "| not recorded | 1 (16.7%) |",
    ]:
        assert row in lines, row
    assert any("age_approx" in line and line.endswith("| 40 (5\u201360) |") for line in lines)
    assert any(line.startswith("| Fleiss' kappa | 0.612 | 5 images") for line in lines)
    assert any(line.startswith("| Krippendorff's alpha (nominal) | 0.588 |") for line in lines)

    # What is left out and why: every gate, its version, count and reason.
    for gate in GATES:
        description = gate.description.replace("|", "\\|")
        assert f"| {gate.name} | {gate.version} | {gate.excluded} | {description} |" in lines
    assert "| **Total left out** | | 11 | |" in lines
    assert "nothing is dropped silently" in text

    for chart in CHART_FILES.values():
        assert f"]({chart})" in text


def test_charts_are_valid_pngs_without_text_or_time(release: Release) -> None:
    write(release, release.root)
    for chart in CHART_FILES.values():
        data = (release.root / chart).read_bytes()
        assert set(png_chunks(data)) == {b"IHDR", b"pHYs", b"IDAT", b"IEND"}, chart
        with Image.open(release.root / chart) as image:
            image.verify()
        with Image.open(release.root / chart) as image:
            assert image.format == "PNG"
            # 7 inches wide at 100 dpi (sex: half of it); 3.6 inches high but the sites.
            assert image.width == (350 if chart == CHART_FILES["sex"] else 700)
            image.load()
    with Image.open(release.root / CHART_FILES["sites"]) as image:
        assert image.height == round(100 * (1.2 + 0.28 * 5))  # five site rows


def test_datasheet_bytes_are_reproducible(release: Release, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    written = write(release, one)
    assert write(release, two) == written
    for name in written:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_datasheet_of_an_empty_release(tmp_path: Path) -> None:
    empty = {key: None for key in AGREEMENT} | {"fleiss_items": 0, "alpha_items": 0}
    written = write_datasheet(
        tmp_path, name="empty", table=CohortTable.from_rows([]), gates=[], agreement=empty, as_of={}
    )
    text = (tmp_path / "datasheet.md").read_text(encoding="utf-8")
    assert "| Images | 0 |" in text
    assert "not computable" in text
    assert "| (no gates reported) | | 0 | |" in text
    for name in written:
        assert (tmp_path / name).stat().st_size > 0
