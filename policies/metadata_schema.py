"""The information model: sixteen metadata fields in six blocks, in ISIC Archive notation.

Why this module exists: every value that enters the ledger (`metadata set`, a bulk import,
an annotation) and every row that leaves it in a release must be valid twice over: for
ISIC, so a release can be contributed to the ISIC Archive as it is, and for the study's own
rules, which are stricter. Validation is delegated to the pinned `isic-metadata` package
(`MetadataRow`) wherever ISIC has the field, and our rules are layered on top, so the two
can never drift apart silently.

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

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Final, Literal

from isic_metadata import (
    AnatomSiteEnum,
    DermoscopicTypeEnum,
    DiagnosisConfirmTypeEnum,
    DiagnosisEnum,
    FitzpatrickSkinType,
    ImageTypeEnum,
    MetadataRow,
)
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from dermledger.ledger.errors import InvalidInput, PolicyViolation
from dermledger.policies.categories import melanocytic_of

POLICY: Final = ("metadata-schema", "1")
POLICY_NAME, POLICY_VERSION = POLICY

# The version whose behaviour this module was written against (and whose quirks it works
# around); a test fails when the installed package differs, prompting a review.
ISIC_METADATA_PIN: Final = "6.1.0"

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

_DASH = "\u2013"  # an en dash, as in "(0 to 120)" typeset; escaped to keep sources ASCII


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

_REQUIRED: Final = frozenset({"patient_id", "lesion_id"})
_LOCKED_BECAUSE: Final[dict[str, str]] = {
    "patient_id": "an image stays with the patient it was captured for",
    "diagnosis": "it follows from annotations, consensus votes and histology",
    "diagnosis_confirm_type": "it follows from the verification stage",
    "melanocytic": "it follows from the diagnosis",
    "verification_stage": "it follows from annotations, consensus votes and histology",
}
_RANGE_TEXT: Final[dict[str, str]] = {
    "age": f"{AGE_MIN}{_DASH}{AGE_MAX}",
    "clin_size_long_diam_mm": f"more than 0 and at most {CLIN_SIZE_MAX_MM} mm",
    "acquisition_day": "0 or more",
}
# ISIC refuses dermoscopic_type without image_type "dermoscopic"; a one-field probe of
# dermoscopic_type needs that context to be judged on its own value.
_PROBE_CONTEXT: Final[dict[str, dict[str, str]]] = {
    "dermoscopic_type": {"image_type": ImageTypeEnum.dermoscopic.value},
}
_LABEL_ENUMS: Final[dict[str, type[DiagnosisEnum] | type[AnatomSiteEnum]]] = {
    "diagnosis": DiagnosisEnum,
    "anatom_site": AnatomSiteEnum,
}
_INT: Final = TypeAdapter(int)


class _Problem(Exception):
    """One field's problem as a finished sentence, before it becomes an InvalidInput."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- messages --------------------------------------------------------------------------


def _show(value: object) -> str:
    """A value as it appears in a message: numbers bare, text quoted, escaped, truncated."""
    text = value if isinstance(value, str) else str(value)
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        return text
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


def _one_of(choices: tuple[str, ...]) -> str:
    quoted = [repr(choice) for choice in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _choice_sentence(field: str, value: object) -> str:
    choices = FIELDS[field].choices
    sentence = f"{field} {_show(value)} is not one of {_one_of(choices)}"
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(value).lower(), by_lower, n=1, cutoff=0.6)
    return f"{sentence} (did you mean {by_lower[close[0]]!r}?)" if close else sentence


def _label_sentence(field: str, value: object, ctx: Mapping[str, Any]) -> str:
    kind = ctx.get("kind", field)
    sentence = f"{field} {_show(value)} is not an ISIC {kind} label"
    if ctx.get("suggestions"):
        return f"{sentence} (did you mean {ctx['suggestions']}?)"
    return f"{sentence}, and none is close to it"


def _range_sentence(field: str, value: object) -> str:
    return f"{field} {_show(value)} is out of range ({_RANGE_TEXT[field]})"


