"""RFC 6962 / RFC 9162 Merkle tree over DermLedger's event hashes.

Hashing (RFC 6962 section 2.1, RFC 9162 section 2.1.1), the contract other logs agree on:

- leaf hash  = SHA-256(0x00 || data); in DermLedger the data is the raw 32-byte event hash;
- node hash  = SHA-256(0x01 || left || right);
- empty root = SHA-256(b"").

The distinct prefixes keep a leaf from ever hashing to the same value as an interior node, so
a proof cannot pass an interior node off as a leaf as long as callers compute leaf hashes with
`hash_leaf` themselves rather than trusting a supplied one.

Three tools live here:

- `MerkleTree` keeps every complete subtree hash, so it answers roots and proofs for any prefix
  of the log quickly (the ledger's own view).
- `RootBuilder` keeps only the O(log n) roots of the perfect subtrees seen so far, to recompute
  the root of a million-event log while streaming it.
- `verify_inclusion` / `verify_consistency` check audit paths with the RFC 9162 section 2.1.3.2
  and 2.1.4.2 algorithms. Their acceptance rules match transparency-dev/merkle's published
  probes: an out-of-range index, a proof of the wrong length or with elements that are not
  32 bytes raise `ProofError`; a proof that leads to a different root raises `RootMismatch`;
  a consistency proof from the empty tree (old size 0) is always refused as meaningless.
  A verifier can only check that the claim fits some tree of leaf hashes; sizes whose paths
  hash alike (leaf 5 of 7 and of 8 leaves) share proofs, so take size and root together from
  one signed checkpoint.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from hashlib import sha256 as _sha256
from itertools import islice

from dermledger.ledger.errors import ProofError, RootMismatch
from dermledger.ledger.merkle_paths import AuditPaths

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "AuditPaths",
    "MerkleTree",
    "RootBuilder",
    "hash_children",
    "hash_leaf",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every leaf, node and root hash (SHA-256)."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = _sha256(b"").digest()
"""Root of the tree with no leaves: SHA-256 of the empty string (not of a leaf prefix)."""


def hash_leaf(data: bytes) -> bytes:
    """Return the leaf hash SHA-256(0x00 || data) of one log entry."""
    return _sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right).

    No length check: this is the hot primitive; callers pass 32-byte hashes.
    """
    return _sha256(NODE_PREFIX + left + right).digest()


_CHUNK = 1 << 14
"""Hashes handled per batch when building levels: bounds temporary memory, not speed."""


def _split(width: int) -> int:
    """Largest power of two strictly below `width` (>= 2): RFC 6962's split point."""
    return 1 << ((width - 1).bit_length() - 1)


def _checked_leaf(leaf_hash: bytes) -> bytes:
    if len(leaf_hash) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf_hash)}")
    return bytes(leaf_hash)


