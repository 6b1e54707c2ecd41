"""Release creation: gate every image, write its files, and build the manifest.

Nothing here reads the wall clock or signs: the same replay and software give
byte-identical files, and the service (study/releases.py) signs the manifest this
returns and appends ReleasePublished.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import isic_metadata

from dermledger import __version__
from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.merkle import AuditPaths
from dermledger.policies import confirmation, metadata_schema, release_gates
from dermledger.projections.release.candidate import record_problem, release_candidate
from dermledger.projections.release.cohort import CohortTable
from dermledger.projections.release.columns import RELEASE_COLUMNS
from dermledger.projections.release.croissant import (
    GateCount,
    RaiFacts,
    croissant_document,
    write_croissant,
)
from dermledger.projections.release.croissant_labels import with_label_provenance
from dermledger.projections.release.datasheet import write_datasheet
from dermledger.projections.release.evidence_doc import (
    consent_scopes,
    ledger_facts,
    write_evidence,
)
from dermledger.projections.release.files import (
    CsvRows,
    HashingWriter,
    cell,
    files_outside,
    place_blob,
)
from dermledger.projections.release.opened import place_opened
from dermledger.projections.release.page import write_report
from dermledger.projections.release.partition_file import write_partition_file
from dermledger.projections.release.replay import Replay
from dermledger.projections.release.validated import RecordMemo
from dermledger.projections.release.verify import FORMAT, MANIFEST, file_sha256
from dermledger.projections.statistics import panel_agreement
from dermledger.projections.study_view import StudyView
from dermledger.study.state import ImageState

POLICY_VERSION = "release-gates/1; staged-verification/1; metadata-schema/1"
ANNOTATION_COLUMNS = [
    "image_id",
    "seq",
    "type",
    "actor",
    "role",
    "meaning",
    "diagnosis",
    "category",
    "structures",
    "seven_point_score",
    "report_ref",
    "superseded",
]
Progress = Callable[[str, int, int], None]


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """manifest.json as the contract spells it: sorted keys, two-space indent."""
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def write_release(
    folder: Path,
    *,
    name: str,
    replayed: Replay,
    root: str,
    blobs: BlobStore,
    signer: dict[str, str],
    progress: Progress | None,
    witnessing: str | None = None,
    partition: str | None = None,
    open_blob: Callable[[dict[str, Any]], tuple[bytes, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gate every image and write it out at once, one image at a time: its file, its
    metadata.csv row, its annotations.csv rows and its provenance.jsonl line go straight
    to the files (hashed as they are written), so no list of rows or proofs is held.
    The datasheet and croissant.json then read metadata.csv back as a stream.

    Returns the manifest without its signature (`signer` is the signer's actor, key_id and
    public_key) and the summary; the service signs the manifest and writes it.
    With `partition`, only images of that partition's patients are candidates (issue 16)."""
    view, position = replayed.view, replayed.position
    left_out: dict[str, int] = {gate.name: 0 for gate in release_gates.GATES}
    images_dir = folder / "images"
    images_dir.mkdir()
    candidates = sorted(view.images)
    if partition is not None:
        candidates = [i for i in candidates
                      if view.partitions.of(view.images[i].patient_id) == partition]  # fmt: skip
    released, image_files, written = _write_images(
        folder, images_dir, replayed, candidates, left_out, blobs, open_blob, progress
    )
    as_of = {"seq": position, "recorded_at": view.recorded_at}
    write_docs(folder, name, released, image_files, written, view, left_out, as_of, witnessing)
    head: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "ledger_id": view.ledger_id,
        "as_of": as_of,
        "checkpoint": {"tree_size": position, "root": root},
        "policy_version": POLICY_VERSION,
    }
    if partition is not None:  # issue 16: partition.json, and the manifest names it
        head["partition"] = write_partition_file(folder, partition, view, released)
    write_evidence(folder, head, ledger_facts(view, released, left_out, partition))
    write_report(folder)  # report.html, listed in `files` like every other file
    files = _listed_files(folder, images_dir, written, image_files)
    manifest: dict[str, Any] = {
        **head,
        "software": {"dermledger": __version__, "isic-metadata": isic_metadata_version()},
        "files": files,
        "signer": signer,
    }
    return manifest, {
        "name": name,
        "images": len(released),
        "as_of_seq": position,
        "root": root,
        "left_out": left_out,
    }


