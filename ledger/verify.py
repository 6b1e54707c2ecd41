"""Full verification of the log: hashes, signatures, stream chains, roles, checkpoints.

One pass in seq order, streaming. Told in advance which sizes its checkpoints name
(`sizes`), it keeps a Merkle frontier (O(log n) hashes, `ledger/frontier.py`) and
the roots at those sizes, so its memory does not grow with the log's length but with
its streams' (one head each); without `sizes` it keeps the whole tree (64 bytes an
event), for callers that want proofs from it. It stops at the first bad event and names
it; a verification that finds a fault raises VerificationError subclasses inside,
reported as a `Failure`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256 as _sha256
from typing import Any, Protocol

from dermledger.ledger.checkpoints import Checkpoint, WitnessedCheckpoint
from dermledger.ledger.envelope import Envelope, decode_plain
from dermledger.ledger.envelope_fast import StoredEnvelope, decode_fields
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.frontier import Frontier
from dermledger.ledger.merkle import LEAF_PREFIX, MerkleTree
from dermledger.ledger.signing import verify_digest
from dermledger.ledger.store import LogEntry
from dermledger.ledger.verify_worker import Item


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


Event = Envelope | StoredEnvelope  # the same fields; the second without pydantic's shell
Where = list[tuple[str, str]]  # (stream, type) of each deferred item, in its order

CHUNK = 1_000  # events per task sent to a worker
IN_FLIGHT = 4  # tasks per worker submitted and not yet collected (bounds memory)


class KeyAuthority(Protocol):
    """Who may sign what at each point of the log: supplied by the domain layer."""

    def check(self, env: Event, seq: int) -> None:
        """Raise VerificationError unless the event's signer may sign it here."""

    def signing_key(self, env: Event, seq: int) -> bytes:
        """Every check but the signature; the raw public key that must have signed it."""

    def observe(self, env: Event) -> None:
        """Take a verified event into account."""

    def public_key_of(self, actor: str) -> bytes:
        """The raw public key currently enrolled for `actor`."""

    def count(self) -> int:
        """How many actors are enrolled."""


@contextmanager
def _bare_main() -> Iterator[None]:
    """Start worker processes without the parent's main script.

    A spawned process first re-imports the parent's `__main__` (for the CLI: typer, rich,
    eventsourcing, pydantic, about a second each on a busy two-core machine); a worker
    needs only verify_worker, which it imports when it unpickles `check_batch`. While the
    pool starts its workers, `__main__` is an empty module, so there is nothing to import.
    """
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