class MerkleTree:
    """An append-only RFC 6962 tree that keeps every complete subtree hash.

    Level 0 holds the leaf hashes, level k the hash of each complete run of 2**k leaves,
    each level as one bytearray of 32-byte slots. One million leaves take about 64 MB
    (2n hashes), and every node a proof needs is a slice, so proofs cost O(log n) hashing.

    Not thread-safe: guard `append` against concurrent readers.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Build the tree from leaf hashes that are already `hash_leaf(data)` values.

        Raises:
            TypeError: `leaf_hashes` is a single bytes-like object instead of a sequence.
            ValueError: a leaf hash is not 32 bytes long.
        """
        if isinstance(leaf_hashes, bytes | bytearray | memoryview):
            # Iterating bytes yields ints; catch the likely mistake of passing one hash.
            raise TypeError("pass a sequence of 32-byte leaf hashes, not one bytes object")
        leaves = leaf_hashes if isinstance(leaf_hashes, Sequence) else list(leaf_hashes)
        if leaves and set(map(len, leaves)) != {HASH_SIZE}:
            raise ValueError(f"every leaf hash must be {HASH_SIZE} bytes")
        level = bytearray(len(leaves) * HASH_SIZE)
        step = _CHUNK * HASH_SIZE
        source = iter(leaves)
        # join() holds an ~80-byte buffer record per item while it runs, more than the 32
        # bytes kept per leaf, so copy in bounded chunks.
        for start in range(0, len(level), step):
            level[start : start + step] = b"".join(islice(source, _CHUNK))
        self._levels: list[bytearray] = [level]
        self._size = len(leaves)
        while len(level) >= 2 * HASH_SIZE:
            level = _hash_pairs(level)
            self._levels.append(level)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash (a `hash_leaf(data)` value) at index `size`.

        Amortised O(1): each new leaf completes on average one parent hash.

        Raises:
            ValueError: `leaf_hash` is not 32 bytes long.
        """
        levels = self._levels
        levels[0] += _checked_leaf(leaf_hash)
        self._size += 1
        count = self._size
        level = 0
        # The new node completes a pair whenever its level now holds an even count; the
        # pair's parent is then the new node one level up, and so on.
        while not count & 1:
            parent = _sha256(NODE_PREFIX + levels[level][-2 * HASH_SIZE :]).digest()
            level += 1
            count >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += parent

    def root(self, size: int | None = None) -> bytes:
        """Return the RFC 6962 Merkle Tree Hash of the first `size` leaves (default: all).

        Raises:
            ValueError: `size` is negative or greater than `self.size`.
        """
        n = self._resolve_size(size)
        return self._range_hash(0, n) if n else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the RFC 6962 audit path PATH(index, D[0:size]), lowest level first.

        Raises:
            ValueError: `size` is outside 0..self.size, or `index` is outside 0..size-1.
        """
        n = self._resolve_size(size)
        index = operator.index(index)
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is outside a tree of size {n}")
        # Walk RFC 6962's recursion top-down, keeping the sibling subtree of each step, and
        # reverse at the end because the path lists siblings from the leaf upwards.
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:
            mid = lo + _split(hi - lo)
            if index < mid:
                path.append(self._range_hash(mid, hi))
                hi = mid
            else:
                path.append(self._range_hash(lo, mid))
                lo = mid
        path.reverse()
        return path

    def inclusion_proofs(self, size: int | None = None) -> AuditPaths:
        """Every leaf's `inclusion_proof(index, size)`, for many proofs at one size: the
        right border is hashed once, then each proof is lookups (see `merkle_paths`).

        Raises:
            ValueError: `size` is outside 0..self.size.
        """
        return AuditPaths(self._levels, self._resolve_size(size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return the RFC 6962 consistency proof PROOF(old_size, D[0:new_size]).

        The proof is empty when `old_size == new_size`.

        Raises:
            ValueError: `new_size` is outside 0..self.size, or `old_size` is outside
                1..new_size (a proof from the empty tree is meaningless).
        """
        n = self._resolve_size(new_size)
        m = operator.index(old_size)
        if not 0 < m <= n:
            raise ValueError(f"old size {m} is outside 1..{n}")
        # RFC 6962 SUBPROOF(m, D[lo:hi], b) unrolled, with `known` for b: it stays true while
        # every step went left, i.e. while the old tree itself ends exactly at `hi`; the
        # verifier holds its hash (old_root), so the proof then leaves that hash out.
        proof: list[bytes] = []
        lo, hi, known = 0, n, True
        while m != hi:
            mid = lo + _split(hi - lo)
            if m <= mid:
                proof.append(self._range_hash(mid, hi))
                hi = mid
            else:
                proof.append(self._range_hash(lo, mid))
                lo = mid
                known = False
        if not known:
            proof.append(self._range_hash(lo, hi))
        proof.reverse()
        return proof

    def _resolve_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        size = operator.index(size)
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} is outside 0..{self._size}")
        return size

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); needs start % 2**k == 0 for 2**k >= end - start.

        Every range RFC 6962's recursion visits meets that, so the range splits into stored
        perfect subtrees, one per set bit of its width, largest first; its hash is the
        right-to-left fold of their hashes.
        """
        levels = self._levels
        nodes: list[bytes] = []
        pos = start
        width = end - start
        for level in range(width.bit_length() - 1, -1, -1):
            if width >> level & 1:
                offset = (pos >> level) * HASH_SIZE
                nodes.append(bytes(levels[level][offset : offset + HASH_SIZE]))
                pos += 1 << level
        acc = nodes.pop()
        while nodes:
            acc = _sha256(NODE_PREFIX + nodes.pop() + acc).digest()
        return acc


def _hash_pairs(level: bytearray) -> bytearray:
    """Parent level of `level`: hash each complete (left, right) pair; an odd tail waits."""
    pair = 2 * HASH_SIZE
    end = len(level) // pair * pair
    parents = bytearray(end // 2)
    step = _CHUNK * pair
    # Chunks bound the temporary digest list (a full one costs ~70 bytes per node, twice the
    # level itself); the memoryview avoids copying, and releasing it keeps `level` resizable.
    with memoryview(level) as view:
        for start in range(0, end, step):
            stop = min(start + step, end)
            parents[start // 2 : stop // 2] = b"".join(
                [
                    _sha256(NODE_PREFIX + view[i : i + pair]).digest()
                    for i in range(start, stop, pair)
                ]
            )
    return parents


class RootBuilder:
    """Streaming Merkle Tree Hash in O(log n) memory (a compact range from index 0).

    Keeps the roots of the perfect subtrees that cover the leaves so far, largest first: one
    per set bit of the leaf count.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash (a `hash_leaf(data)` value).

        Raises:
            ValueError: `leaf_hash` is not 32 bytes long.
        """
        node = _checked_leaf(leaf_hash)
        stack = self._stack
        count = self._size
        # Each trailing 1 bit of the old count is a perfect subtree as large as the one being
        # carried, so the two merge - binary addition with hashes for carries.
        while count & 1:
            node = _sha256(NODE_PREFIX + stack.pop() + node).digest()
            count >>= 1
        stack.append(node)
        self._size += 1

    def root(self) -> bytes:
        """Return the RFC 6962 Merkle Tree Hash of all leaves appended so far."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        acc = stack[-1]
        for i in range(len(stack) - 2, -1, -1):
            acc = _sha256(NODE_PREFIX + stack[i] + acc).digest()
        return acc


def _check_hashes(proof: Sequence[bytes], kind: str) -> None:
    for i, element in enumerate(proof):
        if len(element) != HASH_SIZE:
            raise ProofError(
                f"{kind} proof element {i} is {len(element)} bytes, expected {HASH_SIZE}"
            )


def root_from_inclusion_proof(
    *, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Return the root that `proof` implies for leaf `leaf_hash` at `index` in a tree of `size`.

    This is RFC 9162 section 2.1.3.2 without the final comparison; use `verify_inclusion`
    unless you need the root itself (e.g. to compare with several trusted roots).

    Raises:
        ProofError: `index` is outside 0..size-1, `leaf_hash` or a proof element is not
            32 bytes, or the proof is too long or too short for (index, size).
    """
    index = operator.index(index)
    size = operator.index(size)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf_hash)} bytes, expected {HASH_SIZE}")
    _check_hashes(proof, "inclusion")
    # fn walks up from the leaf, sn from the last leaf; sn reaches 0 at the root, which is
    # how the RFC pins the proof length. Equal fn and sn mean the path has reached the right
    # border, where a node may have no right sibling for several levels.
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof for leaf {index} of {size} is too long")
        if fn & 1 or fn == sn:
            r = _sha256(NODE_PREFIX + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof for leaf {index} of {size} is too short")
    return r


def verify_inclusion(
    *, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is the leaf at `index` in the tree of `size` leaves with `root`.

    Compute `leaf_hash` with `hash_leaf` from the event hash you trust, and take `size` and
    `root` from the same signed checkpoint: a proof pins the size only together with its
    root (leaf 5's path has the same shape in trees of 7 and 8 leaves).

    Raises:
        ProofError: malformed input, see `root_from_inclusion_proof`.
        RootMismatch: the proof is well formed but leads to a different root.
    """
    calculated = root_from_inclusion_proof(index=index, size=size, leaf_hash=leaf_hash, proof=proof)
    if calculated != root:
        raise RootMismatch(
            f"inclusion proof for leaf {index} of {size} does not lead to the expected root",
            expected=bytes(root),
            calculated=calculated,
        )


def verify_consistency(
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of `new_size` with `new_root` extends the one of `old_size`.

    Equal sizes need an empty proof and equal roots. RFC 9162 section 2.1.4.2 otherwise.

    Raises:
        ProofError: `old_size` is 0 (nothing to prove; refused like transparency-dev's
            probes do) or greater than `new_size`, a proof element is not 32 bytes, or the
            proof is empty, too long or too short for the two sizes.
        RootMismatch: the proof is well formed but does not reproduce `old_root` (checked
            first) or `new_root`.
    """
    m = operator.index(old_size)
    n = operator.index(new_size)
    if not 0 <= m <= n:
        raise ProofError(f"old size {m} must be between 0 and new size {n}")
    if m == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if m == n:
        _verify_same_tree(n, old_root=old_root, new_root=new_root, proof=proof)
        return
    if not proof:
        raise ProofError(f"consistency proof {m} -> {n} is empty")
    _check_hashes(proof, "consistency")
    fr, sr = _roots_from_consistency_proof(m, n, old_root=old_root, proof=proof)
    _expect_root(fr, old_root, f"consistency proof {m} -> {n} does not reproduce the old root")
    _expect_root(sr, new_root, f"consistency proof {m} -> {n} does not lead to the new root")


def _verify_same_tree(
    size: int, *, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Two checkpoints of one size are consistent only if nothing needs proving."""
    if proof:
        raise ProofError("equal tree sizes need an empty consistency proof")
    if old_root != new_root:
        raise RootMismatch(
            f"trees of equal size {size} have different roots",
            expected=bytes(new_root),
            calculated=bytes(old_root),
        )


def _roots_from_consistency_proof(
    m: int, n: int, *, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """The old and new roots that `proof` implies for sizes 0 < m < n (RFC 9162 2.1.4.2).

    Kept apart from the comparisons so the loop reads like the RFC's steps; raises
    ProofError when the proof is too long or too short for the two sizes.
    """
    # An old tree whose size is a power of two is a complete subtree of the new one; the
    # proof leaves out its hash because the verifier has it: old_root.
    path = [bytes(old_root), *proof] if m & (m - 1) == 0 else proof
    fn, sn = m - 1, n - 1
    # Skip the levels inside the old tree's last complete subtree: path[0] is its hash.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # fr rebuilds the old root from the left-hand hashes only; sr the new root from all.
    fr = sr = bytes(path[0])
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof {m} -> {n} is too long")
        if fn & 1 or fn == sn:
            fr = _sha256(NODE_PREFIX + c + fr).digest()
            sr = _sha256(NODE_PREFIX + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof {m} -> {n} is too short")
    return fr, sr


def _expect_root(calculated: bytes, expected: bytes, message: str) -> None:
    if calculated != expected:
        raise RootMismatch(message, expected=bytes(expected), calculated=calculated)
