"""The ledger with two real witnesses: enrol, checkpoint, cosign, audit, and the attacks
of issue 13 (rollback, cut back, forged cosignatures, a witness down), on SQLite and
PostgreSQL. The witnesses are `dermledger witness serve` processes on 127.0.0.1."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.notes import Cosigner
from dermledger.ledger.tlog import Checkpoint, sign_checkpoint
from dermledger.study.kernel import LEDGER_STREAM, Proposal
from tests.integration.witness_support import (
    Ledger,
    WitnessProcess,
    copy_store,
    delete_after,
    make_witness,
    restore_store,
    running,
)
from tests.support import PASSPHRASE, LedgerHandle


@pytest.fixture
def witnessed(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[Ledger, WitnessProcess, WitnessProcess]]:
    """A founded ledger whose log key two running witnesses trust, both enrolled."""
    ledger = Ledger(settings)
    origin, log_vkey = ledger.found()
    w1, w2 = make_witness(tmp_path, "ethics"), make_witness(tmp_path, "pathlab")
    with running(w1, w2):
        for w in (w1, w2):
            w.trust(origin, log_vkey)
            ledger.ok("witness", "add", w.name, w.url, w.vkey)
        yield ledger, w1, w2


def test_checkpoint_is_cosigned_by_both_and_recorded(witnessed) -> None:
    ledger, w1, w2 = witnessed
    ledger.enrol("ann")
    first = ledger.json("checkpoint")
    assert sorted(first["witnesses"]["cosigned"]) == ["ethics", "pathlab"]
    assert first["witnesses"]["quorum_met"] and first["note"].startswith(first["origin"])
    ledger.enrol("bob")
    second = ledger("checkpoint")  # proves from the size each witness last cosigned
    assert second.exit_code == 0, second.output
    assert "cosigned by ethics" in second.stdout and "quorum met: 2 of 2" in second.stdout
    listing = ledger.json("witness", "list")
    sizes = {w["name"]: w["last_cosigned_size"] for w in listing["witnesses"]}
    assert sizes == {"ethics": first["tree_size"] + 3, "pathlab": first["tree_size"] + 3}
    verified = ledger.json("audit", "verify")
    assert verified["ok"] and verified["witnesses"]["checkpoints"][-1]["quorum_met"]
    for w in (w1, w2):
        checked = ledger.json("witness", "check", w.url)
        assert checked["status"] == "consistent" and checked["ok"]


def test_rollback_and_a_different_history_is_refused_and_named(witnessed, tmp_path: Path) -> None:
    ledger, w1, w2 = witnessed
    ledger.enrol("ann")
    ledger.ok("checkpoint")
    backup = copy_store(ledger, tmp_path / "backup")
    ledger.enrol("bob")
    ledger.ok("checkpoint")
    restore_store(ledger, backup)
    ledger.enrol("eve")  # another history from the same past
    forked = ledger("checkpoint")
    assert forked.exit_code == 1
    assert "no cosignature from ethics" in forked.stdout
    assert "no cosignature from pathlab" in forked.stdout
    assert "behind a witnessed checkpoint" in forked.stdout  # each names the rollback
    assert "the witness quorum is not met: 0 of 2 witnesses cosigned, 2 needed" in forked.output
    assert ledger.json("audit", "verify")["events"] == backup.position + 3  # eve, checkpoint, gaps
    for w in (w1, w2):
        checked = ledger("witness", "check", w.url)
        assert checked.exit_code == 1
        assert "rolled back" in checked.output or "forked" in checked.output


def test_newest_events_deleted_after_a_witnessed_checkpoint(witnessed, tmp_path: Path) -> None:
    ledger, w1, _ = witnessed
    ledger.enrol("ann")
    ledger.ok("checkpoint")
    before = ledger.events()
    policy = tmp_path / "auditor.policy"
    ledger.ok("witness", "policy", "--out", str(policy))
    delete_after(ledger.settings, before - 4)  # the checkpoint, cosignatures and more
    for checkpoints in (ledger.settings.home / "checkpoints",):  # the attacker's tidy-up
        for f in checkpoints.iterdir():
            f.unlink()
    checked = ledger("witness", "check", w1.url)
    assert checked.exit_code == 1 and "cut back (rolled back)" in checked.output
    audited = ledger("audit", "verify", "--policy", str(policy))
    assert audited.exit_code == 1
    assert "cosigned a checkpoint of" in audited.output and "cut back" in audited.output


def test_a_witness_down_is_a_gap_and_the_quorum_decides(witnessed) -> None:
    ledger, _, w2 = witnessed
    ledger.ok("witness", "quorum", "1")
    w2.stop()
    ledger.enrol("ann")
    one = ledger("checkpoint", "--timeout", "2")
    assert one.exit_code == 0, one.output
    assert "cosigned by ethics" in one.stdout
    assert "no cosignature from pathlab: it is unreachable" in one.stdout
    assert "quorum met: 1 of 2 witnesses cosigned, 1 needed" in one.stdout
    ledger.ok("witness", "quorum", "2")
    two = ledger("checkpoint", "--timeout", "2")
    assert two.exit_code == 1
    assert "the witness quorum is not met: 1 of 2 witnesses cosigned, 2 needed" in two.output
    assert ledger.json("audit", "verify")["ok"]  # a gap is not a broken log


FORGERIES = ["unknown key", "other origin", "other root", "one byte changed"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_recorded_cosignature_is_named_by_audit_verify(
    team: LedgerHandle, forgery: str
) -> None:
    """A coordinator who records a cosignature the witness never made is caught."""
    ethics = Cosigner.generate("ethics.example/w")
    ledger = team.ledger
    ledger.witnesses.add(team["ada"], "ethics", "http://127.0.0.1:9", ethics.verifier.vkey)
    envelope = ledger.audit.sign_checkpoint(team["ada"], log_passphrase=PASSPHRASE)
    p = envelope.payload
    body = Checkpoint.parse(p["note"].split("\n\n")[0] + "\n")
    signer, signed = ethics, body
    if forgery == "unknown key":
        signer = Cosigner.generate("ethics.example/w")
    elif forgery == "other origin":
        signed = Checkpoint("dermledger.example/other", body.size, body.root)
    elif forgery == "other root":
        signed = Checkpoint(body.origin, body.size, bytes(32))
    line = sign_checkpoint(signed, [signer]).decode().split("\n\n")[1]
    if forgery == "one byte changed":
        line = line[:-10] + ("A" if line[-10] != "A" else "B") + line[-9:]
    forged = {"origin": p["origin"], "tree_size": p["tree_size"], "root": p["root"],
              "cosignatures": [{"witness": "ethics", "line": line}], "missing": []}  # fmt: skip
    ledger.kernel.append(
        team["ada"], lambda: [Proposal(LEDGER_STREAM, "CheckpointCosigned", forged)]
    )
    report = ledger.audit.verify()
    assert report.failure is not None and report.failure.event_type == "CheckpointCosigned"
    assert "the cosignature of ethics on the checkpoint of size" in report.failure.problem


def test_bad_input_is_one_sentence_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    ledger = Ledger(Settings(home=tmp_path / "home", kdf_log2_n=10))
    origin, log_vkey = ledger.found()
    key = Cosigner.generate("ethics.example/w").verifier.vkey
    ledger.ok("witness", "add", "ethics", "http://127.0.0.1:9/w", key)
    before = ledger.events()
    nopolicy = tmp_path / "none.policy"
    nopolicy.write_text(f"witness x {Cosigner.generate('x.example/w').verifier.vkey}\nquorum x\n")
    cases = {
        ("witness", "add", "b", "ftp://x", key): "must start with http:// or https://",
        ("witness", "add", "b", "http://x", "nonsense"): "the witness key is not valid",
        ("witness", "add", "b", "http://x", log_vkey): "is not a witness (cosignature/v1) key",
        ("witness", "add", "ethics", "http://x", key): "ethics is already a witness",
        ("witness", "add", "Bad Name", "http://x", key): "witness name 'Bad Name'",
        ("witness", "quorum", "2"): "between 0 and the 1 witnesses enrolled",
        ("witness", "remove", "nobody", "--reason", "x"): "nobody is not a witness",
        ("witness", "policy", "--import", str(nopolicy)): "gives no URL for witness x",
        ("witness", "check", "http://127.0.0.1:9/other"): "no witness of this ledger has the URL",
        ("checkpoint", "--init-log-key"): "the log already has a checkpoint key",
        ("audit", "verify", "--policy", str(tmp_path / "missing")): "cannot read the policy",
    }
    for args, sentence in cases.items():
        result = ledger(*args)
        assert result.exit_code == 1, (args, result.output)
        assert sentence in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert ledger.events() == before
    listing = ledger.json("witness", "list")
    assert listing["origin"] == origin and listing["log_vkey"] == log_vkey
    assert [w["name"] for w in listing["witnesses"]] == ["ethics"] and listing["quorum"] == 1


def test_policy_export_import_and_log_key_rotation(tmp_path: Path) -> None:
    source = Ledger(Settings(home=tmp_path / "a", kdf_log2_n=10))
    source.found()
    keys = [Cosigner.generate(f"w{i}.example/w").verifier.vkey for i in range(3)]
    for i, key in enumerate(keys):
        source.ok("witness", "add", f"w{i}", f"http://127.0.0.1:9/w{i}", key)
    source.ok("witness", "quorum", "2")
    exported = tmp_path / "ledger.policy"
    source.ok("witness", "policy", "--out", str(exported))
    assert "group ledger-quorum 2 w0 w1 w2" in exported.read_text()
    target = Ledger(Settings(home=tmp_path / "b", kdf_log2_n=10))
    target.found()
    target.ok("witness", "policy", "--import", str(exported))
    imported = target.json("witness", "list")
    assert [w["vkey"] for w in imported["witnesses"]] == keys and imported["quorum"] == 2
    old = target.json("witness", "list")["log_vkey"]
    rotated = target.json("checkpoint", "--rotate-log-key")["vkey"]
    assert rotated != old and rotated.split("+")[0] == old.split("+")[0]  # same origin
    target("checkpoint", "--timeout", "0.5")  # witnesses down: appended, quorum fails
    assert target.json("audit", "verify")["ok"]  # the new note verifies with the new key


def test_a_slow_witness_costs_at_most_the_timeout(witnessed) -> None:
    """A witness that accepts the connection but never answers (its process stopped)."""
    ledger, _, w2 = witnessed
    ledger.ok("witness", "quorum", "1")
    assert w2.process is not None
    w2.process.send_signal(signal.SIGSTOP)
    try:
        ledger.enrol("ann")
        started = time.monotonic()
        slow = ledger("checkpoint", "--timeout", "1.5")
        elapsed = time.monotonic() - started
    finally:
        w2.process.send_signal(signal.SIGCONT)
    assert slow.exit_code == 0, slow.output
    assert "no cosignature from pathlab: it is unreachable: ReadTimeout" in slow.stdout
    assert "cosigned by ethics" in slow.stdout and elapsed < 10
    again = ledger.json("checkpoint")  # back: it catches up from the size it last cosigned
    assert sorted(again["witnesses"]["cosigned"]) == ["ethics", "pathlab"]
