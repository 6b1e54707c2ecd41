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
applied: nothing ever re-reads an event stream, and memory is bounded by the batch
size, not by the log or the number of images.

The bulk writes bypass SQLAlchemy's per-row parameter processing, which cost more
than the database's insert: plain tuples to the driver's `executemany` on SQLite, COPY
into a temporary table and one upsert from it on PostgreSQL (`_Statements`). On a
rebuild the secondary indexes, which only auditors' queries read, are created once at
the end instead of being kept up row by row (`catch_up` creates any that are missing,
so an interrupted rebuild heals on the next catch-up). `bench/bench_rebuild.py`
measures a rebuild beside merely reading and decoding the same log.
"""

from __future__ import annotations

import functools
import gc
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Index,
    Table,
    bindparam,
    create_engine,
    event,
    exists,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import ColumnElement

from dermledger.ledger.bootstrap import Settings, ensure_postgres_schema, eventsourcing_env
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.ledger.store import decode
from dermledger.policies import confirmation
from dermledger.projections import readmodel_tables as t
from dermledger.projections.audit_trail import trail_rows
from dermledger.study.state import ImageState, Suspicion, apply_image_event

PROJECTION = "dermledger-readmodel"
READMODEL_FILE = "readmodel.sqlite"
DEFAULT_BATCH = 5000  # events a transaction: memory is about this many envelopes and states
IN_CHUNK = 500  # bound the parameters of one `IN (...)` lookup

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


@dataclass
class _Batch:
    """One batch's events folded: touched images as of the batch's end, the duplicate
    edges, and what the audit rows need from earlier batches."""

    entries: list[tuple[int, Envelope]]
    states: dict[str, ImageState] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (image, duplicate_of)
    suspects: set[str] = field(default_factory=set)  # images whose suspicions changed
    enrolments: dict[str, dict[str, Any]] = field(default_factory=dict)  # actor -> row
    votes: set[str] = field(default_factory=set)  # event ids of the batch's votes so far
    need_roles: list[int] = field(default_factory=list)  # rows whose role is earlier
    need_votes: list[int] = field(default_factory=list)  # rows superseding an earlier vote


# One handler per event type for the read model's own bookkeeping (the image fold and
# the audit rows themselves come from ledger.state and audit_trail). Each gets the
# batch, the event's index in it, its seq and the envelope, in log order.
Handler = Callable[[_Batch, int, int, Envelope], None]


def _on_actor_enrolled(batch: _Batch, i: int, seq: int, env: Envelope) -> None:
    actor = env.payload["actor"]
    batch.enrolments[actor] = {
        "actor": actor,
        "roles": ", ".join(env.payload["roles"]),
        "enrolled_seq": seq,
    }


def _on_vote_cast(batch: _Batch, i: int, seq: int, env: Envelope) -> None:
    supersedes = env.payload.get("supersedes")
    if supersedes and supersedes not in batch.votes:
        batch.need_votes.append(i)
    batch.votes.add(env.event_id)


def _on_duplicate_suspected(batch: _Batch, i: int, seq: int, env: Envelope) -> None:
    if env.stream_id in batch.states:  # an edge of an image's stream, as the fold saw it
        batch.edges.append((env.stream_id, str(env.payload["duplicate_of"])))
        batch.suspects.add(env.stream_id)


def _on_duplicate_resolved(batch: _Batch, i: int, seq: int, env: Envelope) -> None:
    if env.stream_id in batch.states:
        batch.suspects.add(env.stream_id)


HANDLERS: dict[str, Handler] = {
    "ActorEnrolled": _on_actor_enrolled,
    "ConsensusVoteCast": _on_vote_cast,
    "DuplicateSuspected": _on_duplicate_suspected,
    "DuplicateResolved": _on_duplicate_resolved,
}


class ReadModel:
    """The read-model tables of one ledger location (see the module docstring).

    Raises Conflict from `catch_up` when the stored tables were filled from another
    ledger or by another table version: `rebuild` them.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = CatchUpStats()
        ensure_postgres_schema(settings)  # the ledger makes it too; either may come first
        self._base, self.engine = _engine(settings)
        # Writes begin IMMEDIATE on SQLite (see _engine): the batch owns the file's lock.
        self._writer = self.engine.execution_options(readmodel_write=True)
        self._sql = _Statements(self.engine.dialect.name, eventsourcing_env(settings))
        with self._writer.begin() as conn:
            t.metadata.create_all(conn)
            _ensure_tracking(conn)

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
        ledger_id = _ledger_id(ledger.kernel.recorder)
        self.stats = CatchUpStats()
        with _collector_paused():
            self._catch_up(ledger, ledger_id, batch_size, progress)
        with self._writer.begin() as conn:
            for index in DEFERRED_INDEXES:
                index.create(conn, checkfirst=True)
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

    def rebuild(
        self, ledger: LedgerSource, batch_size: int = DEFAULT_BATCH, progress: Progress = None
    ) -> int:
        """Drop and recreate the tables (one transaction), then catch up from seq 1."""
        with self._writer.begin() as conn:
            t.metadata.drop_all(conn)
            t.metadata.create_all(conn)
            for index in DEFERRED_INDEXES:
                index.drop(conn)
            _ensure_tracking(conn)
        return self.catch_up(ledger, batch_size, progress)

    def _apply_batch(
        self, ledger: LedgerSource, ledger_id: str | None, batch_size: int
    ) -> tuple[int, int]:
        with self._writer.begin() as conn:
            mark = _lock_tracking(conn, ledger_id)
            page = ledger.kernel.recorder.select_notifications(
                start=mark.last_position or None,
                limit=batch_size,
                inclusive_of_start=not mark.last_position,
            )
            if not page:
                return 0, mark.last_seq
            # Positions commit in order (eventsourcing serialises inserts), so nothing can
            # later appear before a position already read; seq stays dense even where
            # notification ids have gaps.
            batch = _Batch(
                [(seq, decode(n.state)) for seq, n in enumerate(page, start=mark.last_seq + 1)]
            )
            self._fold(conn, batch)
            self._write_dataset(conn, batch)
            self._write_audit(conn, batch)
            _write_clusters(conn, batch)
            last_seq = mark.last_seq + len(page)
            moved = conn.execute(
                _ADVANCE,
                {
                    "expected_seq": mark.last_seq,
                    "new_ledger_id": ledger_id,
                    "new_seq": last_seq,
                    "new_position": page[-1].id,
                },
            )
            if moved.rowcount != 1:  # the lock makes this unreachable; never guess
                raise Conflict("the read model moved during a batch; run the catch-up again")
        return len(page), last_seq

    def _fold(self, conn: Connection, batch: _Batch) -> None:
        """One pass over the batch in log order: fold the images it touches (StudyView's
        rule: an event belongs to an image if it captures one or its stream is a known
        image), then the event type's handler, then note rows whose role is earlier."""
        first: dict[str, str] = {}  # stream -> type of its first event in the batch
        for _, env in batch.entries:
            first.setdefault(env.stream_id, env.type)
        stored = self._load_states(
            conn, [sid for sid, kind in first.items() if kind != "ImageCaptured"]
        )
        # image -> seq its stored state already includes: events up to it are in the
        # state (a replay after a lost tracking update) and are not folded twice
        applied = {sid: upto for sid, (upto, _) in stored.items()}
        states, last_seq, enrolments = batch.states, batch.last_seq, batch.enrolments
        for i, (seq, env) in enumerate(batch.entries):
            sid = env.stream_id
            state = states.get(sid)
            if state is None:
                if env.type == "ImageCaptured":
                    self.stats.captured += 1
                    applied.pop(sid, None)  # a fresh fold from the capture on
                elif sid in stored:
                    state = stored[sid][1]
            if state is not None and seq <= applied.get(sid, 0):
                states[sid], last_seq[sid] = state, applied[sid]
            else:
                state = apply_image_event(state, env)
                if state is not None:  # None: not an image's stream, nothing to fold
                    states[sid], last_seq[sid] = state, seq
            handler = HANDLERS.get(env.type)
            if handler:
                handler(batch, i, seq, env)
            # trail_rows shows the signer's roles at their newest enrolment so far; one
            # in an earlier batch is in rm_actors (an enrolment's own row counts itself).
            if not env.payload.get("signer_role") and env.actor not in enrolments:
                batch.need_roles.append(i)

    def _load_states(
        self, conn: Connection, image_ids: list[str]
    ) -> dict[str, tuple[int, ImageState]]:
        """(last seq, stored state) of those of `image_ids` that are images, in one query."""
        if not image_ids:
            return {}
        rows = conn.exec_driver_sql(
            self._sql.load_states, (self._sql.id_list(image_ids),)
        ).fetchall()
        states = {image_id: (seq, unpack_state(image_id, text)) for image_id, seq, text in rows}
        self.stats.loaded += len(states)
        return states

    def _write_dataset(self, conn: Connection, batch: _Batch) -> None:
        rows = [
            dataset_values(image_id, state, batch.last_seq[image_id])
            for image_id, state in batch.states.items()
        ]
        self._sql.write(conn, self._sql.upsert_dataset, rows)

    def _write_audit(self, conn: Connection, batch: _Batch) -> None:
        """`trail_rows` of the batch, completed with what it cannot see from inside the
        batch: the roles of actors enrolled earlier, the diagnosis of a vote superseded
        earlier (both looked up in what earlier batches stored)."""
        rows = trail_rows(batch.entries)
        assert len(rows) == len(batch.entries)  # no filter given: one row per event
        envs = [env for _, env in batch.entries]
        if batch.need_roles:
            roles = dict(_lookup(conn, _ROLES, {envs[i].actor for i in batch.need_roles}))
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
                earlier = dict(_lookup(conn, _VOTES, set(missing.values())))
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


