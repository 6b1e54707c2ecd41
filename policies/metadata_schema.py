"""The information model: sixteen metadata fields in six blocks, in ISIC Archive notation.

Why this module exists: every value that enters the ledger (`metadata set`, a bulk import,
an annotation) and every row that leaves it in a release must be valid twice over: for
ISIC, so a release can be contributed to the ISIC Archive as it is, and for the study's own
rules, which are stricter. Validation is delegated to the pinned `isic-metadata` package
(`MetadataRow`) wherever ISIC has the field, and our rules are layered on top, so the two
can never drift apart silently.

The field table and its vocabularies live in `metadata_fields`, the judging of one value
in `metadata_values`; the names callers use (FIELDS, the limits, the types) are
re-exported here, so callers import this module only.

Contract:

- `validate_field(field, value)` parses one command-line string into its typed value, or
  raises InvalidInput with one sentence naming the field and the value.
- `validate_record(values)` builds an `ImageRecord` (all sixteen fields, cross-field rules
  included) or raises InvalidInput.
- `to_isic_published(record)` gives ISIC's published columns (age_approx, anatom_site_1..5,
  diagnosis_1..5, ...); `to_isic_input(row)` rejoins them into input notation that
  `MetadataRow.model_validate` accepts, which is how a release checks its metadata.csv.

Our rules on top of ISIC (ISIC accepts all of these values):

- age is a whole number of years from 0 to 120 (ISIC silently clamps any age above 85 and
  accepts "85+"; we hold the real age and publish only `age_approx`);
- clin_size_long_diam_mm is more than 0 and at most 200 (ISIC: at least 0, below 1000);
- acquisition_day is 0 or more (ISIC: any integer);
- patient_id and lesion_id are pseudonyms matching `PSEUDONYM`, so that neither a name nor
  a spreadsheet formula can be stored as an identifier, and are refused unless already in
  that canonical form (no surrounding whitespace: one patient, one spelling);
- dermoscopic_type is required when image_type is "dermoscopic";
- melanocytic, when given, agrees with the diagnosis wherever the label determines it;
- verification_stage and diagnosis come together, and diagnosis_confirm_type (when given)
  is the one the stage implies (`CONFIRM_TYPE_OF_STAGE`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final

from isic_metadata import AnatomSiteEnum, DiagnosisEnum, ImageTypeEnum, MetadataRow
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dermledger.ledger.errors import InvalidInput, PolicyViolation
from dermledger.policies.categories import melanocytic_of
from dermledger.policies.metadata_fields import (
    AGE_APPROX_CAP,
    AGE_MAX,
    AGE_MIN,
    CLIN_SIZE_MAX_MM,
    CONFIRM_TYPE_OF_STAGE,
    FIELDS,
    PSEUDONYM,
    PUBLISHED_COLUMNS,
    REQUIRED_FIELDS,
    VERIFICATION_STAGES,
    FieldSpec,
    FieldType,
    FieldValue,
    LabelKind,
    VerificationStage,
)
from dermledger.policies.metadata_values import (
    FieldProblem,
    label_sentence,
    parse_value,
    problems_sentence,
    show_value,
    unknown_field_sentence,
)

__all__ = [
    "AGE_APPROX_CAP",
    "AGE_MAX",
    "AGE_MIN",
    "CLIN_SIZE_MAX_MM",
    "CONFIRM_TYPE_OF_STAGE",
    "FIELDS",
    "ISIC_METADATA_PIN",
    "POLICY",
    "POLICY_NAME",
    "POLICY_VERSION",
    "PSEUDONYM",
    "PUBLISHED_COLUMNS",
    "VERIFICATION_STAGES",
    "AcquisitionBlock",
    "DiagnosisBlock",
    "FieldSpec",
    "FieldType",
    "FieldValue",
    "ImageRecord",
    "LabelKind",
    "LesionBlock",
    "PatientBlock",
    "PhenotypeBlock",
    "VerificationBlock",
    "VerificationStage",
    "age_approx",
    "check_editable",
    "parse_label",
    "to_isic_input",
    "to_isic_published",
    "validate_field",
    "validate_record",
]

POLICY: Final = ("metadata-schema", "1")
POLICY_NAME, POLICY_VERSION = POLICY

# The version whose behaviour this module was written against (and whose quirks it works
# around); a test fails when the installed package differs, prompting a review.
ISIC_METADATA_PIN: Final = "6.1.0"

_LOCKED_BECAUSE: Final[dict[str, str]] = {
    "patient_id": "an image stays with the patient it was captured for",
    "diagnosis": "it follows from annotations, consensus votes and histology",
    "diagnosis_confirm_type": "it follows from the verification stage",
    "melanocytic": "it follows from the diagnosis",
    "verification_stage": "it follows from annotations, consensus votes and histology",
}
_LABEL_ENUMS: Final[dict[str, type[DiagnosisEnum] | type[AnatomSiteEnum]]] = {
    "diagnosis": DiagnosisEnum,
    "anatom_site": AnatomSiteEnum,
}


# --- one field -------------------------------------------------------------------------


def validate_field(field: str, value: str) -> FieldValue | None:
    """Parse and validate one value given as text (as `metadata set IMAGE FIELD VALUE` does).

    Returns the typed value (int, float, bool or str; labels as full colon-joined ISIC
    labels), or None for an empty value of an optional field, which clears it. Cross-field
    rules need the whole record: after this, validate the record with the new value.
    Raises InvalidInput naming the field and value, e.g. "age 200 is out of range (0\u2013120)".
    """
    if field not in FIELDS:
        raise InvalidInput(unknown_field_sentence(field))
    try:
        return parse_value(field, value)
    except FieldProblem as problem:
        raise InvalidInput(problem.message) from None


def check_editable(field: str) -> FieldSpec:
    """The spec of a field that `metadata set` may change.

    Raises InvalidInput for an unknown field and PolicyViolation for a field that follows
    from other events (the diagnosis block, the stage) or ties the image to its patient.
    """
    if field not in FIELDS:
        raise InvalidInput(unknown_field_sentence(field))
    spec = FIELDS[field]
    if not spec.editable:
        raise PolicyViolation(
            f"{field} cannot be changed with metadata set: {_LOCKED_BECAUSE[field]}",
            policy=POLICY_NAME,
            version=POLICY_VERSION,
        )
    return spec


def parse_label(kind: LabelKind, value: str) -> str:
    """The full colon-joined ISIC label for a diagnosis or anatomic site.

    Accepts what isic-metadata accepts: a full label, or the last part of one ("Nevus",
    "Cheek"), matched exactly. Raises InvalidInput with ISIC's own suggestions otherwise.
    """
    if kind not in _LABEL_ENUMS:
        raise InvalidInput(
            f"{show_value(kind)} is not a label kind; use 'diagnosis' or 'anatom_site'"
        )
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(f"{kind} is empty")
    try:
        return str(_LABEL_ENUMS[kind].accept_terminal_values(text))
    except PydanticCustomError as error:
        raise InvalidInput(label_sentence(kind, text, error.context or {})) from None


def age_approx(age: int) -> int:
    """Age as ISIC publishes it: to the nearest 5 years, at most 85.

    ISIC computes `int(round(age / 5.0) * 5)` on an age it has clamped to 85. For whole
    ages there is never a tie (age / 5 ends in .0, .2, .4, .6 or .8), so integer arithmetic
    gives the same result without Python's round-half-to-even. Ages 83 and 84 round to 85.
    """
    if isinstance(age, bool) or not isinstance(age, int) or age < 0:
        raise InvalidInput(f"age {show_value(age)} is not a whole number of years")
    return min(AGE_APPROX_CAP, (age + 2) // 5 * 5)


# --- the record ------------------------------------------------------------------------


def _checked(field: str) -> BeforeValidator:
    """Route a model field through `_parse`, so models and `validate_field` agree."""

    def check(value: object) -> object:
        if value is None and field not in REQUIRED_FIELDS:
            return None
        try:
            return parse_value(field, value)
        except FieldProblem as problem:
            raise _custom("dermledger_field", problem.message) from None

    return BeforeValidator(check)


def _custom(kind: str, message: str) -> PydanticCustomError:
    # The message goes in as context, never as the template, so braces in a user's value
    # cannot be mistaken for placeholders.
    return PydanticCustomError(kind, "{message}", {"message": message})


def _refuse(message: str) -> PydanticCustomError:
    return _custom("dermledger_record", message)


_CONFIG: Final = ConfigDict(extra="forbid", frozen=True)


class PatientBlock(BaseModel):
    """Block 1: who the image is of (pseudonymised)."""

    model_config = _CONFIG

    patient_id: Annotated[str, _checked("patient_id")]
    age: Annotated[int | None, _checked("age")] = None
    sex: Annotated[str | None, _checked("sex")] = None


class PhenotypeBlock(BaseModel):
    """Block 2: phenotype and melanoma history."""

    model_config = _CONFIG

    fitzpatrick_skin_type: Annotated[str | None, _checked("fitzpatrick_skin_type")] = None
    personal_hx_mm: Annotated[bool | None, _checked("personal_hx_mm")] = None
    family_hx_mm: Annotated[bool | None, _checked("family_hx_mm")] = None


class LesionBlock(BaseModel):
    """Block 3: which lesion, where, and how large."""

    model_config = _CONFIG

    lesion_id: Annotated[str, _checked("lesion_id")]
    anatom_site: Annotated[str | None, _checked("anatom_site")] = None
    clin_size_long_diam_mm: Annotated[float | None, _checked("clin_size_long_diam_mm")] = None


class AcquisitionBlock(BaseModel):
    """Block 4: how and when the image was taken."""

    model_config = _CONFIG

    image_type: Annotated[str | None, _checked("image_type")] = None
    dermoscopic_type: Annotated[str | None, _checked("dermoscopic_type")] = None
    acquisition_day: Annotated[int | None, _checked("acquisition_day")] = None

    @model_validator(mode="after")
    def _dermoscopic_type_goes_with_dermoscopic_images(self) -> AcquisitionBlock:
        dermoscopic = self.image_type == ImageTypeEnum.dermoscopic.value
        if dermoscopic and self.dermoscopic_type is None:
            raise _refuse("dermoscopic_type is required when image_type is 'dermoscopic'")
        if self.dermoscopic_type is not None and not dermoscopic:
            actual = "not set" if self.image_type is None else repr(self.image_type)
            raise _refuse(
                "dermoscopic_type is only allowed when image_type is 'dermoscopic' "
                f"(image_type is {actual})"
            )
        return self


class DiagnosisBlock(BaseModel):
    """Block 5: the current label and how it was confirmed."""

    model_config = _CONFIG

    diagnosis: Annotated[str | None, _checked("diagnosis")] = None
    diagnosis_confirm_type: Annotated[str | None, _checked("diagnosis_confirm_type")] = None
    melanocytic: Annotated[bool | None, _checked("melanocytic")] = None

    @model_validator(mode="after")
    def _melanocytic_agrees_with_diagnosis(self) -> DiagnosisBlock:
        if self.diagnosis is None or self.melanocytic is None:
            return self
        implied = melanocytic_of(self.diagnosis)
        if implied is not None and implied != self.melanocytic:
            terminal = self.diagnosis.rsplit(":", 1)[-1]
            raise _refuse(
                f"melanocytic {str(self.melanocytic).lower()} contradicts the diagnosis "
                f"{terminal!r}, which is {'' if implied else 'not '}melanocytic"
            )
        return self


class VerificationBlock(BaseModel):
    """Block 6: how far verification has got (not an ISIC field)."""

    model_config = _CONFIG

    verification_stage: Annotated[str | None, _checked("verification_stage")] = None


# Bases are listed last block first because pydantic collects fields in reverse MRO order;
# this way the fields come out in block order.
class ImageRecord(
    VerificationBlock,
    DiagnosisBlock,
    AcquisitionBlock,
    LesionBlock,
    PhenotypeBlock,
    PatientBlock,
):
    """The sixteen fields of one image, valid for ISIC and for the study's rules."""

    model_config = _CONFIG

    @model_validator(mode="after")
    def _stage_agrees_with_diagnosis(self) -> ImageRecord:
        if self.verification_stage is not None and self.diagnosis is None:
            raise _refuse("verification_stage needs a diagnosis")
        if self.diagnosis is not None and self.verification_stage is None:
            raise _refuse("diagnosis needs a verification_stage")
        if self.verification_stage is not None and self.diagnosis_confirm_type is not None:
            expected = CONFIRM_TYPE_OF_STAGE[self.verification_stage]
            if self.diagnosis_confirm_type != expected:
                raise _refuse(
                    f"diagnosis_confirm_type {self.diagnosis_confirm_type!r} does not match "
                    f"verification_stage {self.verification_stage!r} (expected {expected!r})"
                )
        return self

    @model_validator(mode="after")
    def _valid_for_isic_as_a_whole(self) -> ImageRecord:
        # Every field already passed ISIC on its own; this catches ISIC's cross-field rules,
        # including any a future isic-metadata adds that our own rules do not mirror.
        try:
            MetadataRow.model_validate(_isic_row(self))
        except ValidationError as exc:
            detail = "; ".join(str(error["msg"]).rstrip(".") for error in exc.errors())
            raise _refuse(f"the record is not valid for ISIC: {detail}") from None
        return self


