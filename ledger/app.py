"""The DermLedger application service: the only write path to the ledger.

Every write goes through `append`: it folds the acting actor's stream, asks the
role policy and the caller's own policies (inside `decide`), seals each proposed
event with the actor's key and the head of its stream, and saves them in one
transaction. A concurrent append to the same stream makes eventsourcing raise an
IntegrityError; `append` then re-reads, re-decides and re-signs, so two writers
never fork a stream. A refusal raises before anything is written.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, IntegrityError

from dermledger.ledger import events
from dermledger.ledger.authority import ActorRecord, Authority, fold_actor
from dermledger.ledger.bootstrap import (
    Settings,
    ensure_postgres_schema,
    eventsourcing_env,
    postgres_connect,
)
from dermledger.ledger.capture_service import CaptureService
from dermledger.ledger.checkpoints import Checkpoint, WitnessedCheckpoint, WitnessFolder
from dermledger.ledger.consent_service import ConsentService
from dermledger.ledger.envelope import Envelope, format_timestamp, seal
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from dermledger.ledger.keystore import Keystore, check_actor_name
from dermledger.ledger.merkle import RootBuilder, hash_leaf
from dermledger.ledger.personal_data import FilePatientKeyStore
from dermledger.ledger.query_service import QueryService
from dermledger.ledger.release_service import ReleaseService
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import (
    EXPECTED,
    EXPECTED_TOPICS,
    EnvelopeMapper,
    Head,
    LogEntry,
    guarded_recorder,
    note_read,
    read_log,
    read_stream,
    stream_head,
    tracking_reads,
)
from dermledger.ledger.verification_service import VerificationService
from dermledger.ledger.verify import LogVerifier, Report
from dermledger.policies import roles as role_policy

MAX_ATTEMPTS = 8
HEADS_KEPT = 4096  # stream heads remembered from this process's own appends
PARALLEL_FROM = 20_000  # events; below this, starting worker processes costs more than it saves
Progress = Callable[[int], None] | None


def actor_stream(name: str) -> str:
    return f"actor:{name}"


LEDGER_STREAM = "ledger"


@dataclass(frozen=True)
class Proposal:
    """An event someone wants appended, before it is signed."""

    stream_id: str
    event_type: str
    payload: dict[str, Any]


class DermLedger(
    CaptureService,
    ConsentService,
    VerificationService,
    QueryService,
    ReleaseService,
    Application[str],
):
    """One ledger: its event store, keystore and checkpoint witness."""

    name = "DermLedger"

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        settings.home.mkdir(parents=True, exist_ok=True)
        ensure_postgres_schema(settings)
        self._open_store(eventsourcing_env(settings))
        self.keystore = Keystore(settings.keys_dir, kdf_log2_n=settings.kdf_log2_n)
        self.witness = WitnessFolder(settings.checkpoints_dir)
        self.patient_keys = FilePatientKeyStore(settings.home / "patient-keys")
        # actor stream -> (head folded, record): immutable events make the head a full key
        self._actors: dict[str, tuple[Head, ActorRecord]] = {}
        self._heads: dict[str, Head] = {}  # stream -> head this process wrote, newest last

    def _open_store(self, env: dict[str, str]) -> None:
        """Open the event store. On PostgreSQL eventsourcing (re)creates its insert function
        on every opening, and two processes opening at once can collide ("tuple
        concurrently updated"): the loser simply opens again."""
        for attempt in range(6):
            try:
                super().__init__(env=env)
                return
            except Exception as exc:
                text = f"{exc} {exc.__cause__ or ''}"
                if "concurrently updated" not in text or attempt == 5:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def construct_mapper(self) -> EnvelopeMapper:  # type: ignore[override]
        return EnvelopeMapper()

    def construct_recorder(self) -> ApplicationRecorder:
        """eventsourcing's recorder for the backend, also checking a decision's read set
        (`expected_versions`) atomically with the insert."""
        return guarded_recorder(self.factory)

    @staticmethod
    def proposal(stream_id: str, event_type: str, payload: dict[str, Any]) -> Proposal:
        return Proposal(stream_id, event_type, payload)

    # ----------------------------------------------------------------- reads

    def log(self) -> Iterator[LogEntry]:
        """The global log in seq order, streamed."""
        return read_log(self.recorder)

    def stream(self, stream_id: str) -> list[Envelope]:
        return read_stream(self.recorder, stream_id)

    def is_initialised(self) -> bool:
        return self.recorder.max_notification_id() is not None

    def ledger_id(self) -> str:
        """The id in the founding enrolment; it never changes, so it is read once."""
        if getattr(self, "_ledger_id", None):
            return self._ledger_id
        for entry in self.log():
            self._ledger_id: str = str(entry.envelope().payload.get("ledger_id", ""))
            return self._ledger_id
        raise NotFound(f"there is no ledger at {self.settings.describe()}; run dermledger init")

    def get_actor(self, name: str) -> ActorRecord:
        record = fold_actor(self.stream(actor_stream(check_actor_name(name))))
        if record is None:
            raise NotFound(f"there is no actor named {name}")
        return record

    def list_actors(self) -> list[dict[str, object]]:
        names = {
            e.stream_id.removeprefix("actor:") for e in self.log() if e.topic == "ActorEnrolled"
        }
        return [self.get_actor(name).as_dict() for name in sorted(names)]

    # ---------------------------------------------------------------- writes

    def append(self, signer: Signer, decide: Callable[[], list[Proposal]]) -> list[Envelope]:
        """Decide, sign and save atomically; retry on a concurrent append.

        `decide` reads whatever state it needs and runs the policies; it raises a
        DermLedgerError to refuse. It may be called more than once.

        The decision's read set (the signer's actor stream, and every stream `decide`
        reads through `stream`) goes into the insert: each stream must still be at the
        version the decision saw, checked in the insert's transaction, so a revocation or
        a consent withdrawal that commits meanwhile makes the save fail and the append
        decide again. Likewise for a whole event type the decision scanned through
        `read_topic_after` (the captures a duplicate check compares with): no newer event
        of that type may have been committed.

        Each event is sealed on a head of its stream known before the decision: the one
        `decide` read, else one read before `decide` (on a retry), else the head this
        process last wrote or, for a stream it never saw, an empty stream. The insert of
        version v+1 succeeds only if the stream is still at v; streams only grow, so it
        was at v all through the decision, and an event is never chained onto a state
        its policies never saw (two votes by one specialist). A wrong guess costs a retry.
        """
        streams: list[str] = []
        fresh = False  # after a conflict, the acting actor is read again, not cached
        for _ in range(MAX_ATTEMPTS):
            known = {s: stream_head(self.recorder, s) for s in streams}
            with tracking_reads() as reads:
                acting = self._acting_record(signer, cached=not fresh)
                proposals = decide()
            if not proposals:
                return []
            for proposal in proposals:
                role_policy.check_append(
                    role_policy.AppendRequest(
                        acting.name, acting.roles, acting.revoked, proposal.event_type
                    )
                ).enforce()
            streams = list(dict.fromkeys(p.stream_id for p in proposals))
            heads = {
                s: reads.get(s) or known.get(s) or self._heads.get(s) or (0, None) for s in streams
            }
            expected = {s: version for s, (version, _) in reads.items() if s not in heads}
            envelopes = self._seal_all(signer, proposals, heads)
            try:
                self.save(*envelopes, **{EXPECTED: expected, EXPECTED_TOPICS: reads.topics})
            except IntegrityError:
                fresh = True
                for s in streams:
                    self._heads.pop(s, None)
                continue
            self._remember(envelopes)
            return envelopes
        raise Conflict("the ledger stayed busy with concurrent writers; try again")

    def _remember(self, envelopes: list[Envelope]) -> None:
        """Keep the heads this process wrote (bounded): the next append to one of these
        streams seals on it without reading it first."""
        for envelope in envelopes:
            self._heads.pop(envelope.stream_id, None)
            self._heads[envelope.stream_id] = (envelope.stream_version, envelope.hash)
        while len(self._heads) > HEADS_KEPT:
            del self._heads[next(iter(self._heads))]

    def permit(self, signer: Signer, event_type: str) -> None:
        """Refuse early, before any other rule, if the signer's roles cannot append this."""
        acting = self._acting_record(signer)
        role_policy.check_append(
            role_policy.AppendRequest(acting.name, acting.roles, acting.revoked, event_type)
        ).enforce()

    def _acting_record(self, signer: Signer, *, cached: bool = False) -> ActorRecord:
        """The signer's standing, refused unless enrolled with this key and not revoked.

        With `cached`, the record folded last time is reused without reading the store:
        only for `append`, whose insert checks that the actor stream is still at the
        version the record was folded from (a stale record costs one retry, never a
        wrong event).
        """
        stream_id = actor_stream(signer.actor)
        known: tuple[Head, ActorRecord] | None = self._actors.get(stream_id) if cached else None
        if known is not None:
            note_read(stream_id, known[0])
            record: ActorRecord | None = known[1]
        else:
            envelopes = self.stream(stream_id)
            record = fold_actor(envelopes)
            if record is not None:
                last = envelopes[-1]
                self._actors[stream_id] = ((last.stream_version, last.hash), record)
        if record is None:
            raise PolicyViolation(
                f"{signer.actor} is not enrolled on this ledger", policy="role-permissions"
            )
        if record.revoked:
            raise PolicyViolation(
                f"{signer.actor}'s key has been revoked", policy="role-permissions"
            )
        if record.key_id != signer.key_id:
            raise PolicyViolation(
                f"the key unlocked for {signer.actor} is not the key enrolled on this ledger",
                policy="role-permissions",
            )
        return record

    def _seal_all(
        self,
        signer: Signer,
        proposals: list[Proposal],
        heads: dict[str, tuple[int, str | None]],
    ) -> list[Envelope]:
        """Seal each proposal on `heads`: (version, hash) of every stream it names."""
        heads = dict(heads)
        recorded_at = format_timestamp(self.clock())
        sealed = []
        for proposal in proposals:
            version, prev_hash = heads[proposal.stream_id]
            try:
                payload = events.validated(proposal.event_type, proposal.payload)
            except ValueError as exc:
                raise InvalidInput(f"{proposal.event_type} payload is invalid: {exc}") from exc
            envelope = seal(
                event_id=str(uuid.uuid4()),
                stream_id=proposal.stream_id,
                stream_version=version + 1,
                event_type=proposal.event_type,
                recorded_at=recorded_at,
                signer=signer,
                payload=payload,
                prev_hash=prev_hash,
            )
            heads[proposal.stream_id] = (version + 1, envelope.hash)
            sealed.append(envelope)
        return sealed

    # ------------------------------------------------------ actors and keys

    def found(self, founder: str, passphrase: str) -> tuple[str, Envelope]:
        """Create the ledger: a self-signed enrolment of the founding coordinator.

        Founders take one lock per ledger around the check, the new key and the save,
        so two concurrent `init`s make one ledger (the other is refused) rather than a
        log with two founding enrolments that never verifies.
        """
        check_actor_name(founder)
        with self._founding_lock():
            if self.is_initialised():
                raise Conflict(f"a ledger already exists at {self.settings.describe()}")
            signer = self.keystore.create(founder, passphrase)
            ledger_id = str(uuid.uuid4())
            try:
                envelope = self._seal_all(
                    signer,
                    [
                        Proposal(
                            actor_stream(founder),
                            "ActorEnrolled",
                            {
                                "actor": founder,
                                "roles": ["coordinator"],
                                "public_key": signer.public_hex,
                                "ledger_id": ledger_id,
                            },
                        )
                    ],
                    {actor_stream(founder): (0, None)},  # version 1 of the log, always
                )[0]
                self.save(envelope)
            except BaseException:
                self.keystore.remove(founder)
                raise
        return ledger_id, envelope

    @contextmanager
    def _founding_lock(self) -> Iterator[None]:
        """Serialise founders: a file lock in the home for SQLite (the database lives
        there), a session advisory lock on the server for PostgreSQL."""
        if self.settings.db_url is None:
            with (self.settings.home / ".found.lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
                yield
            return
        env = eventsourcing_env(self.settings)
        name = f"dermledger found {env.get('POSTGRES_SCHEMA', 'public')}".encode()
        key = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
        with postgres_connect(self.settings) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))  # released with the session
            yield

    def enrol(
        self,
        signer: Signer,
        name: str,
        roles: list[str],
        *,
        passphrase: str | None = None,
        public_key: str | None = None,
    ) -> Envelope:
        """Enrol a new actor: with a key made here (passphrase) or one they made (public_key)."""
        check_actor_name(name)
        reason = role_policy.check_roles(roles)
        if reason:
            raise InvalidInput(reason)
        if (passphrase is None) == (public_key is None):
            raise InvalidInput("give the new actor either a passphrase or a public key")

        def exists() -> None:
            if self.stream(actor_stream(name)):
                raise Conflict(f"an actor named {name} is already enrolled")

        exists()
        self._acting_record(signer)
        created = False
        if public_key is None:
            assert passphrase is not None
            public_key = self.keystore.create(name, passphrase).public_hex
            created = True
        try:
            return self.append(
                signer,
                lambda: (
                    exists(),
                    [
                        Proposal(
                            actor_stream(name),
                            "ActorEnrolled",
                            {"actor": name, "roles": sorted(set(roles)), "public_key": public_key},
                        )
                    ],
                )[1],
            )[0]
        except BaseException:
            if created:
                self.keystore.remove(name, public_key)
            raise

    def revoke(self, signer: Signer, name: str, reason: str) -> Envelope:
        """Revoke an actor's key: it signs nothing from now on."""
        if not reason.strip():
            raise InvalidInput("a reason is required to revoke an actor")

        def decide() -> list[Proposal]:
            record = self.get_actor(name)
            if record.revoked:
                raise Conflict(f"{name} is already revoked")
            return [
                Proposal(
                    actor_stream(name),
                    "ActorRevoked",
                    {"actor": name, "key_id": record.key_id, "reason": reason},
                )
            ]

        return self.append(signer, decide)[0]

    def unlock(self, actor: str, passphrase: str) -> Signer:
        return self.keystore.load(actor, passphrase)

    # ------------------------------------------------- checkpoints and audit

    def tree_head(self, progress: Progress = None) -> tuple[int, bytes]:
        """(size, root) of the Merkle tree over the whole log."""
        builder = RootBuilder()
        size = 0
        for entry in self.log():
            builder.append(hash_leaf(bytes.fromhex(entry.envelope().hash)))
            size = entry.seq
            if progress:
                progress(size)
        return size, builder.root()

    def sign_checkpoint(self, signer: Signer, progress: Progress = None) -> Envelope:
        """Sign the current tree head, append it, and keep a witness copy in the home."""
        ledger_id = self.ledger_id()
        witnessed: list[WitnessedCheckpoint] = []

        def decide() -> list[Proposal]:
            size, root = self.tree_head(progress)
            checkpoint = Checkpoint(ledger_id, size, root.hex(), format_timestamp(self.clock()))
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

        envelope = self.append(signer, decide)[0]
        self.witness.record(witnessed[0])
        return envelope

    def verify(self, progress: Progress = None, *, workers: int | None = None) -> Report:
        """Verify the whole log and the home's witnessed checkpoint.

        With workers > 1, hashes and signatures are checked in that many processes; by
        default every core is used once the log is large enough to repay starting them.
        """
        if workers is None:
            large = (self.recorder.max_notification_id() or 0) >= PARALLEL_FROM
            workers = (os.cpu_count() or 1) if large else 1
        verifier = LogVerifier(
            authority=Authority(), witness=self.witness.latest(), workers=workers
        )
        return verifier.run(self.log(), progress=progress)

    def export(self, out: Path, progress: Progress = None) -> int:
        """Write the JSON-lines export of DESIGN section 5; atomic (temp file, rename)."""
        out = out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.partial")
        count = 0
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                for entry in self.log():
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
