"""Every inclusion proof of one tree size, from the stored levels, with O(log n) hashing.

`MerkleTree.inclusion_proof` walks RFC 6962's recursion for one leaf and hashes every
sibling range that is not a stored complete subtree: 19-20 hashes a proof in a log of
600k events, recomputed for each. A release proves every event of every image at one
size, so `AuditPaths` hashes what all those proofs share once, and each proof is then
log2(n) lookups.

Why that is enough: RFC 6962's tree of n leaves is the left-balanced tree in which node
j of level k covers leaves [j * 2**k, min((j + 1) * 2**k, n)), and a node whose range
holds only its left child's leaves is that child (same hash). Every node is a complete,
stored subtree except the last node of a level whose width 2**k does not divide n: the
right border, at most one node a level. The audit path of leaf i lists, from the leaf up,
the sibling (i >> k) ^ 1 of its level-k node whenever that sibling starts before n
(RFC 9162's verifier skips exactly the levels where it does not).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from hashlib import sha256

_SIZE = 32  # bytes in a hash (SHA-256); merkle.HASH_SIZE, which imports this module
_NODE = b"\x01"  # RFC 6962 interior-node prefix; merkle.NODE_PREFIX
HEX_FROM = 3
"""Levels from this one up are kept as one hex string each (n/4 nodes in all, 16 bytes a
leaf): most of a proof's nodes are up there, and a slice of a string is half the work of
a slice of bytes and its hex()."""


class AuditPaths:
    """The inclusion proofs of every leaf of the first `size` leaves of a tree.

    `levels[k]` holds the tree's complete level-k nodes, 32 bytes each, at least those of
    the first `size` leaves (as `MerkleTree` keeps them); they must not change while this
    is used, which appending to the tree does not do (it only adds nodes past them).
    """

    __slots__ = ("_border", "_border_hex", "_depth", "_hex", "_levels", "size")

    def __init__(self, levels: Sequence[bytes | bytearray], size: int) -> None:
        self.size = operator.index(size)
        self._levels = levels
        self._depth = (self.size - 1).bit_length() if self.size else 0  # proof length, max
        self._border = self._right_border()
        self._border_hex = [node.hex() for node in self._border]
        self._hex = [
            levels[k][: (self.size >> k) * _SIZE].hex() if k >= HEX_FROM else ""
            for k in range(self._depth)
        ]

    def _node(self, level: int, index: int) -> bytes:
        offset = index * _SIZE
        return bytes(self._levels[level][offset : offset + _SIZE])

    def _right_border(self) -> list[bytes]:
        """The last node of each level below the root, hashed up from the last leaf."""
        n = self.size
        if not n:
            return []
        border = [self._node(0, n - 1)]
        for level in range(1, self._depth):
            last = (n - 1) >> level
            if (n - 1) >> (level - 1) & 1:  # it has two children: a complete left one
                left = self._node(level - 1, 2 * last)
                border.append(sha256(_NODE + left + border[-1]).digest())
            else:  # only a left child, which it is
                border.append(border[-1])
        return border

    def _check(self, index: int) -> int:
        index = operator.index(index)
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of size {self.size}")
        return index

    def proof(self, index: int) -> list[bytes]:
        """PATH(index, D[0:size]) as `MerkleTree.inclusion_proof` gives it, lowest first.

        Raises:
            ValueError: `index` is outside 0..size-1.
        """
        return [bytes.fromhex(h) for h in self.proof_hex(index)]

    def proof_hex(self, index: int) -> list[str]:
        """The same proof with each hash as lowercase hex, as documents carry it.

        Raises:
            ValueError: `index` is outside 0..size-1.
        """
        index = self._check(index)
        n, levels, hexes, border = self.size, self._levels, self._hex, self._border_hex
        path = []
        for level in range(self._depth):
            sibling = (index >> level) ^ 1
            start = sibling << level
            if start + (1 << level) <= n:  # complete: stored
                if level >= HEX_FROM:
                    offset = sibling * 2 * _SIZE
                    path.append(hexes[level][offset : offset + 2 * _SIZE])
                else:
                    offset = sibling * _SIZE
                    path.append(levels[level][offset : offset + _SIZE].hex())
            elif start < n:  # the level's last node, incomplete
                path.append(border[level])
        return path
