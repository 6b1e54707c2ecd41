"""croissant.json: Croissant 1.0 with the RAI 1.0 fields, as deterministic bytes.

The design is described in `columns.py`; mlcroissant loads it in the tests.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from dermledger.policies.categories import MALIGNANT
from dermledger.policies.metadata_schema import (
    AGE_APPROX_CAP,
)
from dermledger.projections.release.cohort import CohortTable
from dermledger.projections.release.columns import (
    COLUMN_DESCRIPTIONS,
    COLUMN_TYPES,
    CROISSANT_CONFORMS_TO,
    CROISSANT_CONTEXT,
    DASH,
    HEX64,
    IMAGE_FIELD,
    IMAGE_FORMATS,
    IMAGES_FILESET,
    METADATA_FILE,
    RECORD_SET,
    RELEASE_COLUMNS,
)


@dataclass(frozen=True, slots=True)
class GateCount:
    """What one release gate left out: `excluded` images, and why (`description`)."""

    name: str
    version: str
    excluded: int
    description: str


@dataclass(frozen=True, slots=True)
class RaiFacts:
    """The numbers behind the Croissant RAI texts; `from_release` computes them."""

    images: int
    patients: int
    categories: tuple[tuple[str, int], ...]  # all nine codes, in the study's order
    malignant: int
    malignant_histology: int
    fitzpatrick_images: tuple[tuple[str, int], ...]
    sex_patients: tuple[tuple[str, int], ...]
    age_min: int | None
    age_max: int | None
    fleiss_kappa: float | None
    fleiss_ratings_per_item: int | None
    fleiss_items: int
    krippendorff_alpha: float | None
    alpha_items: int
    percent_agreement: float | None
    gates: tuple[GateCount, ...] = ()

    @classmethod
    def from_release(
        cls,
        table: CohortTable,
        agreement: Mapping[str, Any],
        gates: Sequence[GateCount] = (),
    ) -> RaiFacts:
        """From the cohort table, `AgreementReport.as_dict()` and the release gates."""
        return cls(
            images=table.images,
            patients=table.patients,
            categories=table.categories,
            malignant=table.malignant,
            malignant_histology=table.malignant_histology,
            fitzpatrick_images=table.fitzpatrick_images,
            sex_patients=table.sex_patients,
            age_min=table.age_min,
            age_max=table.age_max,
            fleiss_kappa=agreement.get("fleiss_kappa"),
            fleiss_ratings_per_item=agreement.get("fleiss_ratings_per_item"),
            fleiss_items=int(agreement.get("fleiss_items") or 0),
            krippendorff_alpha=agreement.get("krippendorff_alpha"),
            alpha_items=int(agreement.get("alpha_items") or 0),
            percent_agreement=agreement.get("percent_agreement"),
            gates=tuple(gates),
        )


def _stat(value: float | None) -> str:
    return "not computable" if value is None else f"{value:.3f}"


def _listing(pairs: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{key}: {n}" for key, n in pairs)


_DATA_COLLECTION_TYPE: Final = ("Direct measurement", "Manual Human Curator")

_DATA_COLLECTION_MISSING_DATA: Final = (
    "Optional metadata fields may be empty in metadata.csv; an empty cell means "
    "not recorded. Nothing is imputed."
)

_DATA_ANNOTATION_PROTOCOL: Final = (
    "Staged verification of every diagnosis, recorded as signed events: (1) an "
    "initial clinical annotation (ISIC diagnosis label and dermoscopic "
    "structures) by an annotator; (2) consensus review by three distinct "
    "specialists, none of them the initial annotator, each voting an ISIC "
    "diagnosis mapped to one of nine categories (MEL, BCC, SCC, NV, BKL, DF, "
    "VASC, AK, OTHER); a category chosen by at least two of three is the "
    "consensus, and a three-way split is resolved by histology or a further "
    "reader; (3) histopathology, required for every malignant label (MEL, BCC, "
    "SCC), whose diagnosis is then the label; disagreement with the consensus is "
    "recorded as discordance. Only images at stage consensus or histology are "
    "released; verification_stage and diagnosis_confirm_type give each image's "
    "stage."
)

_DATA_ANNOTATION_PLATFORM: Final = (
    "DermLedger command line: annotations, consensus votes and histology results "
    "are appended as Ed25519-signed events by enrolled actors with the annotator, "
    "specialist and pathologist roles; the audit trail keeps every vote.",
)

_ANNOTATIONS_PER_ITEM: Final = (
    "One initial clinical annotation, three specialist consensus votes (a further "
    "reader's vote where a three-way split was broken that way) and, for every "
    "malignant lesion and wherever ordered, one histopathology result."
)

_ANNOTATOR_DEMOGRAPHICS: Final = (
    "Not recorded. Annotators are the study's clinicians (annotators, specialist "
    "dermatologists and pathologists), identified in the ledger only by actor name "
    "and key.",
)

_DATA_USE_CASES: Final = (
    "Training, validation and testing of dermoscopic skin-lesion classifiers for "
    "the nine diagnostic categories.",
    "Research on dermoscopy with histologically verified malignant labels, and on "
    "inter-rater agreement.",
)

_PERSONAL_SENSITIVE_INFORMATION: Final = (
    "Health data: diagnoses, histology results and images of patients' skin.",
    "Patients and lesions appear only by pseudonym (patient_id, lesion_id); no "
    "names, record numbers or dates of birth are released. Personal data the "
    "study holds is encrypted per patient and never published.",
    f"Age is published only as age_approx (nearest 5 years, capped at "
    f"{AGE_APPROX_CAP}); sex and Fitzpatrick skin type are released.",
)

_DATA_RELEASE_MAINTENANCE_PLAN: Final = (
    "Point-in-time releases: each is signed (manifest.json) and never changed; "
    "later releases follow the ledger, so consent withdrawals and exclusions take "
    "effect in the next release."
)

_RELEASED_LABEL: Final = (
    "The released label is the histology diagnosis where there is one, else the "
    "consensus category's diagnosis; individual votes are kept in annotations.csv."
)


def _rai_collection(rai: RaiFacts) -> str:
    """What was collected, how, and how much is in this release."""
    return (
        "Dermoscopic images of skin lesions, captured with mobile (smartphone) "
        "dermatoscopes under the study's standard operating procedure (SOP), whose "
        "checklist is recorded with every capture. Each image is described by 16 "
        "structured metadata fields in ISIC Archive notation. Every capture, edit, "
        "annotation and decision is an Ed25519-signed, append-only event in the "
        "DermLedger ledger; provenance.jsonl gives each image's events with Merkle "
        "inclusion proofs. Exact and perceptual duplicates are flagged and resolved "
        f"by a coordinator before release. This release: {rai.images} images of "
        f"{rai.patients} patients."
    )


def _rai_agreement(rai: RaiFacts) -> str:
    """The consensus panel's agreement statistics, as the datasheet computes them."""
    readers = rai.fleiss_ratings_per_item
    return (
        f"Inter-rater agreement of the consensus panel on the nine categories: Fleiss' "
        f"kappa {_stat(rai.fleiss_kappa)} (over {rai.fleiss_items} images with exactly "
        f"{readers if readers is not None else 'the modal number of'} votes), "
        f"Krippendorff's alpha (nominal) {_stat(rai.krippendorff_alpha)} (over "
        f"{rai.alpha_items} images with two or more votes), mean pairwise agreement "
        + (
            "not computable"
            if rai.percent_agreement is None
            else f"{100 * rai.percent_agreement:.1f}%"
        )
        + ". Computed with statsmodels (Fleiss) and krippendorff (alpha); see datasheet.md."
    )


