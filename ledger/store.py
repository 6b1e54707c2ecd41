"""The event store: signed envelopes kept by `eventsourcing`'s recorders.

`EnvelopeMapper` makes the envelope itself the stored state (JCS bytes), with the
stream id and version as originator id and version, so eventsourcing's unique
(originator_id, originator_version) key gives optimistic concurrency per stream and
its notification log gives the global order. `seq` is the 1-based rank of an event
in that order: dense even where PostgreSQL sequences leave gaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent
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


@dataclass(frozen=True)
class LogEntry:
    """One event as read from the global log, before any verification."""

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


def read_stream(recorder: ApplicationRecorder, stream_id: str) -> list[Envelope]:
    """All events of one stream in version order."""
    return [decode(s.state) for s in recorder.select_events(stream_id)]


def stream_head(recorder: ApplicationRecorder, stream_id: str) -> tuple[int, str | None]:
    """(version, hash) of a stream's newest event; (0, None) for a new stream."""
    newest = recorder.select_events(stream_id, desc=True, limit=1)
    if not newest:
        return 0, None
    return newest[0].originator_version, decode(newest[0].state).hash


def read_topic(
    recorder: ApplicationRecorder, topic: str, *, page_size: int = PAGE_SIZE
) -> Iterator[Envelope]:
    """Every event of one type, in log order (without seq: the filter hides positions)."""
    start: int | None = None
    while True:
        page = recorder.select_notifications(
            start=start, limit=page_size, topics=[topic], inclusive_of_start=start is None
        )
        for notification in page:
            yield decode(notification.state)
        if len(page) < page_size:
            return
        start = page[-1].id
