"""Capture under the SOP: decode, measure, check, find duplicates, store, sign.

Every capture decides through the policies and writes through `Kernel.append`, so
nothing here can bypass a rule. Refusals (the SOP, consent, metadata) happen before
any byte reaches the blob store; a blob created for an event that then fails to save
is removed again. Blobs are durable before the events that name them are committed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, NotFound
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import Head, note_read, read_topic_after
from dermledger.policies import consent, duplicates, free_text, metadata_schema, sop
from dermledger.projections.dedup_index import DedupIndex, IndexedImage
from dermledger.study.imaging import ImageFacts, inspect_image
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.records import patient_stream
from dermledger.study.sealing import erased_patients, keyed_blobs
from dermledger.study.state import PatientState, fold_patient

MAX_SUSPICIONS = 5  # per capture: the nearest few are what a reviewer needs


@dataclass
class CaptureResult:
    image_id: str
    envelopes: list[Envelope]
    suspicions: list[duplicates.SuspectedDuplicate]
    skipped: bool = False


@dataclass(frozen=True)
class PlannedCapture:
    """One capture decided on measured facts: what `capture_batch` appends."""

    image_id: str
    patient_id: str
    lesion_id: str
    metadata: dict[str, Any]
    device: str | None
    facts: ImageFacts
    override_reason: str | None = None
    name: str = "the image"

    def indexed(self) -> IndexedImage:
        f = self.facts
        return IndexedImage(
            self.image_id, f.sha256, f.pixel_sha256, f.phash, f.dhash, f.region_hash
        )


class CaptureService:
    """Captures, one at a time or in batches, with the duplicate check."""

    duplicate_threshold: int = duplicates.DEFAULT_THRESHOLD

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def dedup_index(self) -> DedupIndex:
        """Every captured image's hashes, and the log position they were read up to."""
        return self.refreshed(DedupIndex())

    def refreshed(self, index: DedupIndex) -> DedupIndex:
        """Add the captures committed since `index` was last read (by anyone). Inside a
        decision the read is part of its read set, so a capture committed by another
        writer between the decision and its insert makes the append decide again, with
        that capture in the index: two captures of one photograph at once are never both
        recorded unsuspected."""
        captured, index.position = read_topic_after(
            self.kernel.recorder, "ImageCaptured", index.position
        )
        opener = self.kernel.sealer.opening(erased_patients(self.kernel.recorder))
        # Captures already in the index (this process's own, added when decided) are not
        # opened again: an import would otherwise decrypt each batch it wrote once more.
        fresh = (e for e in captured if e.payload.get("image_id") not in index)
        for p in (opener(e).payload for e in fresh):
            if p.get("erased"):  # its key is destroyed: nothing of it may match again
                continue
            index.add(
                IndexedImage(
                    p["image_id"],
                    p["blob_sha256"],
                    p["pixel_sha256"],
                    p["phash"],
                    p["dhash"],
                    p.get("region_hash"),  # absent before duplicate-detection v2
                )
            )
        return index

    def new_image_id(self, capture_key: str) -> str:
        """Image ids are derived from the ledger and a capture key, so an import re-run
        finds the images it already captured instead of capturing them twice."""
        digest = hashlib.sha256(f"{self.kernel.ledger_id()}|{capture_key}".encode()).hexdigest()
        return f"IMG-{digest[:16]}"

    def capture(
        self,
        signer: Signer,
        data: bytes,
        *,
        patient_id: str,
        lesion_id: str,
        metadata: dict[str, Any] | None = None,
        device: str | None = None,
        override_reason: str | None = None,
        name: str = "the image",
        image_id: str | None = None,
        facts: ImageFacts | None = None,
        index: DedupIndex | None = None,
    ) -> CaptureResult:
        """Capture one image: decode, SOP, metadata, duplicates, blob, signed events."""
        free_text.require_free_text("device", device)
        free_text.require_free_text("reason", override_reason)
        facts = facts or inspect_image(data, name=name)
        planned = PlannedCapture(
            image_id or self.new_image_id(f"capture:{uuid.uuid4()}"),
            patient_id,
            lesion_id,
            {k: v for k, v in (metadata or {}).items() if v is not None},
            device,
            facts,
            override_reason,
        )
        index = index if index is not None else self.dedup_index()
        suspicions: list[duplicates.SuspectedDuplicate] = []

        def decide() -> list[Proposal]:
            if self.kernel.stream(planned.image_id):
                raise Conflict(f"image {planned.image_id} is already captured")
            self.refreshed(index)
            patient = self._patient(patient_id)
            proposals, suspicions[:] = self._capture_proposals(planned, patient, index, set())
            return proposals

        self.kernel.acting_record(signer)
        decide()  # refuse before any byte reaches the blob store
        blobs = keyed_blobs(self.kernel.settings)
        key, _ = self.kernel.sealer.ensure_key(patient_id)
        digest, created = blobs.put(self.kernel.sealer.blob_key(key), data)
        try:
            envelopes = self.kernel.append(signer, decide)
        except BaseException as exc:
            # A Conflict means another capture won the race; it may use this very blob.
            if created and not isinstance(exc, Conflict):
                blobs.delete(digest)
            raise
        index.add(planned.indexed())
        return CaptureResult(planned.image_id, envelopes, list(suspicions))

    def _capture_proposals(
        self,
        planned: PlannedCapture,
        patient: PatientState | None,
        index: DedupIndex,
        not_yet: set[str],
        key: bytes | None = None,
    ) -> tuple[list[Proposal], list[duplicates.SuspectedDuplicate]]:
        """The events of one capture (policies `capture-sop`, consent, metadata-schema and
        `duplicate-detection`), or the refusal. Candidates in `not_yet` are ignored: images of
        the same batch that come after this one, already in the index from an earlier
        attempt at the batch. `key`: the patient's key if the caller holds it already."""
        facts, patient_id = planned.facts, planned.patient_id
        fields = ({} if patient is None else patient.fields) | planned.metadata
        fields = {k: v for k, v in fields.items() if v is not None}
        record = metadata_schema.validate_record(
            {"patient_id": patient_id, "lesion_id": planned.lesion_id, **fields}
        )
        decision, sop_record = sop.decide(
            _sop_facts(facts, record, patient is not None),
            override_reason=planned.override_reason,
        )
        if patient is None:
            raise NotFound(f"patient {patient_id} is not registered")
        consent.check_capture(
            consent.ConsentFacts(patient_id, True, patient.consent, patient.erased)
        ).enforce()
        decision.enforce()
        found = self._suspicions(facts, index, not_yet)
        captured = _captured_payload(planned, record, sop_record)
        if key is None:  # every check above has passed
            key, _ = self.kernel.sealer.ensure_key(patient_id)
        sealed = self.kernel.sealer.seal_capture(
            key, captured, self.kernel.sealer.blob_ref(key, facts.sha256)
        )
        image_id = planned.image_id
        suspected = [
            {"image_id": image_id, "duplicate_of": s.duplicate_of, "kind": s.kind,
             "distance": s.distance, "threshold": self.duplicate_threshold,
             "policy": duplicates.POLICY_NAME, "version": duplicates.POLICY_VERSION}
            for s in found
        ]  # fmt: skip
        proposals = [self.kernel.proposal(image_id, "ImageCaptured", sealed)] + [
            self.kernel.proposal(image_id, "DuplicateSuspected", s) for s in suspected
        ]
        return proposals, found

    def _suspicions(
        self, facts: ImageFacts, index: DedupIndex, not_yet: set[str]
    ) -> list[duplicates.SuspectedDuplicate]:
        """The nearest earlier images this one may duplicate (policy duplicate-detection)."""
        return duplicates.classify(
            sha256=facts.sha256,
            pixel_sha256=facts.pixel_sha256,
            candidates=(
                duplicates.Candidate(
                    n.image.image_id,
                    n.image.sha256,
                    n.image.pixel_sha256,
                    n.distance,
                    duplicates.hamming_hex(n.image.dhash, facts.dhash),
                    n.region_distance,
                )
                for n in index.candidates(facts.phash, self.duplicate_threshold, facts.region_probe)
                if n.image.image_id not in not_yet
            ),
            threshold=self.duplicate_threshold,
        )[:MAX_SUSPICIONS]

    def _patient(self, patient_id: str) -> PatientState | None:
        """The patient's state with its sealed fields opened (read into the decision)."""
        return self._patient_read(patient_id)[1]

    def _patient_read(self, patient_id: str) -> tuple[Head, PatientState | None]:
        """The head of the patient's stream and the state folded from it."""
        stream = self.kernel.stream(patient_stream(patient_id))
        head: Head = (stream[-1].stream_version, stream[-1].hash) if stream else (0, None)
        return head, fold_patient(self.kernel.sealer.open_all(stream))

    def _batch_patients(self, batch: list[tuple[PlannedCapture, bytes]]) -> dict[str, _Patient]:
        """Every patient of a batch read once, before its blobs are written: the stream's
        head, the state, and the key when images may be captured for it (None if not)."""
        patients: dict[str, _Patient] = {}
        for planned, _ in batch:
            if planned.patient_id not in patients:
                head, state = self._patient_read(planned.patient_id)
                usable = state is not None and not state.erased
                key = self.kernel.sealer.ensure_key(planned.patient_id)[0] if usable else None
                patients[planned.patient_id] = _Patient(head, state, key)
        return patients

    def _decision_patient(
        self, patient_id: str, read_before: dict[str, _Patient] | None
    ) -> _Patient:
        """A patient as a batch's decision sees it: as read just before the decision (its
        head goes into the read set, so the insert fails if the stream moved since), else
        read now."""
        if read_before is not None:
            known = read_before[patient_id]
            note_read(patient_stream(patient_id), known.head)
            return known
        return _Patient(*self._patient_read(patient_id), None)

    def _blob_items(
        self, batch: list[tuple[PlannedCapture, bytes]], patients: dict[str, _Patient]
    ) -> list[tuple[bytes, bytes]]:
        """(blob key, bytes) of every image of a batch whose patient may be captured; the
        others are left out here and refused by the decision."""
        keys = {
            pid: self.kernel.sealer.blob_key(p.key)
            for pid, p in patients.items()
            if p.key is not None
        }
        return [
            (keys[planned.patient_id], data)
            for planned, data in batch
            if planned.patient_id in keys
        ]

    def _present(self, image_id: str, index: DedupIndex, attempts: int) -> bool:
        """Whether the image's stream exists: from `index` on the first attempt, from the
        store on a retry (the index then holds this batch's images from the attempt before)."""
        if attempts == 1:
            return image_id in index
        return bool(self.kernel.stream(image_id))

    def capture_batch(
        self,
        signer: Signer,
        batch: list[tuple[PlannedCapture, bytes]],
        index: DedupIndex,
    ) -> list[CaptureResult]:
        """Capture several images in one transaction: blobs first (made durable together),
        then every image's events in one append, so each image is all there or not at all
        and a crash never leaves an event without its blob.

        The file checks ran before (`import_folder`), so a refusal here means the study
        changed meanwhile (consent withdrawn): the blobs this call created are removed. An
        image whose stream exists already is skipped (`skipped=True`), known from `index`
        and the per-stream version check on the first attempt, from the store on a retry.
        """
        _check_unchanged(batch)
        results: dict[str, CaptureResult] = {}
        attempts = 0
        read_before = self._batch_patients(batch)

        def decide() -> list[Proposal]:
            nonlocal attempts
            attempts += 1
            results.clear()
            self.refreshed(index)
            patients: dict[str, _Patient] = {}
            proposals: list[Proposal] = []
            not_yet = {planned.image_id for planned, _ in batch}
            for planned, _ in batch:
                if self._present(planned.image_id, index, attempts) or (
                    planned.image_id in results
                ):
                    results.setdefault(
                        planned.image_id, CaptureResult(planned.image_id, [], [], True)
                    )
                    not_yet.discard(planned.image_id)
                    continue
                patient = patients.get(planned.patient_id)
                if patient is None:
                    patient = patients[planned.patient_id] = self._decision_patient(
                        planned.patient_id, read_before if attempts == 1 else None
                    )
                made, found = self._capture_proposals(
                    planned, patient.state, index, not_yet, patient.key
                )
                not_yet.discard(planned.image_id)
                proposals += made
                index.add(planned.indexed())  # later images of the batch must see this one
                results[planned.image_id] = CaptureResult(planned.image_id, [], found)
            return proposals

        blobs = keyed_blobs(self.kernel.settings)
        stored = blobs.put_many(self._blob_items(batch, read_before))
        try:
            envelopes = self.kernel.append(signer, decide)
        except BaseException as exc:
            if not isinstance(exc, Conflict):  # on a Conflict, another writer may use them
                _delete_created(blobs, stored)
            raise
        for envelope in envelopes:
            results[envelope.stream_id].envelopes.append(envelope)
        return [results[planned.image_id] for planned, _ in batch]