TRAIL_COLUMNS = ("seq", "recorded_at", "actor", "role", "meaning", "type", "stream",
                 "image_id", "field", "old_value", "new_value", "reason")  # fmt: skip


# --------------------------------------------------------------------- the rows


@functools.lru_cache(maxsize=8192)
def _labelled(facts: confirmation.Facts) -> tuple[Any, ...]:
    """The row's columns from the verification policy, memoised: the policy is pure and
    its facts (labels and readers) take few distinct values in a study, so most images
    share a derivation."""
    v = confirmation.derive(facts)
    return (v.diagnosis, v.category, v.stage, v.diagnosis_confirm_type, v.melanocytic,
            v.consensus, v.discordant)  # fmt: skip


_META_NAMES = ("lesion_id", *t.METADATA_COLUMNS)
_meta_values = operator.itemgetter(*_META_NAMES)
_NO_META = dict.fromkeys(_META_NAMES)


def dataset_values(image_id: str, state: ImageState, last_seq: int) -> tuple[Any, ...]:
    """One image's rm_dataset row, in column order: its metadata, the verification
    policy's label, its status, and its folded state."""
    meta = state.metadata
    return (
        image_id,
        meta.get("patient_id", state.patient_id),
        *_meta_values({**_NO_META, **meta}),
        *_labelled(state.facts()),
        state.status,  # the dataset-inclusion policy, as every view asks it
        last_seq,
        pack_state(state),
    )


