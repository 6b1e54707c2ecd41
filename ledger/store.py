"""The event store: signed envelopes kept by `eventsourcing`'s recorders.

`EnvelopeMapper` makes the envelope itself the stored state (JCS bytes), with the
stream id and version as originator id and version, so eventsourcing's unique
(originator_id, originator_version) key gives optimistic concurrency per stream and
its notification log gives the global order. `seq` is the 1-based rank of an event
in that order: dense even where PostgreSQL sequences leave gaps.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Mapper,
    Notification,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from pydantic import ValidationError

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import VerificationError

PAGE_SIZE = 2000


class EnvelopeMapper(Mapper[str]):
    """Maps Envelope <-> StoredEvent without re-encoding: the bytes are the contract."""

    def __init__(self) -> None:  # no transcoder, cipher or compressor: JCS is the format
        pass

    def to_stored_event(self, domain_event: object) -> StoredEvent:
        assert isinstance(domain_event, Envelope)
        return StoredEvent(
            originator_id=domain_event.stream_id,
            originator_version=domain_event.stream_version,
            topic=domain_event.type,
            state=domain_event.storage_bytes(),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Envelope:  # type: ignore[override]
        return decode(stored_event.state)


def decode(state: bytes) -> Envelope:
    """Parse stored bytes; VerificationError if they are not a well-formed envelope."""
    try:
        return Envelope.model_validate_json(state)
    except (ValidationError, ValueError) as exc:
        raise VerificationError("its stored bytes are not a well-formed envelope") from exc


class LogEntry(NamedTuple):
    """One event as read from the global log, before any verification (a named tuple:
    made once per event on every read of the log, at a fifth of a frozen dataclass's cost)."""

    seq: int
    position: int  # the recorder's notification id
    stream_id: str
    stream_version: int
    topic: str
    state: bytes

    def envelope(self) -> Envelope:
        return decode(self.state)


def read_log(recorder: ApplicationRecorder, *, page_size: int = PAGE_SIZE) -> Iterator[LogEntry]:
    """Stream the whole log in commit order, page by page (bounded memory)."""
    seq = 0
    start: int | None = None
    while True:
        page = recorder.select_notifications(
            start=start, limit=page_size, inclusive_of_start=start is None
        )
        for notification in page:
            seq += 1
            yield LogEntry(
                seq=seq,
                position=notification.id,
                stream_id=str(notification.originator_id),
                stream_version=notification.originator_version,
                topic=notification.topic,
                state=notification.state,
            )
        if len(page) < page_size:
            return
        start = page[-1].id


SCAN_PAGE = 2000  # rows a page of `scan_log`: one short read transaction each (2.4 MB)


def scan_log(
    recorder: ApplicationRecorder, *, stop: int | None = None, page_size: int = SCAN_PAGE
) -> Iterator[LogEntry]:
    """`read_log` up to notification id `stop` (None: the end), with one plain SELECT a
    page on SQLite and PostgreSQL: rows come back as tuples, without eventsourcing's
    `Notification` objects and dict or `sqlite3.Row` rows (a third of the cost of reading
    a row). Pages keep each read transaction short, so writers are never held up; other
    stores take `read_log`'s path."""
    pages = _plain_pages(recorder, stop, page_size)
    if pages is None:
        yield from (e for e in read_log(recorder) if stop is None or e.position <= stop)
        return
    seq = 0
    make = LogEntry._make
    for page in pages:
        for row in page:
            seq += 1
            yield make((seq, *row))


def _plain_pages(
    recorder: ApplicationRecorder, stop: int | None, page_size: int
) -> Iterator[list[tuple[int, str, int, str, bytes]]] | None:
    """(id, stream, version, type, state) rows page by page, or None for other stores."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        query = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM "
            f"{recorder.events_table_name} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )

        def sqlite_page(after: int, until: int) -> list[Any]:
            with recorder.datastore.transaction(commit=False) as c:
                cursor = c.sqlite_cursor
                cursor.row_factory = None  # plain tuples, not sqlite3.Row
                return cursor.execute(query, (after, until, page_size)).fetchall()

        return _paged(sqlite_page, stop, page_size)
    postgres = sys.modules.get("eventsourcing.postgres")  # imported if the store is one
    if postgres is not None and isinstance(recorder, postgres.PostgresApplicationRecorder):
        return _paged(_postgres_pager(recorder, page_size), stop, page_size)
    return None


def _postgres_pager(recorder: Any, page_size: int) -> Any:
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    query = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}.{1} "
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))

    def page(after: int, until: int) -> list[Any]:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(query, (after, until, page_size), prepare=True)
            return cursor.fetchall()

    return page


def _paged(
    fetch: Any, stop: int | None, page_size: int
) -> Iterator[list[tuple[int, str, int, str, bytes]]]:
    until = (2**63 - 1) if stop is None else stop
    after = 0
    while True:
        page = fetch(after, until)
        if page:
            yield page
        if len(page) < page_size:
            return
        after = page[-1][0]


Head = tuple[int, str | None]  # (version, hash) of a stream's newest event; (0, None) if new


class ReadSet(dict[str, Head]):
    """What a decision read: the head of every stream it read (the first read wins: a later
    read that saw more makes the check at insert fail, as it should), and for every event
    type it scanned as a whole (`topics`) the newest notification id of that type it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.topics: dict[str, int] = {}


_reads: ContextVar[ReadSet | None] = ContextVar("dermledger_reads", default=None)


@contextmanager
def tracking_reads() -> Iterator[ReadSet]:
    """Record what `read_stream` and `read_topic_after` read inside the block: the read
    set of a decision, which must still hold when its events are inserted."""
    reads = ReadSet()
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def note_read(stream_id: str, head: Head) -> None:
    """Add a stream head the caller read some other way (a cache) to the read set."""
    reads = _reads.get()
    if reads is not None:
        reads.setdefault(stream_id, head)


def read_stream(recorder: ApplicationRecorder, stream_id: str) -> list[Envelope]:
    """All events of one stream in version order (noted in the read set, if one is kept)."""
    envelopes = [decode(s.state) for s in recorder.select_events(stream_id)]
    reads = _reads.get()
    if reads is not None:
        last = envelopes[-1] if envelopes else None
        reads.setdefault(stream_id, (last.stream_version, last.hash) if last else (0, None))
    return envelopes


def stream_version(recorder: ApplicationRecorder, stream_id: str) -> int:
    """A stream's newest version (0 if new), without decoding anything."""
    newest = recorder.select_events(stream_id, desc=True, limit=1)
    return newest[0].originator_version if newest else 0


def stream_head(recorder: ApplicationRecorder, stream_id: str) -> tuple[int, str | None]:
    """(version, hash) of a stream's newest event; (0, None) for a new stream."""
    newest = recorder.select_events(stream_id, desc=True, limit=1)
    if not newest:
        return 0, None
    return newest[0].originator_version, decode(newest[0].state).hash


def _topic_notifications(
    recorder: ApplicationRecorder, topic: str, after: int, page_size: int
) -> Iterator[Notification]:
    """The notifications of one type with an id above `after` (0: all), page by page."""
    while True:
        page = recorder.select_notifications(
            start=after, limit=page_size, topics=[topic], inclusive_of_start=False
        )
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].id


