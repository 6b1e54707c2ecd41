"""The signed ledger core on a real SQLite file and the real PostgreSQL server.

One narrative per concern: found, enrol, append, checkpoint, verify; then an attacker
edits the database directly and `verify` must name the event they touched.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from dermledger.ledger.checkpoints import Checkpoint
from dermledger.ledger.envelope import seal
from dermledger.ledger.errors import Conflict, InvalidInput, PolicyViolation
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.signing import Signer
from dermledger.study.ledger import DermLedger
from tests.independent_checker import check_export
from tests.support import PASSPHRASE, LedgerHandle, RawDB


def count(ledger: DermLedger) -> int:
    return sum(1 for _ in ledger.kernel.log())


def test_founding_event_is_self_signed_and_first(team: LedgerHandle) -> None:
    first = next(team.ledger.kernel.log()).envelope()
    assert first.type == "ActorEnrolled"
    assert first.payload["actor"] == "ada" and first.payload["roles"] == ["coordinator"]
    assert first.key_id == team["ada"].key_id
    assert first.prev_hash is None and first.stream_version == 1
    assert team.ledger.audit.verify().ok


def test_seq_is_dense_and_streams_chain(team: LedgerHandle) -> None:
    team.ledger.actors.revoke(team["ada"], "aud", "left the study")
    entries = list(team.ledger.kernel.log())
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    revoked = [e.envelope() for e in entries if e.stream_id == "actor:aud"]
    assert [e.stream_version for e in revoked] == [1, 2]
    assert revoked[1].prev_hash == revoked[0].hash


def test_init_twice_is_refused(team: LedgerHandle) -> None:
    before = count(team.ledger)
    with pytest.raises(Conflict):
        team.ledger.actors.found("bob", PASSPHRASE)
    assert count(team.ledger) == before
    assert not team.ledger.kernel.keystore.has("bob")


@pytest.mark.parametrize("actor", ["ann", "sam", "pat", "aud"])
def test_only_coordinators_enrol(team: LedgerHandle, actor: str) -> None:
    before = count(team.ledger)
    with pytest.raises(PolicyViolation, match="may not append ActorEnrolled"):
        team.ledger.actors.enrol(team[actor], "eve", ["coordinator"], passphrase=PASSPHRASE)
    assert count(team.ledger) == before
    assert not team.ledger.kernel.keystore.has("eve"), "a refused enrolment leaves no key behind"


def test_revoked_key_signs_nothing(team: LedgerHandle) -> None:
    team.ledger.actors.enrol(team["ada"], "bea", ["coordinator"], passphrase=PASSPHRASE)
    bea = team.ledger.actors.unlock("bea", PASSPHRASE)
    team.ledger.actors.revoke(team["ada"], "bea", "lost laptop")
    before = count(team.ledger)
    with pytest.raises(PolicyViolation, match="revoked"):
        team.ledger.actors.enrol(bea, "eve", ["annotator"], passphrase=PASSPHRASE)
    assert count(team.ledger) == before
    assert team.ledger.audit.verify().ok


def test_bad_names_roles_and_duplicates(team: LedgerHandle) -> None:
    before = count(team.ledger)
    with pytest.raises(InvalidInput):
        team.ledger.actors.enrol(team["ada"], "../evil", ["annotator"], passphrase=PASSPHRASE)
    with pytest.raises(InvalidInput, match="unknown role"):
        team.ledger.actors.enrol(team["ada"], "eve", ["surgeon"], passphrase=PASSPHRASE)
    with pytest.raises(Conflict):
        team.ledger.actors.enrol(team["ada"], "ann", ["annotator"], passphrase=PASSPHRASE)
    assert count(team.ledger) == before


def test_unknown_signer_is_refused(team: LedgerHandle) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = Signer("ada", Ed25519PrivateKey.generate())  # claims ada's name, other key
    with pytest.raises(PolicyViolation, match="not the key enrolled"):
        team.ledger.actors.enrol(stranger, "eve", ["annotator"], public_key=stranger.public_hex)


def test_checkpoint_export_and_independent_check(team: LedgerHandle, tmp_path: Path) -> None:
    cp = team.ledger.audit.sign_checkpoint(team["ada"])
    assert cp.payload["tree_size"] == count(team.ledger) - 1
    team.ledger.actors.revoke(team["ada"], "aud", "rotation")
    team.ledger.audit.sign_checkpoint(team["ada"])
    report = team.ledger.audit.verify()
    assert report.ok and report.checkpoints == 2
    out = tmp_path / "log.jsonl"
    assert team.ledger.audit.export(out) == report.events
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(lines[0]) == [
        "seq", "event_id", "stream_id", "stream_version", "type", "recorded_at",
        "actor", "key_id", "payload", "prev_hash", "hash", "signature",
    ]  # fmt: skip
    assert check_export(out) == []
    # The independent checker is not a rubber stamp: damage one line and it objects.
    lines[3]["payload"]["roles"] = ["coordinator"]
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert any("seq 4: hash mismatch" in p for p in check_export(out))


def _checkpoint_elsewhere(team: LedgerHandle, size: int, *, root: str | None = None) -> None:
    """Append a checkpoint of the first `size` events in a stream other than the ledger's
    (which `sign_checkpoint` never does, but a coordinator may)."""
    hashes = [e.envelope().hash for e in team.ledger.kernel.log()][:size]
    real = MerkleTree([hash_leaf(bytes.fromhex(h)) for h in hashes]).root(size).hex()
    moment = "2026-12-02T00:00:00.000000Z"
    checkpoint = Checkpoint(team.ledger.kernel.ledger_id(), size, root or real, moment)
    payload = asdict(checkpoint) | {"checkpoint_signature": checkpoint.sign(team["ada"])}
    proposal = team.ledger.kernel.proposal("elsewhere", "CheckpointSigned", payload)
    team.ledger.kernel.append(team["ada"], lambda: [proposal])


def test_a_checkpoint_of_an_unforeseen_size_is_still_checked(team: LedgerHandle) -> None:
    """The verifier keeps roots only at the sizes the ledger stream's checkpoints name; one
    elsewhere makes it verify again keeping the whole tree, never skip or guess."""
    team.ledger.audit.sign_checkpoint(team["ada"])
    _checkpoint_elsewhere(team, 2)
    report = team.ledger.audit.verify()
    assert report.ok and report.checkpoints == 2
    _checkpoint_elsewhere(team, 3, root="00" * 32)
    failure = team.ledger.audit.verify().failure
    assert failure is not None and failure.seq == count(team.ledger)
    assert failure.problem.startswith("the Merkle root of the first 3 events is ")


# ------------------------------------------------------------------ tampering


def tampered(team: LedgerHandle, settings_db: RawDB) -> tuple[int, str]:
    """Verify after tampering, in one process and with two workers; both must name the same
    event. Return the failing seq and problem."""
    report = team.ledger.audit.verify(workers=1)
    assert report.failure is not None, "tampering went unnoticed"
    parallel = team.ledger.audit.verify(workers=2)
    assert parallel.failure == report.failure
    return report.failure.seq, report.failure.problem


@pytest.fixture
def raw(team: LedgerHandle) -> RawDB:
    db = RawDB(team.ledger.settings)
    yield db
    db.close()


def test_one_byte_of_payload_changed(team: LedgerHandle, raw: RawDB) -> None:
    position, _, _, _, state = raw.rows()[3]
    raw.set_state(position, state.replace(b'"specialist"', b'"specialisT"'))
    assert tampered(team, raw) == (4, "its hash does not match its contents")


def test_event_deleted_in_the_middle(team: LedgerHandle, raw: RawDB) -> None:
    team.ledger.actors.revoke(team["ada"], "sam", "test")  # actor:sam now has two events
    rows = raw.rows()
    sam_first = next(r for r in rows if r[1] == "actor:sam")
    raw.delete(sam_first[0])
    seq, problem = tampered(team, raw)
    assert "stream version is 2 where 1 was due" in problem
    assert seq == len(rows) - 1  # the revocation, now one position earlier


def test_event_deleted_under_a_checkpoint(team: LedgerHandle, raw: RawDB) -> None:
    team.ledger.audit.sign_checkpoint(team["ada"])
    raw.delete(raw.rows()[2][0])  # a stream's only event: no chain to break
    seq, problem = tampered(team, raw)
    assert "checkpoint claims 7 earlier events" in problem and seq == len(raw.rows())


def test_newest_events_deleted_after_a_checkpoint(team: LedgerHandle, raw: RawDB) -> None:
    team.ledger.actors.enrol(team["ada"], "zed", ["annotator"], passphrase=PASSPHRASE)
    team.ledger.audit.sign_checkpoint(team["ada"])
    rows = raw.rows()
    for row in rows[-2:]:  # the checkpoint and the event before it
        raw.delete(row[0])
    _seq, problem = tampered(team, raw)
    assert "events were removed" in problem


def test_signatures_swapped(team: LedgerHandle, raw: RawDB) -> None:
    rows = raw.rows()
    a, b = json.loads(rows[2][4]), json.loads(rows[3][4])
    a["signature"], b["signature"] = b["signature"], a["signature"]
    raw.set_state(rows[2][0], json.dumps(a).encode())
    raw.set_state(rows[3][0], json.dumps(b).encode())
    seq, problem = tampered(team, raw)
    assert seq == 3 and "signature does not verify" in problem


def test_events_reordered(team: LedgerHandle, raw: RawDB) -> None:
    team.ledger.actors.revoke(team["ada"], "sam", "test")
    rows = raw.rows()
    first = next(r for r in rows if r[1] == "actor:sam")
    last = rows[-1]
    # Swap the two actor:sam events' stored bytes and version columns.
    raw.execute("UPDATE {t} SET originator_version=-1 WHERE {id}=?", (first[0],))
    raw.execute("UPDATE {t} SET originator_version=1, state=? WHERE {id}=?", (first[4], last[0]))
    raw.execute("UPDATE {t} SET originator_version=2, state=? WHERE {id}=?", (last[4], first[0]))
    seq, problem = tampered(team, raw)
    assert seq == rows.index(first) + 1
    assert "columns disagree" in problem or "stream version" in problem


def test_reordered_across_streams_under_checkpoint(team: LedgerHandle, raw: RawDB) -> None:
    team.ledger.audit.sign_checkpoint(team["ada"])
    rows = raw.rows()
    x, y = rows[2], rows[3]  # two different actors' single events
    raw.execute("UPDATE {t} SET originator_id=?, state=? WHERE {id}=?", ("tmp", y[4], x[0]))
    raw.execute("UPDATE {t} SET originator_id=?, state=? WHERE {id}=?", (x[1], x[4], y[0]))
    raw.execute("UPDATE {t} SET originator_id=? WHERE {id}=?", (y[1], x[0]))
    # Now position 3 holds y's event and position 4 holds x's: chains and signatures hold.
    _seq, problem = tampered(team, raw)
    assert "Merkle root" in problem


def test_forged_event_by_unenrolled_key(team: LedgerHandle, raw: RawDB) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forger = Signer("mallory", Ed25519PrivateKey.generate())
    forged = seal(
        event_id="00000000-0000-4000-8000-000000000000",
        stream_id="actor:mallory",
        stream_version=1,
        event_type="ActorEnrolled",
        recorded_at="2026-11-23T00:00:00.000000Z",
        signer=forger,
        payload={"actor": "mallory", "roles": ["coordinator"], "public_key": forger.public_hex},
        prev_hash=None,
    )
    team.ledger.kernel.save(forged)  # straight into the store, bypassing the service
    seq, problem = tampered(team, raw)
    assert seq == len(raw.rows()) and "not enrolled" in problem
