"""Files of a release as they are written: hashed on the way, read back as streams."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.errors import VerificationError


def files_outside(folder: Path, skip: Path) -> list[Path]:
    """Every file under `folder` but not directly in `skip` (images/, listed already)."""
    return [
        Path(root) / name
        for root, _, names in os.walk(folder)
        if Path(root) != skip
        for name in names
    ]


class HashingWriter:
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

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class CsvRows(Collection[dict[str, str]]):
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


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def place_blob(blobs: BlobStore, sha: str, target: Path) -> int:
    """Write a copy of the stored blob, from the very bytes checked against their address
    (the manifest then reuses that hash instead of hashing the copy again). Never a hard
    link: a recipient who edits a released file in place must not reach the ledger's only
    copy of the image. Returns its size."""
    if not blobs.path(sha).exists():
        raise VerificationError(f"blob {sha[:16]}… is missing from the blob store")
    data = blobs.read(sha)  # raises VerificationError if the bytes do not match
    target.write_bytes(data)
    return len(data)
