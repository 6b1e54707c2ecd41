"""The witness core without HTTP: edge cases of add-checkpoint on a real SQLite file.

The server tests cover each status code over the wire; these pin the rules that are
awkward to reach there (size 0, proofs where none belong, key rotation, reopening).
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

import pytest

from dermledger.ledger.errors import Conflict
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import Cosigner, Ed25519Signer, MalformedNote, open_note
from dermledger.ledger.tlog import AddCheckpointRequest, Checkpoint, sign_checkpoint
from dermledger.ledger.witness import RefusalLog, Witness, WitnessStore

ORIGIN = "study.example/core"


@pytest.fixture
def tree() -> MerkleTree:
    return MerkleTree([hash_leaf(sha256(b"e%d" % i).digest()) for i in range(16)])


@pytest.fixture
def log_key() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


def _witness(folder: Path, log_key: Ed25519Signer | None = None) -> Witness:
    store = WitnessStore(folder / "witness.sqlite")
    if log_key is not None:
        store.trust(ORIGIN, log_key.verifier.vkey)
    seed_key = Cosigner.from_seed("w.example/1", bytes(32)).private_key
    cosigner = Cosigner("w.example/1", seed_key, clock=lambda: 1_700_000_000)
    return Witness(store, cosigner, RefusalLog(folder / "refusals.jsonl"))


def _body(old: int, proof: list[bytes], size: int, root: bytes, *keys: Ed25519Signer) -> bytes:
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), list(keys))
    return AddCheckpointRequest(old, tuple(proof), note).to_bytes()


def test_size_zero_rules(tmp_path: Path, tree: MerkleTree, log_key: Ed25519Signer) -> None:
    w = _witness(tmp_path, log_key)
    assert w.add_checkpoint(_body(0, [tree.root(1)], 4, tree.root(4), log_key)).status == 400
    assert w.add_checkpoint(_body(0, [], 0, tree.root(4), log_key)).status == 422
    assert w.add_checkpoint(_body(0, [], 0, sha256(b"").digest(), log_key)).status == 200
    assert w.add_checkpoint(_body(0, [], 4, tree.root(4), log_key)).status == 200
    same = w.add_checkpoint(_body(4, [tree.root(1)], 4, tree.root(4), log_key))
    assert same.status == 422  # equal sizes take no proof


def test_state_survives_reopening_and_the_cosignature_verifies(
    tmp_path: Path, tree: MerkleTree, log_key: Ed25519Signer
) -> None:
    first = _witness(tmp_path, log_key)
    reply = first.add_checkpoint(_body(0, [], 5, tree.root(5), log_key))
    assert reply.status == 200
    again = _witness(tmp_path)
    stale = again.add_checkpoint(_body(0, [], 7, tree.root(7), log_key))
    assert (stale.status, stale.body) == (409, b"5\n")
    note = again.latest_note(ORIGIN)
    opened = open_note(note, [again.cosigner.verifier])
    assert opened.verified[0].line().encode() == reply.body
    assert [e["status"] for e in again.refusals.entries()] == [409]


def test_rotated_log_key_and_a_failing_trusted_signature(
    tmp_path: Path, tree: MerkleTree, log_key: Ed25519Signer
) -> None:
    w = _witness(tmp_path, log_key)
    rotated = Ed25519Signer.generate(ORIGIN)
    w.store.trust(ORIGIN, rotated.verifier.vkey)
    assert w.add_checkpoint(_body(0, [], 3, tree.root(3), rotated)).status == 200
    # A note carrying a good signature and a bad one by trusted keys is refused whole.
    good = sign_checkpoint(Checkpoint(ORIGIN, 6, tree.root(6)), [rotated])
    bad_line = sign_checkpoint(Checkpoint(ORIGIN, 6, tree.root(5)), [log_key]).split(b"\n\n")[1]
    body = AddCheckpointRequest(3, tuple(tree.consistency_proof(3, 6)), good + bad_line)
    reply = w.add_checkpoint(body.to_bytes())
    assert reply.status == 403 and b"does not verify" in reply.body


def test_trust_refuses_cosigner_keys_and_duplicates(tmp_path: Path, log_key: Ed25519Signer) -> None:
    store = WitnessStore(tmp_path / "witness.sqlite")
    with pytest.raises(MalformedNote):
        store.trust(ORIGIN, Cosigner.generate(ORIGIN).verifier.vkey)
    store.trust(ORIGIN, log_key.verifier.vkey)
    with pytest.raises(Conflict):
        store.trust(ORIGIN, log_key.verifier.vkey)