DATASET_COLUMNS = ("image_id", "patient_id", "lesion_id", *t.METADATA_COLUMNS, "diagnosis",
                   "category", "verification_stage", "diagnosis_confirm_type", "melanocytic",
                   "consensus", "discordant", "status", "last_seq", "fold_state")  # fmt: skip
AUDIT_COLUMNS = ("seq", "event_id", *TRAIL_COLUMNS[1:])
assert tuple(t.dataset.c.keys()) == DATASET_COLUMNS, "dataset_values follows the table"
assert tuple(t.audit_trail.c.keys()) == AUDIT_COLUMNS, "_write_audit follows the table"


def dataset_row(image_id: str, state: ImageState, last_seq: int) -> dict[str, Any]:
    """One image's dataset row as a dict (what `dataset_rows` returns for it)."""
    row = dict(zip(DATASET_COLUMNS, dataset_values(image_id, state, last_seq), strict=True))
    del row["fold_state"]
    return row


# ------------------------------------------------------------- folded states


# The states are acyclic: skipping the encoder's circularity bookkeeping saves a fifth.
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))
_SHARED_MAX = 50_000
_shared: dict[tuple[Any, ...], Any] = {}


def _shared_value(kind: type, *fields: Any) -> Any:
    """One instance per distinct frozen Label or Vote: a study has few (readers times
    labels), building them again for every image cost more than the JSON, and frozen
    values are safe to share. Bounded: cleared when it grows past _SHARED_MAX."""
    key = (kind, *fields)
    value = _shared.get(key)
    if value is None:
        if len(_shared) >= _SHARED_MAX:
            _shared.clear()
        value = _shared[key] = kind(*fields)
    return value


