"""The local keystore: each actor's Ed25519 private key, sealed with a passphrase.

A key file `<home>/keys/<actor>.key.json` holds the raw private key encrypted with
AES-256-GCM under a key derived from the passphrase with scrypt (memory-hard, so a
stolen file resists guessing). The actor's name and public key are the GCM
associated data, so a key file cannot be passed off as another actor's. Files are
written atomically and readable by the owner only. The public half is what the
ledger enrols; the private half never leaves this folder and is never printed.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from dermledger.ledger.errors import Conflict, InvalidInput, KeystoreError
from dermledger.ledger.signing import Signer

FORMAT = "dermledger-key/1"
# scrypt cost as log2(N), r=8, p=1: 2**17 takes ~128 MiB and a few tenths of a second,
# well above the 2**14 advised for interactive logins, for keys that sign clinical records.
KDF_LOG2_N = 17
# The costs a key file may name: below 10 offers no protection; above 22 (4 GiB of memory)
# is no key this software made, and 2**40 would ask scrypt for a terabyte.
KDF_LOG2_N_RANGE = range(10, 23)
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_actor_name(name: str) -> str:
    """Actor names are short lowercase handles, safe as file and stream names."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"actor name {name!r} is not allowed: use 1-64 lowercase letters, digits, "
            "'.', '_' or '-'"
        )
    return name


def _derive(passphrase: str, salt: bytes, log2_n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=8, p=1).derive(passphrase.encode())


def _aad(actor: str, public_hex: str) -> bytes:
    return f"{FORMAT}\n{actor}\n{public_hex}".encode()


class Keystore:
    """Sealed private keys in a folder, one file per actor."""

    def __init__(self, folder: Path, *, kdf_log2_n: int = KDF_LOG2_N) -> None:
        self.folder = folder
        self.kdf_log2_n = kdf_log2_n

    def path(self, actor: str) -> Path:
        return self.folder / f"{check_actor_name(actor)}.key.json"

    def has(self, actor: str) -> bool:
        return self.path(actor).exists()

    def create(self, actor: str, passphrase: str) -> Signer:
        """Generate and store a new key pair; refuse to overwrite an existing key."""
        if not passphrase:
            raise InvalidInput("a passphrase is required to protect the new private key")
        path = self.path(actor)
        if path.exists():
            raise Conflict(f"the keystore already holds a key for {actor}")
        signer = Signer(actor, Ed25519PrivateKey.generate())
        salt, nonce = os.urandom(16), os.urandom(12)
        raw = signer.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        sealed = AESGCM(_derive(passphrase, salt, self.kdf_log2_n)).encrypt(
            nonce, raw, _aad(actor, signer.public_hex)
        )
        document = {
            "format": FORMAT,
            "actor": actor,
            "public_key": signer.public_hex,
            "kdf": {"name": "scrypt", "log2_n": self.kdf_log2_n, "r": 8, "p": 1,
                    "salt": base64.b64encode(salt).decode()},
            "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
            "sealed_private_key": base64.b64encode(sealed).decode(),
        }  # fmt: skip
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # exclusive: never replaces a key another process made
            except FileExistsError:
                raise Conflict(f"the keystore already holds a key for {actor}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return signer

    def remove(self, actor: str, public_hex: str | None = None) -> None:
        """Delete a key file (to undo a key creation whose enrolment was refused); with
        `public_hex`, only if the file still holds that key and not another process's."""
        path = self.path(actor)
        if public_hex is not None:
            try:
                if json.loads(path.read_text()).get("public_key") != public_hex:
                    return
            except (OSError, ValueError):
                return
        path.unlink(missing_ok=True)

    def load(self, actor: str, passphrase: str) -> Signer:
        """Unlock an actor's key; one clear sentence if it is missing or locked."""
        path = self.path(actor)
        if not path.exists():
            raise KeystoreError(f"there is no private key for {actor} in {self.folder}")
        try:
            doc = json.loads(path.read_text())
            kdf = doc["kdf"]
            log2_n = int(kdf["log2_n"])
            if log2_n not in KDF_LOG2_N_RANGE:
                raise KeystoreError(
                    f"the key file for {actor} is damaged: its scrypt cost log2_n {log2_n} is "
                    f"outside {KDF_LOG2_N_RANGE.start} to {KDF_LOG2_N_RANGE.stop - 1}"
                )
            key = _derive(passphrase, base64.b64decode(kdf["salt"]), log2_n)
            raw = AESGCM(key).decrypt(
                base64.b64decode(doc["cipher"]["nonce"]),
                base64.b64decode(doc["sealed_private_key"]),
                _aad(actor, doc["public_key"]),
            )
        except InvalidTag as exc:
            raise KeystoreError(f"the passphrase for {actor} does not unlock its key") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise KeystoreError(f"the key file for {actor} is damaged") from exc
        signer = Signer(actor, Ed25519PrivateKey.from_private_bytes(raw))
        if signer.public_hex != doc["public_key"]:
            raise KeystoreError(f"the key file for {actor} is damaged")
        return signer
