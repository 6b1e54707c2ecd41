"""Content-addressed blob store: image bytes under `<home>/blobs/ab/cdef…` by SHA-256.

Events carry hashes, never pixels. A blob is written to a temporary file, made durable
and only then renamed, so a crash never leaves a half-written blob under a real name; a
blob this call created is removed again if the event that needed it is not saved. A
blob without an event (a crash between the blob and its event) is harmless: nothing
refers to it, and a later capture of the same bytes finds it complete. Temporary files
of a writer that was killed are removed by the store's next write (`sweep`).

`put_many` does the same for a batch with two flushes in all instead of one per blob:
write every temporary file, flush them, rename them, flush the renames; the caller
commits the batch's events only after it returns.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dermledger.ledger.errors import VerificationError

STALE_AFTER = 60.0  # seconds: a temporary file this old, of a process that is gone, is junk


class BlobStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._swept = False

    def sweep(self, *, now: float | None = None) -> int:
        """Remove temporary files left by writers that were killed (`.<sha>.<pid>.tmp`);
        returns how many. Safe beside live writers: only a file whose process no longer
        runs here and that has not changed for STALE_AFTER seconds is removed, and a blob
        is never removed, so at worst a slow writer on another host retries its batch."""
        now = time.time() if now is None else now
        removed = 0
        for tmp in self.folder.glob("??/.*.tmp"):
            try:
                pid = int(tmp.name.rsplit(".", 2)[-2])
                stale = now - tmp.stat().st_mtime >= STALE_AFTER
            except (ValueError, OSError):
                continue
            if stale and not _alive(pid):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def _sweep_once(self) -> None:
        """On this store's first write: clean up after earlier writers that were killed."""
        if not self._swept:
            self._swept = True
            self.sweep()

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
        self._sweep_once()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return digest, True

    def put_many(self, items: Sequence[bytes]) -> list[tuple[str, bool]]:
        """Store a batch; (sha256 hex, created) for each, durable (data and names) on return."""
        results: list[tuple[str, bool]] = []
        pending: list[tuple[Path, Path]] = []  # (temporary, target)
        seen: set[str] = set()
        self._sweep_once()
        try:
            for data in items:
                digest = hashlib.sha256(data).hexdigest()
                target = self.path(digest)
                if digest in seen or target.exists():
                    results.append((digest, False))
                    continue
                seen.add(digest)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                tmp.write_bytes(data)
                pending.append((tmp, target))
                results.append((digest, True))
            if not pending:
                return results
            self._flush([tmp for tmp, _ in pending])  # contents durable before any rename
            for tmp, target in pending:
                os.replace(tmp, target)
            self._flush_names({target.parent for _, target in pending})
        except BaseException:
            for tmp, target in pending:
                tmp.unlink(missing_ok=True)
                target.unlink(missing_ok=True)
            raise
        return results

    def _flush(self, files: list[Path]) -> None:
        """Make the files' contents durable: one syncfs of the store's filesystem on Linux,
        else an fsync per file."""
        if not _syncfs(self.folder):
            _fsync_each(files)

    def _flush_names(self, folders: set[Path]) -> None:
        """Make renames into these folders durable (one syncfs, else an fsync per folder)."""
        if not _syncfs(self.folder):
            _fsync_each(sorted(folders))

    def discard(self, sha256_hex: str) -> None:
        """Remove a blob this process created for an event that was not saved."""
        self.path(sha256_hex).unlink(missing_ok=True)

    def read(self, sha256_hex: str) -> bytes:
        """The blob's bytes, checked against their address."""
        data = self.path(sha256_hex).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise VerificationError(f"blob {sha256_hex[:16]}… does not match its hash")
        return data


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a process of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _syncfs(folder: Path) -> bool:
    """syncfs(2) of the filesystem holding `folder`; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
    except (OSError, AttributeError):
        return False
    try:
        if libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    except AttributeError:
        return False
    finally:
        os.close(fd)
    return True


def _fsync_each(paths: list[Path]) -> None:
    """fsync every file or folder in turn, where syncfs is not to be had."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
