"""The documents of a release: croissant.json (Croissant 1.0 + RAI 1.0) and datasheet.md.

Why this module exists: a release (DESIGN.md section 6) is read by people and by machines.
`croissant.json` lets ML tools load it (MLCommons Croissant: files, record structure,
responsible-AI facts); `datasheet.md` is the cohort table a paper would print as its
Table 1, with charts beside it, and lists what every release gate left out and why. Both
are computed from the release's own metadata.csv rows, so anyone can recompute them.

Contract:

- `RELEASE_COLUMNS` is the exact header of metadata.csv: image_id, filename, ISIC's
  published columns (`PUBLISHED_COLUMNS`), category, verification_stage. `filename` is the
  name of the image's file inside images/, i.e. "<image_id>.jpg" or "<image_id>.png".
- `croissant_document(...)` returns the Croissant JSON-LD as a dict (insertion order is
  the order written); `write_croissant(path, doc)` writes it as deterministic bytes.
- `CohortTable.from_rows(rows)` computes the cohort table; `write_datasheet(...)` writes
  datasheet.md and its PNG charts and returns the relative paths written.
- Same inputs give byte-identical croissant.json, datasheet.md and PNGs (on the same
  matplotlib, FreeType and Pillow builds).

Croissant document design (checked by loading it with `mlcroissant.Dataset` in the tests):

- conformsTo Croissant 1.0 (the final specification; 1.1 is a release candidate) and
  Croissant RAI 1.0; the @context is mlcroissant's standard 1.0 context, `rai` included.
- distribution: a FileObject for metadata.csv with its SHA-256 (mlcroissant checks it on
  load) and a FileSet for images/ (`includes` images/*.jpg and/or images/*.png). Per-image
  SHA-256 digests live in the signed manifest.json, which cannot be listed here because it
  lists this file's own digest.
- one RecordSet "images", one record per metadata.csv row: a field per column with its
  schema.org type (sc:Integer for age_approx and acquisition_day, sc:Float for
  clin_size_long_diam_mm, sc:Boolean for the three flags, sc:Text otherwise) and an
  `image` field (sc:ImageObject). The image is joined on `filename`: the metadata column
  references the FileSet's `filename` file property. (Joining on image_id would need a
  regex on the FileSet side, and mlcroissant's join then shadows the csv's own `filename`
  column with the file property; joining on filename avoids both.)

Known mlcroissant behaviour, not ours: it reads metadata.csv with pandas' type inference,
so an all-digit pseudonym such as "007" would come back as "7"; and it decodes every image
of the FileSet before yielding the first record.

matplotlib and charts: imported lazily (matplotlib takes a second to import, and the CLI
must start fast). Figures are drawn with the object-oriented API on an Agg canvas, under
matplotlib's "default" style (so no matplotlibrc changes the bytes), at a fixed size and
dpi, and saved with `metadata={"Software": None}`: Agg writes no other text chunk and no
timestamp into a PNG.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from isic_metadata import AnatomSiteEnum, FitzpatrickSkinType

from dermledger.policies.categories import CATEGORIES, CATEGORY_NAMES, MALIGNANT
from dermledger.policies.metadata_schema import (
    AGE_APPROX_CAP,
    FIELDS,
    PUBLISHED_COLUMNS,
    VERIFICATION_STAGES,
)

__all__ = [
    "CHART_FILES",
    "CROISSANT_CONFORMS_TO",
    "CROISSANT_CONTEXT",
    "NOT_RECORDED",
    "RELEASE_COLUMNS",
    "CohortTable",
    "GateCount",
    "RaiFacts",
    "croissant_document",
    "croissant_json",
    "write_croissant",
    "write_datasheet",
]

RELEASE_COLUMNS: Final[tuple[str, ...]] = (
    "image_id",
    "filename",
    *PUBLISHED_COLUMNS,
    "category",
    "verification_stage",
)

NOT_RECORDED: Final = "not recorded"
INCONSISTENT: Final = "inconsistent"  # a patient's images disagree on a patient-level field

_DASH: Final = "\u2013"  # an en dash, escaped to keep sources ASCII
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_IMAGE_FORMATS: Final[dict[str, str]] = {"jpg": "image/jpeg", "png": "image/png"}
_SEX_ORDER: Final[tuple[str, ...]] = ("female", "male")
_FITZPATRICK: Final[tuple[str, ...]] = tuple(str(m.value) for m in FitzpatrickSkinType)

# --- Croissant ---------------------------------------------------------------------------

CROISSANT_VERSION: Final = "http://mlcommons.org/croissant/1.0"
RAI_VERSION: Final = "http://mlcommons.org/croissant/RAI/1.0"
CROISSANT_CONFORMS_TO: Final[tuple[str, ...]] = (CROISSANT_VERSION, RAI_VERSION)

# mlcroissant's standard @context for Croissant 1.0 (`rai` included); a unit test keeps
# it equal to `mlcroissant._src.core.rdf.make_context` for 1.0.
CROISSANT_CONTEXT: Final[dict[str, Any]] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

METADATA_FILE: Final = "metadata.csv"
IMAGES_FILESET: Final = "image-files"  # @ids are IRIs: unique across the document
RECORD_SET: Final = "images"
IMAGE_FIELD: Final = "image"

_DATA_TYPE_OF: Final[dict[str, str]] = {
    "integer": "sc:Integer",
    "number": "sc:Float",
    "boolean": "sc:Boolean",
}


def _column_types() -> dict[str, str]:
    """schema.org data type of every metadata.csv column, derived from the field specs."""
    types = dict.fromkeys(RELEASE_COLUMNS, "sc:Text")
    for spec in FIELDS.values():
        for column in spec.published:
            if column in types:
                types[column] = _DATA_TYPE_OF.get(spec.type, "sc:Text")
    return types


COLUMN_TYPES: Final[dict[str, str]] = _column_types()

_LEVELS: Final = "level {n} of 5 of the ISIC hierarchical {kind} label (empty below the deepest)"
COLUMN_DESCRIPTIONS: Final[dict[str, str]] = {
    "image_id": "Ledger identifier of the image; its file is images/<image_id>.<jpg|png>.",
    "filename": "Name of the image's file inside images/ (<image_id>.jpg or <image_id>.png).",
    "patient_id": "Pseudonym of the patient; never a name or a record number.",
    "age_approx": (
        f"Age in years at capture, rounded to the nearest 5 years and capped at "
        f"{AGE_APPROX_CAP} (ISIC age_approx); the exact age is not released."
    ),
    "sex": "Sex of the patient: female or male.",
    "fitzpatrick_skin_type": "Fitzpatrick skin phototype, I to VI.",
    "personal_hx_mm": "Personal history of melanoma.",
    "family_hx_mm": "Family history of melanoma.",
    "lesion_id": "Pseudonym of the lesion; images of one lesion share it.",
    **{
        f"anatom_site_{n}": f"Anatomic site, {_LEVELS.format(n=n, kind='anatom_site')}."
        for n in range(1, 6)
    },
    "clin_size_long_diam_mm": "Longest clinical diameter of the lesion, in millimetres.",
    "image_type": "ISIC image type (dermoscopic for the study's captures).",
    "dermoscopic_type": "Dermoscopy mode: contact or non-contact, polarized or not.",
    "acquisition_day": "Day of capture, counted in days from the study's reference day.",
    **{
        f"diagnosis_{n}": f"Diagnosis, {_LEVELS.format(n=n, kind='diagnosis')}."
        for n in range(1, 6)
    },
    "diagnosis_confirm_type": (
        "How the diagnosis was confirmed (ISIC): single image expert consensus or "
        "histopathology, following verification_stage."
    ),
    "melanocytic": "Whether the lesion is melanocytic, as implied by the diagnosis.",
    "category": (
        "Diagnostic category of the study, one of "
        + ", ".join(f"{code} ({CATEGORY_NAMES[code]})" for code in CATEGORIES)
        + "; MEL, BCC and SCC are malignant."
    ),
    "verification_stage": (
        "Highest verification stage reached: clinical (initial annotation), consensus "
        "(three specialists) or histology (histopathology)."
    ),
}


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


def _rai(rai: RaiFacts) -> dict[str, Any]:
    """The Croissant RAI properties that apply to the study and this release."""
    malignant = [(code, n) for code, n in rai.categories if code in MALIGNANT]
    ages = (
        f"ages (age_approx) {rai.age_min}{_DASH}{rai.age_max}"
        if rai.age_min is not None
        else "no age recorded"
    )
    readers = rai.fleiss_ratings_per_item
    agreement = (
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
    gates = [
        f"Release gate {g.name} (version {g.version}) left out {g.excluded} images: {g.description}"
        for g in rai.gates
    ]
    return {
        "rai:dataCollection": (
            "Dermoscopic images of skin lesions, captured with mobile (smartphone) "
            "dermatoscopes under the study's standard operating procedure (SOP), whose "
            "checklist is recorded with every capture. Each image is described by 16 "
            "structured metadata fields in ISIC Archive notation. Every capture, edit, "
            "annotation and decision is an Ed25519-signed, append-only event in the "
            "DermLedger ledger; provenance.jsonl gives each image's events with Merkle "
            "inclusion proofs. Exact and perceptual duplicates are flagged and resolved "
            f"by a coordinator before release. This release: {rai.images} images of "
            f"{rai.patients} patients."
        ),
        "rai:dataCollectionType": ["Direct measurement", "Manual Human Curator"],
        "rai:dataCollectionMissingData": (
            "Optional metadata fields may be empty in metadata.csv; an empty cell means "
            "not recorded. Nothing is imputed."
        ),
        "rai:dataPreprocessingProtocol": [
            "Images are released as captured (JPEG or PNG), named <image_id>.<ext>; "
            "ages are published only as age_approx (nearest 5 years, capped at "
            f"{AGE_APPROX_CAP}); labels are split into ISIC's five levels.",
            *gates,
        ],
        "rai:dataAnnotationProtocol": (
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
        ),
        "rai:dataAnnotationPlatform": [
            "DermLedger command line: annotations, consensus votes and histology results "
            "are appended as Ed25519-signed events by enrolled actors with the annotator, "
            "specialist and pathologist roles; the audit trail keeps every vote."
        ],
        "rai:dataAnnotationAnalysis": [
            agreement,
            "The released label is the histology diagnosis where there is one, else the "
            "consensus category's diagnosis; individual votes are kept in annotations.csv.",
        ],
        "rai:annotationsPerItem": (
            "One initial clinical annotation, three specialist consensus votes (a further "
            "reader's vote where a three-way split was broken that way) and, for every "
            "malignant lesion and wherever ordered, one histopathology result."
        ),
        "rai:annotatorDemographics": [
            "Not recorded. Annotators are the study's clinicians (annotators, specialist "
            "dermatologists and pathologists), identified in the ledger only by actor name "
            "and key."
        ],
        "rai:dataBiases": [
            "Fitzpatrick skin types (images): "
            + _listing(rai.fitzpatrick_images)
            + ". Types with few or no images are under-represented; models trained on "
            "this release may perform worse on them.",
            f"Patients: {_listing(rai.sex_patients)}; {ages}.",
            "Images are of lesions clinicians chose to capture under the SOP; category "
            "frequencies reflect that selection, not population prevalence.",
        ],
        "rai:dataUseCases": [
            "Training, validation and testing of dermoscopic skin-lesion classifiers for "
            "the nine diagnostic categories.",
            "Research on dermoscopy with histologically verified malignant labels, and on "
            "inter-rater agreement.",
        ],
        "rai:dataLimitations": [
            f"Few malignant lesions: {rai.malignant} ({_listing(malignant)}), "
            f"{rai.malignant_histology} of them histologically verified. Benign labels "
            "rest on specialist consensus unless histology was done.",
            "One study and one kind of device: results may not transfer to other "
            "dermatoscopes, clinical settings or populations.",
            "Not validated for clinical diagnosis; not a substitute for a clinician.",
        ],
        "rai:personalSensitiveInformation": [
            "Health data: diagnoses, histology results and images of patients' skin.",
            "Patients and lesions appear only by pseudonym (patient_id, lesion_id); no "
            "names, record numbers or dates of birth are released. Personal data the "
            "study holds is encrypted per patient and never published.",
            f"Age is published only as age_approx (nearest 5 years, capped at "
            f"{AGE_APPROX_CAP}); sex and Fitzpatrick skin type are released.",
        ],
        "rai:dataReleaseMaintenancePlan": (
            "Point-in-time releases: each is signed (manifest.json) and never changed; "
            "later releases follow the ledger, so consent withdrawals and exclusions take "
            "effect in the next release."
        ),
    }


def _checked_files(
    metadata_rows: Iterable[Mapping[str, str]], image_files: Sequence[tuple[str, str, int]]
) -> list[tuple[str, str, int]]:
    """The image files, sorted, after checking they match metadata.csv one to one."""
    files = sorted(image_files)
    for path, sha256, size in files:
        parts = PurePosixPath(path).parts
        ext = PurePosixPath(path).suffix.lstrip(".")
        if len(parts) != 2 or parts[0] != "images" or ext not in _IMAGE_FORMATS:
            raise ValueError(f"image file {path!r} is not images/<image_id>.<jpg|png>")
        if not _HEX64.fullmatch(sha256) or size < 0:
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
    if not _HEX64.fullmatch(csv_sha256):
        raise ValueError("csv_sha256 must be a lowercase hex SHA-256")
    files = _checked_files(metadata_rows, image_files)
    extensions = sorted({PurePosixPath(path).suffix.lstrip(".") for path, _, _ in files})
    extensions = extensions or sorted(_IMAGE_FORMATS)
    total = sum(size for _, _, size in files)

    doc: dict[str, Any] = {
        "@context": dict(CROISSANT_CONTEXT),
        "@type": "sc:Dataset",
        "name": name,
        "description": description,
        "conformsTo": list(CROISSANT_CONFORMS_TO),
    }
    if cite_as:
        doc["citeAs"] = cite_as
    doc |= {
        "version": version,
        "datePublished": date_published,
        "license": license,
    }
    if url:
        doc["url"] = url
    doc["keywords"] = [
        "dermoscopy",
        "skin lesion",
        "dermatology",
        "melanoma",
        "histopathology",
        "ISIC",
    ]
    doc |= _rai(rai)
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": METADATA_FILE,
            "name": METADATA_FILE,
            "description": (
                f"One row per released image ({len(metadata_rows)} rows), ISIC published "
                "notation plus image_id, filename, category and verification_stage."
            ),
            "contentUrl": METADATA_FILE,
            "encodingFormat": "text/csv",
            "sha256": csv_sha256,
        },
        {
            "@type": "cr:FileSet",
            "@id": IMAGES_FILESET,
            "name": IMAGES_FILESET,
            "description": (
                f"The {len(files)} image files ({total} bytes), named <image_id>.<ext>; "
                "the SHA-256 of each is listed in the signed manifest.json."
            ),
            "encodingFormat": [_IMAGE_FORMATS[ext] for ext in extensions],
            "includes": [f"images/*.{ext}" for ext in extensions],
        },
    ]
    for path, sha256, size, mime in sorted(extra_files):
        if not _HEX64.fullmatch(sha256):
            raise ValueError(f"file {path!r} needs a lowercase hex SHA-256")
        distribution.append(
            {
                "@type": "cr:FileObject",
                "@id": path,
                "name": path,
                "contentUrl": path,
                "contentSize": f"{size} B",
                "encodingFormat": mime,
                "sha256": sha256,
            }
        )
    doc["distribution"] = distribution
    doc["recordSet"] = [
        {
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
    ]
    return doc


def croissant_json(doc: Mapping[str, Any]) -> bytes:
    """The document as bytes: UTF-8, 2-space indent, keys in the document's order."""
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_croissant(path: Path, doc: Mapping[str, Any]) -> None:
    """Write `doc` to `path` as `croissant_json` bytes."""
    Path(path).write_bytes(croissant_json(doc))


