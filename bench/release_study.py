"""A large verified study for the release benchmark: built in minutes, cached for reruns.

Building a 100k-image study one command at a time (one transaction per event, a full-size
rendered image per capture) would take hours here. This builder keeps everything the
release reads real and cuts only what it does not:

- images are 320x240 JPEGs (the SOP's minimum resolution; every one passes the focus
  rule), each a distinct variant (smooth random shading, a shift) of a base rendered for
  every 200 captures of a category, so the duplicate detector has little to suspect; a
  pair it still flags is resolved as distinct through `resolve_duplicate`;
- images are drawn, encoded and measured (`inspect_image`, the real measurement) on a
  worker process while the main process appends;
- events go through the real service and sealing: `DermLedger.capture_batch` (the
  import's path: metadata, consent, SOP and duplicate policies, blobs flushed together)
  and `DermLedger.append` with the same policy checks and payloads as `annotate`, `vote`,
  `record_histology`, `register_patient` and `record_consent`, but hundreds of events a
  transaction instead of one;
- the study is kept in `<workdir>/release-study-<n>-v<VERSION>/` with `study.json` written
  last, so a rerun with the same workdir reuses it (an unfinished folder is rebuilt).

Like `bench_release.build_study`, it is built in two halves, each captured then verified,
so a release as of the end of the first half holds exactly half the images.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dermledger.bench.common import FAST_KDF, PASSPHRASE, say
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.errors import Conflict
from dermledger.ledger.signing import Signer
from dermledger.policies import confirmation, csv_rows, metadata_schema
from dermledger.policies.categories import category_of
from dermledger.policies.roles import SIGNATURE_MEANING
from dermledger.study.capture import PlannedCapture
from dermledger.study.imaging import ImageFacts, inspect_image
from dermledger.study.kernel import Proposal
from dermledger.study.ledger import DermLedger
from dermledger.study.records import patient_stream
from dermledger.study.state import ImageState
from dermledger.synthetic.cohort import METADATA_COLUMNS, PlannedImage, plan_cohort
from dermledger.synthetic.images import draw_image, encode_jpeg

VERSION = 1  # bump when what is built changes, so an old cache is not reused
SIZE = (320, 240)
GROUP = 200  # captures per rendered base image
CAPTURES_PER_TRANSACTION = 256
JUDGEMENTS_PER_TRANSACTION = 512
PATIENTS_PER_TRANSACTION = 500
TEAM = {"ann": ["annotator"], "r1": ["specialist"], "r2": ["specialist"],
        "r3": ["specialist"], "pat": ["pathologist"]}  # fmt: skip
READERS = ("r1", "r2", "r3")
DISTINCT = "bench: distinct synthetic captures"
CONSENT_DOCUMENT = b"consent form v3"


@dataclass(frozen=True)
class LargeStudy:
    ledger: DermLedger
    lead: Signer
    images: int
    half_seq: int  # the log's size once the first half is captured and verified
    half: int
    folder: Path


# ------------------------------------------------------------------ images (worker)

_BASES: dict[tuple[str, int], np.ndarray] = {}


def variant(base: np.ndarray, seed: int) -> np.ndarray:
    """`base` under a smooth random shading (6x8 gains, about ±25%) and a shift."""
    rng = np.random.default_rng(seed)
    height, width = base.shape[:2]
    grid = Image.fromarray(rng.normal(0.0, 1.0, (6, 8)).astype(np.float32), mode="F")
    gain = 1.0 + 0.25 * np.asarray(grid.resize((width, height), Image.Resampling.BICUBIC))
    shift = (int(rng.integers(-20, 21)), int(rng.integers(-20, 21)))
    return np.clip(np.roll(base, shift, (0, 1)) * gain[..., None], 0, 255).astype(np.uint8)


def make_image(job: tuple[int, str, int]) -> tuple[bytes, ImageFacts]:
    """(bytes, measured facts) of capture `number` of a category's `group`."""
    number, category, group = job
    key = (category, group)
    if key not in _BASES:
        if len(_BASES) > 64:
            _BASES.clear()
        _BASES[key] = draw_image(10_000 + 97 * group + len(category), category, size=SIZE)
    data = encode_jpeg(variant(_BASES[key], number))
    return data, inspect_image(data, name=f"capture {number}")


