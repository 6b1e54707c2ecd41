"""Signed checkpoints of the log and their witness copies.

A checkpoint signs `{ledger_id, tree_size, root, timestamp}` (DESIGN section 5). It is
appended to the log as CheckpointSigned and also written to `<home>/checkpoints/`,
outside the database: a witness that lets `audit verify` notice a log that was cut
back behind a checkpoint, which the database alone could not show.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dermledger.ledger.canonical import jcs_sha256
from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.signing import Signer, verify_digest


@dataclass(frozen=True)
class Checkpoint:
    ledger_id: str
    tree_size: int
    root: str
    timestamp: str

    def digest(self) -> bytes:
        return jcs_sha256(asdict(self))

    def sign(self, signer: Signer) -> str:
        return signer.sign_digest(self.digest())

    def verify(self, *, public_raw: bytes, signature: str) -> None:
        """Raise BadSignature unless `signature` signs this checkpoint."""
        verify_digest(public_raw=public_raw, digest=self.digest(), signature_b64=signature)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Checkpoint:
        return cls(
            ledger_id=payload["ledger_id"],
            tree_size=int(payload["tree_size"]),
            root=payload["root"],
            timestamp=payload["timestamp"],
        )


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint as kept in the home folder, with who signed it."""

    checkpoint: Checkpoint
    signature: str
    actor: str
    key_id: str
    public_key: str


class WitnessFolder:
    """`<home>/checkpoints/latest.json`: the newest checkpoint this home has seen."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def record(self, witnessed: WitnessedCheckpoint) -> None:
        """Keep a copy; make it `latest.json` unless a larger one of this ledger is there.

        Concurrent `checkpoint` runs may finish in any order: each writes its own
        temporary file, and the comparison and replacement of `latest.json` happen
        under a lock, so the witness never moves back to an older tree.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        data = asdict(witnessed)
        body = json.dumps(data, indent=2, sort_keys=True).encode()
        self._replace(f"{witnessed.checkpoint.tree_size:012d}.json", body)
        with (self.folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            try:
                current = self.latest()
            except InvalidInput:
                current = None  # unreadable: replaced, as before
            newer = witnessed.checkpoint
            if (
                current is None
                or current.checkpoint.ledger_id != newer.ledger_id
                or current.checkpoint.tree_size <= newer.tree_size
            ):
                self._replace("latest.json", body)

    def _replace(self, name: str, body: bytes) -> None:
        tmp = self.folder / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            tmp.write_bytes(body)
            os.replace(tmp, self.folder / name)
        finally:
            tmp.unlink(missing_ok=True)

    def latest(self) -> WitnessedCheckpoint | None:
        path = self.folder / "latest.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return WitnessedCheckpoint(
                checkpoint=Checkpoint(**data["checkpoint"]),
                signature=data["signature"],
                actor=data["actor"],
                key_id=data["key_id"],
                public_key=data["public_key"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"the witnessed checkpoint {path} is unreadable") from exc