def gate(
    image: ImageState,
    verdict: confirmation.Verification,
    view: StudyView,
    left_out: dict[str, int],
    memo: RecordMemo | None = None,
) -> dict[str, Any] | None:
    """The image's ISIC published values if it passes every release gate; else None,
    counted against the first gate it fails. `verdict` is `image.verification()`; `memo`
    reuses the validation of record parts already met (`validated`)."""
    consent = image.patient_id in view.patients and view.patients[image.patient_id].consent
    check = memo.record_problem if memo else record_problem
    candidate, record = release_candidate(image, verdict, consent, check)
    gate = release_gates.first_failed_gate(candidate)
    if gate is not None:
        left_out[gate.name] = left_out.get(gate.name, 0) + 1
        return None
    return metadata_schema.to_isic_published(record)


def write_docs(
    folder: Path,
    name: str,
    released: list[str],
    image_files: list[tuple[str, str, int]],
    written: dict[str, tuple[str, int]],
    view: StudyView,
    left_out: dict[str, int],
    as_of: dict[str, Any],
    witnessing: str | None = None,
) -> None:
    """The datasheet and croissant.json, from metadata.csv read back as a stream (the
    very rows a reader will see) and the image digests already known."""
    panel = panel_agreement(view.images[i] for i in released)
    rows = CsvRows(folder / "metadata.csv")
    listed = [*release_gates.GATES]
    if left_out.get(release_gates.FORMAT_GATE.name):
        listed.append(release_gates.FORMAT_GATE)
    gates = [GateCount(g.name, g.version, left_out[g.name], g.description) for g in listed]
    table = CohortTable.from_rows(rows)
    write_datasheet(
        folder,
        name=name,
        table=table,
        gates=gates,
        agreement=panel,
        as_of=as_of,
        witnessing=witnessing,
    )
    doc = croissant_document(
        name=name,
        description=(f"DermLedger release {name} of study {view.ledger_id} at seq {as_of['seq']}"),
        version=f"1.0.{as_of['seq']}",  # MAJOR.MINOR.PATCH; the patch is the log position
        date_published=(as_of["recorded_at"] or "")[:10],
        license="https://creativecommons.org/licenses/by-nc/4.0/",
        url=None,
        metadata_rows=rows,
        image_files=image_files,
        csv_sha256=written["metadata.csv"][0],
        rai=RaiFacts.from_release(table, panel, gates),
        cite_as=f"DermLedger release {name}, ledger {view.ledger_id}, seq {as_of['seq']}",
    )
    scopes = consent_scopes(view, released)  # issue 16: per-label provenance, data-use terms
    doc = with_label_provenance(doc, written["annotations.csv"], scopes)
    write_croissant(folder / "croissant.json", doc)


def isic_metadata_version() -> str:
    from importlib.metadata import version

    return version("isic-metadata") if isic_metadata else "unknown"

def _place_image(
    image: ImageState,
    images_dir: Path,
    blobs: BlobStore,
    open_blob: Callable[[dict[str, Any]], tuple[bytes, str]] | None,
) -> tuple[str, str, int]:
    """Write the image's file (opened under its patient's key when sealed at rest);
    returns its release path, SHA-256 and size."""
    ext = {"JPEG": "jpg", "PNG": "png"}.get(image.captured["format"], "img")
    filename = f"{image.image_id}.{ext}"
    sha = image.captured["blob_sha256"]
    if image.captured.get("blob_ref") and open_blob:  # sealed (erasure v2)
        size = place_opened(*open_blob(image.captured), sha, images_dir / filename)
    else:
        size = place_blob(blobs, sha, images_dir / filename)
    return f"images/{filename}", sha, size


