"""The documents of a release: croissant.json (Croissant 1.0 + RAI 1.0) and datasheet.md.

Why this module exists: a release (DESIGN.md section 6) is read by people and by machines.
`croissant.json` lets ML tools load it (MLCommons Croissant: files, record structure,
responsible-AI facts); `datasheet.md` is the cohort table a paper would print as its
Table 1, with charts beside it, and lists what every release gate left out and why. Both
are computed from the release's own metadata.csv rows, so anyone can recompute them.

Contract:

- `RELEASE_COLUMNS` is the exact header of metadata.csv: image_id, filename, ISIC's
  published columns (`PUBLISHED_COLUMNS`), category, verification_stage, file_name.
  `filename` is the name of the image's file inside images/, i.e. "<image_id>.jpg" or
  "<image_id>.png"; `file_name` (format 2) is its path from the release folder,
  "images/<image_id>.<ext>", the column Hugging Face `datasets`' imagefolder loader needs:
  `load_dataset("imagefolder", data_dir=RELEASE)` then yields one example per metadata.csv
  row, its image in place of file_name, and nothing else (not the datasheet's charts).
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

import re
from typing import Any, Final

from isic_metadata import FitzpatrickSkinType

from dermledger.policies.categories import CATEGORIES, CATEGORY_NAMES
from dermledger.policies.metadata_schema import (
    AGE_APPROX_CAP,
    FIELDS,
    PUBLISHED_COLUMNS,
)

RELEASE_COLUMNS: Final[tuple[str, ...]] = (
    "image_id",
    "filename",
    *PUBLISHED_COLUMNS,
    "category",
    "verification_stage",
    "file_name",
)

NOT_RECORDED: Final = "not recorded"
INCONSISTENT: Final = "inconsistent"  # a patient's images disagree on a patient-level field

DASH: Final = "\u2013"  # an en dash, escaped to keep sources ASCII
HEX64: Final = re.compile(r"[0-9a-f]{64}")
IMAGE_FORMATS: Final[dict[str, str]] = {"jpg": "image/jpeg", "png": "image/png"}
SEX_ORDER: Final[tuple[str, ...]] = ("female", "male")
FITZPATRICK: Final[tuple[str, ...]] = tuple(str(m.value) for m in FitzpatrickSkinType)

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
    "file_name": (
        "Path of the image's file from the release folder (images/<image_id>.<ext>), "
        "as Hugging Face datasets' imagefolder loader reads it."
    ),
}