def _rai_biases(rai: RaiFacts) -> list[str]:
    """Who is represented, and who is not: skin types, sex and ages."""
    ages = (
        f"ages (age_approx) {rai.age_min}{DASH}{rai.age_max}"
        if rai.age_min is not None
        else "no age recorded"
    )
    return [
        "Fitzpatrick skin types (images): "
        + _listing(rai.fitzpatrick_images)
        + ". Types with few or no images are under-represented; models trained on "
        "this release may perform worse on them.",
        f"Patients: {_listing(rai.sex_patients)}; {ages}.",
        "Images are of lesions clinicians chose to capture under the SOP; category "
        "frequencies reflect that selection, not population prevalence.",
    ]


def _rai_limitations(rai: RaiFacts) -> list[str]:
    """What the release cannot support: few malignant lesions, one device, no clinic use."""
    malignant = [(code, n) for code, n in rai.categories if code in MALIGNANT]
    return [
        f"Few malignant lesions: {rai.malignant} ({_listing(malignant)}), "
        f"{rai.malignant_histology} of them histologically verified. Benign labels "
        "rest on specialist consensus unless histology was done.",
        "One study and one kind of device: results may not transfer to other "
        "dermatoscopes, clinical settings or populations.",
        "Not validated for clinical diagnosis; not a substitute for a clinician.",
    ]


