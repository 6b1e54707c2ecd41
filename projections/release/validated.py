"""The metadata-valid gate of a release, each distinct record validated once.

`metadata_schema.validate_record` of every released image was the largest single cost of
a release (23% of it, 0.36 ms an image, more than hashing and copying its file). Its
result depends on the validator versions and the values only, and a study's records
take few distinct values once the two pseudonyms are set aside: so a record whose values
(pseudonyms aside) were already validated in this release reuses that validation.

Why setting the pseudonyms aside is exact: `patient_id` and `lesion_id` are read by their
own field rule only (`PSEUDONYM`, which a valid one passes unchanged); no cross-field rule
of the study's `ImageRecord` nor any row rule of isic-metadata's `MetadataRow` (pinned,
`ISIC_METADATA_PIN`) reads them, and the published row holds them as given. So a record
whose pseudonyms match `PSEUDONYM` is valid exactly when the same record with two fixed
valid pseudonyms is, and publishes the same row with its own pseudonyms. A record with
an invalid or unusual pseudonym is validated on its own. The memo is keyed by both
validator versions and by each value with its type (1, 1.0 and True are equal in Python),
lives for one release, and is bounded. tests/unit/test_release_validated.py checks it
against validating every record.
"""

from __future__ import annotations

from typing import Any

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import metadata_schema

IDS = ("lesion_id", "patient_id")
_STAND_INS = {"lesion_id": "l0", "patient_id": "p0"}  # valid pseudonyms
LIMIT = 100_000  # distinct records kept; the memo is cleared when it grows past this

Outcome = tuple[dict[str, Any] | None, str | None]  # (published row, problem)


def validated(values: dict[str, Any]) -> Outcome:
    """The record's ISIC published row, or its problem: `validate_record`, every time."""
    try:
        record = metadata_schema.validate_record(values)
    except InvalidInput as exc:
        return None, str(exc)
    return metadata_schema.to_isic_published(record), None


class RecordMemo:
    """Validations of one release's records, reused for records equal but for their
    pseudonyms (see the module docstring)."""

    def __init__(self, isic_version: str) -> None:
        self.versions = (metadata_schema.POLICY, isic_version)
        self._outcomes: dict[tuple[Any, ...], Outcome] = {}
        self.reused = 0

    def outcome(self, values: dict[str, Any]) -> Outcome:
        """What `validated(values)` returns, validating only records not met yet."""
        ids = [values.get(name) for name in IDS]
        if not all(type(v) is str and metadata_schema.PSEUDONYM.fullmatch(v) for v in ids):
            return validated(values)
        key = tuple(
            sorted((name, type(v).__name__, v) for name, v in values.items() if name not in IDS)
        )
        try:
            found = self._outcomes.get(key)
        except TypeError:  # an unhashable value: no field holds one, but never guess
            return validated(values)
        if found is None:
            if len(self._outcomes) >= LIMIT:
                self._outcomes.clear()
            found = self._outcomes[key] = validated(values | _STAND_INS)
        else:
            self.reused += 1
        row, problem = found
        if row is None:
            return None, problem
        return row | dict(zip(IDS, ids, strict=True)), None
