"""Unit tests for ledger/merkle_paths.py: every proof of one size from the stored levels.

`AuditPaths` must give exactly what `MerkleTree.inclusion_proof` (the per-proof walk) and
RFC 6962's literal PATH give, for every leaf of small trees, for random leaves of large
trees of sizes that are not powers of two, and for the published transparency-dev probes
(read in place from the shared vectors folder, never copied).
"""

from __future__ import annotations

import base64
import json
import random
from hashlib import sha256

import pytest

from dermledger.ledger.merkle import AuditPaths, MerkleTree, hash_leaf, verify_inclusion
from dermledger.tests.unit.test_merkle import REFERENCE_LEAVES, naive_path
from dermledger.tests.vectors.test_transparency_dev_vectors import _vectors_dir


def _leaves(n: int, salt: str = "paths") -> list[bytes]:
    return [hash_leaf(sha256(f"{salt}-{i}".encode()).digest()) for i in range(n)]


def test_published_inclusion_probes_that_verify() -> None:
    """Every transparency-dev inclusion probe with wantErr false is over the RFC 6962
    reference leaves (or is a one-leaf tree of its own leaf); AuditPaths must produce its
    proof exactly."""
    folder, _ = _vectors_dir()
    if not folder.is_dir():
        pytest.skip(f"transparency-dev vectors not found at {folder}")
    checked = 0
    for path in sorted((folder / "inclusion").rglob("*.json")):
        probe = json.loads(path.read_text())
        if probe["wantErr"]:
            continue
        index, size = probe["leafIdx"], probe["treeSize"]
        leaf = base64.b64decode(probe["leafHash"])
        tree = MerkleTree([leaf] if size == 1 else REFERENCE_LEAVES)
        assert tree.root(size) == base64.b64decode(probe["root"]), path
        want = [base64.b64decode(p) for p in probe["proof"] or ()]
        paths = tree.inclusion_proofs(size)
        assert paths.proof(index) == want, path
        assert paths.proof_hex(index) == [h.hex() for h in want], path
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("n", range(1, 70))
def test_every_leaf_of_small_trees(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree(leaves)
    paths = tree.inclusion_proofs()
    root = tree.root()
    for index in range(n):
        proof = paths.proof(index)
        assert proof == tree.inclusion_proof(index) == naive_path(index, leaves), (n, index)
        verify_inclusion(index=index, size=n, leaf_hash=leaves[index], proof=proof, root=root)


def test_random_leaves_of_large_trees_and_smaller_sizes() -> None:
    rng = random.Random(19)
    leaves = _leaves(5000, "large")
    tree = MerkleTree(leaves)
    sizes = [5000, 4096, 4097, 4095, 2049, 1000, 3333, *rng.sample(range(1, 5000), 20)]
    for size in sizes:
        paths = tree.inclusion_proofs(size)
        root = tree.root(size)
        for index in {0, size - 1, size // 2, *rng.sample(range(size), min(size, 40))}:
            proof = paths.proof(index)
            assert proof == tree.inclusion_proof(index, size), (size, index)
            verify_inclusion(index=index, size=size, leaf_hash=leaves[index], proof=proof,
                             root=root)  # fmt: skip


def test_proofs_stay_right_while_the_tree_grows() -> None:
    """Appending only adds nodes past the proven size, so earlier paths still hold."""
    leaves = _leaves(300, "grow")
    tree = MerkleTree(leaves[:100])
    paths = tree.inclusion_proofs()
    for leaf in leaves[100:]:
        tree.append(leaf)
    assert [paths.proof(i) for i in range(100)] == [
        tree.inclusion_proof(i, 100) for i in range(100)
    ]


def test_out_of_range_is_one_sentence() -> None:
    tree = MerkleTree(_leaves(10))
    with pytest.raises(ValueError, match="leaf index 10 is outside a tree of size 10"):
        tree.inclusion_proofs().proof(10)
    with pytest.raises(ValueError, match="leaf index -1 is outside a tree of size 4"):
        tree.inclusion_proofs(4).proof_hex(-1)
    with pytest.raises(ValueError, match=r"size 11 is outside 0\.\.10"):
        tree.inclusion_proofs(11)
    with pytest.raises(ValueError, match="outside a tree of size 0"):
        tree.inclusion_proofs(0).proof(0)
    assert AuditPaths([bytearray()], 0).size == 0
