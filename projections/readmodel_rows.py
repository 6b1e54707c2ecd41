"""Rows of the read model from folded image states, and the compact fold state kept per image.

The columns come from the folds and the confirmation policy, never from rules of their own.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import msgspec

from dermledger.policies import confirmation
from dermledger.projections import readmodel_tables as t
from dermledger.study.state import ImageState, Suspicion

TRAIL_COLUMNS = ("seq", "recorded_at", "actor", "role", "meaning", "type", "stream",
                 "image_id", "field", "old_value", "new_value", "reason")  # fmt: skip


# --------------------------------------------------------------------- the rows


@functools.lru_cache(maxsize=8192)
def _labelled(facts: confirmation.Facts) -> tuple[Any, ...]:
    """The row's columns from the verification policy, memoised: the policy is pure and
    its facts (labels and readers) take few distinct values in a study, so most images
    share a derivation."""
    v = confirmation.derive(facts)
    return (v.diagnosis, v.category, v.stage, v.diagnosis_confirm_type, v.melanocytic,
            v.consensus, v.discordant)  # fmt: skip


_META_NAMES = ("lesion_id", *t.METADATA_COLUMNS)
_meta_values = operator.itemgetter(*_META_NAMES)
_NO_META = dict.fromkeys(_META_NAMES)


def dataset_values(
    image_id: str, state: ImageState, last_seq: int, packed: str | None = None
) -> tuple[Any, ...]:
    """One image's rm_dataset row, in column order: its metadata, the verification
    policy's label, its status, and its folded state (`packed`, if already packed)."""
    meta = state.metadata
    return (
        image_id,
        meta.get("patient_id", state.patient_id),
        *_meta_values({**_NO_META, **meta}),
        *_labelled(state.facts()),
        state.status,  # the dataset-inclusion policy, as every view asks it
        last_seq,
        pack_state(state) if packed is None else packed,
    )


DATASET_COLUMNS = ("image_id", "patient_id", "lesion_id", *t.METADATA_COLUMNS, "diagnosis",
                   "category", "verification_stage", "diagnosis_confirm_type", "melanocytic",
                   "consensus", "discordant", "status", "last_seq", "fold_state")  # fmt: skip
AUDIT_COLUMNS = ("seq", "event_id", *TRAIL_COLUMNS[1:])
assert tuple(t.dataset.c.keys()) == DATASET_COLUMNS, "dataset_values follows the table"
assert tuple(t.audit_trail.c.keys()) == AUDIT_COLUMNS, "_write_audit follows the table"


def dataset_row(image_id: str, state: ImageState, last_seq: int) -> dict[str, Any]:
    """One image's dataset row as a dict (what `dataset_rows` returns for it)."""
    row = dict(zip(DATASET_COLUMNS, dataset_values(image_id, state, last_seq), strict=True))
    del row["fold_state"]
    return row


# ------------------------------------------------------------- folded states


# msgspec's C codec: compact JSON, UTF-8 unescaped, a third of the standard library's
# time for these small lists (read back only by `unpack_state`).
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_SHARED_MAX = 50_000
_shared: dict[tuple[Any, ...], Any] = {}


def _shared_value(kind: type, *fields: Any) -> Any:
    """One instance per distinct frozen Label or Vote: a study has few (readers times
    labels), building them again for every image cost more than the JSON, and frozen
    values are safe to share. Bounded: cleared when it grows past _SHARED_MAX."""
    key = (kind, *fields)
    value = _shared.get(key)
    if value is None:
        if len(_shared) >= _SHARED_MAX:
            _shared.clear()
        value = _shared[key] = kind(*fields)
    return value


def _label(label: confirmation.Label | None) -> list[str] | None:
    return None if label is None else [label.actor, label.diagnosis, label.category]


def pack_state(state: ImageState) -> str:
    """An image's folded state as compact JSON: every field `apply_image_event` and the
    rows read, without the event list and the capture payload beyond the patient
    (the rows never read them; the log keeps them)."""
    return _encode(
        [
            state.captured_at,
            state.captured_by,
            state.patient_id,
            state.metadata,
            [[s.duplicate_of, s.kind, s.distance, s.outcome, s.reason] for s in state.suspicions],
            state.excluded,
            state.exclusion_reason,
            _label(state.annotation),
            state.structures,
            [[eid, v.actor, v.diagnosis, v.category, v.superseded] for eid, v in state.votes],
            _label(state.histology),
            state.further_readers_ordered,
            state.histology_ordered,
        ]
    ).decode()


def unpack_state(image_id: str, text: str) -> ImageState:
    """The inverse of `pack_state` (with an empty event list)."""
    (at, by, patient, metadata, suspicions, excluded, reason, annotation, structures, votes,
     histology, further, ordered) = _decode(text)  # fmt: skip
    return ImageState(
        image_id=image_id,
        captured={"patient_id": patient},
        captured_at=at,
        captured_by=by,
        metadata=metadata,
        suspicions=[Suspicion(*s) for s in suspicions],
        excluded=excluded,
        exclusion_reason=reason,
        annotation=None if annotation is None else _shared_value(confirmation.Label, *annotation),
        structures=structures,
        votes=[(eid, _shared_value(confirmation.Vote, a, d, c, u)) for eid, a, d, c, u in votes],
        histology=None if histology is None else _shared_value(confirmation.Label, *histology),
        further_readers_ordered=further,
        histology_ordered=ordered,
    )
