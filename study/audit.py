"""The log as evidence: checkpoints, whole-log verification and the export.

These read or sign the whole log; none of them knows what an event means beyond
the actors who signed it (the roles are checked by `Authority` during verification).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from dermledger.ledger import tlog
from dermledger.ledger.checkpoints import Checkpoint, WitnessedCheckpoint
from dermledger.ledger.cosigning import LOG_KEY_ENROLLED, WitnessLedger
from dermledger.ledger.envelope import Envelope, format_timestamp
from dermledger.ledger.errors import InvalidInput, VerificationError
from dermledger.ledger.frontier import Frontier, UnforeseenSize
from dermledger.ledger.logkey import LogKeystore, origin_for
from dermledger.ledger.merkle import MerkleTree, RootBuilder, hash_leaf
from dermledger.ledger.notes import Ed25519Signer
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import decode, scan_log
from dermledger.ledger.verify import LogVerifier, Report
from dermledger.ledger.witness_client import DEFAULT_TIMEOUT
from dermledger.policies.witness_quorum import TlogPolicy
from dermledger.study.authority import Authority
from dermledger.study.kernel import LEDGER_STREAM, Kernel, Proposal
from dermledger.study.witness_audit import (
    WitnessSummary,
    ledger_summary,
    policy_summary,
    policy_verifiers,
    witness_views,
)

PARALLEL_FROM = 20_000  # events; below this, starting worker processes costs more than it saves
Progress = Callable[[int], None] | None


class AuditService:
    """Checkpoints, `audit verify` and `audit export`."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        settings = kernel.settings
        self.log_keys = LogKeystore(settings.keys_dir, kdf_log2_n=settings.kdf_log2_n)

    def witness_state(self) -> WitnessLedger:
        """The log key, witnesses and cosignatures, folded from the ledger stream."""
        return WitnessLedger.fold((0, e) for e in self.kernel.stream(LEDGER_STREAM))

    def enrol_log_key(self, signer: Signer, passphrase: str, *, rotate: bool = False) -> str:
        """Make and enrol the log's checkpoint key (or a new one, rotating it); its vkey.

        Refused when the log already has a key and `rotate` is not given, so a key is
        never replaced by accident: witnesses must be told of a rotation.
        """
        origin = origin_for(self.kernel.ledger_id())
        key, entry = self.log_keys.create(origin, passphrase)
        reason = "rotation" if rotate else "the log's checkpoint key"

        def decide() -> list[Proposal]:
            if (self.witness_state().log_vkey is not None) != rotate:
                raise InvalidInput(
                    "the log already has a checkpoint key (rotate it with --rotate-log-key)"
                    if not rotate
                    else "the log has no checkpoint key to rotate yet"
                )
            return [self._log_key_proposal(origin, key, reason)]

        try:
            self.kernel.append(signer, decide)
        except BaseException:
            self.log_keys.discard(entry)
            raise
        return key.verifier.vkey

    @staticmethod
    def _log_key_proposal(origin: str, key: Ed25519Signer, reason: str) -> Proposal:
        return Proposal(
            LEDGER_STREAM, LOG_KEY_ENROLLED,
            {"origin": origin, "vkey": key.verifier.vkey, "reason": reason},
        )  # fmt: skip

    def _log_signer(
        self,
        state: WitnessLedger,
        passphrase: str | None,
        made: list[tuple[Ed25519Signer, str]],
        unlocked: dict[str, Ed25519Signer],
    ) -> tuple[Ed25519Signer | None, list[Proposal]]:
        """The key that signs this checkpoint's note, and its enrolment if it is new
        (`made` and `unlocked` keep keys across a retried decision: scrypt is slow)."""
        if passphrase is None:
            if state.log_vkey is not None:
                raise InvalidInput("the log has a checkpoint key: its passphrase is needed")
            return None, []
        if state.log_vkey is not None:
            if state.log_vkey not in unlocked:
                unlocked[state.log_vkey] = self.log_keys.load(state.log_vkey, passphrase)
            return unlocked[state.log_vkey], []
        origin = origin_for(self.kernel.ledger_id())
        if not made:
            made.append(self.log_keys.create(origin, passphrase))
        return made[0][0], [self._log_key_proposal(origin, made[0][0], "first checkpoint")]

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

    def sign_checkpoint(
        self, signer: Signer, progress: Progress = None, *, log_passphrase: str | None = None
    ) -> Envelope:
        """Sign the current tree head, append it, and keep a witness copy in the home.

        With `log_passphrase`, the head is also a C2SP checkpoint note signed by the log
        key, which is made and enrolled (in the same append) at the first such checkpoint.
        """
        ledger_id = self.kernel.ledger_id()
        witnessed: list[WitnessedCheckpoint] = []
        made: list[tuple[Ed25519Signer, str]] = []
        keys: dict[str, Ed25519Signer] = {}

        def decide() -> list[Proposal]:
            log_signer, enrol = self._log_signer(self.witness_state(), log_passphrase, made, keys)
            size, root = self.tree_head(progress)
            moment = format_timestamp(self.kernel.clock())
            checkpoint = Checkpoint(ledger_id, size, root.hex(), moment)
            origin = origin_for(ledger_id)
            note = (
                tlog.sign_checkpoint(tlog.Checkpoint(origin, size, root), [log_signer]).decode()
                if log_signer is not None
                else None
            )
            witnessed[:] = [
                WitnessedCheckpoint(
                    checkpoint,
                    checkpoint.sign(signer),
                    signer.actor,
                    signer.key_id,
                    signer.public_hex,
                )
            ]
            extra = {"origin": origin, "note": note} if note is not None else {}
            return [
                *enrol,
                Proposal(
                    LEDGER_STREAM,
                    "CheckpointSigned",
                    {
                        "ledger_id": ledger_id,
                        "tree_size": size,
                        "root": root.hex(),
                        "timestamp": checkpoint.timestamp,
                        "checkpoint_signature": witnessed[0].signature,
                        **extra,
                    },
                ),
            ]

        enrolled: set[str] = set()
        try:
            appended = self.kernel.append(signer, decide)
            enrolled = {e.payload["vkey"] for e in appended if e.type == LOG_KEY_ENROLLED}
        finally:
            for key, entry in made:  # a key made but not enrolled (refused, or raced)
                if key.verifier.vkey not in enrolled:
                    self.log_keys.discard(entry)
        self.kernel.witness.record(witnessed[0])
        return appended[-1]

    def verify(self, progress: Progress = None, *, workers: int | None = None) -> Report:
        """Verify the whole log and the home's witnessed checkpoint (see `verify_all`)."""
        return self.verify_all(progress, workers=workers)[0]

    def verify_all(
        self,
        progress: Progress = None,
        *,
        workers: int | None = None,
        policy: TlogPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> tuple[Report, WitnessSummary]:
        """Verify the whole log, its checkpoint notes and recorded cosignatures, and the
        home's witnessed checkpoint; then the witness quorum, the ledger's own or, with
        `policy`, the auditor's (whose witnesses with a URL are asked for their view).

        With workers > 1, hashes and signatures are checked in that many processes; by
        default every core is used once the log is large enough to repay starting them.
        The pass reads the log as it was when it started (up to its newest notification
        id then), so the checkpoints found beforehand are all the ones it meets.
        """
        witness = self.kernel.witness.latest()  # before the log: it never names more
        stop = self.kernel.recorder.max_notification_id()
        if workers is None:
            workers = (os.cpu_count() or 1) if (stop or 0) >= PARALLEL_FROM else 1
        asked = [(n, w.url) for n, w in policy.witnesses.items() if w.url] if policy else []
        # Witnesses' views need proofs from sizes only known afterwards: the whole tree.
        sizes = None if asked else self._root_sizes(witness)
        try:
            report, state, tree = self._pass(progress, workers, witness, stop, sizes)
        except UnforeseenSize:  # a checkpoint outside the ledger stream: keep every leaf
            report, state, tree = self._pass(progress, workers, witness, stop, None)
        if policy is None:
            return report, ledger_summary(state)
        summary = policy_summary(state, policy)
        if report.ok and state.origin is not None and isinstance(tree, MerkleTree):
            keys = policy_verifiers(policy)
            logs = [v for v, _ in policy.logs] or [state.log_vkey or ""]
            summary.views, failures = witness_views(
                tree, state.origin, logs, [(n, url, keys[n]) for n, url in asked],
                timeout=timeout,
            )  # fmt: skip
            summary.failures += failures
        return report, summary

    def _root_sizes(self, witness: WitnessedCheckpoint | None) -> set[int]:
        """The sizes whose Merkle roots the pass must keep: the one the home's witness
        names and those its checkpoints name, read beforehand through the ledger stream's
        index (a few events, however long the log). A checkpoint elsewhere (an honest
        ledger writes none) makes the pass start again, keeping the whole tree."""
        sizes = {witness.checkpoint.tree_size} if witness is not None else set()
        for stored in self.kernel.recorder.select_events(LEDGER_STREAM):
            if stored.topic == "CheckpointSigned":
                try:
                    sizes.add(int(decode(stored.state).payload["tree_size"]))
                except (VerificationError, KeyError, TypeError, ValueError):
                    continue  # the pass names what is wrong with it
        return sizes

    def _pass(
        self,
        progress: Progress,
        workers: int,
        witness: WitnessedCheckpoint | None,
        stop: int | None,
        sizes: set[int] | None,
    ) -> tuple[Report, WitnessLedger, MerkleTree | Frontier]:
        """One verification pass over the log up to notification id `stop`."""
        state = WitnessLedger()
        verifier = LogVerifier(
            authority=Authority(), witness=witness, workers=workers,
            observers=[state.observe], sizes=sizes,
        )  # fmt: skip
        report = verifier.run(scan_log(self.kernel.recorder, stop=stop), progress=progress)
        return report, state, verifier.tree

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
