"""SQL of the read model: statements built once, bulk writes per backend, tracking locks,
and the duplicate clusters merged by union-find.
"""

from __future__ import annotations

import functools
import gc
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import ApplicationRecorder
from sqlalchemy import (
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
from sqlalchemy.exc import DatabaseError

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.errors import Conflict, DermLedgerError
from dermledger.ledger.store import decode
from dermledger.projections import readmodel_tables as t
from dermledger.study.state import ImageState

PROJECTION = "dermledger-readmodel"
READMODEL_FILE = "readmodel.sqlite"
IN_CHUNK = 500  # bound the parameters of one `IN (...)` lookup


def write_clusters(
    conn: Connection,
    edges: Iterable[tuple[str, str]],
    suspects: Iterable[str],
    states: dict[str, ImageState],
) -> None:
    """Merge a batch's DuplicateSuspected edges into the stored components.

    Components only ever merge (an edge stays an edge once resolved), so a union-find
    over the touched images and the ids of their stored clusters is enough. Each root
    is its component's smallest id: an old cluster id is its smallest image id.
    """
    edges = list(edges)
    suspects = {s for s in suspects if states[s].suspicions}
    nodes = {image for edge in edges for image in edge} | suspects
    if not nodes:
        return
    stored: dict[str, str] = dict(lookup(conn, _CLUSTERS_OF, nodes))
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
    for a, b in edges:
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
        counts = [{"image": i, "open": len(states[i].unresolved)} for i in sorted(suspects)]
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
ADVANCE = (
    update(t.tracking)
    .where(_tracked, t.tracking.c.last_seq == bindparam("expected_seq"))
    .values(
        ledger_id=bindparam("new_ledger_id"),
        last_seq=bindparam("new_seq"),
        last_position=bindparam("new_position"),
    )
)
ROLES = select(t.actors.c.actor, t.actors.c.roles).where(_in(t.actors.c.actor))
VOTES = (
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
def collector_paused() -> Iterator[None]:
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


def ensure_tracking(conn: Connection) -> None:
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


def lock_tracking(conn: Connection, ledger_id: str | None) -> _Mark:
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


def tracked_ledger_id(recorder: ApplicationRecorder) -> str | None:
    """The ledger id in the founding enrolment (None for an empty log)."""
    first = recorder.select_notifications(start=None, limit=1)
    if not first:
        return None
    return str(decode(first[0].state).payload.get("ledger_id") or "") or None


def lookup(conn: Connection, query: Any, ids: Iterable[str]) -> Iterator[Any]:
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


class Statements:
    """The batch's bulk statements as driver SQL for one dialect, built once.

    Both dialects upsert with `INSERT ... ON CONFLICT DO UPDATE` and differ only in the
    schema prefix (PostgreSQL: the ledger's schema, which `schema_translate_map` adds
    for SQLAlchemy statements), the placeholder, and how rows reach the statement:
    SQLite's driver binds each row of an `executemany` in C; psycopg's pipelined
    `executemany` spent more on each row than the server did, so on PostgreSQL a
    batch's rows are COPYed into a temporary table (emptied at commit) and upserted
    from it in one statement.
    """

    def __init__(self, dialect: str, schema: str | None) -> None:
        self.postgres = dialect == "postgresql"
        schema = schema if self.postgres else None
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


def engine(settings: Settings) -> tuple[Engine, Engine]:
    """SQLite: `<home>/readmodel.sqlite` in WAL mode, writes BEGIN IMMEDIATE so a batch
    holds the lock from its first read. PostgreSQL: the ledger's database and schema."""
    if settings.database is None:
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
    database = settings.database
    engine = create_engine(database.sqlalchemy_url(), pool_size=2, max_overflow=2)
    if not database.schema:
        return engine, engine
    return engine, engine.execution_options(schema_translate_map={None: database.schema})


RESET = (
    "delete it (with any -wal and -shm file beside it; it holds nothing the log does not) "
    "and run the command again: readmodel update rebuilds it"
)


class ReadModelDamaged(DermLedgerError):
    """The SQLite read-model file is not a database or its pages are corrupt. It holds
    nothing the log does not: deleting it is the reset, the next update rebuilds it."""

    def __init__(self, path: str, reset: str = "") -> None:
        said = f"the read model {path} is damaged (not a readable SQLite database)"
        super().__init__(f"{said}; {reset or RESET}")
        self.path = path


@contextmanager
def damaged_readmodel(settings: Settings) -> Iterator[None]:
    """Turn SQLite's "not a database" / "malformed" errors from the read-model file into
    ReadModelDamaged; a locked or busy file (OperationalError) is not damage."""
    try:
        yield
    except DatabaseError as exc:
        orig = exc.orig
        damaged = isinstance(orig, sqlite3.DatabaseError) and not isinstance(
            orig, sqlite3.OperationalError
        )
        if settings.database is None and damaged:
            raise ReadModelDamaged(str(settings.home / READMODEL_FILE)) from exc
        raise