@dataclass(frozen=True)
class _Patient:
    """A patient read for a batch: its stream's head, its state, its key (None: not held)."""

    head: Head
    state: PatientState | None
    key: bytes | None


def _check_unchanged(batch: list[tuple[PlannedCapture, bytes]]) -> None:
    """Refuse a batch whose files changed between measuring and storing them."""
    for planned, data in batch:
        if hashlib.sha256(data).hexdigest() != planned.facts.sha256:
            raise Conflict(f"{planned.name} changed since it was checked; import again")


def _delete_created(blobs: Any, stored: list[tuple[str, bool]]) -> None:
    """Remove the blobs this batch created (never ones that were already there)."""
    for digest, created in stored:
        if created:
            blobs.delete(digest)


def _sop_facts(facts: ImageFacts, record: Any, registered: bool) -> sop.CaptureFacts:
    return sop.CaptureFacts(
        format=facts.format,
        width=facts.width,
        height=facts.height,
        focus=facts.focus,
        image_type=record.image_type,
        dermoscopic_type=record.dermoscopic_type,
        patient_registered=registered,
    )


def _captured_payload(
    planned: PlannedCapture, record: Any, sop_record: dict[str, Any]
) -> dict[str, Any]:
    """ImageCaptured's fields before sealing: the measured facts, the SOP checklist and
    the validated ISIC metadata."""
    facts = planned.facts
    values = record.model_dump(mode="json", exclude_none=True)
    values.pop("patient_id"), values.pop("lesion_id")
    return {
        "image_id": planned.image_id,
        "patient_id": planned.patient_id,
        "lesion_id": planned.lesion_id,
        "blob_sha256": facts.sha256,
        "pixel_sha256": facts.pixel_sha256,
        "phash": facts.phash,
        "dhash": facts.dhash,
        "region_hash": facts.region_hash,
        "width": facts.width,
        "height": facts.height,
        "format": facts.format,
        "size_bytes": facts.size_bytes,
        "device": planned.device,
        "focus": facts.focus,
        "sop": sop_record,
        "metadata": values,
    }