def _isic_row(record: ImageRecord) -> dict[str, object]:
    """A fresh dict of the record's ISIC fields in ISIC input notation."""
    values = record.model_dump(exclude_none=True)
    return {name: value for name, value in values.items() if FIELDS[name].isic_name}


def _messages(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        kind, loc = error["type"], error["loc"]
        field = str(loc[0]) if loc else ""
        if kind in {"dermledger_field", "dermledger_record"}:
            messages.append(str(error["msg"]))
        elif kind == "extra_forbidden":
            messages.append(unknown_field_sentence(field))
        elif kind == "missing":
            messages.append(f"{field} is required")
        else:
            messages.append(f"{field or 'record'}: {str(error['msg']).rstrip('.')}")
    return messages


def validate_record(values: Mapping[str, object]) -> ImageRecord:
    """A full, valid ImageRecord from field values (text as from a CSV, or typed).

    Empty text and None mean "not given". Raises InvalidInput listing every field problem,
    or the first cross-field rule broken once the fields themselves are valid.
    """
    try:
        return ImageRecord.model_validate(dict(values))
    except ValidationError as exc:
        raise InvalidInput(problems_sentence(_messages(exc))) from None


# --- ISIC published notation -----------------------------------------------------------


def to_isic_published(record: ImageRecord) -> dict[str, FieldValue | None]:
    """The record in ISIC published notation: `PUBLISHED_COLUMNS`, in that order.

    Every column is present (None when not given) so release rows share one header. Age
    becomes age_approx; labels are split into their five levels by isic-metadata's own
    `levels`. verification_stage is not an ISIC field and is left to the release writer.
    """
    row: dict[str, FieldValue | None] = {}
    for spec in FIELDS.values():
        if not spec.isic_name:
            continue
        value = getattr(record, spec.name)
        if spec.name == "age":
            row["age_approx"] = None if value is None else age_approx(value)
        elif spec.type == "label":
            levels = _LABEL_ENUMS[spec.name].levels(value) if value else [None] * 5
            row.update(zip(spec.published, levels, strict=True))
        else:
            row[spec.name] = value
    return row


def to_isic_input(published_row: Mapping[str, object]) -> dict[str, object]:
    """Rejoin a published row into ISIC input notation for `MetadataRow.model_validate`.

    diagnosis_1..5 and anatom_site_1..5 become colon-joined labels (a gap in the levels
    yields an empty segment, which ISIC rightly rejects); age_approx becomes age. Values may
    be typed or text (as read back from metadata.csv); empty ones are dropped, and so are
    columns that are not ISIC's (image_id, filename, category, verification_stage, ...).
    """
    row: dict[str, object] = {}
    for spec in FIELDS.values():
        if not spec.isic_name:
            continue
        value: object
        if spec.type == "label":
            levels = [published_row.get(column) for column in spec.published]
            last = max((i for i, level in enumerate(levels) if level not in (None, "")), default=-1)
            value = ":".join("" if level is None else str(level) for level in levels[: last + 1])
        else:
            value = published_row.get(spec.published[0])
        if value is not None and value != "":
            row[spec.name] = value
    return row
