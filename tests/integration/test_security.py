"""Security and integrity defects of issue 18, each proven on a real ledger.

Keys (items 18, 26, 29), interrupted two-step operations (25) and the local witness
(28): every refusal leaves the log as it was, and `audit verify` names a log that
was made to break a rule by writing around the services.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dermledger.ledger.errors import Conflict, InvalidInput, PolicyViolation
from dermledger.study.kernel import Proposal, actor_stream
from tests.support import PASSPHRASE, LedgerHandle, RawDB


@pytest.fixture
def raw(team: LedgerHandle) -> Iterator[RawDB]:
    db = RawDB(team.ledger.settings)
    yield db
    db.close()


def count(handle: LedgerHandle) -> int:
    return sum(1 for _ in handle.ledger.kernel.log())


# ------------------------------------------------------------------ 18: one key, one actor


def test_a_key_enrolled_once_cannot_be_enrolled_under_another_name(team: LedgerHandle) -> None:
    actors, before = team.ledger.actors, count(team)
    with pytest.raises(PolicyViolation, match="already enrolled for ann"):
        actors.enrol(team["ada"], "mallory", ["annotator"], public_key=team["ann"].public_hex)
    assert count(team) == before


def test_a_revoked_key_is_never_enrolled_again(team: LedgerHandle) -> None:
    actors = team.ledger.actors
    actors.revoke(team["ada"], "sid", "left the study")
    before = count(team)
    with pytest.raises(PolicyViolation, match="revoked; a revoked key is never enrolled again"):
        actors.enrol(team["ada"], "sid-new", ["specialist"], public_key=team["sid"].public_hex)
    assert count(team) == before


def test_verify_flags_a_key_enrolled_under_two_names(team: LedgerHandle) -> None:
    """Written around the service, as an old or tampered-with tool might: verify fails."""
    kernel = team.ledger.kernel
    payload = {"actor": "mallory", "roles": ["annotator"], "public_key": team["ann"].public_hex}
    stream = actor_stream("mallory")
    kernel.save(*kernel.seal_all(team["ada"], [Proposal(stream, "ActorEnrolled", payload)],
                                 {stream: (0, None)}))  # fmt: skip
    report = team.ledger.audit.verify()
    assert report.failure is not None
    assert "key-ownership" in report.failure.problem
    assert report.failure.event_type == "ActorEnrolled"


# ------------------------------------------------------------------ 29: keys that are no keys


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("00" * 32, "small-order"),
        ("01" + "00" * 31, "small-order"),  # the neutral element
        ("02" + "00" * 31, "not a point"),
        ("xyz", "64 lowercase hexadecimal"),
        ("ab" * 31, "64 lowercase hexadecimal"),
    ],
)
def test_enrolment_refuses_invalid_public_keys(team: LedgerHandle, key: str, says: str) -> None:
    before = count(team)
    with pytest.raises(InvalidInput, match=says) as caught:
        team.ledger.actors.enrol(team["ada"], "eve", ["annotator"], public_key=key)
    assert "\n" not in str(caught.value)
    assert count(team) == before


# ------------------------------------------------------------------ 26: the last coordinator


def test_the_last_active_coordinator_cannot_be_revoked(team: LedgerHandle) -> None:
    actors = team.ledger.actors
    with pytest.raises(PolicyViolation, match="last active coordinator"):
        actors.revoke(team["ada"], "ada", "leaving")
    actors.enrol(team["ada"], "bea", ["coordinator"], passphrase=PASSPHRASE)
    bea = actors.unlock("bea", PASSPHRASE)
    actors.revoke(bea, "ada", "handed over")  # another coordinator remains: allowed
    before = count(team)
    with pytest.raises(PolicyViolation, match="bea is the last active coordinator"):
        actors.revoke(bea, "bea", "leaving too")
    assert count(team) == before
    assert team.ledger.audit.verify().ok


# ------------------------------------------------------------------ 25: interrupted key files


def test_an_orphan_key_file_from_an_interrupted_enrolment_is_reused(team: LedgerHandle) -> None:
    keystore = team.ledger.kernel.keystore
    orphan = keystore.create("bob", PASSPHRASE)  # the process died before the enrolment
    envelope = team.ledger.actors.enrol(team["ada"], "bob", ["annotator"], passphrase=PASSPHRASE)
    assert envelope.payload["public_key"] == orphan.public_hex
    assert team.ledger.actors.unlock("bob", PASSPHRASE).key_id == orphan.key_id


def test_an_orphan_key_file_with_another_passphrase_gets_a_hint(team: LedgerHandle) -> None:
    team.ledger.kernel.keystore.create("bob", "another passphrase")
    before = count(team)
    with pytest.raises(Conflict, match="interrupted enrolment; re-run with the passphrase"):
        team.ledger.actors.enrol(team["ada"], "bob", ["annotator"], passphrase=PASSPHRASE)
    assert count(team) == before
    assert team.ledger.kernel.keystore.has("bob"), "the key file is never deleted for the user"


def test_an_interrupted_init_can_be_run_again(settings) -> None:  # type: ignore[no-untyped-def]
    from dermledger.study.ledger import DermLedger

    ledger = DermLedger(settings)
    try:
        orphan = ledger.kernel.keystore.create("ada", PASSPHRASE)  # init died here
        ledger.actors.found("ada", PASSPHRASE)
        first = next(ledger.kernel.log()).envelope()
        assert first.payload["public_key"] == orphan.public_hex
        assert ledger.audit.verify().ok
    finally:
        ledger.close()


# ------------------------------------------------------------------ 28: the witnessed event


def test_deleting_the_newest_checkpoint_event_fails_verify(team: LedgerHandle, raw: RawDB) -> None:
    team.ledger.audit.sign_checkpoint(team["ada"])
    team.ledger.actors.enrol(team["ada"], "zed", ["annotator"], passphrase=PASSPHRASE)
    checkpoint_row = next(r for r in reversed(raw.rows()) if r[3] == "CheckpointSigned")
    raw.delete(checkpoint_row[0])
    report = team.ledger.audit.verify()
    assert report.failure is not None
    assert "its CheckpointSigned event was removed" in report.failure.problem


def test_cutting_the_log_back_to_the_checkpoint_size_fails_verify(
    team: LedgerHandle, raw: RawDB
) -> None:
    team.ledger.audit.sign_checkpoint(team["ada"])
    team.ledger.actors.enrol(team["ada"], "zed", ["annotator"], passphrase=PASSPHRASE)
    rows = raw.rows()
    witnessed = team.ledger.kernel.witness.latest()
    assert witnessed is not None
    for row in rows[witnessed.checkpoint.tree_size :]:  # the checkpoint event and after
        raw.delete(row[0])
    report = team.ledger.audit.verify()
    assert report.failure is not None
    assert "no longer in the log" in report.failure.problem


# ------------------------------------------------------------ 25: interrupted erasure, keys


def test_an_interrupted_erasure_is_completed_by_running_it_again(team: LedgerHandle) -> None:
    from dermledger.ledger.errors import NotFound
    from dermledger.study.records import patient_stream

    patients, keys = team.ledger.patients, team.ledger.kernel.patient_keys
    patients.register_patient(team["ada"], "P0007", {}, personal={"name": "Jane Roe"})
    stream = patient_stream("P0007")
    payload = {"patient_id": "P0007", "reason": "erasure request"}
    # The first step of an erasure, committed by a run that died before destroying the key.
    team.ledger.kernel.append(team["ada"], lambda: [Proposal(stream, "PatientErased", payload)])
    assert keys.exists("P0007") and patients.erasure_pending("P0007")
    before = count(team)
    erased = patients.erase_patient(team["ada"], "P0007", "erasure request")
    assert erased.type == "PatientErased" and count(team) == before
    assert not keys.exists("P0007") and not patients.erasure_pending("P0007")
    with pytest.raises(NotFound, match="erased"):
        patients.reveal_personal(team["ada"], "P0007", "audit")
    with pytest.raises(PolicyViolation, match="already erased"):
        patients.erase_patient(team["ada"], "P0007", "erasure request")


def test_a_key_left_by_an_interrupted_registration_no_longer_blocks_the_patient(
    team: LedgerHandle,
) -> None:
    team.ledger.kernel.patient_keys.create("P0008")  # the run died before its event
    patients = team.ledger.patients
    patients.register_patient(team["ada"], "P0008", {}, personal={"name": "John Doe"})
    assert patients.reveal_personal(team["ada"], "P0008", "audit") == {"name": "John Doe"}


# ------------------------------------------------------------ 30: owner-only files


def modes(folder: Path) -> dict[str, int]:
    found = {str(folder): folder.stat().st_mode & 0o777}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = path.stat().st_mode & 0o777
    return found


def test_the_home_and_everything_made_in_it_are_owner_only(tmp_path: Path) -> None:
    from dermledger.ledger.bootstrap import Settings
    from dermledger.projections.readmodel import ReadModel
    from dermledger.synthetic.images import draw_image, encode_jpeg
    from tests.support import open_handle, register_with_consent

    settings = Settings(home=tmp_path / "home", kdf_log2_n=10)
    team = open_handle(settings)
    try:
        register_with_consent(team, "P1", {"age": "40", "sex": "male"})
        meta = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}
        team.ledger.capture.capture(team["ada"], encode_jpeg(draw_image(1)), patient_id="P1",
                                    lesion_id="L1", metadata=meta)  # fmt: skip
        team.ledger.audit.sign_checkpoint(team["ada"])
        team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
        team.ledger.audit.export(tmp_path / "log.jsonl")
        with ReadModel(settings) as model:
            model.catch_up(team.ledger)
    finally:
        team.ledger.close()
    made = modes(settings.home) | modes(tmp_path / "v1") | {"log": modes(tmp_path)["log.jsonl"]}
    assert any(name.startswith("blobs/") for name in made)
    assert "readmodel.sqlite" in made and "checkpoints/latest.json" in made
    shared = {name: oct(mode) for name, mode in made.items() if mode & 0o077}
    assert shared == {}


# ------------------------------------------------------------ 33: temporary blob files


def test_temporary_blob_files_of_a_killed_writer_are_removed_on_the_next_write(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import time

    from dermledger.ledger.blobs import STALE_AFTER, BlobStore

    store = BlobStore(tmp_path / "blobs")
    (tmp_path / "blobs" / "ab").mkdir(parents=True)
    ended = subprocess.Popen(["true"])  # a writer that is gone: its pid runs nothing now
    ended.wait()
    dead_pid = ended.pid
    old = time.time() - STALE_AFTER - 5
    killed = tmp_path / "blobs" / "ab" / f".cdef.{dead_pid}.tmp"
    fresh = tmp_path / "blobs" / "ab" / f".cd01.{dead_pid}.tmp"  # too recent to judge
    live = tmp_path / "blobs" / "ab" / f".cd02.{os.getpid()}.tmp"  # a writer still running
    for path in (killed, fresh, live):
        path.write_bytes(b"partial")
    os.utime(killed, (old, old))
    os.utime(live, (old, old))
    digest, created = store.put(b"new image bytes")
    assert created and store.read(digest) == b"new image bytes"
    assert not killed.exists() and fresh.exists() and live.exists()
