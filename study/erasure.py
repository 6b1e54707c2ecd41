"""Completing an erasure: key, blobs and read-model rows, each step safe to run again.

`PatientErased` is appended first and is the durable intent; what follows only removes
things, each step idempotent, so an erasure interrupted at any point (SIGKILL included)
is finished by running `consent erase` again:

1. the patient's key is destroyed (everything sealed under it is unreadable from here);
2. the encrypted blobs of the patient's captures are overwritten and deleted, found by
   the `blob_ref` their events carry (no key needed); plain blobs of captures made
   before erasure v2 are deleted too unless a capture of another patient uses them;
3. the read-model rows of the patient's images are deleted (securely, on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.store import read_topic
from dermledger.projections.readmodel_purge import count_rows, purge_patient
from dermledger.projections.study_view import StudyView
from dermledger.study.kernel import Kernel
from dermledger.study.sealing import ReleaseKeys, keyed_blobs
from dermledger.study.sealing import erased_patients as sealed_erased


@dataclass(frozen=True)
class ErasureDone:
    """What the completion removed (counts only: nothing about the patient is echoed)."""

    images: int
    blobs_deleted: int
    readmodel_rows_deleted: int


@dataclass(frozen=True)
class PatientFiles:
    """What of one patient erasure must remove: image ids, sealed blob addresses, and the
    plain blobs (captures before erasure v2) that no other patient's capture uses."""

    images: list[str]
    refs: list[str]
    plain: list[str]


def patient_files(kernel: Kernel, patient_id: str) -> PatientFiles:
    own: list[str] = []
    refs: list[str] = []
    plain: set[str] = set()
    used_by_others: set[str] = set()
    for env in read_topic(kernel.recorder, "ImageCaptured"):
        p = env.payload
        if p["patient_id"] != patient_id:
            if p.get("blob_sha256"):
                used_by_others.add(p["blob_sha256"])
            continue
        own.append(p["image_id"])
        if p.get("blob_ref"):
            refs.append(p["blob_ref"])
        elif p.get("blob_sha256"):
            plain.add(p["blob_sha256"])
    return PatientFiles(own, list(dict.fromkeys(refs)), sorted(plain - used_by_others))


def leftovers(kernel: Kernel, patient_id: str) -> bool:
    """Whether anything an erasure removes is still there (an interrupted erasure)."""
    if kernel.patient_keys.exists(patient_id):
        return True
    files = patient_files(kernel, patient_id)
    sealed, plain = keyed_blobs(kernel.settings), BlobStore(kernel.settings.blobs_dir)
    if any(sealed.has(r) for r in files.refs) or any(plain.has(s) for s in files.plain):
        return True
    return count_rows(kernel.settings, patient_id, files.images) > 0


def check_readmodel(kernel: Kernel, patient_id: str) -> None:
    """Refuse (ReadModelDamaged) before anything is erased if the read model, which
    erasure must purge, cannot be read: the erasure would stop half way otherwise."""
    count_rows(kernel.settings, patient_id, patient_files(kernel, patient_id).images)


def complete_erasure(kernel: Kernel, patient_id: str) -> ErasureDone:
    """Destroy the key, then delete the blobs and read-model rows of `patient_id`."""
    kernel.patient_keys.destroy(patient_id)
    files = patient_files(kernel, patient_id)
    deleted = sum(keyed_blobs(kernel.settings).delete(ref) for ref in files.refs)
    plain_store = BlobStore(kernel.settings.blobs_dir)
    for sha in files.plain:
        if plain_store.has(sha):
            plain_store.discard(sha)
            deleted += 1
    rows = purge_patient(kernel.settings, patient_id, files.images)
    return ErasureDone(len(files.images), deleted, rows)


# ------------------------------------------------------------------ releases


def erased_patients(kernel: Kernel) -> frozenset[str]:
    """Every patient erased in the current log."""
    return sealed_erased(kernel.recorder)


def refuse_rebuild_after_erasure(kernel: Kernel, view: StudyView, name: str) -> None:
    """A release at a position before an erasure would need the erased patient's images
    and fields, which are gone: refuse with one sentence naming the patients, rather than
    write different bytes. Earlier release folders still verify on their own."""
    gone = sorted(
        pid
        for pid in erased_patients(kernel)
        if pid in view.patients
        and not view.patients[pid].erased
        and any(i.patient_id == pid for i in view.images.values())
    )
    if gone:
        raise InvalidInput(
            f"release {name} at seq {view.seq} cannot be rebuilt: patient"
            f"{'s' if len(gone) > 1 else ''} {', '.join(gone)} {'were' if len(gone) > 1 else 'was'}"
            " erased after that position, so their images and data no longer exist (an"
            " earlier release folder still verifies on its own)"
        )


def blob_opener(kernel: Kernel) -> Callable[[dict[str, Any]], bytes]:
    """The plain bytes of a sealed capture (its opened fields), for a reader to show."""
    open_checked = checked_blob_opener(kernel, ReleaseKeys(kernel.sealer))
    return lambda captured: open_checked(captured)[0]


def checked_blob_opener(
    kernel: Kernel, keys: ReleaseKeys
) -> Callable[[dict[str, Any]], tuple[bytes, str]]:
    """The plain bytes of a sealed capture and their SHA-256 (hex), for a release to write;
    each patient's key comes from `keys`, the release's own cache (read once, shared with
    its replay); an erased patient's images are refused."""
    store = keyed_blobs(kernel.settings)
    blob_keys: dict[str, bytes | None] = {}  # each patient's blob key, derived once

    def open_blob(captured: dict[str, Any]) -> tuple[bytes, str]:
        patient_id = str(captured["patient_id"])
        if patient_id not in blob_keys:
            key = keys.key(patient_id)
            blob_keys[patient_id] = None if key is None else kernel.sealer.blob_key(key)
        key = blob_keys[patient_id]
        if key is None:
            raise InvalidInput(f"the images of patient {patient_id} were erased")
        return store.read_checked(key, str(captured["blob_ref"]))

    return open_blob


def mark_erased(kernel: Kernel, diff: dict[str, Any]) -> dict[str, Any]:
    """A release diff with `erased`: the removed images whose patient has been erased."""
    erased = erased_patients(kernel)
    owners = {
        str(e.payload["image_id"]): str(e.payload["patient_id"])
        for e in read_topic(kernel.recorder, "ImageCaptured")
    }
    return diff | {"erased": [i for i in diff["removed"] if owners.get(i) in erased]}