def _rai(rai: RaiFacts) -> dict[str, Any]:
    """The Croissant RAI properties that apply to the study and this release."""
    gates = [
        f"Release gate {g.name} (version {g.version}) left out {g.excluded} images: {g.description}"
        for g in rai.gates
    ]
    return {
        "rai:dataCollection": _rai_collection(rai),
        "rai:dataCollectionType": list(_DATA_COLLECTION_TYPE),
        "rai:dataCollectionMissingData": _DATA_COLLECTION_MISSING_DATA,
        "rai:dataPreprocessingProtocol": [
            "Images are released as captured (JPEG or PNG), named <image_id>.<ext>; "
            "ages are published only as age_approx (nearest 5 years, capped at "
            f"{AGE_APPROX_CAP}); labels are split into ISIC's five levels.",
            *gates,
        ],
        "rai:dataAnnotationProtocol": _DATA_ANNOTATION_PROTOCOL,
        "rai:dataAnnotationPlatform": list(_DATA_ANNOTATION_PLATFORM),
        "rai:dataAnnotationAnalysis": [_rai_agreement(rai), _RELEASED_LABEL],
        "rai:annotationsPerItem": _ANNOTATIONS_PER_ITEM,
        "rai:annotatorDemographics": list(_ANNOTATOR_DEMOGRAPHICS),
        "rai:dataBiases": _rai_biases(rai),
        "rai:dataUseCases": list(_DATA_USE_CASES),
        "rai:dataLimitations": _rai_limitations(rai),
        "rai:personalSensitiveInformation": list(_PERSONAL_SENSITIVE_INFORMATION),
        "rai:dataReleaseMaintenancePlan": _DATA_RELEASE_MAINTENANCE_PLAN,
    }


def _checked_files(
    metadata_rows: Iterable[Mapping[str, str]], image_files: Sequence[tuple[str, str, int]]
) -> list[tuple[str, str, int]]:
    """The image files, sorted, after checking they match metadata.csv one to one."""
    files = sorted(image_files)
    for path, sha256, size in files:
        parts = PurePosixPath(path).parts
        ext = PurePosixPath(path).suffix.lstrip(".")
        if len(parts) != 2 or parts[0] != "images" or ext not in IMAGE_FORMATS:
            raise ValueError(f"image file {path!r} is not images/<image_id>.<jpg|png>")
        if not HEX64.fullmatch(sha256) or size < 0:
            raise ValueError(f"image file {path!r} needs a lowercase hex SHA-256 and a size")
    names = Counter(PurePosixPath(path).name for path, _, _ in files)
    for row in metadata_rows:
        if set(row) != set(RELEASE_COLUMNS):
            raise ValueError(
                f"metadata row {row.get('image_id')!r} does not have exactly the release columns"
            )
        filename = row["filename"]
        if PurePosixPath(filename).stem != row["image_id"]:
            raise ValueError(f"filename {filename!r} is not <image_id>.<ext>")
        if row["file_name"] != f"images/{filename}":
            raise ValueError(f"file_name {row['file_name']!r} is not images/{filename}")
        names[filename] -= 1
    unmatched = sorted(name for name, n in names.items() if n != 0)
    if unmatched:
        raise ValueError(
            f"metadata.csv and images/ do not match one to one: {', '.join(unmatched[:5])}"
        )
    return files


def _field(column: str) -> dict[str, Any]:
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{RECORD_SET}/{column}",
        "name": column,
        "description": COLUMN_DESCRIPTIONS[column],
        "dataType": COLUMN_TYPES[column],
        "source": {"fileObject": {"@id": METADATA_FILE}, "extract": {"column": column}},
    }
    if column == "filename":
        field["references"] = {
            "fileSet": {"@id": IMAGES_FILESET},
            "extract": {"fileProperty": "filename"},
        }
    return field


KEYWORDS: Final = ("dermoscopy", "skin lesion", "dermatology", "melanoma", "histopathology", "ISIC")