def _write_judgements(annotations: csv.DictWriter, image: ImageState, replayed: Replay) -> None:
    """The image's annotations.csv rows: every judgement, superseded votes flagged."""
    superseded = {eid for eid, vote in image.votes if vote.superseded}
    for seq in replayed.image_seqs[image.image_id]:
        judged = replayed.judgements.get(seq)
        if judged is not None:
            cells = dict(zip(ANNOTATION_COLUMNS, judged[:-1], strict=False))
            cells["superseded"] = judged[-1] in superseded
            annotations.writerow({k: cell(cells.get(k)) for k in ANNOTATION_COLUMNS})


def _provenance_line(image_id: str, replayed: Replay, paths: AuditPaths) -> str:
    """The image's provenance.jsonl line: its events with inclusion proofs (`paths`: the
    proofs at the release's position, which share the hashing of the tree's border)."""
    return json.dumps(
        {"image_id": image_id, "events": [
            {"seq": seq, "type": replayed.types[seq - 1], "hash": replayed.hash_hex(seq),
             "proof": paths.proof_hex(seq - 1)}
            for seq in replayed.image_seqs[image_id]
        ]},
        sort_keys=True, separators=(",", ":"),
    ) + "\n"  # fmt: skip


def _listed_files(
    folder: Path,
    images_dir: Path,
    written: dict[str, tuple[str, int]],
    image_files: list[tuple[str, str, int]],
) -> list[dict[str, Any]]:
    """The manifest's `files`: every file but the manifest, sorted by path, reusing the
    digests already known (written while hashing, or checked when placed)."""
    known = written | {path: (sha, size) for path, sha, size in image_files}
    # Sorted as relative POSIX strings; the images' are made so (pathlib per image was an
    # eighth of a 10k-image release).
    outside = [path.relative_to(folder).as_posix() for path in files_outside(folder, images_dir)]
    files = []
    for relative in sorted(outside + [p for p, _, _ in image_files]):
        path = folder / relative
        sha, size = known.get(relative) or (file_sha256(path), path.stat().st_size)
        files.append({"path": relative, "sha256": sha, "bytes": size})
    return files

def _write_images(
    folder: Path,
    images_dir: Path,
    replayed: Replay,
    candidates: list[str],
    left_out: dict[str, int],
    blobs: BlobStore,
    open_blob: Callable[[dict[str, Any]], tuple[bytes, str]] | None,
    progress: Progress | None,
) -> tuple[list[str], list[tuple[str, str, int]], dict[str, tuple[str, int]]]:
    """Gate each candidate and write the released ones: file, metadata.csv row,
    annotations.csv rows, provenance.jsonl line. Returns the released ids, the image files
    (path, sha256, bytes) and the digests of the three files written."""
    view = replayed.view
    released: list[str] = []
    image_files: list[tuple[str, str, int]] = []  # (path, sha256, bytes), sorted by path
    memo = RecordMemo(isic_metadata_version())
    paths = replayed.tree.inclusion_proofs(replayed.position)
    with (
        HashingWriter(folder / "metadata.csv") as metadata_file,
        HashingWriter(folder / "annotations.csv") as annotations_file,
        HashingWriter(folder / "provenance.jsonl") as provenance_file,
    ):
        metadata = csv.DictWriter(metadata_file, RELEASE_COLUMNS, lineterminator="\n")
        annotations = csv.DictWriter(annotations_file, ANNOTATION_COLUMNS, lineterminator="\n")
        metadata.writeheader()
        annotations.writeheader()
        for done, image_id in enumerate(candidates, start=1):
            image = view.images[image_id]
            v = image.verification()
            published = gate(image, v, view, left_out, memo)
            if published is not None:
                released.append(image_id)
                path, sha, size = _place_image(image, images_dir, blobs, open_blob)
                image_files.append((path, sha, size))
                filename = path.removeprefix("images/")
                row = {"image_id": image_id, "filename": filename, **published,
                       "category": v.category, "verification_stage": v.stage,
                       "file_name": path}  # fmt: skip
                metadata.writerow({k: cell(row.get(k)) for k in RELEASE_COLUMNS})
                _write_judgements(annotations, image, replayed)
                provenance_file.write(_provenance_line(image_id, replayed, paths))
            if progress:
                progress("Writing the release", done, len(candidates))
    written = {
        w.path.name: (w.hexdigest(), w.size)
        for w in (metadata_file, annotations_file, provenance_file)
    }
    return released, image_files, written