# --- the cohort table --------------------------------------------------------------------


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
        images = 0  # one pass: `metadata_rows` may be a stream (a release's metadata.csv)
        categories: Counter[str] = Counter()
        stages: Counter[str] = Counter()
        fitz_images: Counter[str] = Counter()
        sites: Counter[tuple[str, str]] = Counter()
        sex_of: defaultdict[str, set[str]] = defaultdict(set)
        fitz_of: defaultdict[str, set[str]] = defaultdict(set)
        age_of: dict[str, int | None] = {}
        lesions: set[tuple[str, str]] = set()
        malignant = malignant_histology = other = other_histology = histology = 0

        for row in metadata_rows:
            images += 1
            category, stage = row.get("category", ""), row.get("verification_stage", "")
            if category not in CATEGORY_NAMES:
                raise ValueError(f"image {row.get('image_id')!r}: unknown category {category!r}")
            if stage not in VERIFICATION_STAGES:
                raise ValueError(f"image {row.get('image_id')!r}: unknown stage {stage!r}")
            categories[category] += 1
            stages[stage] += 1
            verified = stage == "histology"
            histology += verified
            if category in MALIGNANT:
                malignant += 1
                malignant_histology += verified
            elif row.get("diagnosis_1") == "Malignant":
                other += 1
                other_histology += verified

            patient = row.get("patient_id", "")
            lesions.add((patient, row.get("lesion_id", "")))
            sex_of[patient].add(row.get("sex", ""))
            fitz = row.get("fitzpatrick_skin_type", "")
            fitz_of[patient].add(fitz)
            fitz_images[fitz or NOT_RECORDED] += 1
            age = _age(row)
            known = age_of.get(patient)
            age_of[patient] = age if known is None else known if age is None else min(age, known)
            site_1 = row.get("anatom_site_1", "")
            sites[(site_1, row.get("anatom_site_2", "")) if site_1 else (NOT_RECORDED, "")] += 1

        ages = sorted(age for age in age_of.values() if age is not None)
        sex = Counter(_patient_value(values) for values in sex_of.values())
        fitz_patients = Counter(_patient_value(values) for values in fitz_of.values())
        return cls(
            images=images,
            patients=len(sex_of),
            lesions=len(lesions),
            categories=tuple((code, categories[code]) for code in CATEGORIES),
            malignant=malignant,
            malignant_histology=malignant_histology,
            other_malignant=other,
            other_malignant_histology=other_histology,
            histology=histology,
            stages=tuple((stage, stages[stage]) for stage in VERIFICATION_STAGES),
            sex_patients=tuple(_ordered(sex, _SEX_ORDER)),
            age_patients=tuple(sorted(Counter(ages).items())),
            age_median=float(statistics.median(ages)) if ages else None,
            age_min=ages[0] if ages else None,
            age_max=ages[-1] if ages else None,
            age_not_recorded=len(age_of) - len(ages),
            fitzpatrick_patients=tuple(_ordered(fitz_patients, _FITZPATRICK)),
            fitzpatrick_images=tuple(_ordered(fitz_images, _FITZPATRICK)),
            sites=tuple(
                sorted(
                    sites.items(),
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
_DPI: Final = 100
_WIDTH_IN: Final = 7.0
_MALIGNANT_COLOUR: Final = "#b2182b"
_BENIGN_COLOUR: Final = "#4d6a8a"
_SECOND_COLOUR: Final = "#9bb3c9"


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else str(n)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _site_label(site: tuple[str, str]) -> str:
    return f"{site[0]} / {site[1]}" if site[1] else site[0]


def _patients_table(t: CohortTable) -> list[str]:
    if t.age_median is None:
        age = NOT_RECORDED
    else:
        age = f"{_number(t.age_median)} ({t.age_min}{_DASH}{t.age_max})"
    lines = [
        "| Patients | n (%) |",
        "|---|---|",
        f"| Patients | {t.patients} |",
        "| **Sex** | |",
        *(f"| {_cell(k)} | {_pct(n, t.patients)} |" for k, n in t.sex_patients),
        f"| **Age, years: median (range)**, from age_approx (nearest 5 years, capped at "
        f"{AGE_APPROX_CAP}); each patient's youngest | {age} |",
    ]
    if t.age_not_recorded:
        lines.append(f"| age not recorded | {_pct(t.age_not_recorded, t.patients)} |")
    lines += [
        "| **Fitzpatrick skin type** | |",
        *(f"| {_cell(k)} | {_pct(n, t.patients)} |" for k, n in t.fitzpatrick_patients),
    ]
    return lines


def _images_table(t: CohortTable) -> list[str]:
    lines = [
        "| Images | n (%) |",
        "|---|---|",
        f"| Images | {t.images} |",
        f"| Lesions (distinct patient_id, lesion_id) | {t.lesions} |",
        "| **Diagnostic category** | |",
        *(f"| {code} ({CATEGORY_NAMES[code]}) | {_pct(n, t.images)} |" for code, n in t.categories),
        f"| **Malignant (MEL, BCC, SCC)** | {_pct(t.malignant, t.images)} |",
        f"| histologically verified | {_pct(t.malignant_histology, t.malignant)} |",
    ]
    if t.other_malignant:
        lines += [
            f"| **Other malignant labels (in OTHER)** | {_pct(t.other_malignant, t.images)} |",
            f"| histologically verified | {_pct(t.other_malignant_histology, t.other_malignant)} |",
        ]
    lines += [
        f"| **Histologically verified, any category** | {_pct(t.histology, t.images)} |",
        "| **Verification stage** | |",
        *(f"| {stage} | {_pct(n, t.images)} |" for stage, n in t.stages),
        "| **Fitzpatrick skin type** | |",
        *(f"| {_cell(k)} | {_pct(n, t.images)} |" for k, n in t.fitzpatrick_images),
        "| **Anatomic site** (anatom_site_1 / anatom_site_2) | |",
        *(f"| {_cell(_site_label(site))} | {_pct(n, t.images)} |" for site, n in t.sites),
    ]
    return lines


def _agreement_lines(agreement: Mapping[str, Any]) -> list[str]:
    kappa, alpha = agreement.get("fleiss_kappa"), agreement.get("krippendorff_alpha")
    pa = agreement.get("percent_agreement")
    readers = agreement.get("fleiss_ratings_per_item")
    why = "not computable (fewer than two usable images, or a single category voted)"
    lines = [
        "| Statistic | Value | Over |",
        "|---|---|---|",
        f"| Fleiss' kappa | {why if kappa is None else f'{kappa:.3f}'} | "
        f"{agreement.get('fleiss_items', 0)} images with exactly "
        f"{readers if readers is not None else '-'} votes; "
        f"left out: {_images(agreement.get('fleiss_excluded_items', 0))} with another "
        "number of votes |",
        f"| Krippendorff's alpha (nominal) | {why if alpha is None else f'{alpha:.3f}'} | "
        f"{agreement.get('alpha_items', 0)} images with two or more votes "
        f"({agreement.get('pairable_values', 0)} votes) |",
        f"| Mean pairwise agreement | "
        f"{'not computable' if pa is None else f'{100 * pa:.1f}%'} | "
        f"{agreement.get('alpha_items', 0)} images with two or more votes |",
    ]
    votes = agreement.get("categories")
    if isinstance(votes, Mapping) and votes:
        listing = ", ".join(f"{code} {votes.get(code, 0)}" for code in CATEGORIES)
        lines += ["", f"Votes per category ({agreement.get('n_items', 0)} images): {listing}."]
    return lines


def _gates_lines(gates: Sequence[GateCount]) -> list[str]:
    lines = [
        "Every image in the ledger that is not in this release was left out by one of "
        "these gates, applied in this order; nothing is dropped silently.",
        "",
        "| Gate | Version | Images left out | Why |",
        "|---|---|---|---|",
        *(
            f"| {_cell(g.name)} | {_cell(g.version)} | {g.excluded} | {_cell(g.description)} |"
            for g in gates
        ),
    ]
    if not gates:
        lines.append("| (no gates reported) | | 0 | |")
    lines.append(f"| **Total left out** | | {sum(g.excluded for g in gates)} | |")
    return lines


def _markdown(
    name: str,
    table: CohortTable,
    gates: Sequence[GateCount],
    agreement: Mapping[str, Any],
    as_of: Mapping[str, Any],
) -> str:
    seq, recorded_at = as_of.get("seq"), as_of.get("recorded_at")
    position = [f"ledger position {seq}"] if seq is not None else []
    position += [f"recorded at {recorded_at}"] if recorded_at is not None else []
    lines = [
        f"# Datasheet: {name}",
        "",
        f"Release `{name}` of the DermLedger study"
        + (f", as of {', '.join(position)}" if position else "")
        + ". Every number here is computed from this release's metadata.csv "
        "(agreement from its consensus votes), so it can be recomputed from the files.",
        "",
        "## Cohort",
        "",
        "Table 1a. Patients.",
        "",
        *_patients_table(table),
        "",
        "Table 1b. Images.",
        "",
        *_images_table(table),
        "",
        "## Inter-rater agreement of the consensus panel",
        "",
        *_agreement_lines(agreement),
        "",
        "## What is left out and why",
        "",
        *_gates_lines(gates),
        "",
        "## Charts",
        "",
        f"![Images per diagnostic category]({CHART_FILES['categories']})",
        "",
        f"![Patients by age (age_approx)]({CHART_FILES['age']})",
        "",
        f"![Patients by sex]({CHART_FILES['sex']})",
        "",
        f"![Fitzpatrick skin type]({CHART_FILES['fitzpatrick']})",
        "",
        f"![Anatomic sites]({CHART_FILES['sites']})",
        "",
    ]
    return "\n".join(lines)


def write_datasheet(
    out_dir: Path,
    *,
    name: str,
    table: CohortTable,
    gates: list[GateCount],
    agreement: dict[str, Any],
    as_of: dict[str, Any],
) -> list[str]:
    """Write datasheet.md and its PNG charts into `out_dir`; return their relative paths.

    `agreement` is `AgreementReport.as_dict()`; `as_of` is the manifest's
    {"seq": ..., "recorded_at": ...}. The paths are returned sorted.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / DATASHEET).write_bytes(_markdown(name, table, gates, agreement, as_of).encode())
    _charts(out, table)
    return sorted([DATASHEET, *CHART_FILES.values()])


# --- charts ------------------------------------------------------------------------------


def _charts(out: Path, t: CohortTable) -> None:
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def figure(height: float, width: float = _WIDTH_IN) -> tuple[Figure, Any]:
        fig = Figure(figsize=(width, height), layout="constrained")
        ax = fig.add_subplot()
        ax.spines[["top", "right"]].set_visible(False)
        return fig, ax

    def save(fig: Figure, key: str) -> None:
        FigureCanvasAgg(fig)
        fig.savefig(out / CHART_FILES[key], format="png", dpi=_DPI, metadata={"Software": None})

    def bars(ax: Any, labels: list[str], values: list[int], colours: Any, zeros: bool) -> None:
        container = ax.bar(range(len(labels)), values, color=colours)
        shown = [str(v) if v or zeros else "" for v in values]
        ax.bar_label(container, labels=shown, padding=2, fontsize=8)
        ax.set_xticks(range(len(labels)), labels)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("count")
        ax.margins(y=0.15)

    with matplotlib.style.context("default"):
        fig, ax = figure(3.6)
        codes = [code for code, _ in t.categories]
        colours = [_MALIGNANT_COLOUR if c in MALIGNANT else _BENIGN_COLOUR for c in codes]
        bars(ax, codes, [n for _, n in t.categories], colours, zeros=True)
        ax.set_title(f"Images per diagnostic category (n={t.images}; red: malignant)")
        save(fig, "categories")

        fig, ax = figure(3.6)
        ages = dict(t.age_patients)
        grid = list(range(0, AGE_APPROX_CAP + 1, 5))
        grid += sorted(a for a in ages if a not in grid)
        bars(ax, [str(a) for a in grid], [ages.get(a, 0) for a in grid], _BENIGN_COLOUR, False)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel(f"age_approx, years (nearest 5; {AGE_APPROX_CAP} = {AGE_APPROX_CAP}+)")
        known = t.patients - t.age_not_recorded
        ax.set_title(
            f"Patients by age, each patient's youngest age_approx (n={known}"
            + (f"; {t.age_not_recorded} not recorded)" if t.age_not_recorded else ")")
        )
        save(fig, "age")

        fig, ax = figure(3.6, _WIDTH_IN / 2)
        sex = t.sex_patients
        bars(ax, [k for k, _ in sex], [n for _, n in sex], _BENIGN_COLOUR, zeros=True)
        ax.set_title(f"Patients by sex (n={t.patients})")
        save(fig, "sex")

        fig, ax = figure(3.6)
        keys = [k for k, _ in t.fitzpatrick_images]
        keys += [k for k, _ in t.fitzpatrick_patients if k not in keys]
        patients, images = dict(t.fitzpatrick_patients), dict(t.fitzpatrick_images)
        width = 0.4
        for offset, counts, label, colour in (
            (-width / 2, patients, f"patients (n={t.patients})", _BENIGN_COLOUR),
            (width / 2, images, f"images (n={t.images})", _SECOND_COLOUR),
        ):
            values = [counts.get(k, 0) for k in keys]
            container = ax.bar(
                [i + offset for i in range(len(keys))], values, width, label=label, color=colour
            )
            ax.bar_label(container, padding=2, fontsize=7)
        ax.set_xticks(range(len(keys)), keys)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("count")
        ax.margins(y=0.15)
        ax.legend(frameon=False)
        ax.set_title("Fitzpatrick skin type")
        save(fig, "fitzpatrick")

        labels = [_site_label(site) for site, _ in t.sites] or [NOT_RECORDED]
        values = [n for _, n in t.sites] or [0]
        fig, ax = figure(1.2 + 0.28 * len(labels))
        container = ax.barh(range(len(labels)), values, color=_BENIGN_COLOUR)
        ax.bar_label(container, padding=2, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("images")
        ax.margins(x=0.12)
        ax.set_title(f"Anatomic sites, anatom_site_1 / anatom_site_2 (n={t.images})")
        save(fig, "sites")
