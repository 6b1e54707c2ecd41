"""The log as evidence: checkpoints, whole-log verification and the export.

These read or sign the whole log; none of them knows what an event means beyond
the actors who signed it (the roles are checked by `Authority` during verification).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from dermledger.ledger.checkpoints import Checkpoint, WitnessedCheckpoint
from dermledger.ledger.envelope import Envelope, format_timestamp
from dermledger.ledger.merkle import RootBuilder, hash_leaf
from dermledger.ledger.signing import Signer
from dermledger.ledger.verify import LogVerifier, Report
from dermledger.study.authority import Authority
from dermledger.study.kernel import LEDGER_STREAM, Kernel, Proposal

PARALLEL_FROM = 20_000  # events; below this, starting worker processes costs more than it saves
Progress = Callable[[int], None] | None


class AuditService:
    """Checkpoints, `audit verify` and `audit export`."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def tree_head(self, progress: Progress = None) -> tuple[int, bytes]:
        """(size, root) of the Merkle tree over the whole log."""
        builder = RootBuilder()
        size = 0
        for entry in self.kernel.log():
            builder.append(hash_leaf(bytes.fromhex(entry.envelope().hash)))
            size = entry.seq
            if progress:
                progress(size)
        return size, builder.root()

    def sign_checkpoint(self, signer: Signer, progress: Progress = None) -> Envelope:
        """Sign the current tree head, append it, and keep a witness copy in the home."""
        ledger_id = self.kernel.ledger_id()
        witnessed: list[WitnessedCheckpoint] = []

        def decide() -> list[Proposal]:
            size, root = self.tree_head(progress)
            moment = format_timestamp(self.kernel.clock())
            checkpoint = Checkpoint(ledger_id, size, root.hex(), moment)
            witnessed[:] = [
                WitnessedCheckpoint(
                    checkpoint,
                    checkpoint.sign(signer),
                    signer.actor,
                    signer.key_id,
                    signer.public_hex,
                )
            ]
            return [
                Proposal(
                    LEDGER_STREAM,
                    "CheckpointSigned",
                    {
                        "ledger_id": ledger_id,
                        "tree_size": size,
                        "root": root.hex(),
                        "timestamp": checkpoint.timestamp,
                        "checkpoint_signature": witnessed[0].signature,
                    },
                )
            ]

        envelope = self.kernel.append(signer, decide)[0]
        self.kernel.witness.record(witnessed[0])
        return envelope

    def verify(self, progress: Progress = None, *, workers: int | None = None) -> Report:
        """Verify the whole log and the home's witnessed checkpoint.

        With workers > 1, hashes and signatures are checked in that many processes; by
        default every core is used once the log is large enough to repay starting them.
        """
        if workers is None:
            large = (self.kernel.recorder.max_notification_id() or 0) >= PARALLEL_FROM
            workers = (os.cpu_count() or 1) if large else 1
        verifier = LogVerifier(
            authority=Authority(), witness=self.kernel.witness.latest(), workers=workers
        )
        return verifier.run(self.kernel.log(), progress=progress)

    def export(self, out: Path, progress: Progress = None) -> int:
        """Write the JSON-lines export of DESIGN section 5; atomic (temp file, rename)."""
        out = out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.partial")
        count = 0
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                for entry in self.kernel.log():
                    line = json.dumps(
                        entry.envelope().exported(entry.seq),
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    handle.write(line + "\n")
                    count = entry.seq
                    if progress:
                        progress(count)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return count