def _label(label: confirmation.Label | None) -> list[str] | None:
    return None if label is None else [label.actor, label.diagnosis, label.category]


def pack_state(state: ImageState) -> str:
    """An image's folded state as compact JSON: every field `apply_image_event` and the
    rows read, without the event list and the capture payload beyond the patient
    (the rows never read them; the log keeps them)."""
    return _ENCODER.encode(
        [
            state.captured_at,
            state.captured_by,
            state.patient_id,
            state.metadata,
            [[s.duplicate_of, s.kind, s.distance, s.outcome, s.reason] for s in state.suspicions],
            state.excluded,
            state.exclusion_reason,
            _label(state.annotation),
            state.structures,
            [[eid, v.actor, v.diagnosis, v.category, v.superseded] for eid, v in state.votes],
            _label(state.histology),
            state.further_readers_ordered,
            state.histology_ordered,
        ]
    )


def unpack_state(image_id: str, text: str) -> ImageState:
    """The inverse of `pack_state` (with an empty event list)."""
    (at, by, patient, metadata, suspicions, excluded, reason, annotation, structures, votes,
     histology, further, ordered) = json.loads(text)  # fmt: skip
    return ImageState(
        image_id=image_id,
        captured={"patient_id": patient},
        captured_at=at,
        captured_by=by,
        metadata=metadata,
        suspicions=[Suspicion(*s) for s in suspicions],
        excluded=excluded,
        exclusion_reason=reason,
        annotation=None if annotation is None else _shared_value(confirmation.Label, *annotation),
        structures=structures,
        votes=[(eid, _shared_value(confirmation.Vote, a, d, c, u)) for eid, a, d, c, u in votes],
        histology=None if histology is None else _shared_value(confirmation.Label, *histology),
        further_readers_ordered=further,
        histology_ordered=ordered,
    )


def _write_clusters(conn: Connection, batch: _Batch) -> None:
    """Merge the batch's DuplicateSuspected edges into the stored components.

    Components only ever merge (an edge stays an edge once resolved), so a union-find
    over the touched images and the ids of their stored clusters is enough. Each root
    is its component's smallest id: an old cluster id is its smallest image id.
    """
    suspects = {s for s in batch.suspects if batch.states[s].suspicions}
    nodes = {image for edge in batch.edges for image in edge} | suspects
    if not nodes:
        return
    stored: dict[str, str] = dict(_lookup(conn, _CLUSTERS_OF, nodes))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            parent[high] = low

    for image, cluster in stored.items():
        union(image, cluster)
    for a, b in batch.edges:
        union(a, b)
    moved = [
        {"old_cluster": old, "new_cluster": find(old)}
        for old in sorted(set(stored.values()))
        if find(old) != old
    ]
    if moved:
        conn.execute(_MOVE_CLUSTER, moved)
    new = [
        {"image_id": n, "cluster_id": find(n), "open_suspicions": 0, "resolved": False}
        for n in sorted(nodes - stored.keys())
    ]
    _upsert(conn, t.duplicate_clusters, new, "image_id")
    if suspects:
        counts = [{"image": i, "open": len(batch.states[i].unresolved)} for i in sorted(suspects)]
        conn.execute(_SET_OPEN, counts)
    for chunk in _chunks(sorted({find(n) for n in nodes})):
        conn.execute(_SET_RESOLVED, {"ids": list(chunk)})


# --------------------------------------------------- statements, built once
# Prepared at import with bound parameters: building a statement costs more than running
# it on a one-event batch, and a reused statement hits SQLAlchemy's compiled cache.


def _in(column: Any) -> Any:
    return column.in_(bindparam("ids", expanding=True))


