"""Parallel verification over logs of several worker chunks names what one process names.

The parallel verifier sends hashes and signatures to workers in chunks and goes on with
the sequential checks meanwhile; these logs span several chunks, so a fault found by a
worker in one chunk races faults found in later chunks or by the main process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.signing import raw_public_key
from dermledger.ledger.verify import CHUNK
from dermledger.study.kernel import actor_stream
from tests.support import LedgerHandle, RawDB, open_handle

EVENTS = 2 * CHUNK + 300


@pytest.fixture
def long_log(settings: Settings) -> Iterator[tuple[LedgerHandle, RawDB]]:
    """A ledger of EVENTS enrolments (public keys made here) and a checkpoint at the end."""
    handle = open_handle(settings, team={})
    ledger, ada = handle.ledger, handle["ada"]
    for n in range(EVENTS):
        public = raw_public_key(Ed25519PrivateKey.generate().public_key()).hex()
        payload = {"actor": f"a{n:05d}", "roles": ["annotator"], "public_key": public}
        proposal = ledger.kernel.proposal(actor_stream(f"a{n:05d}"), "ActorEnrolled", payload)
        ledger.kernel.append(ada, lambda p=proposal: [p])
    ledger.audit.sign_checkpoint(ada)
    raw = RawDB(settings)
    yield handle, raw
    raw.close()
    ledger.close()


def both_ways(handle: LedgerHandle) -> tuple[int, str]:
    one = handle.ledger.audit.verify(workers=1)
    two = handle.ledger.audit.verify(workers=2)
    assert one.failure is not None, "tampering went unnoticed"
    assert two.failure == one.failure
    return one.failure.seq, one.failure.problem


def edit(raw: RawDB, seq: int, change: dict[str, object]) -> None:
    position, *_, state = raw.rows()[seq - 1]
    envelope = json.loads(state)
    envelope.update(change)
    raw.set_state(position, json.dumps(envelope).encode())


def test_an_intact_long_log_verifies_both_ways(long_log: tuple[LedgerHandle, RawDB]) -> None:
    handle, _ = long_log
    one, two = handle.ledger.audit.verify(workers=1), handle.ledger.audit.verify(workers=2)
    assert one.ok and two.ok and one.root == two.root and one.events == two.events == EVENTS + 2


def test_earliest_of_faults_in_several_chunks(long_log: tuple[LedgerHandle, RawDB]) -> None:
    handle, raw = long_log
    rows = raw.rows()
    late, early = 2 * CHUNK + 10, CHUNK + 7
    edit(raw, late, {"recorded_at": "2000-01-01T00:00:00.000000Z"})  # hash fails, chunk 3
    other = json.loads(rows[early][4])["signature"]
    edit(raw, early, {"signature": other})  # signature fails, chunk 2
    assert both_ways(handle) == (early, "the Ed25519 signature does not verify")


def test_a_worker_fault_before_a_main_process_fault(long_log: tuple[LedgerHandle, RawDB]) -> None:
    handle, raw = long_log
    edit(raw, CHUNK + 5, {"event_id": "changed"})  # a hash fault, found by a worker
    edit(raw, 2 * CHUNK + 50, {"stream_version": 2})  # a chain fault, found in order
    seq, problem = both_ways(handle)
    assert (seq, problem) == (CHUNK + 5, "its hash does not match its contents")


def test_hash_reported_before_chain_on_one_event(long_log: tuple[LedgerHandle, RawDB]) -> None:
    """One process checks an event's hash before its chain: so must the parallel mode,
    although it defers hashes to the workers."""
    handle, raw = long_log
    seq = CHUNK + 40
    edit(raw, seq, {"prev_hash": "00" * 32})  # breaks the chain and, so, the hash
    assert both_ways(handle) == (seq, "its hash does not match its contents")


def test_a_fault_in_the_checkpoint_itself(long_log: tuple[LedgerHandle, RawDB]) -> None:
    handle, raw = long_log
    seq = EVENTS + 2
    position, *_, state = raw.rows()[seq - 1]
    raw.set_state(position, state.replace(b'"tree_size":', b'"tree_size":1', 1))
    assert both_ways(handle) == (seq, "its hash does not match its contents")
