"""Persistent read models, kept up to date from the global log exactly once.

`ReadModel(settings)` keeps the tables of `readmodel_tables` (dataset, audit trail,
duplicate clusters) beside the events: on PostgreSQL in the ledger's own schema, on
SQLite in `<home>/readmodel.sqlite`, a file of its own so that filling it never holds
the lock writers of `ledger.sqlite` wait for, and deleting it is a clean reset.

`catch_up` reads the log after the tracked position in batches. Each batch is one
transaction that first locks the tracking row, then upserts the rows the batch changes
(keyed by image id, seq, actor) and moves the tracking position: rows and position
commit together or not at all, so every event is applied exactly once, and two
catch-ups running at once take turns instead of applying a batch twice. The upserts
are idempotent as well (a row is only replaced by one from the same or a later seq).

Rows come from the existing folds and policies, never from rules of their own:
images are folded with `ledger.state.apply_image_event` and labelled with
`ImageState.verification()`; audit rows are `audit_trail.trail_rows` of the batch,
completed with what earlier batches recorded (an actor's roles, a superseded vote).

Per-image state: within a batch every touched image's state is held in memory; across
batches a bounded LRU cache (`state_cache` images) keeps recent states, and an image
not in it is reloaded from its own stream (`ledger.stream(image_id)`), folded up to
just before the batch's first event of it. A cached state is used only if it ends at
the version right before that event, so a stale cache can cost a reload, never a wrong
row. Cached states are kept without what the rows never read (the event list, the
capture payload beyond the patient): about 3 KiB an image instead of about 18, so the
default of 10,000 holds a large study whole. `bench/bench_rebuild.py` measures the
cache against reloading (`state_cache=0`): a rebuild reloads an image at most once per
batch it reappears in, so beyond the cache size a study-ordered log degrades towards
the reload rate, never below it. Memory is bounded by the batch size and the cache
size, not by the log.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder
from sqlalchemy import (
    URL,
    Connection,
    Engine,
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
from dermledger.ledger.state import ImageState, apply_image_event, fold_image
from dermledger.ledger.store import LogEntry, decode
from dermledger.projections import readmodel_tables as t
from dermledger.projections.audit_trail import trail_rows

PROJECTION = "dermledger-readmodel"
READMODEL_FILE = "readmodel.sqlite"
DEFAULT_BATCH = 1000
DEFAULT_STATE_CACHE = 10_000
IN_CHUNK = 500  # bound the parameters of one `IN (...)` lookup

Progress = Callable[[int], None] | None


class LedgerSource(Protocol):
    """What the read model needs of a ledger (`DermLedger` has it): its recorder, to
    read the log after a position, and one stream's events, to reload an image."""

    @property
    def recorder(self) -> ApplicationRecorder: ...

    def stream(self, stream_id: str) -> list[Envelope]: ...


@dataclass
class CatchUpStats:
    """How the per-image states of the last catch-up or rebuild were obtained."""

    events: int = 0
    batches: int = 0
    captured: int = 0  # states begun by an ImageCaptured in the batch
    cache_hits: int = 0
    reloads: int = 0  # states folded again from the image's own stream


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

    def __init__(self, settings: Settings, *, state_cache: int = DEFAULT_STATE_CACHE) -> None:
        if state_cache < 0:
            raise InvalidInput("the state cache size cannot be negative")
        self.settings = settings
        self.state_cache = state_cache
        self.stats = CatchUpStats()
        ensure_postgres_schema(settings)  # the ledger makes it too; either may come first
        self._base, self.engine = _engine(settings)
        # Writes begin IMMEDIATE on SQLite (see _engine): the batch owns the file's lock.
        self._writer = self.engine.execution_options(readmodel_write=True)
        # image id -> (stream version the state ends at, compact state)
        self._states: OrderedDict[str, tuple[int, ImageState]] = OrderedDict()
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
        ledger_id = _ledger_id(ledger.recorder)
        self.stats = CatchUpStats()
        while True:
            count, seq = self._apply_batch(ledger, ledger_id, batch_size)
            self.stats.events += count
            if count == 0:
                return self.stats.events
            self.stats.batches += 1
            if progress:
                progress(seq)
            if count < batch_size:
                return self.stats.events

    def rebuild(
        self, ledger: LedgerSource, batch_size: int = DEFAULT_BATCH, progress: Progress = None
    ) -> int:
        """Drop and recreate the tables (one transaction), then catch up from seq 1."""
        self._states.clear()
        with self._writer.begin() as conn:
            t.metadata.drop_all(conn)
            t.metadata.create_all(conn)
            _ensure_tracking(conn)
        return self.catch_up(ledger, batch_size, progress)

    def _apply_batch(
        self, ledger: LedgerSource, ledger_id: str | None, batch_size: int
    ) -> tuple[int, int]:
        try:
            with self._writer.begin() as conn:
                mark = _lock_tracking(conn, ledger_id)
                page = _read_after(ledger.recorder, mark.last_position, mark.last_seq, batch_size)
                if not page:
                    return 0, mark.last_seq
                batch = _Batch([(entry.seq, entry.envelope()) for entry in page])
                self._fold(conn, ledger, batch)
                _write_dataset(conn, batch)
                _write_audit(conn, batch)
                _write_clusters(conn, batch)
                moved = conn.execute(
                    _ADVANCE,
                    {
                        "expected_seq": mark.last_seq,
                        "new_ledger_id": ledger_id,
                        "new_seq": page[-1].seq,
                        "new_position": page[-1].position,
                    },
                )
                if moved.rowcount != 1:  # the lock makes this unreachable; never guess
                    raise Conflict("the read model moved during a batch; run the catch-up again")
        except BaseException:
            self._states.clear()  # states may hold events of the rolled-back batch
            raise
        self._remember(batch.states)
        return len(page), page[-1].seq

    def _fold(self, conn: Connection, ledger: LedgerSource, batch: _Batch) -> None:
        """One pass over the batch in log order: fold the images it touches (StudyView's
        rule: an event belongs to an image if it captures one or its stream is a known
        image), then the event type's handler, then note rows whose role is earlier."""
        unknown = {
            env.stream_id
            for _, env in batch.entries
            if env.type != "ImageCaptured" and env.stream_id not in self._states
        }
        known = set(_lookup(conn, _KNOWN_IMAGES, unknown))
        for i, (seq, env) in enumerate(batch.entries):
            self._fold_image(ledger, batch, seq, env, known)
            handler = HANDLERS.get(env.type)
            if handler:
                handler(batch, i, seq, env)
            # trail_rows shows the signer's roles at their newest enrolment so far; one
            # in an earlier batch is in rm_actors (an enrolment's own row counts itself).
            if not env.payload.get("signer_role") and env.actor not in batch.enrolments:
                batch.need_roles.append(i)

    def _fold_image(
        self, ledger: LedgerSource, batch: _Batch, seq: int, env: Envelope, known: set[str]
    ) -> None:
        sid = env.stream_id
        state = batch.states.get(sid)
        if state is None:
            if env.type == "ImageCaptured":
                self.stats.captured += 1
            elif sid in known or sid in self._states:
                state = self._state_before(ledger, sid, env.stream_version)
            else:
                return  # not an image's stream
        state = apply_image_event(state, env)
        if state is not None:
            batch.states[sid], batch.last_seq[sid] = state, seq

    def _state_before(self, ledger: LedgerSource, image_id: str, version: int) -> ImageState | None:
        """The image's state just before its event `version`: cached, or its stream."""
        cached = self._states.get(image_id)
        if cached is not None and cached[0] == version - 1:
            self.stats.cache_hits += 1
            return cached[1]
        self.stats.reloads += 1
        return fold_image([e for e in ledger.stream(image_id) if e.stream_version < version])

    def _remember(self, states: dict[str, ImageState]) -> None:
        if not self.state_cache:
            return
        for image_id, state in states.items():
            # Every touched state took an event in this batch, so `events` is not empty.
            compact = replace(
                state, events=[], captured={"patient_id": state.captured["patient_id"]}
            )
            self._states[image_id] = (state.events[-1].stream_version, compact)
            self._states.move_to_end(image_id)
        while len(self._states) > self.state_cache:
            self._states.popitem(last=False)

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


