"""Point-in-time releases: build, sign, publish, list, diff (DESIGN section 6).

A release is built in a hidden partial folder next to the target, from the log replayed
up to the as-of position; its manifest is signed, `ReleasePublished` is appended, and
only then is the folder renamed into place, so a crash never leaves a directory that
looks like a release. Nothing reads the wall clock: the same ledger, position and
software give byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import isic_metadata

from dermledger import __version__
from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound, VerificationError
from dermledger.ledger.merkle import MerkleTree, hash_leaf, verify_consistency
from dermledger.ledger.release_verify import FORMAT, MANIFEST, file_sha256, manifest_digest
from dermledger.ledger.state import ImageState
from dermledger.ledger.store import LogEntry, read_topic
from dermledger.policies import metadata_schema, release_gates, structures, verification
from dermledger.projections.study_view import StudyView

if TYPE_CHECKING:
    from dermledger.ledger.app import DermLedger, Proposal
    from dermledger.ledger.signing import Signer

POLICY_VERSION = "release-gates/1; staged-verification/1; metadata-schema/1"
JUDGEMENTS = ("AnnotationRecorded", "ConsensusVoteCast", "HistologyRecorded")
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


def release_stream(name: str) -> str:
    return f"release:{name}"


@dataclass
class _Replay:
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
    ) -> _Replay:
        """Replay up to seq `upto`, or the whole log when None; `progress(seq)` every
        PROGRESS_EVERY events."""
        replayed = cls(StudyView(), MerkleTree(), 0, bytearray(), [], {}, {})
        view, tree, hashes, types = replayed.view, replayed.tree, replayed.hashes, replayed.types
        shared = _Strings()
        for entry in entries:
            if upto is not None and entry.seq > upto:
                break
            env = entry.envelope()
            view.apply(entry.seq, env)
            raw = bytes.fromhex(env.hash)
            hashes += raw
            tree.append(hash_leaf(raw))
            types.append(shared(env.type))
            replayed.position = entry.seq
            if progress and not entry.seq % PROGRESS_EVERY:
                progress(entry.seq)
            image = view.images.get(env.stream_id)
            if image is None:
                if env.type == "PatientRegistered":
                    patient = view.patients[env.payload["patient_id"]]
                    patient.fields = shared.values(patient.fields)
                continue
            image.events.clear()  # folded; the envelope itself is not needed again
            replayed.image_seqs.setdefault(env.stream_id, []).append(entry.seq)
            if env.type == "ImageCaptured":
                image.captured = {k: shared(image.captured[k]) for k in CAPTURE_KEPT}
                image.metadata = shared.values(image.metadata)
            elif env.type in JUDGEMENTS:
                replayed.judgements[entry.seq] = tuple(
                    map(shared, _judgement_cells(image.image_id, entry.seq, env))
                )
                _share_labels(image, env.type, shared)
        return replayed

    def hash_hex(self, seq: int) -> str:
        return self.hashes[32 * (seq - 1) : 32 * seq].hex()


CAPTURE_KEPT = ("patient_id", "blob_sha256", "format", "size_bytes")
PROGRESS_EVERY = 1000  # events between progress reports while replaying


class _Strings:
    """One copy of each repeated string (labels, roles, meanings, field names and values):
    a payload decoded from the store carries its own copy of every string, and a 100k-image
    replay would otherwise hold hundreds of thousands of copies of the same few labels."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._labels: dict[verification.Label, verification.Label] = {}

    def __call__(self, value: Any) -> Any:
        return self._seen.setdefault(value, value) if isinstance(value, str) else value

    def values(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {self(k): self(v) for k, v in fields.items()}

    def instance[T: verification.Label](self, label: T) -> T:
        """The first equal instance of a frozen label seen (equal: same class and fields)."""
        found = self._labels.setdefault(label, label)
        return found if type(found) is type(label) else label


def _share_labels(image: ImageState, event_type: str, shared: _Strings) -> None:
    """The label a judgement just folded into `image`, as one shared instance: a study has
    a few hundred distinct (reader, diagnosis) labels and hundreds of thousands of votes."""
    if event_type == "AnnotationRecorded" and image.annotation is not None:
        image.annotation = shared.instance(image.annotation)
    elif event_type == "HistologyRecorded" and image.histology is not None:
        image.histology = shared.instance(image.histology)
    elif event_type == "ConsensusVoteCast" and image.votes:
        event_id, vote = image.votes[-1]
        image.votes[-1] = (event_id, shared.instance(vote))


def _judgement_cells(image_id: str, seq: int, env: Envelope) -> tuple[Any, ...]:
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


def _files_outside(folder: Path, skip: Path) -> list[Path]:
    """Every file under `folder` but not directly in `skip` (images/, listed already)."""
    return [
        Path(root) / name
        for root, _, names in os.walk(folder)
        if Path(root) != skip
        for name in names
    ]


class _HashingWriter:
    """A text file written as UTF-8 and hashed on the way, so the manifest never reads it
    back; `csv.writer` and `json` write to it like to an open file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._digest = hashlib.sha256()
        self.size = 0
        self._handle = path.open("wb")

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._digest.update(data)
        self.size += len(data)
        self._handle.write(data)
        return len(text)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class _CsvRows(Collection[dict[str, str]]):
    """The rows of a written CSV file, read again on every iteration: the docs see the
    very rows of metadata.csv without a list of them in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._count: int | None = None

    def __iter__(self) -> Iterator[dict[str, str]]:
        with self.path.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count

    def __contains__(self, row: object) -> bool:
        return any(r == row for r in self)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _record_problem(values: dict[str, Any]) -> tuple[Any, str | None]:
    try:
        return metadata_schema.validate_record(values), None
    except InvalidInput as exc:
        return None, str(exc)


class ReleaseService:
    def create_release(
        self: DermLedger,
        signer: Signer,
        name: str,
        out: Path,
        *,
        as_of: str | None = None,
        progress: Progress | None = None,
        publish: bool = True,
    ) -> dict[str, Any]:
        """Build, sign and publish release `name` of the dataset at `as_of` into `out`.

        With publish=False the folder is built and signed but no ReleasePublished event is
        appended: a preview, or a rebuild to check that a release reproduces byte for byte.
        """
        from dermledger.ledger import release_docs

        self.permit(signer, "ReleasePublished")
        if not name or not all(c.isalnum() or c in "._-" for c in name) or len(name) > 64:
            raise InvalidInput(f"release name {name!r} must be 1-64 letters, digits, '.', '_', '-'")
        out = out.resolve()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise Conflict(f"{out} already exists and is not an empty folder")
        published = self.stream(release_stream(name)) if publish else []
        interrupted = any(out.parent.glob(f".{out.name}.partial-*"))
        if published and not out.exists() and interrupted:
            # The run that published it died before renaming its folder into place here.
            return self._recover_release(signer, name, out, published[0].payload, progress)
        if published:
            raise Conflict(f"a release named {name} is already published")
        upto = self.position(as_of)
        expected = upto or int(self.recorder.max_notification_id() or 0)  # for progress only
        replayed = _Replay.of(
            self.log(),
            upto,
            progress=(lambda done: progress("Replaying the log", done, expected))
            if progress
            else None,
        )
        position = replayed.position
        root = replayed.tree.root(position).hex()
        tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            summary = self._write_release(signer, name, tmp, replayed, root, release_docs, progress)
            manifest_sha = file_sha256(tmp / MANIFEST)

            def decide() -> list[Proposal]:
                if self.stream(release_stream(name)):
                    raise Conflict(f"a release named {name} is already published")
                return [
                    self.proposal(
                        release_stream(name),
                        "ReleasePublished",
                        {
                            "name": name,
                            "as_of_seq": position,
                            "tree_size": position,
                            "root": root,
                            "manifest_sha256": manifest_sha,
                            "images": summary["images"],
                        },
                    )
                ]

            if publish:
                self.append(signer, decide)
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for stale in out.parent.glob(f".{out.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted run: untrusted
        return summary | {"manifest_sha256": manifest_sha, "out": str(out)}

    def _recover_release(
        self: DermLedger,
        signer: Signer,
        name: str,
        out: Path,
        published: dict[str, Any],
        progress: Progress | None,
    ) -> dict[str, Any]:
        """A release published whose folder never reached its place (the process died
        between the event and the rename): rebuild it at the published position, and keep
        it only if its manifest is byte for byte the one the ledger recorded."""
        summary = self.create_release(
            signer, name, out, as_of=str(published["as_of_seq"]), progress=progress,
            publish=False,
        )  # fmt: skip
        if summary["manifest_sha256"] != published["manifest_sha256"]:
            shutil.rmtree(out, ignore_errors=True)
            raise VerificationError(
                f"release {name} is published but its folder is missing, and the rebuild does "
                "not reproduce the published manifest (rebuild it as its original signer)"
            )
        return summary | {"recovered": True}

    def _write_release(
        self: DermLedger,
        signer: Signer,
        name: str,
        folder: Path,
        replayed: _Replay,
        root: str,
        docs: Any,
        progress: Progress | None,
    ) -> dict[str, Any]:
        """Gate every image and write it out at once, one image at a time: its file, its
        metadata.csv row, its annotations.csv rows and its provenance.jsonl line go straight
        to the files (hashed as they are written), so no list of rows or proofs is held.
        The datasheet and croissant.json then read metadata.csv back as a stream."""
        blobs = BlobStore(self.settings.blobs_dir)
        view, position = replayed.view, replayed.position
        left_out: dict[str, int] = {gate.name: 0 for gate in release_gates.GATES}
        images_dir = folder / "images"
        images_dir.mkdir()
        released: list[str] = []
        image_files: list[tuple[str, str, int]] = []  # (path, sha256, bytes), sorted by path
        candidates = sorted(view.images)
        with (
            _HashingWriter(folder / "metadata.csv") as metadata_file,
            _HashingWriter(folder / "annotations.csv") as annotations_file,
            _HashingWriter(folder / "provenance.jsonl") as provenance_file,
        ):
            metadata = csv.DictWriter(metadata_file, docs.RELEASE_COLUMNS, lineterminator="\n")
            annotations = csv.DictWriter(annotations_file, ANNOTATION_COLUMNS, lineterminator="\n")
            metadata.writeheader()
            annotations.writeheader()
            for done, image_id in enumerate(candidates, start=1):
                image = view.images[image_id]
                v = image.verification()
                published = self._gate(image, v, view, left_out)
                if published is not None:
                    released.append(image_id)
                    ext = {"JPEG": "jpg", "PNG": "png"}.get(image.captured["format"], "img")
                    filename = f"{image_id}.{ext}"
                    sha = image.captured["blob_sha256"]
                    size = self._place_blob(blobs, sha, images_dir / filename)
                    image_files.append((f"images/{filename}", sha, size))
                    row = {"image_id": image_id, "filename": filename, **published,
                           "category": v.category, "verification_stage": v.stage}  # fmt: skip
                    metadata.writerow({k: _cell(row.get(k)) for k in docs.RELEASE_COLUMNS})
                    superseded = {eid for eid, vote in image.votes if vote.superseded}
                    seqs = replayed.image_seqs[image_id]
                    for seq in seqs:
                        judged = replayed.judgements.get(seq)
                        if judged is not None:
                            cells = dict(zip(ANNOTATION_COLUMNS, judged[:-1], strict=False))
                            cells["superseded"] = judged[-1] in superseded
                            annotations.writerow(
                                {k: _cell(cells.get(k)) for k in ANNOTATION_COLUMNS}
                            )
                    provenance_file.write(json.dumps(
                        {"image_id": image_id, "events": [
                            {"seq": seq, "type": replayed.types[seq - 1],
                             "hash": replayed.hash_hex(seq),
                             "proof": [h.hex() for h in
                                       replayed.tree.inclusion_proof(seq - 1, position)]}
                            for seq in seqs
                        ]},
                        sort_keys=True, separators=(",", ":"),
                    ) + "\n")  # fmt: skip
                if progress:
                    progress("Writing the release", done, len(candidates))
        written = {
            w.path.name: (w.hexdigest(), w.size)
            for w in (metadata_file, annotations_file, provenance_file)
        }
        as_of = {"seq": position, "recorded_at": view.recorded_at}
        self._write_docs(docs, folder, name, released, image_files, written, view, left_out, as_of)
        from dermledger.projections.release_page import write_report  # the page (issue 17)

        write_report(folder)  # report.html, listed in `files` like every other file
        known = written | {path: (sha, size) for path, sha, size in image_files}
        files = []
        for path in sorted(
            _files_outside(folder, images_dir) + [folder / p for p, _, _ in image_files],
            key=lambda p: p.relative_to(folder).as_posix(),
        ):
            relative = path.relative_to(folder).as_posix()
            sha, size = known.get(relative) or (file_sha256(path), path.stat().st_size)
            files.append({"path": relative, "sha256": sha, "bytes": size})
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "ledger_id": view.ledger_id,
            "as_of": as_of,
            "checkpoint": {"tree_size": position, "root": root},
            "policy_version": POLICY_VERSION,
            "software": {"dermledger": __version__, "isic-metadata": isic_metadata_version()},
            "files": files,
            "signer": {
                "actor": signer.actor,
                "key_id": signer.key_id,
                "public_key": signer.public_hex,
            },
        }
        manifest["signature"] = signer.sign_digest(manifest_digest(manifest))
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return {
            "name": name,
            "images": len(released),
            "as_of_seq": position,
            "root": root,
            "left_out": left_out,
        }

    @staticmethod
    def _gate(
        image: ImageState,
        verdict: verification.Verification,
        view: StudyView,
        left_out: dict[str, int],
    ) -> dict[str, Any] | None:
        """The image's ISIC published values if it passes every release gate; else None,
        counted against the first gate it fails. `verdict` is `image.verification()`."""
        values = {k: v for k, v in image.metadata.items() if v is not None} | {
            "diagnosis": verdict.diagnosis,
            "verification_stage": verdict.stage,
            "diagnosis_confirm_type": verdict.diagnosis_confirm_type,
            "melanocytic": verdict.melanocytic,
        }
        record, problem = _record_problem({k: v for k, v in values.items() if v is not None})
        candidate = release_gates.Candidate(
            image_id=image.image_id,
            excluded=image.excluded,
            unresolved_suspicions=len(image.unresolved),
            verification=verdict,
            consent_in_force=(
                image.patient_id in view.patients and view.patients[image.patient_id].consent
            ),
            metadata_problem=problem,
        )
        gate = release_gates.first_failed_gate(candidate)
        if gate is not None:
            left_out[gate.name] += 1
            return None
        return metadata_schema.to_isic_published(record)

    def _write_docs(
        self: DermLedger,
        docs: Any,
        folder: Path,
        name: str,
        released: list[str],
        image_files: list[tuple[str, str, int]],
        written: dict[str, tuple[str, int]],
        view: StudyView,
        left_out: dict[str, int],
        as_of: dict[str, Any],
    ) -> None:
        """The datasheet and croissant.json, from metadata.csv read back as a stream (the
        very rows a reader will see) and the image digests already known."""
        from dermledger.projections.statistics import study_statistics

        stats = study_statistics(view.images[i] for i in released)
        rows = _CsvRows(folder / "metadata.csv")
        gates = [
            docs.GateCount(g.name, g.version, left_out[g.name], g.description)
            for g in release_gates.GATES
        ]
        table = docs.CohortTable.from_rows(rows)
        docs.write_datasheet(
            folder,
            name=name,
            table=table,
            gates=gates,
            agreement=stats["agreement"],
            as_of=as_of,
        )
        doc = docs.croissant_document(
            name=name,
            description=(
                f"DermLedger release {name} of study {view.ledger_id} at seq {as_of['seq']}"
            ),
            version=f"1.0.{as_of['seq']}",  # MAJOR.MINOR.PATCH; the patch is the log position
            date_published=(as_of["recorded_at"] or "")[:10],
            license="https://creativecommons.org/licenses/by-nc/4.0/",
            url=None,
            metadata_rows=rows,
            image_files=image_files,
            csv_sha256=written["metadata.csv"][0],
            rai=docs.RaiFacts.from_release(table, stats["agreement"], gates),
            cite_as=f"DermLedger release {name}, ledger {view.ledger_id}, seq {as_of['seq']}",
        )
        docs.write_croissant(folder / "croissant.json", doc)

    @staticmethod
    def _place_blob(blobs: BlobStore, sha: str, target: Path) -> int:
        """Hard-link the stored blob (copied across filesystems), after checking its bytes
        against their address once: the manifest then reuses that hash instead of hashing
        the release's copy again. Returns its size."""
        source = blobs.path(sha)
        if not source.exists():
            raise VerificationError(f"blob {sha[:16]}… is missing from the blob store")
        size = len(blobs.read(sha))  # raises VerificationError if the bytes do not match
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return size

    # -------------------------------------------------------------- queries

    def list_releases(self: DermLedger) -> list[dict[str, Any]]:
        rows = []
        for env in read_topic(self.recorder, "ReleasePublished"):
            p = env.payload
            rows.append(
                {
                    "name": p["name"],
                    "as_of_seq": p["as_of_seq"],
                    "images": p["images"],
                    "root": p["root"],
                    "manifest_sha256": p["manifest_sha256"],
                    "published_by": env.actor,
                    "recorded_at": env.recorded_at,
                }
            )
        return rows

    def check_release_against_ledger(self: DermLedger, manifest: dict[str, Any]) -> list[str]:
        """With the ledger at hand: the release is published here, its signer's key is
        enrolled, and its checkpoint is consistent with the current log."""
        failures = []
        if manifest.get("ledger_id") != self.ledger_id():
            return ["the release belongs to another ledger"]
        published = {r["name"]: r for r in self.list_releases()}.get(manifest.get("name"))
        if published is None:
            failures.append(f"release {manifest.get('name')} is not published on this ledger")
        tree = MerkleTree(hash_leaf(bytes.fromhex(e.envelope().hash)) for e in self.log())
        cp = manifest["checkpoint"]
        size, old_root = int(cp["tree_size"]), bytes.fromhex(cp["root"])
        if size > tree.size:
            return [*failures, f"the release claims {size} events; the log holds {tree.size}"]
        try:
            verify_consistency(
                old_size=size,
                new_size=tree.size,
                old_root=old_root,
                new_root=tree.root(),
                proof=tree.consistency_proof(size),
            )
        except VerificationError:
            failures.append(
                "the release's checkpoint is not consistent with the current log "
                "(the log was rewritten since the release)"
            )
        signer = manifest.get("signer", {})
        try:
            if self.get_actor(signer.get("actor", "")).key_id != signer.get("key_id"):
                failures.append("the manifest's signer key is not the key enrolled for that actor")
        except NotFound:
            failures.append(f"the manifest's signer {signer.get('actor')} is not enrolled")
        return failures

    def diff_releases(self: DermLedger, old: Path, new: Path) -> dict[str, Any]:
        """Images added, removed and relabelled between two release folders, and the proof
        that the later release's log extends the earlier one's."""
        from dermledger.ledger.release_verify import load_manifest

        a, b = load_manifest(old), load_manifest(new)

        def rows(folder: Path) -> dict[str, dict[str, str]]:
            with (folder / "metadata.csv").open(encoding="utf-8", newline="") as handle:
                return {r["image_id"]: r for r in csv.DictReader(handle)}

        ra, rb = rows(old), rows(new)
        relabelled = sorted(
            i
            for i in set(ra) & set(rb)
            if (
                ra[i]["category"],
                ra[i]["diagnosis_1"],
                ra[i]["diagnosis_2"],
                ra[i]["diagnosis_3"],
                ra[i]["diagnosis_4"],
                ra[i]["diagnosis_5"],
            )
            != (
                rb[i]["category"],
                rb[i]["diagnosis_1"],
                rb[i]["diagnosis_2"],
                rb[i]["diagnosis_3"],
                rb[i]["diagnosis_4"],
                rb[i]["diagnosis_5"],
            )
        )
        size_a, size_b = a["checkpoint"]["tree_size"], b["checkpoint"]["tree_size"]
        if size_a > size_b:
            raise InvalidInput(f"{old.name} is later than {new.name}; give the earlier first")
        tree = MerkleTree(hash_leaf(bytes.fromhex(e.envelope().hash)) for e in self.log())
        proof = tree.consistency_proof(size_a, size_b) if size_a else []
        extends = True
        try:
            if size_a:
                verify_consistency(
                    old_size=size_a,
                    new_size=size_b,
                    old_root=bytes.fromhex(a["checkpoint"]["root"]),
                    new_root=bytes.fromhex(b["checkpoint"]["root"]),
                    proof=proof,
                )
        except VerificationError:
            extends = False
        return {
            "old": {"name": a["name"], "tree_size": size_a, "root": a["checkpoint"]["root"]},
            "new": {"name": b["name"], "tree_size": size_b, "root": b["checkpoint"]["root"]},
            "added": sorted(set(rb) - set(ra)),
            "removed": sorted(set(ra) - set(rb)),
            "relabelled": [
                {"image_id": i, "from": ra[i]["category"], "to": rb[i]["category"]}
                for i in relabelled
            ],
            "extends": extends,
            "consistency_proof": [h.hex() for h in proof],
        }


def isic_metadata_version() -> str:
    from importlib.metadata import version

    return version("isic-metadata") if isic_metadata else "unknown"