_tracked = t.tracking.c.projection == PROJECTION
_LOCK = select(t.tracking).where(_tracked).with_for_update()  # SQLite renders no FOR UPDATE
_ADVANCE = (
    update(t.tracking)
    .where(_tracked, t.tracking.c.last_seq == bindparam("expected_seq"))
    .values(
        ledger_id=bindparam("new_ledger_id"),
        last_seq=bindparam("new_seq"),
        last_position=bindparam("new_position"),
    )
)
_ROLES = select(t.actors.c.actor, t.actors.c.roles).where(_in(t.actors.c.actor))
_VOTES = (
    select(t.audit_trail.c.event_id, t.audit_trail.c.new_value)
    .where(t.audit_trail.c.type == "ConsensusVoteCast", _in(t.audit_trail.c.event_id))
    .order_by(t.audit_trail.c.seq)
)
_dc, _other = t.duplicate_clusters, t.duplicate_clusters.alias("other")
_CLUSTERS_OF = select(_dc.c.image_id, _dc.c.cluster_id).where(_in(_dc.c.image_id))
_MOVE_CLUSTER = (
    update(_dc)
    .where(_dc.c.cluster_id == bindparam("old_cluster"))
    .values(cluster_id=bindparam("new_cluster"))
)
_SET_OPEN = (
    update(_dc)
    .where(_dc.c.image_id == bindparam("image"))
    .values(open_suspicions=bindparam("open"))
)
_SET_RESOLVED = (
    update(_dc)
    .where(_in(_dc.c.cluster_id))
    .values(
        resolved=~exists().where(
            _other.c.cluster_id == _dc.c.cluster_id, _other.c.open_suspicions > 0
        )
    )
)


# ------------------------------------------------------------------ plumbing


@dataclass(frozen=True)
class _Mark:
    last_seq: int
    last_position: int


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while batches run: a batch allocates tens of
    thousands of acyclic dicts and lists (freed by reference counting when it ends),
    and the collector's passes over them cost a sixth of a rebuild."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _ensure_tracking(conn: Connection) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(t.tracking)
        .values(
            projection=PROJECTION,
            schema_version=t.SCHEMA_VERSION,
            ledger_id=None,
            last_seq=0,
            last_position=0,
        )
        .on_conflict_do_nothing(index_elements=["projection"])
    )


def _lock_tracking(conn: Connection, ledger_id: str | None) -> _Mark:
    """Lock and read the tracking row (SQLite: the IMMEDIATE transaction already holds
    the file's write lock); refuse tables of another ledger or table version."""
    row = conn.execute(_LOCK).one_or_none()
    if row is None:
        raise Conflict("the read model has no tracking row; rebuild it")
    if row.schema_version != t.SCHEMA_VERSION:
        raise Conflict(
            f"the read model has table version {row.schema_version}, this software "
            f"{t.SCHEMA_VERSION}; rebuild it"
        )
    if row.ledger_id is not None and row.ledger_id != ledger_id:
        raise Conflict("the read model was filled from another ledger; rebuild it")
    return _Mark(row.last_seq, row.last_position)


def _ledger_id(recorder: ApplicationRecorder) -> str | None:
    """The ledger id in the founding enrolment (None for an empty log)."""
    first = recorder.select_notifications(start=None, limit=1)
    if not first:
        return None
    return str(decode(first[0].state).payload.get("ledger_id") or "") or None


def _lookup(conn: Connection, query: Any, ids: Iterable[str]) -> Iterator[Any]:
    """Rows of a prepared query with an expanding `ids` parameter, in chunks."""
    for chunk in _chunks(sorted(ids)):
        result = conn.execute(query, {"ids": list(chunk)})
        yield from (result.scalars() if len(query.selected_columns) == 1 else result)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _upsert(
    conn: Connection, table: Table, rows: list[dict[str, Any]], key: str, *, newer: str = ""
) -> None:
    """Insert or replace rows by `key`; with `newer`, a stored row is only replaced by
    one whose `newer` column is at least as large (replaying old events never regresses)."""
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name, table, key, newer), rows)


@functools.cache
def _upsert_statement(dialect: str, table: Table, key: str, newer: str) -> Any:
    # Built once: constructing an ON CONFLICT statement costs more than running it on a
    # small batch, and a reused statement also hits SQLAlchemy's compiled cache.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[key],
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != key},
        where=(table.c[newer] <= stmt.excluded[newer]) if newer else None,
    )


