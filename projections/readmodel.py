"""Persistent read models, kept up to date from the global log exactly once.

`ReadModel(settings)` keeps the tables of `readmodel_tables` (dataset, audit trail,
duplicate clusters, actors) beside the events: on PostgreSQL in the ledger's own schema,
on SQLite in `<home>/readmodel.sqlite`, a file of its own so that filling it never holds
the lock writers of `ledger.sqlite` wait for, and deleting it is a clean reset.

`catch_up` reads the log after the tracked position in batches. Each batch is one
transaction that first locks the tracking row, then upserts the rows the batch changes
(keyed by image id, seq, actor) and moves the tracking position: rows and position
commit together or not at all, so every event is applied exactly once, and two
catch-ups running at once take turns instead of applying a batch twice. The upserts
are idempotent as well (a row is only replaced by one from the same or a later seq).

Rows come from the existing folds and policies, never from rules of their own:
images are folded with `ledger.state.apply_image_event` and labelled with the
verification policy (`confirmation.derive` of the state's facts); audit rows are
`audit_trail.trail_rows` of the batch, completed with what earlier batches recorded (an
actor's roles, a superseded vote).

Per-image state lives in the read model itself: `rm_dataset.fold_state` is the image's
folded state as compact JSON (`pack_state`: everything the fold and the rows read,
without the event list and the capture payload beyond the patient). A batch loads the
states of the images it continues in one query and writes them back with the rows, in
the same transaction, so the stored state is always the fold of exactly the events
applied: nothing ever re-reads an event stream. A catch-up also holds the states it
wrote in memory (`readmodel_fold.Held`, bounded) and continues from them instead of
the table while the tracking row and the erased patients are as its last commit left
them.

`rebuild` starts from empty tables, so it need not keep them consistent batch by batch:
each batch's transaction writes its audit rows, clusters and actors, the image states
stay in memory (the newest live, older ones packed, beyond a bound written to the table
and continued from there), and every image's row is made once, with the tracking
position, in the last transaction. Until then the tracking row says seq 0, so an
interrupted rebuild is redone by the next catch-up (the upserts are idempotent and a
stored state is never folded twice); a catch-up or an erasure that ran meanwhile makes
the rebuild stop with a Conflict rather than write rows from stale memory.

The bulk writes bypass SQLAlchemy's per-row parameter processing, which cost more
than the database's insert: plain tuples to the driver's `executemany` on SQLite, COPY
into a temporary table and one upsert from it on PostgreSQL (`Statements`). On a
rebuild the secondary indexes, which only auditors' queries read, are created once at
the end instead of being kept up row by row (`catch_up` creates any that are missing,
so an interrupted rebuild heals on the next catch-up). `bench/bench_rebuild.py`
measures a rebuild beside merely reading and decoding the same log.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder
from sqlalchemy import (
    Connection,
    Index,
    select,
)
from sqlalchemy.sql.expression import ColumnElement

from dermledger.ledger.bootstrap import Settings, ensure_postgres_schema, open_home
from dermledger.ledger.envelope_fast import decode_envelope
from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.ledger.store import decode, read_topic_after
from dermledger.projections import readmodel_tables as t
from dermledger.projections.audit_trail import trail_rows
from dermledger.projections.readmodel_fold import Batch, Held, Stored, fold
from dermledger.projections.readmodel_rows import TRAIL_COLUMNS, dataset_values, unpack_state
from dermledger.projections.readmodel_sql import (
    ADVANCE,
    PROJECTION,
    ROLES,
    VOTES,
    Statements,
    collector_paused,
    engine,
    ensure_tracking,
    lock_tracking,
    lookup,
    tracked_ledger_id,
    write_clusters,
)
from dermledger.study.sealing import Sealer, home_key_store
from dermledger.study.state import ImageState

DEFAULT_BATCH = 5000  # events a transaction: memory is about this many envelopes and states

Progress = Callable[[int], None] | None

# Indexes that only serve auditors' queries: a rebuild makes them once at its end
# (rm_duplicate_clusters.cluster_id, read by every batch with duplicates, is kept).
DEFERRED_INDEXES: tuple[Index, ...] = tuple(
    index
    for table in (t.dataset, t.audit_trail)
    for index in sorted(table.indexes, key=lambda i: i.name or "")
)


class LedgerSource(Protocol):
    """What the read model needs of a ledger (`DermLedger` has it): its recorder, to
    read the log after a position."""

    @property
    def recorder(self) -> ApplicationRecorder: ...


@dataclass
class CatchUpStats:
    """How the per-image states of the last catch-up or rebuild were obtained."""

    events: int = 0
    batches: int = 0
    captured: int = 0  # states begun by an ImageCaptured in the batch
    loaded: int = 0  # states continued from rm_dataset.fold_state
    held: int = 0  # states continued from memory (see readmodel_fold.Held)


class ReadModel:
    """The read-model tables of one ledger location (see the module docstring).

    Raises Conflict from `catch_up` when the stored tables were filled from another
    ledger or by another table version: `rebuild` them.
    """

    def __init__(self, settings: Settings, sealer: Sealer | None = None) -> None:
        self.settings = settings
        # erasure v2: sealed values are opened in memory before folding (erased: marked)
        self.sealer = sealer or Sealer(home_key_store(settings))
        self.stats = CatchUpStats()
        # (recorder, newest PatientErased id read, patients erased): see _erased_patients
        self._erased: tuple[object, int, frozenset[str]] = (None, 0, frozenset())
        # states a catch-up holds between its transactions, and (recorder, seq, erased
        # patients) after the commit that left them: see _apply_batch
        self._held = Held.for_catch_up()
        self._held_at: tuple[object, int, frozenset[str]] | None = None
        open_home(settings)
        ensure_postgres_schema(settings)  # the ledger makes it too; either may come first
        self._base, self.engine = engine(settings)
        # Writes begin IMMEDIATE on SQLite (see engine): the batch owns the file's lock.
        self._writer = self.engine.execution_options(readmodel_write=True)
        self._sql = Statements(
            self.engine.dialect.name, settings.database and settings.database.schema
        )
        with self._writer.begin() as conn:
            t.metadata.create_all(conn)
            ensure_tracking(conn)

    def close(self) -> None:
        self._base.dispose()

    def __enter__(self) -> ReadModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes

    def catch_up(
        self, ledger: LedgerSource, batch_size: int = DEFAULT_BATCH, progress: Progress = None
    ) -> int:
        """Apply the log's events after the tracked position; returns how many.

        Each batch of at most `batch_size` events is one transaction; `progress` gets the
        seq reached after each. Raises Conflict if the tables belong to another ledger or
        table version.
        """
        if batch_size < 1:
            raise InvalidInput("the batch size must be at least 1")
        ledger_id = tracked_ledger_id(ledger.recorder)
        self.stats = CatchUpStats()
        with collector_paused():
            self._catch_up(ledger, ledger_id, batch_size, progress)
        self._create_indexes()
        return self.stats.events

    def _catch_up(
        self, ledger: LedgerSource, ledger_id: str | None, batch_size: int, progress: Progress
    ) -> None:
        while True:
            count, seq = self._apply_batch(ledger, ledger_id, batch_size)
            self.stats.events += count
            if count:
                self.stats.batches += 1
                if progress:
                    progress(seq)
            if count < batch_size:
                return

    def clear(self) -> None:
        """Drop and recreate the tables, empty, in one transaction (the secondary
        indexes are left for the next catch-up or rebuild to make at its end)."""
        self._held_at = None
        with self._writer.begin() as conn:
            t.metadata.drop_all(conn)
            t.metadata.create_all(conn)
            for index in DEFERRED_INDEXES:
                index.drop(conn)
            ensure_tracking(conn)

    def rebuild(
        self, ledger: LedgerSource, batch_size: int = DEFAULT_BATCH, progress: Progress = None
    ) -> int:
        """Drop and recreate the tables, then fill them from seq 1; returns how many events.

        Reads `batch_size` events at a time, one transaction each for their audit rows,
        clusters and actors, with the image states held in memory (`Held`); every
        image's row and the tracking position are written in the last transaction.
        Raises Conflict if a catch-up moved the tables meanwhile (rebuild again).
        """
        if batch_size < 1:
            raise InvalidInput("the batch size must be at least 1")
        ledger_id = tracked_ledger_id(ledger.recorder)
        self.clear()
        self.stats = CatchUpStats()
        held = Held()
        seq = position = 0
        with collector_paused():
            while True:
                page = ledger.recorder.select_notifications(
                    start=position or None, limit=batch_size, inclusive_of_start=not position
                )
                if page:
                    with self._writer.begin() as conn:
                        self._rebuild_batch(conn, ledger, ledger_id, page, seq, held)
                    seq, position = seq + len(page), page[-1].id
                    self.stats.events, self.stats.batches = seq, self.stats.batches + 1
                    if progress:
                        progress(seq)
                if len(page) < batch_size:
                    break
            with self._writer.begin() as conn:
                self._unchanged(conn, ledger_id)
                if held.erased not in (None, self._erased_patients(ledger.recorder)):
                    raise Conflict("a patient was erased during the rebuild; run it again")
                self._write_rows(conn, held.drain())
                self._advance(conn, 0, ledger_id, seq, position)
        self._create_indexes()
        return seq

    def _rebuild_batch(
        self,
        conn: Connection,
        ledger: LedgerSource,
        ledger_id: str | None,
        page: list[Any],
        seq: int,
        held: Held,
    ) -> None:
        """One batch of a rebuild: fold from the held states (or the table, for states
        spilled there), write the audit rows, clusters and actors, hold the states."""
        self._unchanged(conn, ledger_id)
        batch = self._decoded(ledger, page, seq)
        held.erased = batch.erased if held.erased is None else held.erased
        if batch.erased != held.erased:  # the rows held may hold what erasure purged
            raise Conflict("a patient was erased during the rebuild; run the rebuild again")
        stored, missing = held.take(batch.continued())
        self.stats.held += len(stored)
        if held.spilled:
            stored.update(self._load_states(conn, missing))
        fold(batch, stored)
        self.stats.captured += batch.captured
        self._write_audit(conn, batch)
        write_clusters(conn, batch.edges, batch.suspects, batch.states)
        self._write_rows(conn, held.keep(batch))  # bounded memory: beyond it, the table

    def _unchanged(self, conn: Connection, ledger_id: str | None) -> None:
        """Lock the tracking row; refuse to go on if a catch-up moved it meanwhile."""
        if lock_tracking(conn, ledger_id).last_seq != 0:
            raise Conflict("a catch-up ran during the rebuild; run the rebuild again")

    def _create_indexes(self) -> None:
        with self._writer.begin() as conn:
            for index in DEFERRED_INDEXES:
                index.create(conn, checkfirst=True)

    def _decoded(self, ledger: LedgerSource, page: list[Any], last_seq: int) -> Batch:
        """The page's envelopes, decoded and opened (erasure v2), numbered from
        `last_seq + 1`: positions commit in order (eventsourcing serialises inserts), so
        nothing can later appear before a position already read, and seq stays dense
        even where notification ids have gaps."""
        erased = self._erased_patients(ledger.recorder)
        opened = self.sealer.opening(erased)
        entries = [
            (seq, opened(decode_envelope(n.state) or decode(n.state)))
            for seq, n in enumerate(page, start=last_seq + 1)
        ]
        return Batch(entries, erased=erased)

    def _erased_patients(self, recorder: ApplicationRecorder) -> frozenset[str]:
        """Every patient erased in the log now. PatientErased events only accumulate, so
        each call reads only those after the newest this model has seen: the log has no
        index by type, and a whole scan a batch made a rebuild quadratic in the log."""
        if self._erased[0] is not recorder:  # another ledger: start again
            self._erased = (recorder, 0, frozenset())
        _, seen, erased = self._erased
        top = recorder.max_notification_id() or 0  # ids commit in order: all up to it are read
        found, newest = read_topic_after(recorder, "PatientErased", seen)
        seen = max(top, newest)
        if found:
            erased = erased | {str(e.payload["patient_id"]) for e in found}
        self._erased = (recorder, seen, erased)
        return erased

    def _advance(
        self, conn: Connection, expected: int, ledger_id: str | None, seq: int, position: int
    ) -> None:
        moved = conn.execute(
            ADVANCE,
            {
                "expected_seq": expected,
                "new_ledger_id": ledger_id,
                "new_seq": seq,
                "new_position": position,
            },
        )
        if moved.rowcount != 1:  # the lock makes this unreachable; never guess
            raise Conflict("the read model moved during a batch; run the catch-up again")

    def _apply_batch(
        self, ledger: LedgerSource, ledger_id: str | None, batch_size: int
    ) -> tuple[int, int]:
        """One catch-up transaction. The states this model held after its own last
        commit are valid while the tracking row and the erased patients are as it left
        them (nothing else wrote rows meanwhile); otherwise they are dropped."""
        held, held_at, self._held_at = self._held, self._held_at, None  # set on commit
        with self._writer.begin() as conn:
            mark = lock_tracking(conn, ledger_id)
            page = ledger.recorder.select_notifications(
                start=mark.last_position or None,
                limit=batch_size,
                inclusive_of_start=not mark.last_position,
            )
            if not page:
                return 0, mark.last_seq
            batch = self._decoded(ledger, page, mark.last_seq)
            if held_at != (ledger.recorder, mark.last_seq, batch.erased):
                held.clear()
            stored, missing = held.take(batch.continued())
            self.stats.held += len(stored)
            stored.update(self._load_states(conn, missing))
            fold(batch, stored)
            self.stats.captured += batch.captured
            self._write_rows(
                conn,
                ((sid, state, batch.last_seq[sid], None) for sid, state in batch.states.items()),
            )
            self._write_audit(conn, batch)
            write_clusters(conn, batch.edges, batch.suspects, batch.states)
            last_seq = mark.last_seq + len(page)
            self._advance(conn, mark.last_seq, ledger_id, last_seq, page[-1].id)
        held.keep(batch)
        self._held_at = (ledger.recorder, last_seq, batch.erased)
        return len(page), last_seq

    def _load_states(self, conn: Connection, image_ids: list[str]) -> Stored:
        """(last seq, stored state) of those of `image_ids` that are images, in one query."""
        if not image_ids:
            return {}
        rows = conn.exec_driver_sql(
            self._sql.load_states, (self._sql.id_list(image_ids),)
        ).fetchall()
        states = {image_id: (seq, unpack_state(image_id, text)) for image_id, seq, text in rows}
        self.stats.loaded += len(states)
        return states

    def _write_rows(
        self, conn: Connection, images: Iterable[tuple[str, ImageState, int, str | None]]
    ) -> None:
        """rm_dataset rows of (image id, state, last seq, packed state or None), in
        chunks of DEFAULT_BATCH (memory: one chunk of rows)."""
        rows = (dataset_values(*image) for image in images)
        while chunk := list(itertools.islice(rows, DEFAULT_BATCH)):
            self._sql.write(conn, self._sql.upsert_dataset, chunk)

    def _write_audit(self, conn: Connection, batch: Batch) -> None:
        """`trail_rows` of the batch, completed with what it cannot see from inside the
        batch: the roles of actors enrolled earlier, the diagnosis of a vote superseded
        earlier (both looked up in what earlier batches stored)."""
        rows = trail_rows(batch.entries)
        assert len(rows) == len(batch.entries)  # no filter given: one row per event
        envs = [env for _, env in batch.entries]
        if batch.need_roles:
            roles = dict(lookup(conn, ROLES, {envs[i].actor for i in batch.need_roles}))
            for i in batch.need_roles:
                rows[i]["role"] = roles.get(envs[i].actor, "")
        if batch.need_votes:
            # The superseded vote is the voter's earlier vote on the same image, so the
            # image's state holds it (event ids are unique in a log that verifies); only
            # a vote found nowhere there is looked up in earlier batches' rows, in seq
            # order, so the newest under an id wins as it does in trail_rows.
            missing: dict[int, str] = {}
            for i in batch.need_votes:
                wanted = envs[i].payload["supersedes"]
                state = batch.states.get(envs[i].stream_id)
                found = [v.diagnosis for eid, v in state.votes if eid == wanted] if state else []
                if found:
                    rows[i]["old_value"] = found[-1]
                else:
                    missing[i] = wanted
            if missing:
                earlier = dict(lookup(conn, VOTES, set(missing.values())))
                for i, wanted in missing.items():
                    rows[i]["old_value"] = earlier.get(wanted)
        dumps = json.dumps
        self._sql.write(
            conn,
            self._sql.upsert_audit,
            [
                (
                    r["seq"],
                    env.event_id,
                    r["recorded_at"],
                    r["actor"],
                    r["role"],
                    r["meaning"],
                    r["type"],
                    r["stream"],
                    r["image_id"],
                    r["field"],
                    None if r["old_value"] is None else dumps(r["old_value"]),
                    None if r["new_value"] is None else dumps(r["new_value"]),
                    r["reason"],
                )
                for r, env in zip(rows, envs, strict=True)
            ],
        )
        self._sql.write(
            conn,
            self._sql.upsert_actors,
            [(e["actor"], e["roles"], e["enrolled_seq"]) for e in batch.enrolments.values()],
        )

    # ------------------------------------------------------------------- reads

    def position(self) -> tuple[int, int]:
        """(last seq, last notification position) applied; (0, 0) when empty."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.tracking.c.last_seq, t.tracking.c.last_position).where(
                    t.tracking.c.projection == PROJECTION
                )
            ).one_or_none()
        return (0, 0) if row is None else (row.last_seq, row.last_position)

    def dataset_rows(self) -> list[dict[str, Any]]:
        """Every image's row, sorted by image id."""
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(t.dataset))]
        return sorted(rows, key=lambda r: r["image_id"])

    def audit_rows(
        self,
        *,
        image: str | None = None,
        actor: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        """Audit rows in seq order, shaped and filtered as `trail_rows` does (times are
        the log's canonical UTC strings, bounds inclusive)."""
        table = t.audit_trail
        query = select(*(table.c[name] for name in TRAIL_COLUMNS)).order_by(table.c.seq)
        conditions: list[ColumnElement[bool]] = []
        if image:
            conditions.append(table.c.image_id == image)
        if actor:
            conditions.append(table.c.actor == actor)
        if since:
            conditions.append(table.c.recorded_at >= since)
        if until:
            conditions.append(table.c.recorded_at <= until)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.where(*conditions))]

    def duplicate_clusters(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(t.duplicate_clusters))]
        return sorted(rows, key=lambda r: (r["cluster_id"], r["image_id"]))

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows as tuples, sorted by primary key (for equality tests)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as conn:
            for name, (table, key) in t.TABLES.items():
                index = [list(table.c.keys()).index(k) for k in key]
                rows = [tuple(r) for r in conn.execute(select(table))]
                out[name] = sorted(rows, key=lambda r, i=index: tuple(r[j] for j in i))
        return out
