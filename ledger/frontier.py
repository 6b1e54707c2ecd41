"""The Merkle root of a growing log at chosen sizes, in memory flat in its length.

`audit verify` needs the root of the whole log and the roots at the sizes its
checkpoints (and the home's witnessed checkpoint) name: a handful of sizes, known before
the pass from the ledger stream. Keeping every leaf to answer any size (`MerkleTree`,
64 bytes an event: 64 MB at a million events) is only needed for proofs; this keeps the
O(log n) perfect-subtree roots of RFC 6962's compact range from index 0 (`RootBuilder`'s
stack) and remembers the root as the log passes each chosen size. A size it was not told
of raises `UnforeseenSize`, so the caller can verify again with the whole tree kept
instead of answering wrongly.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

from dermledger.ledger.merkle import EMPTY_ROOT, NODE_PREFIX, RootBuilder


class UnforeseenSize(Exception):
    """A root was asked for at a size that was neither chosen in advance nor the current one
    (a checkpoint outside the ledger stream, or one appended during the pass)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no root kept for size {size}")
        self.size = size


class Frontier(RootBuilder):
    """Streaming RFC 6962 roots: of everything so far, and of each chosen earlier size."""

    __slots__ = ("_roots", "_wanted")

    def __init__(self, sizes: Iterable[int] = ()) -> None:
        super().__init__()
        self._wanted = frozenset(sizes)
        self._roots: dict[int, bytes] = {0: EMPTY_ROOT}

    def append(self, leaf_hash: bytes) -> None:
        """Add one 32-byte leaf hash (a `hash_leaf` value, not checked again here: this is
        the hot path of a million-event pass)."""
        stack = self._stack
        count = self._size
        node = leaf_hash
        while count & 1:  # binary addition: each trailing 1 bit merges two subtrees
            node = sha256(NODE_PREFIX + stack.pop() + node).digest()
            count >>= 1
        stack.append(node)
        self._size += 1
        if self._size in self._wanted:
            self._roots[self._size] = super().root()

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all); `UnforeseenSize` unless
        `size` is the current size, 0, or was chosen and has been passed."""
        if size is None or size == self._size:
            return super().root()
        found = self._roots.get(size)
        if found is None:
            raise UnforeseenSize(size)
        return found