def read_topic(
    recorder: ApplicationRecorder, topic: str, *, page_size: int = PAGE_SIZE
) -> Iterator[Envelope]:
    """Every event of one type, in log order (without seq: the filter hides positions)."""
    for notification in _topic_notifications(recorder, topic, 0, page_size):
        yield decode(notification.state)


def read_topic_after(
    recorder: ApplicationRecorder, topic: str, after: int, *, page_size: int = PAGE_SIZE
) -> tuple[list[Envelope], int]:
    """The events of one type with a notification id above `after`, and the newest id of
    that type now seen (`after` if none). Noted in the read set, if one is kept: no event of
    this type may then be committed between the decision and its insert (a capture must
    not miss a duplicate committed meanwhile by another writer)."""
    found: list[Envelope] = []
    seen = after
    for notification in _topic_notifications(recorder, topic, after, page_size):
        found.append(decode(notification.state))
        seen = notification.id
    reads = _reads.get()
    if reads is not None:
        reads.topics.setdefault(topic, seen)
    return found, seen


# ----------------------------------------------------------- guarded inserts

EXPECTED = "expected_versions"  # the insert keyword: {stream id: version it must still be at}
EXPECTED_TOPICS = "expected_topics"  # {event type: newest notification id of it seen}


class StaleRead(IntegrityError):
    """A stream or event type the decision read has moved on: the append must decide
    again."""


