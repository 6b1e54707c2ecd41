"""The log's own checkpoint key: one Ed25519 key per ledger that signs its C2SP notes.

Witnesses trust a log by its origin and verifier key, so the key must not change with
whichever coordinator happens to run `checkpoint`. It is made once (at the ledger's first
checkpoint, or by `checkpoint --init-log-key`), enrolled by a `LogKeyEnrolled` event, and
kept sealed in `<home>/keys/log/` like an actor's key (scrypt + AES-256-GCM). A rotation
is a new key and a new event; old keys stay on disk so older notes can be re-read.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from dermledger.ledger.errors import KeystoreError
from dermledger.ledger.keystore import Keystore
from dermledger.ledger.notes import Ed25519Signer, parse_vkey

ORIGIN_PREFIX = "dermledger.example/"
"""Origins are `dermledger.example/<ledger_id>`: stable, unique per ledger, URL-shaped."""


def origin_for(ledger_id: str) -> str:
    """The checkpoint origin line of a ledger (also the log key's name, per tlog-policy)."""
    return ORIGIN_PREFIX + ledger_id


class LogKeystore:
    """Sealed log keys in `<keys>/log/`, found by their public key."""

    def __init__(self, keys_dir: Path, *, kdf_log2_n: int) -> None:
        self.store = Keystore(keys_dir / "log", kdf_log2_n=kdf_log2_n)

    def create(self, origin: str, passphrase: str) -> tuple[Ed25519Signer, str]:
        """A new sealed key named for `origin`; returns it and its keystore entry name."""
        entry = f"log-{uuid.uuid4().hex[:16]}"
        sealed = self.store.create(entry, passphrase)
        return _note_signer(origin, sealed.private_key), entry

    def discard(self, entry: str) -> None:
        """Undo `create` when the enrolment was refused."""
        self.store.remove(entry)

    def load(self, vkey: str, passphrase: str) -> Ed25519Signer:
        """Unlock the sealed key whose public half is enrolled as `vkey`."""
        verifier = parse_vkey(vkey)
        wanted = verifier.public_key.hex()
        folder = self.store.folder
        for path in sorted(folder.glob("log-*.key.json")) if folder.exists() else []:
            try:
                public = json.loads(path.read_text()).get("public_key")
            except (OSError, ValueError):
                continue
            if public == wanted:
                entry = path.name.removesuffix(".key.json")
                try:
                    sealed = self.store.load(entry, passphrase)
                except KeystoreError:
                    raise KeystoreError(
                        "the passphrase does not unlock the log key (set "
                        "DERMLEDGER_LOG_PASSPHRASE to the one it was sealed with)"
                    ) from None
                return _note_signer(verifier.name, sealed.private_key)
        raise KeystoreError(f"the private log key for {verifier.name} is not in {folder}")


def _note_signer(origin: str, private_key: object) -> Ed25519Signer:
    seed = private_key.private_bytes(  # type: ignore[attr-defined]
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return Ed25519Signer.from_seed(origin, seed)
