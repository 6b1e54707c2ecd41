"""Sealing under the patient's own key: what depicts, describes or matches a patient.

Since erasure v2 (issue 15) a capture's fingerprints and clinical fields, a metadata
edit's values and a registration's patient-level fields go into the event as one
AES-256-GCM `sealed` object under a subkey of the patient's key, before the event is
hashed and signed; the image bytes go to the keyed blob store under another subkey,
at an HMAC address (`blob_ref`) that matches nothing without the key. The plain values
exist only in memory: `Sealer.open` gives the folds an envelope whose payload has them
back, and a dedup index built from those is never written anywhere.

Destroying the key (erasure) leaves ciphertext nobody can open: `open` then gives the
payload with `erased: true` and no values, so every view shows the image as erased,
while the stored envelope, its hash, signature and every proof are untouched.
Events written before the upgrade carry plain fields and are opened as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import ApplicationRecorder

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.envelope import Envelope, with_payload
from dermledger.ledger.errors import KeystoreError, NotFound
from dermledger.ledger.keyed_blobs import KeyedBlobStore, keyed_address
from dermledger.ledger.store import LogEntry, read_topic
from dermledger.study.personal_data import FilePatientKeyStore, PatientKeyStore

SEAL_FORMAT = "dermledger-sealed/1"
# ImageCaptured fields that move into `sealed` (ids, format and the SOP verdict's
# absence of values stay plain: they describe no one).
CAPTURE_SEALED = ("blob_sha256", "pixel_sha256", "phash", "dhash", "region_hash", "width",
                  "height", "size_bytes", "device", "focus", "sop", "metadata")  # fmt: skip
EDIT_SEALED = ("old_value", "new_value")
REGISTRATION_SEALED = ("age", "sex", "fitzpatrick_skin_type", "personal_hx_mm", "family_hx_mm")
ERASED_CAPTURE: dict[str, Any] = {
    **dict.fromkeys(CAPTURE_SEALED),
    "sop": {"deviations": []},  # unknown after erasure: counted as no deviation
    "metadata": {},
    "erased": True,
}


def subkey(key: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (fields, blobs), derived from the patient's key."""
    return HKDF(hashes.SHA256(), 32, None, f"dermledger/{purpose}/1".encode()).derive(key)


def _aad(event_type: str, patient_id: str, subject: str) -> bytes:
    return f"{SEAL_FORMAT}\n{event_type}\n{patient_id}\n{subject}".encode()