STALE = "a stream or an event type read by the decision has moved on"


def _check_versions(expected: Mapping[str, int], found: Mapping[str, int]) -> None:
    stale = [s for s, v in expected.items() if found.get(s, 0) != v]
    if stale:
        raise StaleRead(f"streams read by the decision have moved on: {', '.join(stale)}")


def _check_topics(newer: list[str]) -> None:
    if newer:
        raise StaleRead(f"events read by the decision have newer ones: {', '.join(newer)}")


def _sqlite_guard(table: str, expected: Mapping[str, int], topics: Mapping[str, int]) -> str:
    """The WHERE clause that makes an insert write nothing unless the read set holds."""
    version = f"IFNULL((SELECT MAX(originator_version) FROM {table} WHERE originator_id=?),0)=?"
    newer = f"NOT EXISTS (SELECT 1 FROM {table} WHERE rowid>? AND topic=?)"
    return " AND ".join([version] * len(expected) + [newer] * len(topics))


class GuardedSQLiteRecorder(SQLiteApplicationRecorder):
    """Checks the read set inside the first insert (`INSERT ... SELECT ... WHERE`): it
    takes SQLite's write lock, so no other writer can commit between the check and the
    commit, and an unmet read set inserts nothing (no statement of its own)."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        expected: Mapping[str, int] = kwargs.get(EXPECTED) or {}
        topics: Mapping[str, int] = kwargs.get(EXPECTED_TOPICS) or {}
        if not (expected or topics) or not stored_events:
            return super()._insert_events(c, stored_events, **kwargs)
        first = stored_events[0]
        params: list[Any] = [first.originator_id, first.originator_version, first.topic]
        params.append(first.state)
        for stream, version in expected.items():
            params += (stream, version)
        for topic, seen in topics.items():
            params += (seen, topic)
        c.execute(
            f"INSERT INTO {self.events_table_name} SELECT ?,?,?,? WHERE "
            + _sqlite_guard(self.events_table_name, expected, topics),
            params,
        )
        if c.sqlite_cursor.rowcount != 1:
            raise StaleRead(STALE)
        ids = [c.lastrowid]
        return ids + list(super()._insert_events(c, stored_events[1:]) or [])


class GuardedPOPORecorder(POPOApplicationRecorder):
    """The in-memory store's insert checks the read set under its database lock."""

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        expected: Mapping[str, int] = kwargs.get(EXPECTED) or {}
        if expected:
            index = self._stored_events_index
            _check_versions(expected, {s: max(index[s], default=0) for s in expected if s in index})
        topics: Mapping[str, int] = kwargs.get(EXPECTED_TOPICS) or {}
        if topics:  # notification id n is list position n - 1
            _check_topics(
                [t for t, seen in topics.items() if any(
                    e.topic == t for e in self._stored_events[seen:])]
            )  # fmt: skip