def _isic_sentence(field: str, value: object, error: ErrorDetails) -> str:
    """One sentence for one of isic-metadata's (pydantic's) errors about `field`."""
    kind, ctx = error["type"], error.get("ctx") or {}
    shown = _show(value)
    if kind == "unknown_hierarchical_value":
        return _label_sentence(field, value, ctx)
    if kind in {"enum", "literal_error"}:
        return _choice_sentence(field, value)
    if kind == "bool_parsing":
        return f"{field} {shown} is not true or false"
    if kind in {"int_parsing", "int_from_float", "int_type"}:
        unit = {"age": " of years", "acquisition_day": " of days"}.get(field, "")
        return f"{field} {shown} is not a whole number{unit}"
    if kind in {"decimal_parsing", "decimal_type", "finite_number", "float_parsing"}:
        return f"{field} {shown} is not a number of millimetres"
    if kind == "decimal_max_places":
        return f"{field} {shown} has more than 2 decimal places"
    if kind in {"greater_than_equal", "decimal_whole_digits"} and field in _RANGE_TEXT:
        return _range_sentence(field, value)
    return f"{field} {shown} is not valid ({str(error['msg']).rstrip('.')})"


def _unknown_field_sentence(field: str) -> str:
    sentence = f"{_show(field)} is not one of the {len(FIELDS)} metadata fields"
    close = difflib.get_close_matches(field, FIELDS, n=1)
    return f"{sentence} (did you mean {close[0]!r}?)" if close else sentence


def _joined(messages: list[str]) -> str:
    """Several problems as one sentence, so the CLI can print `Error: <message>`."""
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} problems: {'; '.join(messages)}"


# --- one field -------------------------------------------------------------------------


def _isic_value(field: str, value: object) -> object:
    """Validate one value with isic-metadata and return ISIC's parsed value.

    MetadataRow.model_validate mutates the dict it is given (it pops hierarchical columns
    and adds `unstructured`), so it always gets a fresh one. Errors located at no field are
    ISIC's cross-field rules; they are judged with the whole record, not here.
    """
    row = {**_PROBE_CONTEXT.get(field, {}), field: value}
    try:
        parsed = MetadataRow.model_validate(dict(row))
    except ValidationError as exc:
        errors = [error for error in exc.errors() if error["loc"]]
        if errors:
            raise _Problem(_isic_sentence(field, value, errors[0])) from None
        raise _Problem(f"{field} {_show(value)} is not valid for ISIC") from None
    result = getattr(parsed, field)
    if isinstance(result, Enum):
        return str(result.value)
    if isinstance(result, Decimal):
        return float(result)
    return result


def _age(value: object, parsed: object) -> int:
    # ISIC clamps ages above 85 and reads "85+" as 85; we keep the real age, so parse it
    # again with the same integer rules and no clamp.
    try:
        age = _INT.validate_python(value)
    except ValidationError:
        raise _Problem(f"age {_show(value)} is not a whole number of years") from None
    if not AGE_MIN <= age <= AGE_MAX:
        raise _Problem(_range_sentence("age", value))
    return age


def _clin_size(value: object, parsed: object) -> float:
    assert isinstance(parsed, float)
    if not 0 < parsed <= CLIN_SIZE_MAX_MM:
        raise _Problem(_range_sentence("clin_size_long_diam_mm", value))
    return parsed


def _acquisition_day(value: object, parsed: object) -> int:
    assert isinstance(parsed, int)
    if parsed < 0:
        raise _Problem(_range_sentence("acquisition_day", value))
    return parsed


def _pseudonym(field: str) -> Callable[[object, object], str]:
    def check(value: object, parsed: object) -> str:
        if not (isinstance(parsed, str) and PSEUDONYM.fullmatch(parsed)):
            # The value is not echoed: a rejected identifier may well be a person's name.
            raise _Problem(
                f"{field} is not a valid pseudonym: use 1 to 64 letters, digits, '.', '_' or "
                "'-', starting with a letter or digit (the value is not repeated here)"
            )
        return parsed

    return check


