"""The local keystore: each actor's Ed25519 private key, encrypted with a passphrase.

Keys are PKCS#8 PEM files under `<home>/keys/`, encrypted with the best scheme the
`cryptography` library offers, written atomically and readable by the owner only.
The public half is what the ledger enrols; the private half never leaves this folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from dermledger.ledger.errors import Conflict, InvalidInput, KeystoreError
from dermledger.ledger.signing import Signer

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_actor_name(name: str) -> str:
    """Actor names are short lowercase handles, safe as file and stream names."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"actor name {name!r} is not allowed: use 1-64 lowercase letters, digits, '.', '_' or '-'"
        )
    return name


class Keystore:
    """Encrypted private keys in a folder, one file per actor."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, actor: str) -> Path:
        return self.folder / f"{check_actor_name(actor)}.pem"

    def has(self, actor: str) -> bool:
        return self.path(actor).exists()

    def create(self, actor: str, passphrase: str) -> Signer:
        """Generate and store a new key pair; refuse to overwrite an existing key."""
        if not passphrase:
            raise InvalidInput("a passphrase is required to protect the new private key")
        path = self.path(actor)
        if path.exists():
            raise Conflict(f"the keystore already holds a key for {actor}")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase.encode())
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        tmp = path.with_suffix(".pem.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return Signer(actor, key)

    def remove(self, actor: str) -> None:
        """Delete a key file (used to undo a key creation whose enrolment was refused)."""
        self.path(actor).unlink(missing_ok=True)

    def load(self, actor: str, passphrase: str) -> Signer:
        """Unlock an actor's key; one clear sentence if it is missing or locked."""
        path = self.path(actor)
        if not path.exists():
            raise KeystoreError(f"there is no private key for {actor} in {self.folder}")
        try:
            key = load_pem_private_key(path.read_bytes(), passphrase.encode())
        except (ValueError, TypeError) as exc:
            raise KeystoreError(f"the passphrase for {actor} does not unlock its key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeystoreError(f"the key file for {actor} does not hold an Ed25519 key")
        return Signer(actor, key)
