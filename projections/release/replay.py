"""The log replayed to a release's position, kept small enough for 100k images.

Only what a release needs survives the fold: each image's folded state without its
envelopes, the seqs of its events, every event's hash and type in flat arrays, the
annotation rows of judgements, and the Merkle tree of leaf hashes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.store import LogEntry
from dermledger.policies import confirmation, structures
from dermledger.projections.study_view import StudyView, iter_envelopes
from dermledger.study.state import ImageState

JUDGEMENTS = ("AnnotationRecorded", "ConsensusVoteCast", "HistologyRecorded")


@dataclass
class Replay:
    """The log replayed to a position, kept small: the study view with each image's
    envelopes dropped once folded (a release needs only the folded state, plus, per image,
    the seqs of its events), every event's hash and type in flat arrays by seq, the
    annotation rows of judgements, and the Merkle tree of leaf hashes (32 bytes a node)."""

    view: StudyView
    tree: MerkleTree
    position: int
    hashes: bytearray  # raw event hash of seq i at [32 * (i - 1), 32 * i)
    types: list[str]  # type of seq i at [i - 1]
    image_seqs: dict[str, list[int]]
    # seq -> the annotations.csv cells before "superseded", then the event id
    judgements: dict[int, tuple[Any, ...]]

    @classmethod
    def of(
        cls,
        entries: Iterable[LogEntry],
        upto: int | None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Replay:
        """Replay up to seq `upto`, or the whole log when None; `progress(seq)` every
        PROGRESS_EVERY events."""
        replayed = cls(StudyView(), MerkleTree(), 0, bytearray(), [], {}, {})
        view, tree, hashes, types = replayed.view, replayed.tree, replayed.hashes, replayed.types
        shared = Strings()
        for seq, env in iter_envelopes(entries, upto):
            view.apply(seq, env)
            raw = bytes.fromhex(env.hash)
            hashes += raw
            tree.append(hash_leaf(raw))
            types.append(shared(env.type))
            replayed.position = seq
            if progress and not seq % PROGRESS_EVERY:
                progress(seq)
            image = view.images.get(env.stream_id)
            if image is None:
                if env.type == "PatientRegistered":
                    patient = view.patients[env.payload["patient_id"]]
                    patient.fields = shared.values(patient.fields)
                continue
            image.events.clear()  # folded; the envelope itself is not needed again
            replayed.image_seqs.setdefault(env.stream_id, []).append(seq)
            if env.type == "ImageCaptured":
                image.captured = {k: shared(image.captured.get(k)) for k in CAPTURE_KEPT}
                image.metadata = shared.values(image.metadata)
            elif env.type in JUDGEMENTS:
                replayed.judgements[seq] = tuple(
                    map(shared, judgement_cells(image.image_id, seq, env))
                )
                share_labels(image, env.type, shared)
        return replayed

    def hash_hex(self, seq: int) -> str:
        return self.hashes[32 * (seq - 1) : 32 * seq].hex()


# blob_ref and erased: sealed captures (erasure v2), whose bytes are opened, not linked
CAPTURE_KEPT = ("patient_id", "blob_sha256", "format", "size_bytes", "blob_ref", "erased")
PROGRESS_EVERY = 1000  # events between progress reports while replaying


class Strings:
    """One copy of each repeated string (labels, roles, meanings, field names and values):
    a payload decoded from the store carries its own copy of every string, and a 100k-image
    replay would otherwise hold hundreds of thousands of copies of the same few labels."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._labels: dict[confirmation.Label, confirmation.Label] = {}

    def __call__(self, value: Any) -> Any:
        return self._seen.setdefault(value, value) if isinstance(value, str) else value

    def values(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {self(k): self(v) for k, v in fields.items()}

    def instance[T: confirmation.Label](self, label: T) -> T:
        """The first equal instance of a frozen label seen (equal: same class and fields)."""
        found = self._labels.setdefault(label, label)
        return found if type(found) is type(label) else label


def share_labels(image: ImageState, event_type: str, shared: Strings) -> None:
    """The label a judgement just folded into `image`, as one shared instance: a study has
    a few hundred distinct (reader, diagnosis) labels and hundreds of thousands of votes."""
    if event_type == "AnnotationRecorded" and image.annotation is not None:
        image.annotation = shared.instance(image.annotation)
    elif event_type == "HistologyRecorded" and image.histology is not None:
        image.histology = shared.instance(image.histology)
    elif event_type == "ConsensusVoteCast" and image.votes:
        event_id, vote = image.votes[-1]
        image.votes[-1] = (event_id, shared.instance(vote))


def judgement_cells(image_id: str, seq: int, env: Envelope) -> tuple[Any, ...]:
    """One annotations.csv row in ANNOTATION_COLUMNS order, without "superseded" (known
    only once every vote is folded), then the event id that a later vote may supersede."""
    p = env.payload
    found = p.get("structures") or {}
    return (
        image_id,
        seq,
        env.type,
        env.actor,
        p.get("signer_role"),
        p.get("signature_meaning"),
        p["diagnosis"],
        p["category"],
        json.dumps(found, sort_keys=True) if found else "",
        structures.seven_point_score(found) if env.type == "AnnotationRecorded" else "",
        p.get("report_ref"),
        env.event_id if env.type == "ConsensusVoteCast" else None,
    )
