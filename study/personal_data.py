"""Personal data under per-patient keys, so erasure is the destruction of one key.

Name, hospital record number and date of birth are encrypted with the patient's own
AES-256-GCM key before the event that carries them is hashed and signed. The keys live
in a `PatientKeyStore` outside the event store (a folder in the home by default; the
interface is what a key-management service would implement). Destroying a patient's
key (crypto-shredding) makes the ciphertext in the log unreadable for good, while every
hash, signature and proof over it still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dermledger.ledger.errors import Conflict, KeystoreError, NotFound

PERSONAL_FIELDS = ("name", "record_number", "birth_date")


class PatientKeyStore(Protocol):
    """Where per-patient data keys live; a KMS would implement the same four calls."""

    def create(self, patient_id: str) -> bytes: ...
    def get(self, patient_id: str) -> bytes: ...
    def destroy(self, patient_id: str) -> None: ...
    def exists(self, patient_id: str) -> bool: ...


class FilePatientKeyStore:
    """One 32-byte key per patient in `<home>/patient-keys/`, files named by a hash of the
    pseudonym, mode 0600. Destruction overwrites the file before unlinking it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, patient_id: str) -> Path:
        return self.folder / (hashlib.sha256(patient_id.encode()).hexdigest() + ".key")

    def exists(self, patient_id: str) -> bool:
        return self._path(patient_id).exists()

    def create(self, patient_id: str) -> bytes:
        path = self._path(patient_id)
        if path.exists():
            raise Conflict(f"a data key already exists for patient {patient_id}")
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        key = AESGCM.generate_key(bit_length=256)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return key

    def get(self, patient_id: str) -> bytes:
        try:  # no separate exists(): one stat less per key a replay or release reads
            return self._path(patient_id).read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"there is no data key for patient {patient_id} (erased or never held)"
            ) from None

    def destroy(self, patient_id: str) -> None:
        path = self._path(patient_id)
        if not path.exists():
            return
        with path.open("r+b") as handle:
            handle.write(os.urandom(len(handle.read()) or 32))
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()


def _aad(patient_id: str) -> bytes:
    return f"dermledger-personal/1\n{patient_id}".encode()


def seal_personal(key: bytes, patient_id: str, data: dict[str, str]) -> dict[str, str]:
    """The encrypted form that goes into the event: nonce and ciphertext, nothing readable."""
    nonce = os.urandom(12)
    plain = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    sealed = AESGCM(key).encrypt(nonce, plain, _aad(patient_id))
    return {
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }


def open_personal(key: bytes, patient_id: str, sealed: dict[str, str]) -> dict[str, str]:
    try:
        plain = AESGCM(key).decrypt(
            base64.b64decode(sealed["nonce"]),
            base64.b64decode(sealed["ciphertext"]),
            _aad(patient_id),
        )
    except (InvalidTag, KeyError, ValueError) as exc:
        raise KeystoreError(
            f"the personal data of patient {patient_id} cannot be decrypted"
        ) from exc
    return json.loads(plain)