def images(records: list[PlannedImage], start: int) -> Iterator[tuple[bytes, ImageFacts]]:
    """Every record's image, made on one spawned worker (the main process appends)."""
    seen: dict[str, int] = {}
    jobs = []
    for number, record in enumerate(records, start=start):
        category = record.truth["category"]
        seen[category] = seen.get(category, 0) + 1
        jobs.append((number, category, seen[category] // GROUP))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, context) as pool:
        yield from pool.map(make_image, jobs, chunksize=32)


# ------------------------------------------------------------------ appends


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def register_patients(ledger: DermLedger, lead: Signer, patients: list[dict[str, str]]) -> None:
    """PatientRegistered and ConsentRecorded for each, as `register_patient` and
    `record_consent` propose them, PATIENTS_PER_TRANSACTION patients a transaction."""
    from dermledger.study.patients import PATIENT_FIELDS

    digest = hashlib.sha256(CONSENT_DOCUMENT).hexdigest()
    for chunk in _chunks(patients, PATIENTS_PER_TRANSACTION):

        def decide(chunk: list[dict[str, str]] = chunk) -> list[Proposal]:
            proposals = []
            for row in chunk:
                patient_id = row["patient_id"]
                metadata_schema.validate_field("patient_id", patient_id)
                if ledger.kernel.stream(patient_stream(patient_id)):
                    raise Conflict(f"patient {patient_id} is already registered")
                payload: dict[str, Any] = {"patient_id": patient_id}
                for name in PATIENT_FIELDS:
                    if row.get(name) not in (None, ""):
                        payload[name] = metadata_schema.validate_field(name, row[name])
                stream = patient_stream(patient_id)
                proposals.append(Proposal(stream, "PatientRegistered", payload))
                proposals.append(Proposal(stream, "ConsentRecorded", {
                    "patient_id": patient_id, "scope": "study", "document_sha256": digest,
                }))  # fmt: skip
            return proposals

        ledger.kernel.append(lead, decide)


def _label(diagnosis: str) -> tuple[str, str]:
    label = metadata_schema.parse_label("diagnosis", diagnosis)
    return label, category_of(label)


def judge(ledger: DermLedger, signer: Signer, work: list[tuple[str, dict[str, str]]],
          propose: Any) -> None:  # fmt: skip
    """One append per JUDGEMENTS_PER_TRANSACTION images: `propose(image, truth)` decides
    on the image's state as folded from the store, as the service's own methods do."""
    for chunk in _chunks(work, JUDGEMENTS_PER_TRANSACTION):

        def decide(chunk: list[tuple[str, dict[str, str]]] = chunk) -> list[Proposal]:
            return [propose(ledger.records.get_image(i), truth) for i, truth in chunk]

        ledger.kernel.append(signer, decide)


def annotation(image: ImageState, truth: dict[str, str]) -> Proposal:
    """As `VerificationService.annotate` proposes it (no structures)."""
    confirmation.check_annotation(image.facts()).enforce()
    label, category = _label(truth["diagnosis"])
    return Proposal(image.image_id, "AnnotationRecorded", {
        "image_id": image.image_id, "diagnosis": label, "category": category,
        "structures": {}, "signer_role": "annotator",
        "signature_meaning": SIGNATURE_MEANING["AnnotationRecorded"],
    })  # fmt: skip


def vote_of(reader: str) -> Any:
    """As `VerificationService.vote` proposes it (no supersession)."""

    def propose(image: ImageState, truth: dict[str, str]) -> Proposal:
        confirmation.check_vote(image.facts(), reader, supersede=False).enforce()
        label, category = _label(truth["diagnosis"])
        readers = list(dict.fromkeys(v.actor for _, v in image.votes))
        slot = readers.index(reader) + 1 if reader in readers else len(readers) + 1
        panel = confirmation.PANEL_SIZE + image.further_readers_ordered
        return Proposal(image.image_id, "ConsensusVoteCast", {
            "image_id": image.image_id, "diagnosis": label, "category": category,
            "reader_slot": slot, "supersedes": None, "reason": None,
            "signer_role": "specialist",
            "signature_meaning": f"consensus reader {slot} of {panel}",
        })  # fmt: skip

    return propose


def histology(image: ImageState, truth: dict[str, str]) -> Proposal:
    """As `VerificationService.record_histology` proposes it."""
    confirmation.check_histology(image.facts()).enforce()
    label, category = _label(truth["diagnosis"])
    return Proposal(image.image_id, "HistologyRecorded", {
        "image_id": image.image_id, "diagnosis": label, "category": category,
        "report_ref": f"PATH-{image.image_id}", "report_date": "2026-11-20",
        "signer_role": "pathologist",
        "signature_meaning": SIGNATURE_MEANING["HistologyRecorded"],
    })  # fmt: skip


# ------------------------------------------------------------------ the study


def capture_part(ledger: DermLedger, lead: Signer, records: list[PlannedImage], start: int,
                 known: set[str], index: Any) -> list[tuple[str, dict[str, str]]]:  # fmt: skip
    """Capture `records` (their images made on the worker); (image id, truth) of each."""
    header = list(METADATA_COLUMNS)
    rows = [{c: r.metadata[c] for c in METADATA_COLUMNS} for r in records]
    made = images(records, start)
    out: list[tuple[str, dict[str, str]]] = []
    started, last = time.perf_counter(), 0
    for offset in range(0, len(records), CAPTURES_PER_TRANSACTION):
        part = rows[offset : offset + CAPTURES_PER_TRANSACTION]
        report = csv_rows.validate_rows(header, part, known_patients=known)
        if not report.ok:
            raise RuntimeError("; ".join(report.problems[:3]))
        batch = []
        for record, planned in zip(report.records, records[offset:], strict=False):
            data, facts = next(made)
            image_id = ledger.capture.new_image_id(f"bench:{record['filename']}:{facts.sha256}")
            values = {k: v for k, v in record.items() if v is not None and k not in
                      ("filename", "device", "patient_id", "lesion_id")}  # fmt: skip
            capture = PlannedCapture(image_id, str(record["patient_id"]),
                                     str(record["lesion_id"]), values,
                                     str(record["device"]) if record.get("device") else None,
                                     facts, name=str(record["filename"]))  # fmt: skip
            batch.append((capture, data))
            out.append((image_id, planned.truth))
        for result in ledger.capture.capture_batch(lead, batch, index):
            if result.suspicions:
                ledger.curation.resolve_duplicate(lead, result.image_id, duplicate_of=None,
                                         distinct=True, reason=DISTINCT)  # fmt: skip
        done = offset + len(batch)
        if done - last >= 5000 or done == len(records):
            last = done
            say(f"    captured {start + done:,} ({done / (time.perf_counter() - started):.0f}/s)")
    made.close()  # stops the worker
    return out


def build(folder: Path, n: int) -> LargeStudy:
    """Build the study of `n` verified images in `folder` (removed first if unfinished)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = plan_cohort(records=n, duplicates=0, patients=max(1, n * 2 // 5))
    ledger = DermLedger(Settings(home=folder / "home", kdf_log2_n=FAST_KDF))
    ledger.actors.found("ada", PASSPHRASE)
    lead = ledger.actors.unlock("ada", PASSPHRASE)
    keys = {}
    for name, roles in TEAM.items():
        ledger.actors.enrol(lead, name, roles, passphrase=PASSPHRASE)
        keys[name] = ledger.actors.unlock(name, PASSPHRASE)
    started = time.perf_counter()
    register_patients(ledger, lead, plan.patients)
    say(
        f"    {len(plan.patients):,} patients with consent in {time.perf_counter() - started:.0f} s"
    )
    known = {p["patient_id"] for p in plan.patients}
    index = ledger.capture.dedup_index()
    half = n // 2
    half_seq = 0
    for start, part in ((0, plan.records[:half]), (half, plan.records[half:])):
        work = capture_part(ledger, lead, part, start, known, index)
        judge(ledger, keys["ann"], work, annotation)
        for reader in READERS:
            judge(ledger, keys[reader], work, vote_of(reader))
        malignant = [(i, t) for i, t in work if t["malignant"] == "true"]
        judge(ledger, keys["pat"], malignant, histology)
        say(f"    verified {start + len(part):,} in {time.perf_counter() - started:.0f} s")
        half_seq = half_seq or int(ledger.kernel.recorder.max_notification_id() or 0)
    (folder / "study.json").write_text(
        json.dumps({"version": VERSION, "images": n, "half": half, "half_seq": half_seq})
    )
    return LargeStudy(ledger, lead, n, half_seq, half, folder)


def open_or_build(workdir: Path, n: int) -> LargeStudy:
    """The cached study of `n` images in `workdir`, built first if it is not there."""
    folder = workdir / f"release-study-{n}-v{VERSION}"
    marker = folder / "study.json"
    if marker.exists():
        facts = json.loads(marker.read_text())
        say(f"  reusing the {n:,}-image study in {folder}")
        ledger = DermLedger(Settings(home=folder / "home", kdf_log2_n=FAST_KDF))
        lead = ledger.actors.unlock("ada", PASSPHRASE)
        return LargeStudy(ledger, lead, n, facts["half_seq"], facts["half"], folder)
    say(f"  building a {n:,}-image study in {folder} (cached for reruns)")
    return build(folder, n)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    options = parser.parse_args(argv)
    started = time.perf_counter()
    study = open_or_build(options.workdir, options.images)
    study.ledger.close()
    say(f"  ready in {time.perf_counter() - started:.0f} s: half_seq {study.half_seq:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