def dataset_row(image_id: str, state: ImageState, last_seq: int) -> dict[str, Any]:
    """One image's dataset row: its metadata and the verification policy's label."""
    v = state.verification()
    meta = state.metadata
    return {
        "image_id": image_id,
        "patient_id": meta.get("patient_id", state.patient_id),
        "lesion_id": meta.get("lesion_id"),
        **{name: meta.get(name) for name in t.METADATA_COLUMNS},
        "diagnosis": v.diagnosis,
        "category": v.category,
        "verification_stage": v.stage,
        "diagnosis_confirm_type": v.diagnosis_confirm_type,
        "melanocytic": v.melanocytic,
        "consensus": v.consensus,
        "discordant": v.discordant,
        # The status rule of ledger.capture_service.image_summary, which this layer may
        # not import (it would pull in the service); the tests hold the two equal.
        "status": "excluded"
        if state.excluded
        else ("duplicate-suspected" if state.unresolved else "included"),
        "last_seq": last_seq,
    }


def _write_dataset(conn: Connection, batch: _Batch) -> None:
    rows = [
        dataset_row(image_id, state, batch.last_seq[image_id])
        for image_id, state in batch.states.items()
    ]
    _upsert(conn, t.dataset, rows, "image_id", newer="last_seq")


def _write_audit(conn: Connection, batch: _Batch) -> None:
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
        # event id -> that vote's diagnosis; in seq order, so the newest under an id wins
        # as it does in trail_rows
        wanted = {envs[i].payload["supersedes"] for i in batch.need_votes}
        earlier = dict(_lookup(conn, _VOTES, wanted))
        for i in batch.need_votes:
            rows[i]["old_value"] = earlier.get(envs[i].payload["supersedes"])
    for row, env in zip(rows, envs, strict=True):
        row["event_id"] = env.event_id
    _upsert(conn, t.audit_trail, rows, "seq")
    _upsert(conn, t.actors, list(batch.enrolments.values()), "actor", newer="enrolled_seq")


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
_KNOWN_IMAGES = select(t.dataset.c.image_id).where(_in(t.dataset.c.image_id))
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


def _read_after(
    recorder: ApplicationRecorder, position: int, seq: int, limit: int
) -> list[LogEntry]:
    """Up to `limit` log entries after notification `position`, whose seq is `seq`.

    Positions commit in order (eventsourcing serialises inserts), so nothing can later
    appear before a position already read; seq stays dense even where ids have gaps.
    """
    page = recorder.select_notifications(
        start=position or None, limit=limit, inclusive_of_start=not position
    )
    return [
        LogEntry(
            seq=seq + i,
            position=n.id,
            stream_id=str(n.originator_id),
            stream_version=n.originator_version,
            topic=n.topic,
            state=n.state,
        )
        for i, n in enumerate(page, start=1)
    ]


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


def _engine(settings: Settings) -> tuple[Engine, Engine]:
    """SQLite: `<home>/readmodel.sqlite` in WAL mode, writes BEGIN IMMEDIATE so a batch
    holds the lock from its first read. PostgreSQL: the ledger's database and schema."""
    if settings.db_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{settings.home / READMODEL_FILE}")

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
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
