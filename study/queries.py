"""Read-side queries, now or at any past position (`--as-of SEQ|TIME`), and the audit views.

Current state folds each image's own stream; a past state replays the log up to the
position. Both use the same folds and policies, so a query at the log's newest position
equals the current one, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dermledger.ledger.errors import InvalidInput, NotFound
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.store import read_topic
from dermledger.policies import compliance, release_gates
from dermledger.projections.audit_trail import trail_rows
from dermledger.projections.release.candidate import release_candidate
from dermledger.projections.statistics import study_statistics
from dermledger.projections.study_view import (
    StudyView,
    iter_envelopes,
    position_at_time,
    replay,
)
from dermledger.study.kernel import Kernel
from dermledger.study.position import Position
from dermledger.study.records import Records, patient_stream
from dermledger.study.sealing import OpenedEntry, erased_patients
from dermledger.study.state import ImageState, PatientState, fold_patient


class QueryService:
    """The dataset, one image, statistics, the audit trail and compliance, now or then."""

    def __init__(self, kernel: Kernel, records: Records) -> None:
        self.kernel = kernel
        self.records = records

    def position(self, as_of: Position | None) -> int | None:
        """The seq a position names (None: now). A seq is checked against the newest
        notification id, without reading the log; a time is found by reading it."""
        if as_of is None:
            return None
        if as_of.seq is None:
            return position_at_time(self.kernel.log(), str(as_of.time))
        newest = int(self.kernel.recorder.max_notification_id() or 0)
        if newest == 0:
            raise InvalidInput("the ledger has no events yet, so there is no past position")
        if as_of.seq < 1:
            raise InvalidInput(
                f"position {as_of.seq} is before the first event: the log runs from seq 1 "
                f"to seq {newest}"
            )
        if as_of.seq > newest:
            raise InvalidInput(
                f"position {as_of.seq} is after the newest event: the log runs from seq 1 "
                f"to seq {newest}"
            )
        return as_of.seq

    def view(self, as_of: Position | None) -> StudyView:
        return replay(self._opened_log(), upto=self.position(as_of))

    def _opened_log(self) -> Iterator[OpenedEntry]:
        """The log with sealed values opened in memory (erased ones marked): what views fold."""
        return self.kernel.opened_log()

    def images_at(self, as_of: Position | None) -> list[ImageState]:
        return self.snapshot(as_of)[0]

    def snapshot(self, as_of: Position | None) -> tuple[list[ImageState], dict[str, PatientState]]:
        """Every image, and the patients they show, now (one stream read each) or at a
        past position (one replay)."""
        if as_of is not None:
            view = self.view(as_of)
            return list(view.images.values()), view.patients
        ids = [e.payload["image_id"] for e in read_topic(self.kernel.recorder, "ImageCaptured")]
        erased = erased_patients(self.kernel.recorder)
        images = [self.records.get_image(i, erased) for i in ids]
        patients: dict[str, PatientState] = {}
        for patient_id in {i.patient_id for i in images}:
            stream = self.kernel.stream(patient_stream(patient_id))
            state = fold_patient(self.kernel.sealer.open_all(stream, erased))
            if state is not None:
                patients[patient_id] = state
        return images, patients

    def list_images(
        self, as_of: Position | None = None, *, awaiting_histology: bool = False
    ) -> list[dict[str, Any]]:
        """The dataset listing; `awaiting_histology` keeps only included images whose
        histology was ordered, or is required by a malignant label, and is not recorded."""
        images, patients = self.snapshot(as_of)
        rows = [image_summary(i, patients.get(i.patient_id)) for i in images]
        if awaiting_histology:
            rows = [r for r in rows if r["histology_awaited"] and r["status"] != "excluded"]
        return rows

    def statistics(self, as_of: Position | None = None) -> dict[str, Any]:
        return study_statistics(self.images_at(as_of))

    def show_image(self, image_id: str, as_of: Position | None = None) -> dict[str, Any]:
        """One image's record and provenance: every event with its seq, signer, meaning and
        an inclusion proof in the newest checkpoint that covers it."""
        upto = self.position(as_of)
        tree = MerkleTree()
        seqs: dict[str, int] = {}
        checkpoint: dict[str, Any] | None = None
        view = StudyView()
        for seq, env in iter_envelopes(self._opened_log(), upto):
            view.apply(seq, env)
            if env.stream_id == image_id:
                seqs[env.event_id] = seq
            if env.type == "CheckpointSigned":
                checkpoint = dict(env.payload)
            tree.append(hash_leaf(bytes.fromhex(env.hash)))
        image = view.images.get(image_id)
        if image is None:
            raise NotFound(f"there is no image {image_id}" + (f" at {as_of}" if as_of else ""))
        size = checkpoint["tree_size"] if checkpoint else 0
        history = []
        for e in image.events:
            seq = seqs[e.event_id]
            proof = tree.inclusion_proof(seq - 1, size) if seq <= size else None
            history.append({
                "seq": seq, "stream_version": e.stream_version, "type": e.type,
                "recorded_at": e.recorded_at, "actor": e.actor,
                "role": e.payload.get("signer_role") or ", ".join(view.roles_of(e.actor)),
                "meaning": e.payload.get("signature_meaning"), "hash": e.hash,
                "payload": {k: v for k, v in e.payload.items() if k not in ("sop", "metadata")},
                "inclusion_proof": None if proof is None else [h.hex() for h in proof],
            })  # fmt: skip
        return image_summary(image, view.patients.get(image.patient_id)) | {
            "as_of_seq": view.seq,
            "checkpoint": None
            if checkpoint is None
            else {"tree_size": size, "root": checkpoint["root"]},
            "history": history,
        }

    def audit_trail(
        self,
        *,
        image: str | None = None,
        actor: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        """The trail's rows; `since` and `until` are canonical UTC times (see Position)."""
        return trail_rows(
            iter_envelopes(self._opened_log(), None), image=image, actor=actor,
            since=since, until=until,
        )  # fmt: skip

    def compliance(self, as_of: Position | None = None) -> dict[str, Any]:
        """Every rule breach at the position, with the rule's name and what breaches it."""
        view = self.view(as_of)
        facts = compliance.StudyFacts(
            images=[
                compliance.ImageFacts(
                    image_id=i.image_id,
                    patient_id=i.patient_id,
                    excluded=i.excluded,
                    verification=i.verification(),
                    unresolved_suspicions=len(i.unresolved),
                    sop_deviations=[d["rule"] for d in i.captured["sop"]["deviations"]],
                    consent_in_force_at_capture=i.image_id not in view.captured_without_consent,
                    exact_copy_of=i.exact_copy_of,
                )
                for i in view.images.values()
            ],
            edits_without_reason=[
                (0, i.image_id)
                for i in view.images.values()
                for e in i.events
                if e.type == "MetadataEdited" and not str(e.payload.get("reason", "")).strip()
            ],
            revoked_key_events=view.revoked_key_events,
        )
        found = compliance.breaches(facts)
        return {
            "as_of_seq": view.seq,
            "rules_checked": [name for name, _, _ in compliance.RULES],
            "breaches": [
                {
                    "rule": b.rule,
                    "version": b.version,
                    "description": b.description,
                    "count": len(b.subjects),
                    "subjects": b.subjects,
                }
                for b in found
            ],
        }


def image_summary(image: ImageState, patient: PatientState | None) -> dict[str, Any]:
    """The query shape of one image as plain data: its status (the dataset-inclusion
    policy), its patient's consent, the first release gate it would fail (None: it would
    be released), and its verification fields flat, named as in a release's metadata.csv."""
    verdict = image.verification()
    consent_in_force = patient is not None and patient.consent
    candidate, _ = release_candidate(image, verdict, consent_in_force)
    gate = release_gates.first_failed_gate(candidate)
    return {
        "image_id": image.image_id,
        "status": image.status,
        "exclusion_reason": image.exclusion_reason,
        "consent": patient.consent_state if patient is not None else "none",
        "release_gate_failed": None if gate is None else gate.name,
        **verdict.as_dict(),
        "structures": image.structures,
        "metadata": dict(sorted(image.metadata.items())),
        "capture": {
            k: image.captured.get(k)
            for k in ("blob_sha256", "phash", "width", "height", "format", "device", "focus")
        },
        "sop_deviations": image.captured["sop"]["deviations"],
        "captured_at": image.captured_at,
        "captured_by": image.captured_by,
    }
