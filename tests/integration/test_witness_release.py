"""Witnessed releases and tlog-proofs with two real witnesses, on SQLite and PostgreSQL:
the manifest carries the cosigned checkpoint note that the release page reads, `release
verify --policy` checks it offline, publishing without the quorum is refused unless
--allow-unwitnessed (which the datasheet states), and `proof IMAGE` writes C2SP
tlog-proofs that verify with nothing but the keys."""

from __future__ import annotations

import json
from pathlib import Path

from dermledger.ledger.cosigning import log_key
from dermledger.ledger.tlogproof import parse_proof, verify_event_proof
from dermledger.policies.witness_quorum import parse_policy
from dermledger.projections.release.messages import say
from dermledger.projections.release.witnessing import check_release_witnesses
from tests.integration.test_release import NEVUS, verified
from tests.integration.witness_support import Ledger, make_witness, running
from tests.support import PASSPHRASE, LedgerHandle, register_with_consent


def test_witnessed_release_proofs_and_the_unwitnessed_refusal(
    team: LedgerHandle, tmp_path: Path
) -> None:
    register_with_consent(team, "P1", {"age": "47", "sex": "female", "fitzpatrick_skin_type": "II"})
    image = verified(team, 1, NEVUS)
    ledger = Ledger(team.ledger.settings, PASSPHRASE)
    made = ledger.json("checkpoint", "--init-log-key")
    w1, w2 = make_witness(tmp_path, "ethics"), make_witness(tmp_path, "pathlab")
    policy = tmp_path / "auditor.policy"
    with running(w1, w2):
        for w in (w1, w2):
            w.trust(made["origin"], made["vkey"])
            ledger.ok("witness", "add", w.name, w.url, w.vkey)
        ledger.ok("witness", "policy", "--out", str(policy))
        release = tmp_path / "v1"
        ledger.ok("release", "create", "v1", "--out", str(release))
        manifest = json.loads((release / "manifest.json").read_text())
        note = manifest["checkpoint"]["note"]
        assert note.count("\u2014 ") == 3  # the log and both witnesses
        checked = ledger("release", "verify", str(release), "--policy", str(policy))
        assert checked.exit_code == 0, checked.output
        assert say("state_witnessed") in checked.output

        proofs = tmp_path / "proofs"
        ledger.ok("proof", image, "--out", str(proofs))
        files = sorted(proofs.iterdir())
        assert files and all(f.suffix == ".tlog-proof" for f in files)
        trusted = parse_policy(policy.read_text())
        for f in files:
            event, checkpoint = verify_event_proof(f.read_bytes(), [log_key(made["vkey"])])
            assert event["stream_id"] == image
            parsed = parse_proof(f.read_bytes())
            as_manifest = {"checkpoint": {"tree_size": checkpoint.size,
                                          "root": checkpoint.root.hex(),
                                          "note": parsed.note.decode()}}  # fmt: skip
            assert check_release_witnesses(as_manifest, trusted).state == "witnessed"
        offline = ledger("verify-proof", str(files[0]), "--policy", str(policy))
        assert offline.exit_code == 0 and say("state_witnessed") in offline.output
        tampered = tmp_path / "tampered.tlog-proof"
        tampered.write_bytes(files[0].read_bytes().replace(b"index ", b"index 1", 1))
        assert ledger("verify-proof", str(tampered), "--policy", str(policy)).exit_code == 1

        w2.stop()
        verified(team, 2, NEVUS)
        refused = ledger("release", "create", "v2", "--out", str(tmp_path / "v2"), "--timeout", "2")
        assert refused.exit_code == 1
        assert "the witness quorum is not met: 1 of 2 witnesses cosigned, 2 needed" in (
            refused.output
        )
        assert not (tmp_path / "v2").exists()
        ledger.ok("release", "create", "v2", "--out", str(tmp_path / "v2"), "--allow-unwitnessed")
        datasheet = (tmp_path / "v2" / "datasheet.md").read_text()
        assert "published without the witness quorum (--allow-unwitnessed)" in datasheet
        unmet = ledger("release", "verify", str(tmp_path / "v2"), "--policy", str(policy))
        assert unmet.exit_code == 1 and say("quorum", verified=1) in unmet.output


def test_forged_cosignatures_in_a_manifest_are_named(tmp_path: Path) -> None:
    """Unknown key, other origin, other root, one byte changed: offline, against a policy."""
    from dermledger.ledger.notes import Cosigner, Ed25519Signer
    from dermledger.ledger.tlog import Checkpoint, sign_checkpoint

    log = Ed25519Signer.generate("dermledger.example/x")
    ethics, stranger = Cosigner.generate("ethics.example/w"), Cosigner.generate("ethics.example/w")
    root = bytes(range(32))
    body = Checkpoint(log.name, 7, root)
    note = sign_checkpoint(body, [log]).decode()
    policy = parse_policy(f"log {log.verifier.vkey}\nwitness e {ethics.verifier.vkey}\nquorum e\n")

    def cosigned_by(signer: Cosigner, checkpoint: Checkpoint) -> str:
        line = sign_checkpoint(checkpoint, [signer]).decode().split("\n\n")[1]
        return note + line

    def check(text: str) -> list[str]:
        manifest = {"checkpoint": {"tree_size": 7, "root": root.hex(), "note": text}}
        return check_release_witnesses(manifest, policy).failures

    assert check(cosigned_by(ethics, body)) == []
    # A key the auditor does not trust counts for nothing (as on the page): quorum unmet.
    assert check(cosigned_by(stranger, body)) == [say("quorum", verified=0)]
    other_origin = Checkpoint("dermledger.example/other", 7, root)
    assert say("cosignature", witness="ethics.example/w") in check(
        cosigned_by(ethics, other_origin)
    )
    other_root = Checkpoint(log.name, 7, bytes(32))
    assert say("cosignature", witness="ethics.example/w") in check(cosigned_by(ethics, other_root))
    good = cosigned_by(ethics, body)
    flipped = good[:-10] + ("A" if good[-10] != "A" else "B") + good[-9:]
    assert say("cosignature", witness="ethics.example/w") in check(flipped)
