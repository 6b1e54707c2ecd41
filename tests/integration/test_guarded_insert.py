"""The event store's read-set check (`expected_versions`, `expected_topics`), on each
backend: an insert whose read set no longer holds writes nothing and raises StaleRead.

Since issue 19 the check rides inside the INSERT statement (no query of its own), so
these pin down what it must still refuse, with the recorder alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import StoredEvent

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.store import EXPECTED, EXPECTED_TOPICS, StaleRead
from dermledger.study.kernel import Kernel


@pytest.fixture
def kernel(settings: Settings) -> Iterator[Kernel]:
    kernel = Kernel(settings)
    yield kernel
    kernel.close()


def event(stream: str, version: int, topic: str = "Noted") -> StoredEvent:
    return StoredEvent(stream, version, topic, b'{"stream":"%s"}' % stream.encode())


def rows(kernel: Kernel) -> list[tuple[str, int]]:
    found = kernel.recorder.select_notifications(start=None, limit=100)
    return [(str(n.originator_id), n.originator_version) for n in found]


def test_a_read_set_that_holds_lets_the_insert_through(kernel: Kernel) -> None:
    kernel.recorder.insert_events([event("a", 1), event("a", 2)])
    ids = kernel.recorder.insert_events(
        [event("b", 1), event("c", 1)], **{EXPECTED: {"a": 2, "new": 0}, EXPECTED_TOPICS: {}}
    )
    assert ids is not None and len(ids) == 2
    assert rows(kernel) == [("a", 1), ("a", 2), ("b", 1), ("c", 1)]


@pytest.mark.parametrize(
    "expected",
    [{"a": 1}, {"a": 3}, {"a": 0}, {"new": 1}, {"new": 0, "a": 1}],
    ids=["moved-on", "ahead", "exists", "absent", "one-of-two"],
)
def test_a_stream_that_moved_on_inserts_nothing(kernel: Kernel, expected: dict[str, int]) -> None:
    kernel.recorder.insert_events([event("a", 1), event("a", 2)])
    with pytest.raises(StaleRead):
        kernel.recorder.insert_events([event("b", 1), event("c", 1)], **{EXPECTED: expected})
    assert rows(kernel) == [("a", 1), ("a", 2)]


def test_a_newer_event_of_a_scanned_type_inserts_nothing(kernel: Kernel) -> None:
    kernel.recorder.insert_events([event("a", 1, "Captured")])
    seen = kernel.recorder.max_notification_id()
    assert seen is not None
    kernel.recorder.insert_events([event("x", 1, "Other")])  # another type: no conflict
    kernel.recorder.insert_events([event("b", 1)], **{EXPECTED_TOPICS: {"Captured": seen}})
    kernel.recorder.insert_events([event("c", 1, "Captured")])
    with pytest.raises(StaleRead):
        kernel.recorder.insert_events(
            [event("d", 1, "Captured")], **{EXPECTED_TOPICS: {"Captured": seen}}
        )
    assert [stream for stream, _ in rows(kernel)] == ["a", "x", "b", "c"]
