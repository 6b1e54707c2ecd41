"""A fast, honest generator of study-shaped logs for the read-model benchmark.

Building a 1M-event log through the service's commands (one signed append a
transaction, images decoded and hashed) takes about half an hour here; the read model
only reads the log, so this makes the same events faster without faking any of them:

- every event is a real signed envelope: payloads validated by `events.validated`,
  sealed with `envelope.seal` by the enrolled actor whose role may append that type
  (the team is enrolled through the service, with real key files), each stream
  chained on its own head;
- they are saved with `DermLedger.save(*envelopes)`, a few thousand a transaction,
  instead of one command a transaction;
- the study is made in the order a study makes it, phase by phase: patients and
  consent, captures (distinct blob, pixel and perceptual hashes; every 50th image a
  re-upload of the one before, exact-bytes suspected and later excluded; every 50th,
  offset by 25, a near suspicion later cleared as distinct), metadata corrections,
  initial annotations, three consensus votes (a 2-of-3 panel on every fourth image, a
  three-way split on every 40th, settled by ordered histology), a superseded vote on
  every 100th image, histology for malignant labels, and a checkpoint at the end.

What is not real: no image file exists behind an ImageCaptured (its hashes are derived
from the image's number, its SOP record is the SOP policy's for a 320x240 JPEG), and
duplicate suspicions are planted rather than found by the pHash index. Neither is
read by the read model. `audit verify` passes on the result.

`cached_log(folder, events)` keeps a built SQLite log in `folder` (with a marker written
last, so a half-built one is never reused), so reruns of a large benchmark reuse it.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.envelope import Envelope, format_timestamp, seal
from dermledger.ledger.signing import Signer
from dermledger.policies import confirmation, metadata_schema, sop
from dermledger.policies.categories import category_of, is_malignant
from dermledger.policies.roles import SIGNATURE_MEANING
from dermledger.study import events
from dermledger.study.kernel import actor_stream
from dermledger.study.ledger import DermLedger

GENERATOR_VERSION = 1  # bump when the shape of the generated log changes
EVENTS_PER_IMAGE = 6.1  # measured: patients' two events are shared by three images
CHUNK = 4000  # envelopes saved in one transaction
PASSPHRASE = "benchmark passphrase"
FAST_KDF = 10
DONE = "complete.txt"
Progress = Callable[[int], None] | None

META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
        "anatom_site": "Trunk:Posterior trunk"}  # fmt: skip
# Diagnoses the readers give, in turn: mostly benign, as in the cohort.
LABELS = ("Nevus, NOS, Compound", "Seborrheic keratosis", "Nevus, NOS, Junctional",
          "Dermatofibroma", "Melanoma Invasive", "Nevus, NOS, Compound", "Hemangioma",
          "Basal cell carcinoma")  # fmt: skip
DISSENT = ("Solar lentigo", "Dermatofibroma")  # a 2-of-3 panel; a three-way split
TEAM = {"annotator": ["annotator"], "reader1": ["specialist"], "reader2": ["specialist"],
        "reader3": ["specialist"], "pathologist": ["pathologist"]}  # fmt: skip
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class _Writer:
    """Seals events on their streams' heads and saves them a chunk at a time."""

    ledger: DermLedger
    signers: dict[str, Signer]
    progress: Progress
    heads: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    pending: list[Envelope] = field(default_factory=list)
    written: int = 0
    tick: int = 0

    def add(self, who: str, stream_id: str, event_type: str, payload: dict[str, Any]) -> str:
        version, prev_hash = self.heads.get(stream_id, (0, None))
        self.tick += 1
        env = seal(
            event_id=str(uuid.uuid4()),
            stream_id=stream_id,
            stream_version=version + 1,
            event_type=event_type,
            recorded_at=format_timestamp(START + timedelta(seconds=self.tick)),
            signer=self.signers[who],
            payload=events.validated(event_type, payload),
            prev_hash=prev_hash,
        )
        self.heads[stream_id] = (version + 1, env.hash)
        self.pending.append(env)
        if len(self.pending) >= CHUNK:
            self.flush()
        return env.event_id

    def flush(self) -> None:
        if self.pending:
            self.ledger.kernel.save(*self.pending)
            self.written += len(self.pending)
            self.pending.clear()
            if self.progress:
                self.progress(self.written)


@dataclass(frozen=True)
class _Image:
    image_id: str
    number: int
    diagnosis: str


