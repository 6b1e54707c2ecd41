"""Keyed blob store: bytes encrypted at rest under a caller's key, at a keyed address.

The plain content-addressed store (blobs.py) names a file by the SHA-256 of its bytes, so
anyone holding a copy of an image can find it, and the bytes sit in the clear in every
backup. Here the caller hands over a 32-byte key per owner: the address is
HMAC-SHA256(key, SHA-256 of the bytes), which matches nothing without the key, and the
file is AES-256-GCM ciphertext bound to its address. Destroying the key leaves files
nobody can open or match; `delete` then removes them. Writes follow blobs.py: a
temporary file made durable, then renamed, so a crash never leaves a half-written blob
under a real name.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dermledger.ledger.blobs import _fsync_each, _syncfs
from dermledger.ledger.errors import VerificationError

_AAD = b"dermledger-keyed-blob/1\n"
_NONCE = 12
_HEX = frozenset("0123456789abcdef")


def keyed_address(key: bytes, sha256_hex: str) -> str:
    """The address of bytes with this SHA-256 under `key`: reproducible with the key only."""
    return hmac.new(key, b"address\n" + sha256_hex.encode(), hashlib.sha256).hexdigest()


class KeyedBlobStore:
    """Encrypted blobs under `<folder>/ab/cdef…` by keyed address."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, address: str) -> Path:
        if len(address) != 64 or not _HEX.issuperset(address):
            raise VerificationError("a keyed blob address is not 64 hex digits")
        return self.folder / address[:2] / address[2:]

    def has(self, address: str) -> bool:
        return self.path(address).exists()

    def put(self, key: bytes, data: bytes) -> tuple[str, bool]:
        """Encrypt and store one blob; (address, whether this call created the file). One
        fsync of the file before the rename, as the plain store does (a filesystem-wide
        syncfs costs a busy machine far more for a single file)."""
        address = keyed_address(key, hashlib.sha256(data).hexdigest())
        target = self.path(address)
        if target.exists():
            return address, False
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(_encrypt(key, address, data))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return address, True

    def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bool]]:
        """Store a batch of (key, bytes), durable (contents and names) on return; the
        files this call created are removed again if it fails half-way."""
        results: list[tuple[str, bool]] = []
        pending: list[tuple[Path, Path]] = []
        seen: set[str] = set()
        try:
            for key, data in items:
                address = keyed_address(key, hashlib.sha256(data).hexdigest())
                target = self.path(address)
                if address in seen or target.exists():
                    results.append((address, False))
                    continue
                seen.add(address)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(_encrypt(key, address, data))
                pending.append((tmp, target))
                results.append((address, True))
            if pending:
                if not _syncfs(self.folder):
                    _fsync_each([tmp for tmp, _ in pending])
                for tmp, target in pending:
                    os.replace(tmp, target)
                if not _syncfs(self.folder):
                    _fsync_each(sorted({target.parent for _, target in pending}))
        except BaseException:
            for tmp, target in pending:
                tmp.unlink(missing_ok=True)
                target.unlink(missing_ok=True)
            raise
        return results

    def read(self, key: bytes, address: str) -> bytes:
        """The plain bytes, checked: the key must open them and they must hash to the address."""
        return self.read_checked(key, address)[0]

    def read_checked(self, key: bytes, address: str) -> tuple[bytes, str]:
        """The plain bytes, checked as `read` does, and their SHA-256 (hex) computed for the
        check: a caller comparing it with a recorded hash need not hash them again."""
        try:  # no separate exists(): one stat less for each image a release opens
            raw = self.path(address).read_bytes()
        except FileNotFoundError:
            raise VerificationError(
                f"keyed blob {address[:16]}… is missing from the blob store"
            ) from None
        try:
            data = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _AAD + address.encode())
        except InvalidTag as exc:
            raise VerificationError(
                f"keyed blob {address[:16]}… does not match what was stored (it cannot be opened)"
            ) from exc
        sha = hashlib.sha256(data).hexdigest()
        if keyed_address(key, sha) != address:
            raise VerificationError(f"keyed blob {address[:16]}… does not match its address")
        return data, sha

    def delete(self, address: str) -> bool:
        """Remove one blob (overwritten first, then unlinked); True if it was there."""
        path = self.path(address)
        if not path.exists():
            return False
        _overwrite(path)
        path.unlink(missing_ok=True)
        return True


def _encrypt(key: bytes, address: str, data: bytes) -> bytes:
    """Nonce then AES-256-GCM ciphertext, bound to the address (a file moved to another
    address does not open)."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, _AAD + address.encode())


def _overwrite(path: Path) -> None:
    """Overwrite a file's bytes in place before unlinking it: on filesystems that write in
    place the ciphertext is gone from the disk too, not just from the folder."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(os.urandom(size))
        handle.flush()
        os.fsync(handle.fileno())
