"""The sixteen metadata fields of one image: their blocks, types, vocabularies and limits.

Why a module of its own: this table is what the rest of the system reads (the release
columns, the import CSV, the datasheet's ranges) while validation lives in
`metadata_schema`, which re-exports the names callers use, so they import from there.
The vocabularies of ISIC's fields are its own enums from the pinned `isic-metadata`
package, so a choice offered here for one of them is always one ISIC accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from isic_metadata import (
    DermoscopicTypeEnum,
    DiagnosisConfirmTypeEnum,
    FitzpatrickSkinType,
    ImageTypeEnum,
)

AGE_MIN: Final = 0
AGE_MAX: Final = 120
AGE_APPROX_CAP: Final = 85
CLIN_SIZE_MAX_MM: Final = 200
PSEUDONYM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

VerificationStage = Literal["clinical", "consensus", "histology"]
VERIFICATION_STAGES: Final[tuple[str, ...]] = ("clinical", "consensus", "histology")
CONFIRM_TYPE_OF_STAGE: Final[dict[str, str]] = {
    "clinical": DiagnosisConfirmTypeEnum.single_contributor_clinical_assessment.value,
    "consensus": DiagnosisConfirmTypeEnum.single_image_expert_consensus.value,
    "histology": DiagnosisConfirmTypeEnum.histopathology.value,
}

FieldValue = str | int | float | bool
FieldType = Literal["pseudonym", "integer", "number", "boolean", "choice", "label"]
LabelKind = Literal["diagnosis", "anatom_site"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the rest of the system needs to know about one of the sixteen fields.

    `type` is one of "pseudonym", "integer", "number" (millimetres), "boolean", "choice"
    (then `choices` lists the values) and "label" (an ISIC hierarchical label).
    `published` names the columns the field becomes in ISIC published notation.
    """

    name: str
    block: str
    isic_name: str | None
    editable: bool
    type: FieldType
    choices: tuple[str, ...] = ()
    published: tuple[str, ...] = ()


def _levels(name: str) -> tuple[str, ...]:
    return tuple(f"{name}_{i}" for i in range(1, 6))


def _spec(
    name: str,
    block: str,
    type_: FieldType,
    *,
    editable: bool = True,
    isic: bool = True,
    choices: tuple[str, ...] = (),
    published: tuple[str, ...] | None = None,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        block=block,
        isic_name=name if isic else None,
        editable=editable,
        type=type_,
        choices=choices,
        published=(name,) if published is None else published,
    )


def _values(enum: type[Enum]) -> tuple[str, ...]:
    return tuple(str(member.value) for member in enum)


# In block order; every dict derived from FIELDS keeps it.
FIELDS: Final[dict[str, FieldSpec]] = {
    spec.name: spec
    for spec in (
        # An image stays with the patient it was captured for: consent is per patient.
        _spec("patient_id", "Patient", "pseudonym", editable=False),
        _spec("age", "Patient", "integer", published=("age_approx",)),
        _spec("sex", "Patient", "choice", choices=("male", "female")),
        _spec(
            "fitzpatrick_skin_type",
            "Phenotype and history",
            "choice",
            choices=_values(FitzpatrickSkinType),
        ),
        _spec("personal_hx_mm", "Phenotype and history", "boolean"),
        _spec("family_hx_mm", "Phenotype and history", "boolean"),
        _spec("lesion_id", "Lesion", "pseudonym"),
        _spec("anatom_site", "Lesion", "label", published=_levels("anatom_site")),
        _spec("clin_size_long_diam_mm", "Lesion", "number"),
        _spec("image_type", "Acquisition", "choice", choices=_values(ImageTypeEnum)),
        _spec("dermoscopic_type", "Acquisition", "choice", choices=_values(DermoscopicTypeEnum)),
        _spec("acquisition_day", "Acquisition", "integer"),
        # The diagnosis block and the stage follow from annotations, votes and histology.
        _spec("diagnosis", "Diagnosis", "label", editable=False, published=_levels("diagnosis")),
        _spec(
            "diagnosis_confirm_type",
            "Diagnosis",
            "choice",
            editable=False,
            choices=_values(DiagnosisConfirmTypeEnum),
        ),
        _spec("melanocytic", "Diagnosis", "boolean", editable=False),
        _spec(
            "verification_stage",
            "Verification",
            "choice",
            editable=False,
            isic=False,
            choices=VERIFICATION_STAGES,
        ),
    )
}

PUBLISHED_COLUMNS: Final[tuple[str, ...]] = tuple(
    column for spec in FIELDS.values() if spec.isic_name for column in spec.published
)

# The two fields that tie an image to its patient and lesion: never empty.
REQUIRED_FIELDS: Final = frozenset({"patient_id", "lesion_id"})
