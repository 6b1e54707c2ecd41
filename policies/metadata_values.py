"""One metadata value: parsed with isic-metadata, checked against the study's own rules.

Why a module of its own: `metadata_schema.validate_field` and the record models both
judge a single value, and must agree to the letter, so both go through `parse_value`.
Problems are finished sentences naming the field and the value (never an identifier
that was refused: it may be a person's name), ready to become an InvalidInput.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from isic_metadata import ImageTypeEnum, MetadataRow
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from dermledger.policies.metadata_fields import (
    AGE_MAX,
    AGE_MIN,
    CLIN_SIZE_MAX_MM,
    FIELDS,
    PSEUDONYM,
    REQUIRED_FIELDS,
    FieldValue,
)

_DASH = "\u2013"  # an en dash, as in "(0 to 120)" typeset; escaped to keep sources ASCII

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
_INT: Final = TypeAdapter(int)


class FieldProblem(Exception):
    """One field's problem as a finished sentence, before it becomes an InvalidInput."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- messages --------------------------------------------------------------------------


def show_value(value: object) -> str:
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
    sentence = f"{field} {show_value(value)} is not one of {_one_of(choices)}"
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(value).lower(), by_lower, n=1, cutoff=0.6)
    return f"{sentence} (did you mean {by_lower[close[0]]!r}?)" if close else sentence


def label_sentence(field: str, value: object, ctx: Mapping[str, Any]) -> str:
    """A label ISIC refused, with ISIC's own suggestions (`ctx`) when it has any."""
    kind = ctx.get("kind", field)
    sentence = f"{field} {show_value(value)} is not an ISIC {kind} label"
    if ctx.get("suggestions"):
        return f"{sentence} (did you mean {ctx['suggestions']}?)"
    return f"{sentence}, and none is close to it"


def _range_sentence(field: str, value: object) -> str:
    return f"{field} {show_value(value)} is out of range ({_RANGE_TEXT[field]})"


def _isic_sentence(field: str, value: object, error: ErrorDetails) -> str:
    """One sentence for one of isic-metadata's (pydantic's) errors about `field`."""
    kind, ctx = error["type"], error.get("ctx") or {}
    shown = show_value(value)
    if kind == "unknown_hierarchical_value":
        return label_sentence(field, value, ctx)
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


def unknown_field_sentence(field: str) -> str:
    """A field name that is not one of the sixteen, with the closest one when there is one."""
    sentence = f"{show_value(field)} is not one of the {len(FIELDS)} metadata fields"
    close = difflib.get_close_matches(field, FIELDS, n=1)
    return f"{sentence} (did you mean {close[0]!r}?)" if close else sentence


def problems_sentence(messages: list[str]) -> str:
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
            raise FieldProblem(_isic_sentence(field, value, errors[0])) from None
        raise FieldProblem(f"{field} {show_value(value)} is not valid for ISIC") from None
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
        raise FieldProblem(f"age {show_value(value)} is not a whole number of years") from None
    if not AGE_MIN <= age <= AGE_MAX:
        raise FieldProblem(_range_sentence("age", value))
    return age


def _clin_size(value: object, parsed: object) -> float:
    assert isinstance(parsed, float)
    if not 0 < parsed <= CLIN_SIZE_MAX_MM:
        raise FieldProblem(_range_sentence("clin_size_long_diam_mm", value))
    return parsed


def _acquisition_day(value: object, parsed: object) -> int:
    assert isinstance(parsed, int)
    if parsed < 0:
        raise FieldProblem(_range_sentence("acquisition_day", value))
    return parsed


def _pseudonym(field: str) -> Callable[[object, object], str]:
    def check(value: object, parsed: object) -> str:
        if not (isinstance(parsed, str) and PSEUDONYM.fullmatch(parsed)):
            # The value is not echoed: a rejected identifier may well be a person's name.
            raise FieldProblem(
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


def parse_value(field: str, value: object) -> FieldValue | None:
    """The typed value of one field; None for an empty optional value. Raises FieldProblem."""
    spec = FIELDS[field]
    if spec.type == "pseudonym" and isinstance(value, str) and value.strip() not in ("", value):
        # Refused, not trimmed: ' P3' stored as a new patient would be released as 'P3'.
        raise FieldProblem(
            f"{field} has leading or trailing spaces, tabs or line breaks; give the "
            "identifier exactly, without them (the value is not repeated here)"
        )
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if field in REQUIRED_FIELDS:
            raise FieldProblem(f"{field} is {'required' if value is None else 'empty'}")
        return None
    # Guard what ISIC would mishandle: unhashable values make its cached label lookup raise
    # TypeError, and pydantic reads True as the integer 1.
    if isinstance(value, bool) and spec.type != "boolean":
        expected = "a number" if spec.type in {"integer", "number"} else "text"
        raise FieldProblem(f"{field} {value} is a true/false value, not {expected}")
    if not isinstance(value, str | int | float | Decimal):
        raise FieldProblem(f"{field} {show_value(value)} is neither text nor a number")
    if spec.isic_name is None:
        if value not in spec.choices:
            raise FieldProblem(_choice_sentence(field, value))
        return str(value)
    if spec.type == "pseudonym":  # one value per patient or lesion: nothing to reuse
        return _checked_value(field, value)
    if type(value) in (str, int, bool) or (type(value) is float and value and value == value):
        return _cached_value(field, type(value), value)  # equal keys: the very same value
    return _checked_value(field, value)  # -0.0 == 0.0, Decimal("1.0") == Decimal("1.000")


@functools.lru_cache(maxsize=4096)
def _cached_value(field: str, kind: type, value: str | int | float) -> FieldValue:
    """`_checked_value` once per (field, type, value): an import's thousands of repeated
    cells are parsed once each. The type is in the key (True == 1). A refused value raises
    every time (exceptions are not cached)."""
    return _checked_value(field, value)


def _checked_value(field: str, value: str | int | float | Decimal) -> FieldValue:
    """ISIC's parse of one value, then our own rules for the field."""
    parsed = _isic_value(field, value)
    rule = _OWN_RULES.get(field)
    result = rule(value, parsed) if rule else parsed
    assert isinstance(result, str | int | float | bool)
    return result