def croissant_document(
    *,
    name: str,
    description: str,
    version: str,
    date_published: str,
    license: str,
    url: str | None,
    metadata_rows: Collection[Mapping[str, str]],
    image_files: list[tuple[str, str, int]],
    csv_sha256: str,
    rai: RaiFacts,
    cite_as: str | None = None,
    extra_files: Sequence[tuple[str, str, int, str]] = (),
) -> dict[str, Any]:
    """The release's Croissant 1.0 JSON-LD with the RAI properties that apply.

    `image_files` are (relative path, sha256 hex, bytes) of images/; they must match the
    rows' `filename` one to one. `extra_files` are further files to list with their digest,
    as (relative path, sha256 hex, bytes, MIME type), e.g. annotations.csv. Raises
    ValueError when rows, files or digests are inconsistent.
    """
    if not HEX64.fullmatch(csv_sha256):
        raise ValueError("csv_sha256 must be a lowercase hex SHA-256")
    files = _checked_files(metadata_rows, image_files)
    doc: dict[str, Any] = {
        "@context": dict(CROISSANT_CONTEXT),
        "@type": "sc:Dataset",
        "name": name,
        "description": description,
        "conformsTo": list(CROISSANT_CONFORMS_TO),
    }
    if cite_as:
        doc["citeAs"] = cite_as
    doc |= {"version": version, "datePublished": date_published, "license": license}
    if url:
        doc["url"] = url
    doc["keywords"] = list(KEYWORDS)
    doc |= _rai(rai)
    doc["distribution"] = [
        _metadata_file(len(metadata_rows), csv_sha256),
        _image_fileset(files),
        *(_extra_file(*extra) for extra in sorted(extra_files)),
    ]
    doc["recordSet"] = [_record_set()]
    return doc


def _metadata_file(rows: int, csv_sha256: str) -> dict[str, Any]:
    """metadata.csv, with the digest mlcroissant checks on load."""
    return {
        "@type": "cr:FileObject",
        "@id": METADATA_FILE,
        "name": METADATA_FILE,
        "description": (
            f"One row per released image ({rows} rows), ISIC published "
            "notation plus image_id, filename, category, verification_stage and "
            "file_name (the image's path, for Hugging Face datasets' imagefolder)."
        ),
        "contentUrl": METADATA_FILE,
        "encodingFormat": "text/csv",
        "sha256": csv_sha256,
    }


def _image_fileset(files: list[tuple[str, str, int]]) -> dict[str, Any]:
    """images/ as a FileSet: per-image digests live in the signed manifest."""
    extensions = sorted({PurePosixPath(path).suffix.lstrip(".") for path, _, _ in files})
    extensions = extensions or sorted(IMAGE_FORMATS)
    total = sum(size for _, _, size in files)
    return {
        "@type": "cr:FileSet",
        "@id": IMAGES_FILESET,
        "name": IMAGES_FILESET,
        "description": (
            f"The {len(files)} image files ({total} bytes), named <image_id>.<ext>; "
            "the SHA-256 of each is listed in the signed manifest.json."
        ),
        "encodingFormat": [IMAGE_FORMATS[ext] for ext in extensions],
        "includes": [f"images/*.{ext}" for ext in extensions],
    }


def _extra_file(path: str, sha256: str, size: int, mime: str) -> dict[str, Any]:
    """A further file of the release (e.g. annotations.csv) with its digest."""
    if not HEX64.fullmatch(sha256):
        raise ValueError(f"file {path!r} needs a lowercase hex SHA-256")
    return {
        "@type": "cr:FileObject",
        "@id": path,
        "name": path,
        "contentUrl": path,
        "contentSize": f"{size} B",
        "encodingFormat": mime,
        "sha256": sha256,
    }


def _record_set() -> dict[str, Any]:
    """One record per released image: every metadata.csv column and the image itself."""
    return {
        "@type": "cr:RecordSet",
        "@id": RECORD_SET,
        "name": RECORD_SET,
        "description": "One record per released image: its metadata and the image.",
        "key": {"@id": f"{RECORD_SET}/image_id"},
        "field": [
            *(_field(column) for column in RELEASE_COLUMNS),
            {
                "@type": "cr:Field",
                "@id": f"{RECORD_SET}/{IMAGE_FIELD}",
                "name": IMAGE_FIELD,
                "description": "The dermoscopic image, joined on filename.",
                "dataType": "sc:ImageObject",
                "source": {
                    "fileSet": {"@id": IMAGES_FILESET},
                    "extract": {"fileProperty": "content"},
                },
            },
        ],
    }


def croissant_json(doc: Mapping[str, Any]) -> bytes:
    """The document as bytes: UTF-8, 2-space indent, keys in the document's order."""
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_croissant(path: Path, doc: Mapping[str, Any]) -> None:
    """Write `doc` to `path` as `croissant_json` bytes."""
    Path(path).write_bytes(croissant_json(doc))


# --- the cohort table --------------------------------------------------------------------