_OWN_RULES: Final[dict[str, Callable[[object, object], Any]]] = {
    "age": _age,
    "clin_size_long_diam_mm": _clin_size,
    "acquisition_day": _acquisition_day,
    "patient_id": _pseudonym("patient_id"),
    "lesion_id": _pseudonym("lesion_id"),
}


def _parse(field: str, value: object) -> FieldValue | None:
    """The typed value of one field; None for an empty optional value. Raises _Problem."""
    spec = FIELDS[field]
    if spec.type == "pseudonym" and isinstance(value, str) and value.strip() not in ("", value):
        # Refused, not trimmed: ' P3' stored as a new patient would be released as 'P3'.
        raise _Problem(
            f"{field} has leading or trailing spaces, tabs or line breaks; give the "
            "identifier exactly, without them (the value is not repeated here)"
        )
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if field in _REQUIRED:
            raise _Problem(f"{field} is {'required' if value is None else 'empty'}")
        return None
    # Guard what ISIC would mishandle: unhashable values make its cached label lookup raise
    # TypeError, and pydantic reads True as the integer 1.
    if isinstance(value, bool) and spec.type != "boolean":
        expected = "a number" if spec.type in {"integer", "number"} else "text"
        raise _Problem(f"{field} {value} is a true/false value, not {expected}")
    if not isinstance(value, str | int | float | Decimal):
        raise _Problem(f"{field} {_show(value)} is neither text nor a number")
    if spec.isic_name is None:
        if value not in spec.choices:
            raise _Problem(_choice_sentence(field, value))
        return str(value)
    parsed = _isic_value(field, value)
    rule = _OWN_RULES.get(field)
    result = rule(value, parsed) if rule else parsed
    assert isinstance(result, str | int | float | bool)
    return result


def validate_field(field: str, value: str) -> FieldValue | None:
    """Parse and validate one value given as text (as `metadata set IMAGE FIELD VALUE` does).

    Returns the typed value (int, float, bool or str; labels as full colon-joined ISIC
    labels), or None for an empty value of an optional field, which clears it. Cross-field
    rules need the whole record: after this, validate the record with the new value.
    Raises InvalidInput naming the field and value, e.g. "age 200 is out of range (0\u2013120)".
    """
    if field not in FIELDS:
        raise InvalidInput(_unknown_field_sentence(field))
    try:
        return _parse(field, value)
    except _Problem as problem:
        raise InvalidInput(problem.message) from None


def check_editable(field: str) -> FieldSpec:
    """The spec of a field that `metadata set` may change.

    Raises InvalidInput for an unknown field and PolicyViolation for a field that follows
    from other events (the diagnosis block, the stage) or ties the image to its patient.
    """
    if field not in FIELDS:
        raise InvalidInput(_unknown_field_sentence(field))
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
        raise InvalidInput(f"{_show(kind)} is not a label kind; use 'diagnosis' or 'anatom_site'")
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(f"{kind} is empty")
    try:
        return str(_LABEL_ENUMS[kind].accept_terminal_values(text))
    except PydanticCustomError as error:
        raise InvalidInput(_label_sentence(kind, text, error.context or {})) from None


def age_approx(age: int) -> int:
    """Age as ISIC publishes it: to the nearest 5 years, at most 85.

    ISIC computes `int(round(age / 5.0) * 5)` on an age it has clamped to 85. For whole
    ages there is never a tie (age / 5 ends in .0, .2, .4, .6 or .8), so integer arithmetic
    gives the same result without Python's round-half-to-even. Ages 83 and 84 round to 85.
    """
    if isinstance(age, bool) or not isinstance(age, int) or age < 0:
        raise InvalidInput(f"age {_show(age)} is not a whole number of years")
    return min(AGE_APPROX_CAP, (age + 2) // 5 * 5)


# --- the record ------------------------------------------------------------------------


def _checked(field: str) -> BeforeValidator:
    """Route a model field through `_parse`, so models and `validate_field` agree."""

    def check(value: object) -> object:
        if value is None and field not in _REQUIRED:
            return None
        try:
            return _parse(field, value)
        except _Problem as problem:
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
            messages.append(_unknown_field_sentence(field))
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
        raise InvalidInput(_joined(_messages(exc))) from None


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