# The read-set check inside the INSERT (PostgreSQL): no row goes in unless every read
# stream is at its version and no read event type has a newer event.
_GUARDED_INSERT = (
    "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
    "SELECT originator_id, originator_version, topic, state "
    "FROM unnest(%s::{schema}.{event}[]) WHERE NOT EXISTS ("
    " SELECT 1 FROM unnest(%s::{id}[], %s::bigint[]) AS e(id, v) WHERE COALESCE(("
    "  SELECT MAX(originator_version) FROM {schema}.{table} WHERE originator_id = e.id"
    " ), 0) <> e.v"
    ") AND NOT EXISTS ("
    " SELECT 1 FROM unnest(%s::text[], %s::bigint[]) AS k(topic, seen) WHERE EXISTS ("
    "  SELECT 1 FROM {schema}.{table}"
    "  WHERE notification_id > k.seen AND topic = k.topic"
    " )"
    ") RETURNING notification_id"
)


def _guarded_postgres_class(base: type) -> type:
    """Built on first use: importing eventsourcing.postgres (psycopg) costs 0.17 s."""
    from psycopg.sql import SQL, Identifier

    class GuardedPostgresRecorder(base):  # type: ignore[valid-type, misc]
        """Checks the read set inside the INSERT itself: eventsourcing takes its
        EXCLUSIVE table lock first in the same transaction, so writers are serialised
        and the INSERT's snapshot (taken after the lock) sees every committed event;
        an unmet read set inserts no row. The check costs no statement and no round
        trip of its own (a separate SELECT cost one round trip, as much CPU as a whole
        unsigned append)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            names = {
                "schema": Identifier(self.datastore.schema),
                "table": Identifier(self.events_table_name),
                "event": Identifier(self.stored_event_type_name),
                "id": Identifier(self.datastore.originator_id_type),
            }
            self.guarded_insert_statement = SQL(_GUARDED_INSERT).format(**names)

        def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
            expected: Mapping[str, int] = kwargs.get(EXPECTED) or {}
            topics: Mapping[str, int] = kwargs.get(EXPECTED_TOPICS) or {}
            if not expected and not topics:
                super()._insert_stored_events(curs, stored_events, **kwargs)
                return
            self._lock_table(curs)
            self._notify_channel(curs)
            rows = [
                self.construct_pg_stored_event(
                    s.originator_id, s.originator_version, s.topic, s.state
                )
                for s in stored_events
            ]
            streams, topic_names = list(expected), list(topics)
            read_set = (streams, list(expected.values()), topic_names, list(topics.values()))
            curs.execute(self.guarded_insert_statement, (rows, *read_set))

        def _fetch_ids_after_insert_events(
            self, curs: Any, stored_events: Any, **kwargs: Any
        ) -> Any:
            ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            if ids is not None and len(ids) < len(stored_events):
                raise StaleRead(STALE)  # nothing was inserted; the commit writes nothing
            return ids

    return GuardedPostgresRecorder


_POSTGRES_CLASS: list[type] = []


def guarded_recorder(factory: InfrastructureFactory[Any]) -> ApplicationRecorder:
    """The factory's application recorder, made to honour `expected_versions` on insert.

    The factory makes (and creates the tables of) its own recorder; ours shares its
    datastore and table, so nothing about the schema changes.
    """
    if isinstance(factory, POPOFactory):
        return GuardedPOPORecorder()
    plain = factory.application_recorder()
    if isinstance(plain, SQLiteApplicationRecorder):
        return GuardedSQLiteRecorder(plain.datastore, plain.events_table_name)
    from eventsourcing.postgres import PostgresApplicationRecorder

    if isinstance(plain, PostgresApplicationRecorder):
        if plain.datastore.enable_db_functions:  # its insert function skips the hook
            raise TypeError("POSTGRES_ENABLE_DB_FUNCTIONS bypasses the read-set check")
        if not _POSTGRES_CLASS:
            _POSTGRES_CLASS.append(_guarded_postgres_class(PostgresApplicationRecorder))
        cls = _POSTGRES_CLASS[0]
        return cls(datastore=plain.datastore, events_table_name=plain.events_table_name)  # type: ignore[no-any-return]
    raise TypeError(f"no guarded recorder for {type(plain).__name__}")
