"""The Merkle frontier gives MerkleTree's roots at the sizes it was told of, and refuses
to guess at any other."""

from __future__ import annotations

import hashlib

import pytest

from dermledger.ledger.frontier import Frontier, UnforeseenSize
from dermledger.ledger.merkle import EMPTY_ROOT, MerkleTree, hash_leaf


def leaves(n: int) -> list[bytes]:
    return [hash_leaf(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def test_roots_at_chosen_sizes_and_at_every_current_size() -> None:
    data = leaves(300)
    tree = MerkleTree(data)
    chosen = {0, 1, 2, 3, 7, 8, 9, 64, 100, 255, 256, 299, 300}
    frontier = Frontier(chosen)
    assert frontier.root() == EMPTY_ROOT
    for i, leaf in enumerate(data):
        frontier.append(leaf)
        assert frontier.size == i + 1
        assert frontier.root() == frontier.root(i + 1) == tree.root(i + 1)
    for size in chosen:
        assert frontier.root(size) == tree.root(size), size


def test_a_size_not_chosen_is_refused_not_guessed() -> None:
    frontier = Frontier({5})
    for leaf in leaves(10):
        frontier.append(leaf)
    with pytest.raises(UnforeseenSize) as raised:
        frontier.root(6)
    assert raised.value.size == 6
    with pytest.raises(UnforeseenSize):
        frontier.root(11)  # chosen or not, a size not reached has no root