def _checked_digest(env: Envelope) -> bytes:
    """The event's raw hash, recomputed from its fields; VerificationError if the stored
    one differs, or if the fields have no JCS (a float or integer outside its domain)."""
    try:
        digest = env.computed_hash()
    except (ValueError, TypeError) as exc:  # rfc8785's errors are ValueErrors
        raise VerificationError("its hash does not match its contents") from exc
    if digest.hex() != env.hash:
        raise VerificationError("its hash does not match its contents")
    return digest


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
        observers: Sequence[Callable[[Event, int], None]] = (),
        sizes: Iterable[int] | None = None,
    ) -> None:
        self.witness = witness
        self.observers = tuple(observers)  # more checks per event; raise VerificationError
        self.authority = authority
        self.workers = workers
        self.pending: list[Item] = []
        self.where: Where = []
        self._interned: dict[bytes, bytes] = {}
        # Roots at `sizes` only (Frontier.root raises UnforeseenSize at any other), or all.
        self.tree: MerkleTree | Frontier = MerkleTree() if sizes is None else Frontier(sizes)
        self.heads: dict[str, tuple[int, str]] = {}
        # (tree size, root, signature) of every CheckpointSigned event -> its seq
        self.checkpoints: dict[tuple[int, str, str], int] = {}
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
        """Replay hashes, keys, chains, roles and checkpoints in order here; signatures
        (most of the cost) in worker processes, chunk by chunk, while this process reads
        on. Chunks are collected oldest first, so the first failure a worker reports is the
        earliest one; a failure found here waits for every chunk before it."""
        with _SignaturePool(self.workers) as signatures:
            for entry in entries:
                try:
                    self._check(entry, defer=True)
                except VerificationError as exc:
                    earlier = signatures.drain(*self._take_pending())
                    self.report.failure = earlier or Failure(
                        entry.seq, entry.stream_id, entry.topic, str(exc)
                    )
                    return self._finish(complete=False)
                if len(self.pending) >= CHUNK:
                    failure = signatures.submit(*self._take_pending())
                    if failure is not None:
                        self.report.failure = failure
                        return self._finish(complete=False)
                if progress is not None:
                    progress(entry.seq)
            failure = signatures.drain(*self._take_pending())
        if failure is not None:
            self.report.failure = failure
            return self._finish(complete=False)
        return self._finish(complete=True)

    def _take_pending(self) -> tuple[list[Any], Where]:
        """The signature checks deferred so far, and where each event came from."""
        items, self.pending = self.pending, []
        where, self.where = self.where, []
        return items, where

    def _check(self, entry: LogEntry, *, defer: bool = False) -> None:
        """All checks of one event, in the order one process makes them: columns, hash,
        chain, key and role, signature, checkpoint. Deferred, only the signature (most of
        the cost) goes to a worker; checkpoints (rare) are checked whole here, signature
        before root. The stored bytes are parsed once: by `decode_fields` (which also gives
        the hash of their proven JCS) where it can, else by `decode_plain` or pydantic."""
        seq, _, stream_id, version, topic, state = entry
        fast = decode_fields(state)
        env: Event = fast[0] if fast is not None else decode_plain(state) or entry.envelope()
        if env.stream_id != stream_id or env.stream_version != version or env.type != topic:
            raise VerificationError("the store's stream, version or type columns disagree with it")
        if fast is None:
            digest = _checked_digest(env)  # type: ignore[arg-type]
        elif (digest := fast[1]).hex() != env.hash:
            raise VerificationError("its hash does not match its contents")
        heads = self.heads
        version_before, head = heads.get(stream_id, (0, None))
        if version != version_before + 1 or env.prev_hash != head:
            self._chain_problem(env, version_before, head)
        public = self.authority.signing_key(env, seq)
        if not defer or topic == "CheckpointSigned":
            verify_digest(public_raw=public, digest=digest, signature_b64=env.signature)
        else:
            public = self._interned.setdefault(public, public)  # pickled once per chunk
            self.pending.append((seq, public, env.signature, digest))
            self.where.append((stream_id, topic))
        if topic == "CheckpointSigned":
            self._check_checkpoint(env, seq)
        for observe in self.observers:
            observe(env, seq)
        if seq == 1:
            self.report.ledger_id = env.payload.get("ledger_id") or ""
        self.authority.observe(env)
        heads[stream_id] = (version, env.hash)
        self.tree.append(_sha256(LEAF_PREFIX + digest).digest())  # hash_leaf, inlined
        report = self.report
        report.events = seq
        report.types[topic] = report.types.get(topic, 0) + 1

    @staticmethod
    def _chain_problem(env: Event, version: int, head: str | None) -> None:
        """Name what breaks the stream's chain (the version is checked first)."""
        if env.stream_version != version + 1:
            raise VerificationError(
                f"its stream version is {env.stream_version} where {version + 1} was due"
            )
        if env.prev_hash != head:
            raise VerificationError("its prev_hash does not name the previous event of its stream")

    def _check_checkpoint(self, env: Event, seq: int) -> None:
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
        signature = env.payload["checkpoint_signature"]
        checkpoint.verify(public_raw=self.authority.public_key_of(env.actor), signature=signature)
        self.checkpoints[(checkpoint.tree_size, checkpoint.root, signature)] = seq
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
        elif (checkpoint.tree_size, checkpoint.root, witnessed.signature) not in self.checkpoints:
            problem = (
                f"the witnessed checkpoint of {checkpoint.tree_size} events is no longer in "
                "the log: its CheckpointSigned event was removed"
            )
        if problem:
            self.report.failure = Failure(
                min(size, checkpoint.tree_size) or 1, "ledger", "CheckpointSigned", problem
            )


class _SignaturePool:
    """Worker processes checking deferred signatures, a bounded number of chunks in
    flight, collected oldest first so the first failure reported is the earliest."""

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from collections import deque

        self.inflight: deque[tuple[Any, list[Any], Where]] = deque()
        self.limit = IN_FLIGHT * workers
        with _bare_main():
            self.pool = multiprocessing.get_context("spawn").Pool(workers)

    def __enter__(self) -> _SignaturePool:
        self.pool.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.__exit__(*exc)

    def submit(self, items: list[Any], where: Where) -> Failure | None:
        """Send a chunk; collect the chunks already done (or beyond the bound)."""
        self._send(items, where)
        while self.inflight and (len(self.inflight) > self.limit or self.inflight[0][0].ready()):
            failure = self._collect(*self.inflight.popleft())
            if failure is not None:
                return failure
        return None

    def drain(self, items: list[Any], where: Where) -> Failure | None:
        """Send the last chunk and wait for every chunk, oldest first."""
        self._send(items, where)
        while self.inflight:
            failure = self._collect(*self.inflight.popleft())
            if failure is not None:
                return failure
        return None

    def _send(self, items: list[Any], where: Where) -> None:
        from dermledger.ledger.verify_worker import check_batch

        if items:
            self.inflight.append((self.pool.apply_async(check_batch, (items,)), items, where))

    @staticmethod
    def _collect(task: Any, items: list[Any], where: Where) -> Failure | None:
        found = task.get()
        if found is None:
            return None
        seq, problem = found
        stream_id, event_type = where[next(i for i, item in enumerate(items) if item[0] == seq)]
        return Failure(seq, stream_id, event_type, problem)