def seal_fields(key: bytes, aad: bytes, values: dict[str, Any]) -> dict[str, str]:
    """The sealed object of an event: nonce and ciphertext of the JSON of `values`.

    The nonce is synthetic (HMAC of the associated data and the plain text under a subkey,
    as in AES-GCM-SIV): sealing the same values for the same event again gives the same
    bytes, so a decision that is re-run (a retry, a remote signer's completion) reproduces
    the hash that was signed; different values never share a nonce."""
    plain = json.dumps(values, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(subkey(key, "nonce"), aad + b"\x00" + plain, hashlib.sha256)
    nonce = mac.digest()[:12]
    sealed = AESGCM(subkey(key, "fields")).encrypt(nonce, plain, aad)
    return {
        "format": SEAL_FORMAT,
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }


def open_fields(cipher: AESGCM, aad: bytes, sealed: dict[str, str]) -> dict[str, Any]:
    """The values of a sealed object; `cipher` is AES-GCM under the patient's fields key."""
    try:
        plain = cipher.decrypt(
            base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"]), aad
        )
    except (InvalidTag, KeyError, ValueError) as exc:
        raise KeystoreError("a sealed event cannot be opened with its patient's key") from exc
    return dict(json.loads(plain))


class OpenedEntry:
    """A log entry whose envelope is opened: what replays fold (`seq`, `envelope()`)."""

    __slots__ = ("_envelope", "seq")

    def __init__(self, seq: int, envelope: Envelope) -> None:
        self.seq, self._envelope = seq, envelope

    def envelope(self) -> Envelope:
        return self._envelope


class ReleaseKeys:
    """Each patient's key read once for one release, shared by its replay and its image
    reader (a key file read per patient, not two). Made per release and dropped with
    it, so no key outlives the release: an erasure after it is refused by the next."""

    __slots__ = ("_keys", "sealer")

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        self._keys: dict[str, bytes | None] = {}

    def key(self, patient_id: str) -> bytes | None:
        """The patient's key as read first in this release; None if erased (or never made)."""
        if patient_id not in self._keys:
            self._keys[patient_id] = self.sealer.key(patient_id)
        return self._keys[patient_id]

    def clear(self) -> None:
        """Forget every key (the release is done)."""
        self._keys.clear()


class Sealer:
    """Seals new payloads and opens stored ones with the keys of a `PatientKeyStore`.

    `opening()` returns a cached opener for one pass over the log (one key read per
    patient); single reads go to the key store each time, so an erasure by another
    process is seen at once.
    """

    def __init__(self, keys: PatientKeyStore) -> None:
        self.keys = keys

    # ------------------------------------------------------------------- keys

    def key(self, patient_id: str) -> bytes | None:
        """The patient's key, or None if there is none (erased, or never made)."""
        try:
            return self.keys.get(patient_id)
        except NotFound:
            return None

    def ensure_key(self, patient_id: str) -> tuple[bytes, bool]:
        """The patient's key, made now if there is none: (key, whether made here)."""
        key = self.key(patient_id)
        if key is not None:
            return key, False
        return self.keys.create(patient_id), True

    # ---------------------------------------------------------------- sealing

    def seal_capture(self, key: bytes, captured: dict[str, Any], blob_ref: str) -> dict[str, Any]:
        """An ImageCaptured payload with its fingerprints and clinical fields sealed."""
        kept = {k: v for k, v in captured.items() if k not in CAPTURE_SEALED}
        values = {k: captured.get(k) for k in CAPTURE_SEALED}
        aad = _aad("ImageCaptured", captured["patient_id"], captured["image_id"])
        return kept | {"blob_ref": blob_ref, "sealed": seal_fields(key, aad, values)}

    def seal_edit(self, key: bytes, patient_id: str, edit: dict[str, Any]) -> dict[str, Any]:
        """A MetadataEdited payload with the old and new values sealed."""
        kept = {k: v for k, v in edit.items() if k not in EDIT_SEALED}
        values = {k: edit.get(k) for k in EDIT_SEALED}
        aad = _aad("MetadataEdited", patient_id, edit["image_id"])
        return kept | {"patient_id": patient_id, "sealed": seal_fields(key, aad, values)}

    def seal_values(
        self,
        key: bytes,
        event_type: str,
        patient_id: str,
        payload: dict[str, Any],
        names: tuple[str, ...],
    ) -> dict[str, Any]:
        """Any image event with the fields `names` sealed (a histology report reference)."""
        kept = {k: v for k, v in payload.items() if k not in names}
        values = {k: payload.get(k) for k in names}
        aad = _aad(event_type, patient_id, payload["image_id"])
        return kept | {"patient_id": patient_id, "sealed": seal_fields(key, aad, values)}

    def document_commitment(self, key: bytes, document: bytes) -> str:
        """HMAC-SHA256 of a document's SHA-256 under the patient's consent key: the holder
        of the key can show which form was recorded; after erasure it matches nothing."""
        digest = hashlib.sha256(document).hexdigest().encode()
        return hmac.new(subkey(key, "consent"), digest, hashlib.sha256).hexdigest()

    def seal_registration(self, key: bytes, registered: dict[str, Any]) -> dict[str, Any]:
        """A PatientRegistered payload with the patient-level fields sealed."""
        kept = {k: v for k, v in registered.items() if k not in REGISTRATION_SEALED}
        values = {k: v for k, v in registered.items() if k in REGISTRATION_SEALED}
        aad = _aad("PatientRegistered", registered["patient_id"], registered["patient_id"])
        return kept | {"sealed": seal_fields(key, aad, values)}

    @staticmethod
    def blob_key(key: bytes) -> bytes:
        return subkey(key, "blobs")

    def blob_ref(self, key: bytes, sha256_hex: str) -> str:
        return keyed_address(self.blob_key(key), sha256_hex)

    # ---------------------------------------------------------------- opening

    def open(self, env: Envelope) -> Envelope:
        """The envelope with its sealed values back in the payload (or marked erased)."""
        return self.opening()(env)

    def open_all(
        self, envelopes: Iterable[Envelope], erased: frozenset[str] = frozenset()
    ) -> list[Envelope]:
        opener = self.opening(erased)
        return [opener(e) for e in envelopes]

    def opened_log(
        self,
        entries: Iterable[LogEntry],
        erased: frozenset[str] = frozenset(),
        keys: ReleaseKeys | None = None,
    ) -> Iterator[OpenedEntry]:
        """The log with every envelope opened, for one replay; plain events of the `erased`
        patients are shown as erased too; `keys`: a release's key cache to read through."""
        opener = Opener(self, erased, keys)
        for entry in entries:
            yield OpenedEntry(entry.seq, opener(entry.envelope()))

    def opening(self, erased: frozenset[str] = frozenset()) -> Opener:
        return Opener(self, erased)


class Opener:
    """Opens envelopes, reading each patient's key once (one pass over the log)."""

    def __init__(
        self, sealer: Sealer, erased: frozenset[str] = frozenset(), keys: ReleaseKeys | None = None
    ) -> None:
        self.sealer = sealer
        self.keys = keys if keys is not None else ReleaseKeys(sealer)
        self.erased = erased  # patients erased now: their plain (pre-v2) events are hidden
        self._ciphers: dict[str, AESGCM | None] = {}
        self._owners: dict[str, str] = {}  # image -> patient, from the captures seen

    def cipher(self, patient_id: str) -> AESGCM | None:
        """AES-GCM under the patient's fields key, derived once per pass; None if erased."""
        if patient_id not in self._ciphers:
            key = self.keys.key(patient_id)
            self._ciphers[patient_id] = None if key is None else AESGCM(subkey(key, "fields"))
        return self._ciphers[patient_id]

    def __call__(self, env: Envelope) -> Envelope:
        p = env.payload
        sealed = p.get("sealed")
        if not sealed:
            return self._plain(env) if self.erased else env
        patient_id = str(p["patient_id"])
        subject = str(p.get("image_id") or patient_id)
        cipher = self.cipher(patient_id)
        payload = {k: v for k, v in p.items() if k != "sealed"}
        if cipher is None:
            payload |= _erased_values(env.type)
        else:
            payload |= open_fields(cipher, _aad(env.type, patient_id, subject), sealed)
        return with_payload(env, payload)

    def _plain(self, env: Envelope) -> Envelope:
        """A plain event (before erasure v2) of a patient erased since: the values are
        still in the log, but views show it as erased like a sealed one."""
        p = env.payload
        if env.type == "ImageCaptured":
            self._owners[str(p["image_id"])] = str(p["patient_id"])
        hidden = PLAIN_HIDDEN.get(env.type)
        owner = p.get("patient_id") or self._owners.get(str(p.get("image_id")))
        if hidden is None or owner not in self.erased:
            return env
        payload = {k: v for k, v in p.items() if k not in hidden} | _erased_values(env.type)
        return with_payload(env, payload)


def erased_patients(recorder: ApplicationRecorder) -> frozenset[str]:
    """Every patient erased in the log now (one scan of that event type)."""
    return frozenset(str(e.payload["patient_id"]) for e in read_topic(recorder, "PatientErased"))


PLAIN_HIDDEN = {"ImageCaptured": CAPTURE_SEALED, "MetadataEdited": EDIT_SEALED,
                "HistologyRecorded": ("report_ref", "report_date"),
                "PatientRegistered": REGISTRATION_SEALED}  # fmt: skip


def _erased_values(event_type: str) -> dict[str, Any]:
    """What an opened payload says once its key is gone: no values, and that it is erased."""
    if event_type == "ImageCaptured":
        return dict(ERASED_CAPTURE)
    if event_type == "MetadataEdited":
        return {"old_value": None, "new_value": None, "erased": True}
    if event_type == "HistologyRecorded":
        return {"report_ref": None, "report_date": None, "erased": True}
    return {}  # a registration: the patient-level fields are simply gone


def keyed_blobs(settings: Settings) -> KeyedBlobStore:
    """The store of sealed image bytes: `<home>/blobs/sealed/`, beside the plain blobs of
    captures made before erasure v2."""
    return KeyedBlobStore(settings.blobs_dir / "sealed")


def home_key_store(settings: Settings) -> FilePatientKeyStore:
    """The default key store of a ledger: `<home>/patient-keys/` (never released or exported)."""
    return FilePatientKeyStore(settings.home / "patient-keys")
