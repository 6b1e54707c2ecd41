"""Per-label provenance in croissant.json (issue 16): who labelled each image, in which
role, at which stage, by which signed event, and the data-use terms of the consent.

Why Croissant 1.0 still: mlcroissant 1.1.1 reads Croissant 1.1, but the 1.1 change that
would carry provenance per value (field-level `annotation`) is not yet what releases
consumers' loaders read, and moving every release's `conformsTo` would break the 1.0
documents already published. Croissant 1.0 can state the same facts as data: a second
RecordSet `labels` over annotations.csv, one record per clinical judgement, keyed to the
image record it labels; the choice is written into the RAI fields
(`rai:dataAnnotationProtocol` keeps its text, `rai:dataAnnotationAnalysis` gains one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dermledger.projections.release.columns import RECORD_SET

ANNOTATIONS_FILE: Final = "annotations.csv"
LABELS: Final = "labels"
STAGE_OF: Final[dict[str, str]] = {
    "AnnotationRecorded": "clinical (initial annotation)",
    "ConsensusVoteCast": "consensus (one specialist's vote)",
    "HistologyRecorded": "histology (pathology result)",
}
LABEL_FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("image_id", "sc:Text", "The labelled image; joins the images record set."),
    ("seq", "sc:Integer", "Seq of the signed event that recorded the label (its provenance "
     "line in provenance.jsonl carries the hash and inclusion proof)."),
    ("type", "sc:Text", "Stage of the label: " + "; ".join(f"{k} = {v}" for k, v in
                                                           STAGE_OF.items()) + "."),
    ("actor", "sc:Text", "Who labelled: the signing actor's name on the ledger."),
    ("role", "sc:Text", "The role the label was signed in: annotator, specialist, pathologist."),
    ("meaning", "sc:Text", "What the signature means, as recorded with the event."),
    ("diagnosis", "sc:Text", "The ISIC diagnosis label given."),
    ("category", "sc:Text", "The study category of that diagnosis."),
    ("superseded", "sc:Boolean", "True when the reader replaced this vote by a later one."),
)  # fmt: skip
PROVENANCE_NOTE: Final = (
    "Per-label provenance: the record set 'labels' (annotations.csv) gives, for every "
    "label, who gave it, in which role, at which stage and by which signed ledger event; "
    "kept in Croissant 1.0 form (a record set), not 1.1 field annotations."
)


def _label_field(column: str, data_type: str, description: str) -> dict[str, Any]:
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{LABELS}/{column}",
        "name": column,
        "description": description,
        "dataType": data_type,
        "source": {"fileObject": {"@id": ANNOTATIONS_FILE}, "extract": {"column": column}},
    }
    if column == "image_id":
        field["references"] = {"field": {"@id": f"{RECORD_SET}/image_id"}}
    return field


def with_label_provenance(
    doc: dict[str, Any], annotations: tuple[str, int], consent_scopes: Mapping[str, int]
) -> dict[str, Any]:
    """`doc` with annotations.csv (sha256, bytes) listed, the `labels` record set, the
    choice recorded in the RAI fields, and data-use terms from the consent scopes."""
    sha256, size = annotations
    doc = dict(doc)
    doc["distribution"] = [*doc["distribution"], {
        "@type": "cr:FileObject", "@id": ANNOTATIONS_FILE, "name": ANNOTATIONS_FILE,
        "description": "One row per clinical judgement behind the released labels.",
        "contentUrl": ANNOTATIONS_FILE, "contentSize": f"{size} B",
        "encodingFormat": "text/csv", "sha256": sha256,
    }]  # fmt: skip
    doc["recordSet"] = [*doc["recordSet"], {
        "@type": "cr:RecordSet", "@id": LABELS, "name": LABELS,
        "description": "Every label of every released image with its provenance.",
        "field": [_label_field(*spec) for spec in LABEL_FIELDS],
    }]  # fmt: skip
    analysis = doc.get("rai:dataAnnotationAnalysis") or []
    doc["rai:dataAnnotationAnalysis"] = [*analysis, PROVENANCE_NOTE]
    scopes = ", ".join(f"'{scope}' ({n} patients)" for scope, n in sorted(consent_scopes.items()))
    doc["rai:dataUseCases"] = [
        *(doc.get("rai:dataUseCases") or []),
        f"Data-use terms follow the consent the patients gave: {scopes or 'none recorded'}; "
        "use beyond that scope is not covered.",
    ]
    return doc
