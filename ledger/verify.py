"""Full verification of the log: hashes, signatures, stream chains, roles, checkpoints.

One pass in seq order, streaming (the Merkle tree keeps 32 bytes a leaf). It stops
at the first bad event and names it; a verification that finds a fault raises
VerificationError subclasses inside, reported as a `Failure`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dermledger.ledger.checkpoints import Checkpoint, WitnessedCheckpoint
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.store import LogEntry


@dataclass(frozen=True)
class Failure:
    """The first bad event: where it is and what is wrong with it."""

    seq: int
    stream_id: str
    event_type: str
    problem: str

    def sentence(self) -> str:
        return (
            f"event seq {self.seq} ({self.event_type} in stream {self.stream_id}) "
            f"fails verification: {self.problem}"
        )


@dataclass
class Report:
    """What a verification pass saw."""

    events: int = 0
    streams: int = 0
    actors: int = 0
    checkpoints: int = 0
    root: str = ""
    ledger_id: str = ""
    witnessed_size: int | None = None
    failure: Failure | None = None
    types: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None


FLUSH_EVERY = 20_000  # events held before their hashes and signatures are checked
CHUNK = 2_000  # events per task sent to a worker


class KeyAuthority(Protocol):
    """Who may sign what at each point of the log: supplied by the domain layer."""

    def check(self, env: Envelope, seq: int) -> None:
        """Raise VerificationError unless the event's signer may sign it here."""

    def signing_key(self, env: Envelope, seq: int) -> bytes:
        """Every check but the signature; the raw public key that must have signed it."""

    def observe(self, env: Envelope) -> None:
        """Take a verified event into account."""

    def public_key_of(self, actor: str) -> bytes:
        """The raw public key currently enrolled for `actor`."""

    def count(self) -> int:
        """How many actors are enrolled."""


