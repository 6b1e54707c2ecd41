"""The write kernel: the only write path to the ledger.

Every service writes through `Kernel.append`: it folds the acting actor's stream, asks the
role policy and the caller's own policies (inside `decide`), seals each proposed
event with the actor's key and the head of its stream, and saves them in one
transaction. A concurrent append to the same stream makes eventsourcing raise an
IntegrityError; `append` then re-reads, re-decides and re-signs, so two writers
never fork a stream. A refusal raises before anything is written.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, IntegrityError

from dermledger.ledger.bootstrap import (
    Settings,
    ensure_postgres_schema,
    eventsourcing_env,
    open_home,
)
from dermledger.ledger.checkpoints import WitnessFolder
from dermledger.ledger.envelope import Envelope, format_timestamp, seal
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from dermledger.ledger.keystore import Keystore, check_actor_name
from dermledger.ledger.signing import DigestSigner
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
    read_topic_after,
    stream_head,
    tracking_reads,
)
from dermledger.policies import roles as role_policy
from dermledger.study import events
from dermledger.study.authority import ActorRecord, fold_actor
from dermledger.study.personal_data import PatientKeyStore
from dermledger.study.sealing import OpenedEntry, Sealer, erased_patients, home_key_store

MAX_ATTEMPTS = 8
HEADS_KEPT = 4096  # stream heads remembered from this process's own appends


def actor_stream(name: str) -> str:
    return f"actor:{name}"


LEDGER_STREAM = "ledger"


@dataclass(frozen=True)
class Proposal:
    """An event someone wants appended, before it is signed."""

    stream_id: str
    event_type: str
    payload: dict[str, Any]
    # Fixed in advance when the event is signed elsewhere, so a re-seal reproduces it.
    event_id: str | None = None
    recorded_at: str | None = None


class Kernel(Application[str]):
    """One ledger's event store, keystore, checkpoint witness and patient keys, and the
    one write path every service uses (`append`)."""

    name = "DermLedger"

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        open_home(settings)
        ensure_postgres_schema(settings)
        self._open_store(eventsourcing_env(settings))
        self.keystore = Keystore(settings.keys_dir, kdf_log2_n=settings.kdf_log2_n)
        self.witness = WitnessFolder(settings.checkpoints_dir)
        self.patient_keys: PatientKeyStore = home_key_store(settings)
        self.sealer = Sealer(self.patient_keys)  # erasure v2: seals and opens under those keys
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
            except sqlite3.DatabaseError as exc:
                raise InvalidInput(
                    f"{self.settings.describe()} is not a DermLedger database ({exc})"
                ) from None
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

    def save(self, *envelopes: Any, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        """Insert sealed envelopes in one transaction, through the mapper and the recorder
        (`kwargs`: the read set to check). `Application.save`'s aggregate bookkeeping (a
        runtime Protocol check per event, snapshots, notification hooks, Recording
        objects) does nothing for envelopes and cost about 10 µs an append."""
        to_stored = self.mapper.to_stored_event
        self.recorder.insert_events([to_stored(e) for e in envelopes], **kwargs)
        return []

    @staticmethod
    def proposal(stream_id: str, event_type: str, payload: dict[str, Any]) -> Proposal:
        return Proposal(stream_id, event_type, payload)

    # ----------------------------------------------------------------- reads

    def log(self) -> Iterator[LogEntry]:
        """The global log in seq order, streamed."""
        return read_log(self.recorder)

    def opened_log(self) -> Iterator[OpenedEntry]:
        """The log with sealed values opened in memory (erased patients' marked): what
        every view of the study folds; the stored log stays as it is."""
        return self.sealer.opened_log(self.log(), erased_patients(self.recorder))

    def stream(self, stream_id: str) -> list[Envelope]:
        return read_stream(self.recorder, stream_id)

    def events_of_type(self, event_type: str) -> list[Envelope]:
        """Every event of one type, in log order; inside a decision the whole type is in its
        read set, so one committed meanwhile makes the append decide again."""
        return read_topic_after(self.recorder, event_type, 0)[0]

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

    # ---------------------------------------------------------------- writes

    def append(self, signer: DigestSigner, decide: Callable[[], list[Proposal]]) -> list[Envelope]:
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

        An `ExternalSigner` (a reader's browser) signed one digest in advance: a retry
        that seals differently raises SignatureRequired, and nothing is saved.
        """
        streams: list[str] = []
        fresh = False  # after a conflict, the acting actor is read again, not cached
        for _ in range(MAX_ATTEMPTS):
            decided = self._decide_and_seal(signer, decide, streams, cached=not fresh)
            if decided is None:
                return []
            envelopes, expected, topics = decided
            if not all(e.signature for e in envelopes):
                raise InvalidInput("an unsigned draft cannot be appended")
            streams = list(dict.fromkeys(e.stream_id for e in envelopes))
            try:
                self.save(*envelopes, **{EXPECTED: expected, EXPECTED_TOPICS: topics})
            except IntegrityError:
                fresh = True
                for s in streams:
                    self._heads.pop(s, None)
                continue
            self._remember(envelopes)
            return envelopes
        raise Conflict("the ledger stayed busy with concurrent writers; try again")

    def prepare(self, signer: DigestSigner, decide: Callable[[], list[Proposal]]) -> list[Envelope]:
        """Decide and seal exactly as `append` would now, without saving: the envelopes a
        signer whose key is elsewhere is shown and signs (their `hash`). Appending them is
        `append` with an ExternalSigner holding that signature and the same `decide`,
        whose proposals fix `event_id` and `recorded_at` so the hash is reproduced."""
        decided = self._decide_and_seal(signer, decide, [], cached=False)
        return [] if decided is None else decided[0]

    def _decide_and_seal(
        self,
        signer: DigestSigner,
        decide: Callable[[], list[Proposal]],
        streams: list[str],
        *,
        cached: bool,
    ) -> tuple[list[Envelope], dict[str, int], Any] | None:
        """One attempt of `append` up to the save: the sealed envelopes, the read set's
        expected versions and topics (None when `decide` proposes nothing)."""
        known = {s: stream_head(self.recorder, s) for s in streams}
        with tracking_reads() as reads:
            acting = self.acting_record(signer, cached=cached)
            proposals = decide()
        if not proposals:
            return None
        for proposal in proposals:
            role_policy.check_append(
                role_policy.AppendRequest(
                    acting.name, acting.roles, acting.revoked, proposal.event_type
                )
            ).enforce()
        names = list(dict.fromkeys(p.stream_id for p in proposals))
        heads = {s: reads.get(s) or known.get(s) or self._heads.get(s) or (0, None) for s in names}
        expected = {s: version for s, (version, _) in reads.items() if s not in heads}
        return self.seal_all(signer, proposals, heads), expected, reads.topics

    def _remember(self, envelopes: list[Envelope]) -> None:
        """Keep the heads this process wrote (bounded): the next append to one of these
        streams seals on it without reading it first."""
        for envelope in envelopes:
            self._heads.pop(envelope.stream_id, None)
            self._heads[envelope.stream_id] = (envelope.stream_version, envelope.hash)
        while len(self._heads) > HEADS_KEPT:
            del self._heads[next(iter(self._heads))]

    def permit(self, signer: DigestSigner, event_type: str) -> None:
        """Refuse early, before any other rule, if the signer's roles cannot append this."""
        acting = self.acting_record(signer)
        role_policy.check_append(
            role_policy.AppendRequest(acting.name, acting.roles, acting.revoked, event_type)
        ).enforce()

    def acting_record(self, signer: DigestSigner, *, cached: bool = False) -> ActorRecord:
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

    def seal_all(
        self,
        signer: DigestSigner,
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
                event_id=proposal.event_id or str(uuid.uuid4()),
                stream_id=proposal.stream_id,
                stream_version=version + 1,
                event_type=proposal.event_type,
                recorded_at=proposal.recorded_at or recorded_at,
                signer=signer,
                payload=payload,
                prev_hash=prev_hash,
            )
            heads[proposal.stream_id] = (version + 1, envelope.hash)
            sealed.append(envelope)
        return sealed
