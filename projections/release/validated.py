"""The metadata-valid gate of a release, each distinct part of a record validated once.

`metadata_schema.validate_record` of every released image was the largest single cost of
a release (23% of it, 0.36 ms an image, more than hashing and copying its file). A
study's records are nearly all distinct (ages, days, sizes and sites vary), but their
parts are not: a record's validity is the validity of parts that no rule joins, and each
part takes few values. So each part is validated once per release, by `validate_record`
itself (on the part alone, with two fixed valid pseudonyms), and reused.

Which rules join which fields (metadata-schema/1 with isic-metadata 6.1.0, pinned by
`ISIC_METADATA_PIN`): every field's own rule (`_parse`) reads that field only; the
cross-field rules read `image_type` with `dermoscopic_type` (ours and ISIC's), and
`diagnosis`, `diagnosis_confirm_type`, `melanocytic` and `verification_stage` together
(ours); ISIC's other row rules read fields the study does not have (mel_*, rcm_case_id,
tbp_tile_type, concomitant_biopsy). So the parts are: those six fields together
(`JOINED`), and every other field alone. A record whose parts are all valid is valid,
with each field's validated value as its part's: the record is the one made of those
values (`model_construct`), whose published row the writer makes as before. Anything
else (a part that fails, a pseudonym that is not plain, a field this module does not
know) is validated whole, so every problem is worded as before. The memo lives for one release (one
process: one version of each validator), is keyed by each value with its type (1, 1.0
and True are equal in Python), and is bounded. tests/unit/test_release_validated.py
checks it against validating every record.
"""

from __future__ import annotations

from typing import Any

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import metadata_schema
from dermledger.projections.release.candidate import record_problem

IDS = ("lesion_id", "patient_id")
JOINED = frozenset({"image_type", "dermoscopic_type", "diagnosis", "diagnosis_confirm_type",
                    "melanocytic", "verification_stage"})  # fmt: skip
_STAND_INS = {"lesion_id": "l0", "patient_id": "p0"}  # valid pseudonyms
LIMIT = 100_000  # parts kept; the memo is cleared when it grows past this
_FAILED = object()

Outcome = tuple[Any, str | None]  # (validated record or None, problem), as record_problem


def _part(values: dict[str, Any]) -> dict[str, Any] | object:
    """The validated values of one part's fields, or _FAILED."""
    try:
        record = metadata_schema.validate_record(values | _STAND_INS)
    except InvalidInput:
        return _FAILED
    return {name: getattr(record, name) for name in values}


class RecordMemo:
    """Validations of one release's record parts (see the module docstring)."""

    def __init__(self, isic_version: str) -> None:
        self.versions = (metadata_schema.POLICY, isic_version)
        self._parts: dict[tuple[Any, ...], dict[str, Any] | object] = {}
        self.reused = 0

    def record_problem(self, values: dict[str, Any]) -> Outcome:
        """What `record_problem(values)` returns, validating only parts not met yet."""
        ids = {name: values.get(name) for name in IDS}
        plain = all(type(v) is str and metadata_schema.PSEUDONYM.fullmatch(v) for v in ids.values())
        if not plain or not values.keys() <= metadata_schema.FIELDS.keys():
            return record_problem(values)
        joined = {name: v for name, v in values.items() if name in JOINED}
        parts = [joined] + [
            {name: v} for name, v in values.items() if name not in JOINED | ids.keys()
        ]
        checked: dict[str, Any] = dict(ids)
        for part in parts:
            found = self._lookup(part)
            if found is _FAILED:
                return record_problem(values)
            checked.update(found)  # type: ignore[call-overload]
        return metadata_schema.ImageRecord.model_construct(**checked), None

    def _lookup(self, part: dict[str, Any]) -> dict[str, Any] | object:
        key = tuple(sorted((name, type(v).__name__, v) for name, v in part.items()))
        try:
            found = self._parts.get(key)
        except TypeError:  # an unhashable value: no field holds one, but never guess
            return _FAILED
        if found is None:
            if len(self._parts) >= LIMIT:
                self._parts.clear()
            found = self._parts[key] = _part(part)
        else:
            self.reused += 1
        return found
