"""C2SP tlog-proof: the layout of the spec, read back, and a real event proven offline."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.envelope import seal
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import Ed25519Signer, MalformedNote
from dermledger.ledger.signing import Signer
from dermledger.ledger.tlog import Checkpoint, sign_checkpoint
from dermledger.ledger.tlogproof import (
    TlogProof,
    event_proof,
    format_proof,
    parse_proof,
    verify_event_proof,
)


def test_layout_matches_the_spec_and_reads_back() -> None:
    proof = TlogProof(73894, (b"\x01" * 32, b"\x02" * 32), b"log\n5\nroot\n\n- sig\n", b"xy")
    data = format_proof(proof)
    assert data.startswith(b"c2sp.org/tlog-proof@v1\nextra eHk=\nindex 73894\nAQEB")
    assert parse_proof(data) == proof
    bare = format_proof(TlogProof(0, (), b"n\n"))
    assert bare == b"c2sp.org/tlog-proof@v1\nindex 0\n\nn\n"
    with pytest.raises(MalformedNote, match="must start with"):
        parse_proof(b"c2sp.org/tlog-proof@v2\nindex 0\n\nn\n")
    with pytest.raises(MalformedNote, match="leading zeroes"):
        parse_proof(b"c2sp.org/tlog-proof@v1\nindex 01\n\nn\n")


def test_an_event_proof_verifies_and_a_changed_event_does_not() -> None:
    actor = Signer("ada", Ed25519PrivateKey.generate())
    envelopes = [
        seal(event_id=f"e{i}", stream_id="s", stream_version=i + 1, event_type="T",
             recorded_at="2026-12-02T00:00:00.000000Z", signer=actor, payload={"i": i},
             prev_hash=None)
        for i in range(5)
    ]  # fmt: skip
    tree = MerkleTree(hash_leaf(bytes.fromhex(e.hash)) for e in envelopes)
    log = Ed25519Signer.generate("dermledger.example/t")
    note = sign_checkpoint(Checkpoint(log.name, 5, tree.root()), [log])
    data = event_proof(envelopes[2], 3, tree.inclusion_proof(2), note)
    event, checkpoint = verify_event_proof(data, [log.verifier])
    assert event["payload"] == {"i": 2} and checkpoint.size == 5
    wrong_index = data.replace(b"index 2", b"index 3")
    with pytest.raises(VerificationError):
        verify_event_proof(wrong_index, [log.verifier])
    with pytest.raises(VerificationError, match="does not verify"):
        verify_event_proof(data, [Ed25519Signer.generate(log.name).verifier])
