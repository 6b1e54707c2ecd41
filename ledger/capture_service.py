"""Patients, capture under the SOP, metadata edits, duplicates and bulk import.

A mixin of the DermLedger service: every method decides through the policies and
writes through `DermLedger.append`, so nothing here can bypass a rule. Refusals of
the input (rows, files, the SOP, consent) happen before any byte reaches the blob
store; a blob created for an event that then fails to save is removed again. Blobs
are durable before the events that name them are committed.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from dermledger.ledger.imaging import ImageFacts, inspect_image, measure_files
from dermledger.ledger.personal_data import seal_personal
from dermledger.ledger.state import ImageState, PatientState, fold_image, fold_patient
from dermledger.ledger.store import read_topic, read_topic_after
from dermledger.policies import csv_rows, duplicates, metadata_schema, sop
from dermledger.projections.dedup_index import DedupIndex, IndexedImage

if TYPE_CHECKING:
    from dermledger.ledger.app import DermLedger, Proposal
    from dermledger.ledger.signing import Signer

PATIENT_FIELDS = ("age", "sex", "fitzpatrick_skin_type", "personal_hx_mm", "family_hx_mm")
MAX_SUSPICIONS = 5  # per capture: the nearest few are what a reviewer needs
# Images a transaction in an import: one commit and two blob-store flushes per batch
# instead of per image, while a batch stays small enough that a retry is cheap.
IMPORT_BATCH = 64
# Files; below this an import measures in-process (two spawned workers take about 0.5 s
# to start, the time of some 70 images).
PARALLEL_IMPORT_FROM = 100


def hamming_hex(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def check_personal(data: dict[str, str | None]) -> dict[str, str]:
    """Personal fields, validated without ever echoing their values."""
    from datetime import date

    from dermledger.ledger.personal_data import PERSONAL_FIELDS

    clean = {k: str(v).strip() for k, v in data.items() if v not in (None, "")}
    unknown = sorted(set(clean) - set(PERSONAL_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown personal field {', '.join(unknown)}")
    if any(len(v) > 200 for v in clean.values()):
        raise InvalidInput("a personal field is longer than 200 characters")
    if "birth_date" in clean:
        try:
            date.fromisoformat(clean["birth_date"])
        except ValueError:
            raise InvalidInput("the birth date is not a YYYY-MM-DD date") from None
    return clean


def patient_stream(patient_id: str) -> str:
    return f"patient:{patient_id}"


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


@dataclass
class ImportReport:
    rows: int = 0
    captured: int = 0
    already_present: int = 0
    suspicions: int = 0
    image_ids: list[str] = field(default_factory=list)


class CaptureService:
    """Capture-side commands of the DermLedger application."""

    duplicate_threshold: int = duplicates.DEFAULT_THRESHOLD

    # ---------------------------------------------------------------- patients

    def register_patient(
        self: DermLedger,
        signer: Signer,
        patient_id: str,
        fields: dict[str, str | None],
        *,
        personal: dict[str, str] | None = None,
    ) -> Envelope:
        """Register a patient by pseudonym with the patient-level fields.

        Personal data (name, record number, birth date) is encrypted with a new key of the
        patient's own before the event is signed; the key is removed again if the
        registration is refused.
        """
        self.permit(signer, "PatientRegistered")
        metadata_schema.validate_field("patient_id", patient_id)
        payload: dict[str, Any] = {"patient_id": patient_id}
        for name in PATIENT_FIELDS:
            value = fields.get(name)
            if value not in (None, ""):
                payload[name] = metadata_schema.validate_field(name, str(value))
        personal = check_personal(personal or {})

        def decide() -> list[Proposal]:
            if self.stream(patient_stream(patient_id)):
                raise Conflict(f"patient {patient_id} is already registered")
            return [self.proposal(patient_stream(patient_id), "PatientRegistered", payload)]

        decide()
        created = False
        if personal:
            key = self.patient_keys.create(patient_id)
            created = True
            payload["personal"] = seal_personal(key, patient_id, personal)
        try:
            return self.append(signer, decide)[0]
        except BaseException:
            if created:
                self.patient_keys.destroy(patient_id)
            raise

    def get_patient(self: DermLedger, patient_id: str) -> PatientState:
        state = fold_patient(self.stream(patient_stream(patient_id)))
        if state is None:
            raise NotFound(f"there is no patient {patient_id}")
        return state

    def patient_ids(self: DermLedger) -> set[str]:
        return {e.payload["patient_id"] for e in read_topic(self.recorder, "PatientRegistered")}

    # ------------------------------------------------------------------ images

    def get_image(self: DermLedger, image_id: str) -> ImageState:
        state = fold_image(self.stream(image_id))
        if state is None:
            raise NotFound(f"there is no image {image_id}")
        return state

    def image_ids(self: DermLedger) -> list[str]:
        return [e.payload["image_id"] for e in read_topic(self.recorder, "ImageCaptured")]

    def dedup_index(self: DermLedger) -> DedupIndex:
        """Every captured image's hashes, and the log position they were read up to."""
        return self.refreshed(DedupIndex())

    def refreshed(self: DermLedger, index: DedupIndex) -> DedupIndex:
        """Add the captures committed since `index` was last read (by anyone). Inside a
        decision the read is part of its read set, so a capture committed by another
        writer between the decision and its insert makes the append decide again, with
        that capture in the index: two captures of one photograph at once are never both
        recorded unsuspected."""
        captured, index.position = read_topic_after(self.recorder, "ImageCaptured", index.position)
        for p in (e.payload for e in captured):
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

    def new_image_id(self: DermLedger, capture_key: str) -> str:
        """Image ids are derived from the ledger and a capture key, so an import re-run
        finds the images it already captured instead of capturing them twice."""
        digest = hashlib.sha256(f"{self.ledger_id()}|{capture_key}".encode()).hexdigest()
        return f"IMG-{digest[:16]}"

    def capture(
        self: DermLedger,
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
            if self.stream(planned.image_id):
                raise Conflict(f"image {planned.image_id} is already captured")
            self.refreshed(index)
            patient = fold_patient(self.stream(patient_stream(patient_id)))
            proposals, suspicions[:] = self._capture_proposals(planned, patient, index, set())
            return proposals

        self._acting_record(signer)
        decide()  # refuse before any byte reaches the blob store
        blobs = BlobStore(self.settings.blobs_dir)
        digest, created = blobs.put(data)
        try:
            envelopes = self.append(signer, decide)
        except BaseException as exc:
            # A Conflict means another capture won the race; it may use this very blob.
            if created and not isinstance(exc, Conflict):
                blobs.discard(digest)
            raise
        index.add(planned.indexed())
        return CaptureResult(planned.image_id, envelopes, list(suspicions))

    def _capture_proposals(
        self: DermLedger,
        planned: PlannedCapture,
        patient: PatientState | None,
        index: DedupIndex,
        not_yet: set[str],
    ) -> tuple[list[Proposal], list[duplicates.SuspectedDuplicate]]:
        """The events of one capture (policies `capture-sop`, consent, metadata-schema and
        `duplicate-detection`), or the refusal. Candidates in `not_yet` are ignored: images of
        the same batch that come after this one, already in the index from an earlier
        attempt at the batch."""
        facts, patient_id = planned.facts, planned.patient_id
        fields = ({} if patient is None else patient.fields) | planned.metadata
        fields = {k: v for k, v in fields.items() if v is not None}
        record = metadata_schema.validate_record(
            {"patient_id": patient_id, "lesion_id": planned.lesion_id, **fields}
        )
        decision, sop_record = sop.decide(
            sop.CaptureFacts(
                format=facts.format,
                width=facts.width,
                height=facts.height,
                focus=facts.focus,
                image_type=record.image_type,
                dermoscopic_type=record.dermoscopic_type,
                patient_registered=patient is not None,
            ),
            override_reason=planned.override_reason,
        )
        if patient is None:
            raise NotFound(f"patient {patient_id} is not registered")
        if not patient.consent:
            raise PolicyViolation(
                f"patient {patient_id} has no consent in force; record consent first",
                policy="consent",
            )
        decision.enforce()
        found = duplicates.classify(
            sha256=facts.sha256,
            pixel_sha256=facts.pixel_sha256,
            candidates=(
                duplicates.Candidate(
                    n.image.image_id,
                    n.image.sha256,
                    n.image.pixel_sha256,
                    n.distance,
                    hamming_hex(n.image.dhash, facts.dhash),
                    n.region_distance,
                )
                for n in index.candidates(facts.phash, self.duplicate_threshold, facts.region_probe)
                if n.image.image_id not in not_yet
            ),
            threshold=self.duplicate_threshold,
        )[:MAX_SUSPICIONS]
        values = record.model_dump(mode="json", exclude_none=True)
        values.pop("patient_id"), values.pop("lesion_id")
        image_id = planned.image_id
        captured = {
            "image_id": image_id,
            "patient_id": patient_id,
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
        proposals = [self.proposal(image_id, "ImageCaptured", captured)] + [
            self.proposal(
                image_id,
                "DuplicateSuspected",
                {
                    "image_id": image_id,
                    "duplicate_of": s.duplicate_of,
                    "kind": s.kind,
                    "distance": s.distance,
                    "threshold": self.duplicate_threshold,
                    "policy": duplicates.POLICY_NAME,
                    "version": duplicates.POLICY_VERSION,
                },
            )
            for s in found
        ]
        return proposals, found

    def capture_batch(
        self: DermLedger,
        signer: Signer,
        batch: list[tuple[PlannedCapture, bytes]],
        index: DedupIndex,
    ) -> list[CaptureResult]:
        """Capture several images in one transaction: blobs first (made durable together),
        then every image's events in one append, so each image is all there or not at all
        and a crash never leaves an event without its blob.

        Decided once per attempt, after the blobs are written: the file checks ran before
        (`import_folder` measures and runs the SOP before writing anything), so a refusal
        here means the study changed meanwhile (consent withdrawn): the blobs this call
        created are removed again. An image whose stream exists already (another import of
        the same folder) is skipped, with `skipped=True`; the first attempt takes that from
        `index` and the store's per-stream version check, a retry from the store.
        """
        for planned, data in batch:
            if hashlib.sha256(data).hexdigest() != planned.facts.sha256:
                raise Conflict(f"{planned.name} changed since it was checked; import again")
        results: dict[str, CaptureResult] = {}
        attempts = 0

        def decide() -> list[Proposal]:
            nonlocal attempts
            attempts += 1
            results.clear()
            self.refreshed(index)
            patients: dict[str, PatientState | None] = {}
            proposals: list[Proposal] = []
            not_yet = {planned.image_id for planned, _ in batch}
            for planned, _ in batch:
                if attempts == 1:
                    present = planned.image_id in index
                else:  # the index holds this batch's images from the attempt before
                    present = bool(self.stream(planned.image_id))
                if present or planned.image_id in results:
                    results.setdefault(
                        planned.image_id, CaptureResult(planned.image_id, [], [], True)
                    )
                    not_yet.discard(planned.image_id)
                    continue
                if planned.patient_id not in patients:
                    stream = self.stream(patient_stream(planned.patient_id))
                    patients[planned.patient_id] = fold_patient(stream)
                made, found = self._capture_proposals(
                    planned, patients[planned.patient_id], index, not_yet
                )
                not_yet.discard(planned.image_id)
                proposals += made
                index.add(planned.indexed())  # later images of the batch must see this one
                results[planned.image_id] = CaptureResult(planned.image_id, [], found)
            return proposals

        blobs = BlobStore(self.settings.blobs_dir)
        stored = blobs.put_many([data for _, data in batch])
        try:
            envelopes = self.append(signer, decide)
        except BaseException as exc:
            if not isinstance(exc, Conflict):  # on a Conflict, another writer may use them
                for digest, created in stored:
                    if created:
                        blobs.discard(digest)
            raise
        for envelope in envelopes:
            results[envelope.stream_id].envelopes.append(envelope)
        return [results[planned.image_id] for planned, _ in batch]

    # ------------------------------------------------------------- metadata

    def edit_metadata(
        self: DermLedger, signer: Signer, image_id: str, field_name: str, value: str, reason: str
    ) -> Envelope:
        """Change one field; the reason is required and the old value is kept in the event."""
        if not reason.strip():
            raise InvalidInput("a reason is required to edit metadata")
        metadata_schema.check_editable(field_name)
        new = metadata_schema.validate_field(field_name, value)

        def decide() -> list[Proposal]:
            image = self.get_image(image_id)
            old = image.metadata.get(field_name)
            merged = {k: v for k, v in {**image.metadata, field_name: new}.items() if v is not None}
            checked = metadata_schema.validate_record(merged).model_dump(mode="json")
            if checked.get(field_name) == old:
                raise Conflict(f"{field_name} of {image_id} is already {old!r}")
            return [
                self.proposal(
                    image_id,
                    "MetadataEdited",
                    {
                        "image_id": image_id,
                        "field": field_name,
                        "old_value": old,
                        "new_value": checked.get(field_name),
                        "reason": reason,
                    },
                )
            ]

        return self.append(signer, decide)[0]

    # ----------------------------------------------------------- duplicates

    def list_duplicates(self: DermLedger, *, include_resolved: bool = False) -> list[dict]:
        rows = []
        for env in read_topic(self.recorder, "DuplicateSuspected"):
            image = self.get_image(env.payload["image_id"])
            for s in image.suspicions:
                if s.duplicate_of != env.payload["duplicate_of"]:
                    continue
                if s.outcome is None or include_resolved:
                    rows.append(
                        {
                            "image_id": image.image_id,
                            "duplicate_of": s.duplicate_of,
                            "kind": s.kind,
                            "distance": s.distance,
                            "status": s.outcome or "unresolved",
                            "reason": s.reason,
                        }
                    )
                break
        return rows

    def resolve_duplicate(
        self: DermLedger,
        signer: Signer,
        image_id: str,
        *,
        duplicate_of: str | None,
        distinct: bool,
        reason: str,
    ) -> list[Envelope]:
        """Exclude an image as a duplicate of X, or clear its suspicions as distinct."""
        if distinct == (duplicate_of is not None):
            raise InvalidInput("give either --duplicate-of IMAGE or --distinct")
        if not reason.strip():
            raise InvalidInput("a reason is required to resolve a duplicate suspicion")

        def decide() -> list[Proposal]:
            image = self.get_image(image_id)
            open_ = image.unresolved
            if not open_:
                raise Conflict(f"{image_id} has no unresolved duplicate suspicion")
            if duplicate_of is not None:
                self.get_image(duplicate_of)
                if duplicate_of not in {s.duplicate_of for s in open_}:
                    raise PolicyViolation(
                        f"{image_id} is not suspected to duplicate {duplicate_of}; "
                        f"suspected: {', '.join(s.duplicate_of for s in open_)}",
                        policy=duplicates.POLICY_NAME,
                    )
            proposals = [
                self.proposal(
                    image_id,
                    "DuplicateResolved",
                    {
                        "image_id": image_id,
                        "duplicate_of": s.duplicate_of,
                        "outcome": "duplicate" if s.duplicate_of == duplicate_of else "distinct",
                        "reason": reason,
                    },
                )
                for s in open_
            ]
            if duplicate_of is not None and not image.excluded:
                proposals.append(
                    self.proposal(
                        image_id,
                        "ImageExcluded",
                        {"image_id": image_id, "reason": f"duplicate of {duplicate_of}: {reason}"},
                    )
                )
            return proposals

        return self.append(signer, decide)

    def set_excluded(
        self: DermLedger, signer: Signer, image_id: str, *, excluded: bool, reason: str
    ) -> Envelope:
        if not reason.strip():
            raise InvalidInput("a reason is required")

        def decide() -> list[Proposal]:
            image = self.get_image(image_id)
            if image.excluded == excluded:
                raise Conflict(f"{image_id} is already {'excluded' if excluded else 'included'}")
            kind = "ImageExcluded" if excluded else "ImageReinstated"
            return [self.proposal(image_id, kind, {"image_id": image_id, "reason": reason})]

        return self.append(signer, decide)[0]

    # ---------------------------------------------------------------- import

    def import_folder(
        self: DermLedger,
        signer: Signer,
        folder: Path,
        header: list[str],
        rows: list[dict[str, str]],
        *,
        source: str = "the metadata file",
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> ImportReport:
        """Validate every row and file first; then capture, skipping what is already in.

        Raises InvalidInput listing every problem with its row number, before writing.
        Files are decoded and measured once, on `workers` processes (by default every core
        once the import is large enough to repay starting them); the captures are then
        appended IMPORT_BATCH images a transaction, each image's events all or nothing.
        """
        self._acting_record(signer)
        report = csv_rows.validate_rows(header, rows, known_patients=self.patient_ids())
        problems = list(report.problems)
        checked: list[tuple[int, dict[str, Any], Path]] = []
        folder = folder.resolve()
        if report.ok:
            for number, record in zip(_row_numbers(rows), report.records, strict=True):
                path = (folder / str(record["filename"])).resolve()
                if not path.is_relative_to(folder):
                    problems.append(f"row {number}: filename leaves the import folder")
                elif not path.is_file():
                    problems.append(f"row {number}: {record['filename']} does not exist")
                else:
                    checked.append((number, record, path))
        if workers is None:
            workers = (os.cpu_count() or 1) if len(checked) >= PARALLEL_IMPORT_FROM else 1
        index = self.dedup_index()
        consent: dict[str, bool] = {}
        planned: list[tuple[PlannedCapture, Path]] = []
        present: list[str] = []
        order: list[str] = []  # the image id of every row, in row order
        measured = measure_files([(str(p), str(r["filename"])) for _, r, p in checked],
                                 workers=workers)  # fmt: skip
        for (number, record, path), facts in zip(checked, measured, strict=True):
            if isinstance(facts, str):
                problems.append(f"row {number}: {facts}")
                continue
            checks = sop.run_checks(
                sop.CaptureFacts(
                    facts.format, facts.width, facts.height, facts.focus,
                    str(record.get("image_type") or "") or None,
                    str(record.get("dermoscopic_type") or "") or None,
                    True,
                )
            )  # fmt: skip
            failed = [c for c in checks if not c.passed]
            if failed:
                problems.append(f"row {number}: {failed[0].sentence()}")
                continue
            image_id = self.new_image_id(f"import:{record['filename']}:{facts.sha256}")
            order.append(image_id)
            if image_id in index:
                present.append(image_id)
                continue
            patient_id = str(record["patient_id"])
            if patient_id not in consent:
                state = fold_patient(self.stream(patient_stream(patient_id)))
                consent[patient_id] = state is not None and state.consent
            if not consent[patient_id]:
                problems.append(
                    f"row {number}: patient {patient_id} has no consent in force; "
                    "record consent first"
                )
                continue
            values = {
                k: v
                for k, v in record.items()
                if k not in ("filename", "device", "patient_id", "lesion_id") and v is not None
            }
            capture = PlannedCapture(
                image_id, patient_id, str(record["lesion_id"]), values,
                str(record["device"]) if record.get("device") else None, facts,
                name=str(record["filename"]),
            )  # fmt: skip
            planned.append((capture, path))
        if problems:
            raise ImportRefused(problems, source)
        result = ImportReport(rows=len(planned) + len(present), already_present=len(present))
        done = len(present)
        if progress and done:
            progress(done, result.rows)
        for start in range(0, len(planned), IMPORT_BATCH):
            chunk = planned[start : start + IMPORT_BATCH]
            captured = self.capture_batch(
                signer, [(capture, path.read_bytes()) for capture, path in chunk], index
            )
            for one in captured:
                result.already_present += one.skipped
                result.captured += not one.skipped
                result.suspicions += len(one.suspicions)
            done += len(chunk)
            if progress:
                progress(done, result.rows)
        result.image_ids = order
        return result


class ImportRefused(InvalidInput):
    """An import with problems: every problem, with row numbers, and nothing written."""

    def __init__(self, problems: list[str], source: str) -> None:
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        listed = "; ".join(problems[:10]) + more
        super().__init__(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {source} "
            f"(row 1 is the header), nothing was imported: {listed}"
        )
        self.problems = problems


def _row_numbers(rows: list[dict[str, str]]) -> list[int]:
    """Spreadsheet row numbers of the non-blank data rows (the header is row 1)."""
    return [
        number
        for number, row in enumerate(rows, start=2)
        if any(str(v or "").strip() for k, v in row.items() if k is not None)
    ]


def image_summary(image: ImageState) -> dict[str, Any]:
    """The query shape of one image: its current fields and status, as plain data."""
    return {
        "image_id": image.image_id,
        "verification": image.verification().as_dict(),
        "structures": image.structures,
        "status": "excluded"
        if image.excluded
        else ("duplicate-suspected" if image.unresolved else "included"),
        "exclusion_reason": image.exclusion_reason,
        "metadata": dict(sorted(image.metadata.items())),
        "capture": {
            k: image.captured[k]
            for k in ("blob_sha256", "phash", "width", "height", "format", "device", "focus")
        },
        "sop_deviations": image.captured["sop"]["deviations"],
        "captured_at": image.captured_at,
        "captured_by": image.captured_by,
    }
