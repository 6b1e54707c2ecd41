"""Content-addressed blob store: image bytes under `<home>/blobs/ab/cdef…` by SHA-256.

Events carry hashes, never pixels. A blob is written to a temporary file, fsynced
and renamed, so a crash never leaves a half-written blob under a real name; a blob
this call created is removed again if the event that needed it is not saved.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dermledger.ledger.errors import VerificationError


class BlobStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256_hex: str) -> Path:
        return self.folder / sha256_hex[:2] / sha256_hex[2:]

    def has(self, sha256_hex: str) -> bool:
        return self.path(sha256_hex).exists()

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store bytes; return (sha256 hex, whether this call created the blob)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest, False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return digest, True

    def discard(self, sha256_hex: str) -> None:
        """Remove a blob this process created for an event that was not saved."""
        self.path(sha256_hex).unlink(missing_ok=True)

    def read(self, sha256_hex: str) -> bytes:
        """The blob's bytes, checked against their address."""
        data = self.path(sha256_hex).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise VerificationError(f"blob {sha256_hex[:16]}… does not match its hash")
        return data