class LogVerifier:
    """Checks a log, event by event, against the rules of DESIGN section 5.

    The crypto core knows nothing of roles: `authority` decides who may sign what.
    """

    def __init__(
        self,
        *,
        authority: KeyAuthority,
        witness: WitnessedCheckpoint | None = None,
        workers: int = 1,
    ) -> None:
        self.witness = witness
        self.authority = authority
        self.workers = workers
        self.pending: list[tuple[int, bytes, bytes]] = []
        self.where: dict[int, tuple[str, str]] = {}
        self.tree = MerkleTree()
        self.heads: dict[str, tuple[int, str]] = {}
        self.report = Report()

    def run(
        self, entries: Iterable[LogEntry], *, progress: Callable[[int], None] | None = None
    ) -> Report:
        if self.workers <= 1:
            for entry in entries:
                try:
                    self._check(entry)
                except VerificationError as exc:
                    self.report.failure = Failure(entry.seq, entry.stream_id, entry.topic, str(exc))
                    return self._finish(complete=False)
                if progress is not None:
                    progress(entry.seq)
            return self._finish(complete=True)
        return self._run_parallel(entries, progress)

    def _run_parallel(
        self, entries: Iterable[LogEntry], progress: Callable[[int], None] | None
    ) -> Report:
        """Replay keys, chains and roles in order here; hashes and signatures (most of the
        cost) in worker processes, batch by batch. The earliest failure wins either way."""
        import multiprocessing

        from dermledger.ledger.verify_worker import check_batch

        context = multiprocessing.get_context("spawn")
        with context.Pool(self.workers) as pool:
            for entry in entries:
                try:
                    self._check(entry, defer=True)
                except VerificationError as exc:
                    earlier = self._flush(pool, check_batch)
                    self.report.failure = earlier or Failure(
                        entry.seq, entry.stream_id, entry.topic, str(exc)
                    )
                    return self._finish(complete=False)
                if len(self.pending) >= FLUSH_EVERY:
                    failure = self._flush(pool, check_batch)
                    if failure is not None:
                        self.report.failure = failure
                        return self._finish(complete=False)
                if progress is not None:
                    progress(entry.seq)
            failure = self._flush(pool, check_batch)
        if failure is not None:
            self.report.failure = failure
            return self._finish(complete=False)
        return self._finish(complete=True)

    def _flush(self, pool: Any, check_batch: Callable[..., Any]) -> Failure | None:
        items, self.pending = self.pending, []
        chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
        failures = [f for f in pool.map(check_batch, chunks) if f is not None]
        where, self.where = self.where, {}
        if not failures:
            return None
        seq, problem = min(failures)
        stream_id, event_type = where[seq]
        return Failure(seq, stream_id, event_type, problem)

    def _check(self, entry: LogEntry, *, defer: bool = False) -> None:
        env = entry.envelope()
        if (env.stream_id, env.stream_version, env.type) != (
            entry.stream_id,
            entry.stream_version,
            entry.topic,
        ):
            raise VerificationError("the store's stream, version or type columns disagree with it")
        if not defer:
            env.check_hash()
        self._check_chain(env)
        public = self.authority.signing_key(env, entry.seq)
        if defer:
            self.pending.append((entry.seq, entry.state, public))
            self.where[entry.seq] = (entry.stream_id, entry.topic)
        else:
            env.check_signature(public)
        if env.type == "CheckpointSigned":
            self._check_checkpoint(env, entry.seq)
        if entry.seq == 1:
            self.report.ledger_id = env.payload.get("ledger_id") or ""
        self.authority.observe(env)
        self.heads[env.stream_id] = (env.stream_version, env.hash)
        self.tree.append(hash_leaf(bytes.fromhex(env.hash)))
        self.report.events = entry.seq
        self.report.types[env.type] = self.report.types.get(env.type, 0) + 1

    def _check_chain(self, env: Envelope) -> None:
        version, head = self.heads.get(env.stream_id, (0, None))
        if env.stream_version != version + 1:
            raise VerificationError(
                f"its stream version is {env.stream_version} where {version + 1} was due"
            )
        if env.prev_hash != head:
            raise VerificationError("its prev_hash does not name the previous event of its stream")

    def _check_checkpoint(self, env: Envelope, seq: int) -> None:
        checkpoint = Checkpoint.from_payload(env.payload)
        if checkpoint.ledger_id != self.report.ledger_id:
            raise VerificationError("the checkpoint names another ledger")
        if not 0 <= checkpoint.tree_size < seq:
            raise VerificationError(f"the checkpoint claims {checkpoint.tree_size} earlier events")
        calculated = self.tree.root(checkpoint.tree_size).hex()
        if calculated != checkpoint.root:
            raise VerificationError(
                f"the Merkle root of the first {checkpoint.tree_size} events is "
                f"{calculated[:16]}…, not the checkpointed {checkpoint.root[:16]}…"
            )
        checkpoint.verify(
            public_raw=self.authority.public_key_of(env.actor),
            signature=env.payload["checkpoint_signature"],
        )
        self.report.checkpoints += 1

    def _finish(self, *, complete: bool) -> Report:
        report = self.report
        report.streams = len(self.heads)
        report.actors = self.authority.count()
        report.root = self.tree.root().hex()
        if complete and report.failure is None and self.witness is not None:
            self._check_witness(self.witness)
        return report

    def _check_witness(self, witnessed: WitnessedCheckpoint) -> None:
        checkpoint = witnessed.checkpoint
        size = self.tree.size
        self.report.witnessed_size = checkpoint.tree_size
        problem = ""
        if checkpoint.ledger_id != self.report.ledger_id:
            problem = "the witnessed checkpoint belongs to another ledger"
        elif size < checkpoint.tree_size:
            problem = (
                f"the log holds {size} events but a checkpoint of {checkpoint.tree_size} "
                "events was witnessed: events were removed"
            )
        elif self.tree.root(checkpoint.tree_size).hex() != checkpoint.root:
            problem = f"the first {checkpoint.tree_size} events no longer have the witnessed root"
        if problem:
            self.report.failure = Failure(
                min(size, checkpoint.tree_size) or 1, "ledger", "CheckpointSigned", problem
            )