def build(
    ledger: DermLedger,
    lead: Signer,
    events_wanted: int,
    progress: Progress = None,
) -> int:
    """Append a study of about `events_wanted` events to a founded ledger whose
    coordinator is `lead`; returns the log's size."""
    signers = {"lead": lead}
    for name, roles in TEAM.items():
        ledger.actors.enrol(lead, name, roles, passphrase=PASSPHRASE)
        signers[name] = ledger.actors.unlock(name, PASSPHRASE)
    w = _Writer(ledger, signers, progress)
    for stream in (actor_stream(name) for name in ("ada", *TEAM)):
        w.heads[stream] = (len(ledger.kernel.stream(stream)), ledger.kernel.stream(stream)[-1].hash)
    count = max(3, int(events_wanted / EVENTS_PER_IMAGE))
    labels = {d: (metadata_schema.parse_label("diagnosis", d), "") for d in (*LABELS, *DISSENT)}
    labels = {d: (full, category_of(full)) for d, (full, _) in labels.items()}
    _, sop_record = sop.decide(sop.CaptureFacts(format="JPEG", width=320, height=240,
                                                focus=120.0, image_type="dermoscopic",
                                                dermoscopic_type="contact polarized",
                                                patient_registered=True))  # fmt: skip
    records: dict[tuple[int, str], dict[str, Any]] = {}

    studied: list[_Image] = []
    suspected: list[tuple[str, str, bool]] = []  # (image, duplicate of, is a duplicate)
    previous = ""
    for i in range(count):
        patient = f"P{i // 3:06d}"
        age, sex = 20 + (i // 3) % 60, ("female", "male")[(i // 3) % 2]
        if i % 3 == 0:
            w.add("lead", f"patient:{patient}", "PatientRegistered",
                  {"patient_id": patient, "age": age, "sex": sex})  # fmt: skip
            w.add("lead", f"patient:{patient}", "ConsentRecorded",
                  {"patient_id": patient, "scope": "study",
                   "document_sha256": hashlib.sha256(b"consent form v3").hexdigest()})  # fmt: skip
        image_id = ledger.capture.new_image_id(f"bench:{i}")
        reupload = i % 50 == 49 and bool(previous)
        near = i % 50 == 24 and bool(previous)
        seed = i - 1 if reupload else i
        digest = hashlib.sha256(f"image {seed}".encode()).hexdigest()
        pixels = hashlib.sha256(f"pixels {seed}".encode()).hexdigest()
        if (age, sex) not in records:
            record = metadata_schema.validate_record(
                {"patient_id": patient, "lesion_id": "L0", "age": age, "sex": sex, **META}
            ).model_dump(mode="json", exclude_none=True)
            records[(age, sex)] = {k: v for k, v in record.items()
                                   if k not in ("patient_id", "lesion_id")}  # fmt: skip
        w.add("lead", image_id, "ImageCaptured", {
            "image_id": image_id, "patient_id": patient, "lesion_id": f"L{i:07d}",
            "blob_sha256": digest, "pixel_sha256": pixels,
            "phash": digest[:16], "dhash": digest[16:32], "region_hash": pixels[:48],
            "width": 320, "height": 240, "format": "JPEG", "size_bytes": 18_000 + i % 4000,
            "device": "DermLite DL5", "focus": 120.0, "sop": sop_record,
            "metadata": records[(age, sex)],
        })  # fmt: skip
        if reupload or near:
            w.add("lead", image_id, "DuplicateSuspected", {
                "image_id": image_id, "duplicate_of": previous,
                "kind": "exact-bytes" if reupload else "near", "distance": 0 if reupload else 9,
                "threshold": 12, "policy": "duplicate-detection", "version": "2",
            })  # fmt: skip
            suspected.append((image_id, previous, reupload))
        if i % 7 == 0:
            w.add("lead", image_id, "MetadataEdited", {
                "image_id": image_id, "field": "clin_size_long_diam_mm", "old_value": None,
                "new_value": 4.5, "reason": "measured at the second visit",
            })  # fmt: skip
        if not reupload:
            studied.append(_Image(image_id, i, LABELS[i % len(LABELS)]))
        previous = image_id
    for image_id, of, duplicate in suspected:
        outcome = "duplicate" if duplicate else "distinct"
        w.add("lead", image_id, "DuplicateResolved", {"image_id": image_id,
              "duplicate_of": of, "outcome": outcome, "reason": "reviewed"})  # fmt: skip
        if duplicate:
            w.add(
                "lead",
                image_id,
                "ImageExcluded",
                {"image_id": image_id, "reason": f"duplicate of {of}: reviewed"},
            )
    for image in studied:
        diagnosis, category = labels[image.diagnosis]
        w.add("annotator", image.image_id, "AnnotationRecorded", {
            "image_id": image.image_id, "diagnosis": diagnosis, "category": category,
            "structures": {"pigment_network": "typical"}, "signer_role": "annotator",
            "signature_meaning": SIGNATURE_MEANING["AnnotationRecorded"],
        })  # fmt: skip
    first_votes: dict[str, str] = {}
    for slot, reader in enumerate(("reader1", "reader2", "reader3"), start=1):
        for image in studied:
            said = _vote_label(image, slot)
            diagnosis, category = labels[said]
            eid = w.add(reader, image.image_id, "ConsensusVoteCast", _vote(image, slot,
                        diagnosis, category))  # fmt: skip
            if slot == 1:
                first_votes[image.image_id] = eid
    for image in studied[::100]:  # reader 1 takes a second look and agrees with the panel
        diagnosis, category = labels[image.diagnosis]
        payload = _vote(image, 1, diagnosis, category)
        payload.update(supersedes=first_votes[image.image_id], reason="second look")
        w.add("reader1", image.image_id, "ConsensusVoteCast", payload)
    for image in studied:
        split = image.number % 40 == 39
        diagnosis, category = labels[image.diagnosis]
        if split:
            w.add("lead", image.image_id, "FurtherReadOrdered", {"image_id": image.image_id,
                  "kind": "histology", "reason": "three-way split"})  # fmt: skip
        if split or is_malignant(category):
            w.add("pathologist", image.image_id, "HistologyRecorded", {
                "image_id": image.image_id, "diagnosis": diagnosis, "category": category,
                "report_ref": f"PATH-{image.number}", "report_date": "2026-11-20",
                "signer_role": "pathologist",
                "signature_meaning": SIGNATURE_MEANING["HistologyRecorded"],
            })  # fmt: skip
    w.flush()
    ledger.audit.sign_checkpoint(lead)
    return sum(1 for _ in ledger.kernel.log())


def _vote_label(image: _Image, slot: int) -> str:
    if slot >= 2 and image.number % 40 == 39:  # three categories among three readers
        return DISSENT[slot - 2]
    if slot == 3 and image.number % 4 == 0:
        return DISSENT[0]
    return image.diagnosis


def _vote(image: _Image, slot: int, diagnosis: str, category: str) -> dict[str, Any]:
    return {
        "image_id": image.image_id, "diagnosis": diagnosis, "category": category,
        "reader_slot": slot, "supersedes": None, "reason": None, "signer_role": "specialist",
        "signature_meaning": f"consensus reader {slot} of {confirmation.PANEL_SIZE}",
    }  # fmt: skip


def open_founded(settings: Settings) -> tuple[DermLedger, Signer]:
    """A new ledger at `settings`, founded by the coordinator `ada`."""
    ledger = DermLedger(settings)
    ledger.actors.found("ada", PASSPHRASE)
    return ledger, ledger.actors.unlock("ada", PASSPHRASE)


def cached_log(folder: Path, events_wanted: int, progress: Progress = None) -> tuple[Settings, int]:
    """The settings of a SQLite study log of about `events_wanted` events kept in
    `folder`, built on first use; and its size. A folder without the marker (a build
    that was interrupted) is built again from nothing."""
    home = folder / f"study-{events_wanted}-v{GENERATOR_VERSION}"
    settings = Settings(home=home, kdf_log2_n=FAST_KDF)
    marker = home / DONE
    if marker.exists():
        return settings, int(marker.read_text().split()[0])
    shutil.rmtree(home, ignore_errors=True)
    ledger, lead = open_founded(settings)
    try:
        size = build(ledger, lead, events_wanted, progress)
    finally:
        ledger.close()
    marker.write_text(f"{size} events, generator v{GENERATOR_VERSION}\n")
    return settings, size


def iter_sizes(text: str) -> Iterator[int]:
    """Sizes from "100000,1000000" (underscores allowed)."""
    for part in text.split(","):
        yield int(part.replace("_", ""))