class _Statements:
    """The batch's bulk statements as driver SQL for one dialect, built once.

    Both dialects upsert with `INSERT ... ON CONFLICT DO UPDATE` and differ only in the
    schema prefix (PostgreSQL: the ledger's schema, which `schema_translate_map` adds
    for SQLAlchemy statements), the placeholder, and how rows reach the statement:
    SQLite's driver binds each row of an `executemany` in C; psycopg's pipelined
    `executemany` spent more on each row than the server did, so on PostgreSQL a
    batch's rows are COPYed into a temporary table (emptied at commit) and upserted
    from it in one statement.
    """

    def __init__(self, dialect: str, env: dict[str, str]) -> None:
        self.postgres = dialect == "postgresql"
        schema = env.get("POSTGRES_SCHEMA") if self.postgres else None
        self.prefix = f'"{schema}".' if schema else ""
        self.mark = "%s" if self.postgres else "?"
        if self.postgres:
            ids = f"= ANY({self.mark})"
        else:  # one JSON array parameter instead of a placeholder per id
            ids = f"IN (SELECT value FROM json_each({self.mark}))"
        self.load_states = (
            f"SELECT image_id, last_seq, fold_state FROM {self.prefix}rm_dataset "
            f"WHERE image_id {ids}"
        )
        self.upsert_dataset = self.upsert(t.dataset, "image_id", "last_seq")
        self.upsert_audit = self.upsert(t.audit_trail, "seq", "")
        self.upsert_actors = self.upsert(t.actors, "actor", "enrolled_seq")
        self._tables = {
            self.upsert_dataset: t.dataset,
            self.upsert_audit: t.audit_trail,
            self.upsert_actors: t.actors,
        }

    def id_list(self, ids: list[str]) -> Any:
        return ids if self.postgres else json.dumps(ids)

    def write(self, conn: Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Run an upsert of this class over `rows` (tuples in table column order)."""
        if not rows:
            return
        if not self.postgres:
            conn.exec_driver_sql(statement, rows)
            return
        table = self._tables[statement]
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS stage_{table.name} "
            f"(LIKE {self.prefix}{table.name}) ON COMMIT DELETE ROWS"
        )
        raw: Any = conn.connection.driver_connection  # psycopg's, in this transaction
        stage = f"COPY stage_{table.name} FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(stage) as copy:
            for row in rows:
                copy.write_row(row)
        conn.exec_driver_sql(statement)

    def upsert(self, table: Table, key: str, newer: str) -> str:
        """Insert or replace rows by `key`, every column in table order; with `newer`, a
        stored row is only replaced by one whose `newer` column is at least as large
        (replaying old events never regresses a row). A batch never holds one key twice
        (rows are keyed by image, seq and actor), as one PostgreSQL statement requires."""
        columns = list(table.c.keys())
        names = ", ".join(columns)
        if self.postgres:
            source = f"SELECT {names} FROM stage_{table.name}"
        else:
            source = f"VALUES ({', '.join([self.mark] * len(table.c))})"
        changes = ", ".join(f"{n} = excluded.{n}" for n in columns if n != key)
        where = f" WHERE target.{newer} <= excluded.{newer}" if newer else ""
        return (
            f"INSERT INTO {self.prefix}{table.name} AS target ({names}) "
            f"{source} ON CONFLICT ({key}) DO UPDATE SET {changes}{where}"
        )


def _engine(settings: Settings) -> tuple[Engine, Engine]:
    """SQLite: `<home>/readmodel.sqlite` in WAL mode, writes BEGIN IMMEDIATE so a batch
    holds the lock from its first read. PostgreSQL: the ledger's database and schema."""
    if settings.db_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{settings.home / READMODEL_FILE}")

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below
            # cache_size: 32 MiB of pages (the default 2 MiB thrashes on the B-trees of a
            # large rebuild); wal_autocheckpoint: a checkpoint (and its fsync) every 32 MiB
            # of WAL instead of 4 (a rebuild's batches each write several): both bounded
            # whatever the log's size (about 9% of a 100k rebuild, alternating runs here).
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                           "cache_size=-32768", "wal_autocheckpoint=8192"):  # fmt: skip
                dbapi_connection.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("readmodel_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine, engine
    env = eventsourcing_env(settings)
    url = URL.create(
        "postgresql+psycopg",
        username=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        database=env["POSTGRES_DBNAME"],
    )
    engine = create_engine(url, pool_size=2, max_overflow=2)
    schema = env.get("POSTGRES_SCHEMA")
    if not schema:
        return engine, engine
    return engine, engine.execution_options(schema_translate_map={None: schema})
