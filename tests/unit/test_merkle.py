"""Unit tests for ledger/merkle.py: known answers, agreement with the RFC 6962 definitions,
and exhaustive proof round trips with every kind of damage for small trees.

The naive functions below transcribe RFC 6962 section 2.1 literally (recursive MTH, PATH,
SUBPROOF); the module under test must agree with them for every size tried.
"""

from __future__ import annotations

from hashlib import sha256

import pytest

from dermledger.ledger.errors import ProofError, RootMismatch, VerificationError
from dermledger.ledger.merkle import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    NODE_PREFIX,
    MerkleTree,
    RootBuilder,
    hash_children,
    hash_leaf,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# --- RFC 6962 literally -------------------------------------------------------------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], known: bool = True) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if known else [naive_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], known), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


# DermLedger-shaped leaves: the leaf data is a 32-byte event hash.
EVENTS = [sha256(b"unit-test-event-%d" % i).digest() for i in range(80)]
LEAVES = [hash_leaf(e) for e in EVENTS]
OTHER = sha256(b"not in the tree").digest()

# --- Known answers ------------------------------------------------------------------------

# transparency-dev/merkle testonly/constants.go (from the Certificate Transparency tests).
REFERENCE_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
REFERENCE_ROOTS = [
    # printf '' | sha256sum
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    # printf '\x00' | sha256sum
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    # { printf '\x01'; printf '\x00' | openssl dgst -sha256 -binary;
    #   printf '\x00\x00' | openssl dgst -sha256 -binary; } | sha256sum
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    # { printf '\x01'; { printf '\x01'; printf '\x00' | openssl dgst -sha256 -binary;
    #   printf '\x00\x00' | openssl dgst -sha256 -binary; } | openssl dgst -sha256 -binary;
    #   printf '\x00\x10' | openssl dgst -sha256 -binary; } | sha256sum
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    # l() { printf "\\x00$1" | openssl dgst -sha256 -binary; }
    # { printf '\x01'; { printf '\x01'; l ''; l '\x00'; } | openssl dgst -sha256 -binary;
    #   { printf '\x01'; l '\x10'; l '\x20\x21'; } | openssl dgst -sha256 -binary; } | sha256sum
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    # Sizes 5-8: published values only (the shell gets unwieldy); naive_mth agrees below.
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# NodeHashes() from the same file: REFERENCE_NODES[level][index] is the hash of the complete
# subtree of 2**level leaves starting at leaf index * 2**level.
REFERENCE_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        # printf '\x00\x00' | sha256sum
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
REFERENCE_LEAVES = [hash_leaf(d) for d in REFERENCE_INPUTS]


def ref_node(level: int, index: int) -> bytes:
    return bytes.fromhex(REFERENCE_NODES[level][index])


def test_prefixes_and_primitives_known_answers() -> None:
    assert (LEAF_PREFIX, NODE_PREFIX) == (b"\x00", b"\x01")
    # printf '' | sha256sum
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # printf '\x00' | sha256sum  (an empty leaf is not the empty tree)
    assert (
        hash_leaf(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    # printf '\x00L123456' | sha256sum
    assert (
        hash_leaf(b"L123456").hex()
        == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    # printf '\x01N123N456' | sha256sum
    assert (
        hash_children(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_reference_roots_for_every_prefix() -> None:
    tree = MerkleTree(REFERENCE_LEAVES)
    builder = RootBuilder()
    for size, want in enumerate(REFERENCE_ROOTS):
        assert tree.root(size).hex() == want, size
        assert naive_mth(REFERENCE_LEAVES[:size]).hex() == want, size
        assert builder.root().hex() == want, size
        if size < len(REFERENCE_LEAVES):
            builder.append(REFERENCE_LEAVES[size])


def test_reference_complete_subtrees() -> None:
    for level, row in enumerate(REFERENCE_NODES):
        width = 1 << level
        for index, want in enumerate(row):
            chunk = REFERENCE_LEAVES[index * width : (index + 1) * width]
            assert MerkleTree(chunk).root().hex() == want, (level, index)


# Proofs in the RFC 6962 reference tree, as published in the CT / transparency-dev tests,
# written as the complete subtrees they consist of.
@pytest.mark.parametrize(
    ("index", "size", "nodes"),
    [
        (0, 8, [(0, 1), (1, 1), (2, 1)]),
        (5, 8, [(0, 4), (1, 3), (2, 0)]),
        (2, 3, [(1, 0)]),
        (1, 5, [(0, 0), (1, 1), (0, 4)]),
        (0, 1, []),
    ],
)
def test_reference_inclusion_proofs(index: int, size: int, nodes: list[tuple[int, int]]) -> None:
    proof = MerkleTree(REFERENCE_LEAVES).inclusion_proof(index, size)
    assert proof == [ref_node(*n) for n in nodes]


@pytest.mark.parametrize(
    ("old", "new", "nodes"),
    [
        (1, 1, []),
        (1, 8, [(0, 1), (1, 1), (2, 1)]),
        (6, 8, [(1, 2), (1, 3), (2, 0)]),
        (2, 5, [(1, 1), (0, 4)]),
        (4, 8, [(2, 1)]),
    ],
)
def test_reference_consistency_proofs(old: int, new: int, nodes: list[tuple[int, int]]) -> None:
    proof = MerkleTree(REFERENCE_LEAVES).consistency_proof(old, new)
    assert proof == [ref_node(*n) for n in nodes]


# --- Roots: three implementations agree ----------------------------------------------------


def test_roots_agree_for_sizes_0_to_70() -> None:
    incremental = MerkleTree()
    builder = RootBuilder()
    full = MerkleTree(LEAVES[:70])
    for size in range(71):
        want = naive_mth(LEAVES[:size])
        assert MerkleTree(LEAVES[:size]).root() == want, size
        assert incremental.root() == want, size
        assert builder.root() == want, size
        assert full.root(size) == want, size
        assert incremental.size == builder.size == len(incremental) == size
        if size < 70:
            incremental.append(LEAVES[size])
            builder.append(LEAVES[size])


def test_tree_accepts_any_iterable_and_bytes_like_leaves() -> None:
    from_generator = MerkleTree(leaf for leaf in LEAVES[:13])
    from_bytearrays = MerkleTree([bytearray(leaf) for leaf in LEAVES[:13]])
    assert from_generator.root() == from_bytearrays.root() == naive_mth(LEAVES[:13])
    assert all(type(p) is bytes for p in from_bytearrays.inclusion_proof(5))


# --- Proofs: every (index, size) and (old, new) up to 40 -----------------------------------

TREE = MerkleTree(LEAVES[:41])
ROOTS = [TREE.root(n) for n in range(42)]


def _flip(h: bytes, byte: int = 0) -> bytes:
    return h[:byte] + bytes([h[byte] ^ 0x01]) + h[byte + 1 :]


def _rejects(error: type[Exception], **claim: object) -> None:
    """Assert that verify_inclusion / verify_consistency (by keys) raises `error`."""
    verify = verify_inclusion if "index" in claim else verify_consistency
    with pytest.raises(error):
        verify(**claim)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", range(1, 41))
def test_inclusion_proofs_round_trip_and_damage(n: int) -> None:
    leaves = LEAVES[:n]
    root = ROOTS[n]
    small = MerkleTree(leaves)
    for i in range(n):
        proof = TREE.inclusion_proof(i, n)
        assert proof == naive_path(i, leaves) == small.inclusion_proof(i)
        good = {"index": i, "size": n, "leaf_hash": leaves[i], "proof": proof, "root": root}
        verify_inclusion(**good)
        assert root_from_inclusion_proof(index=i, size=n, leaf_hash=leaves[i], proof=proof) == root

        # Flipped bit anywhere in the path, the leaf or the root: the roots differ.
        for j in range(len(proof)):
            damaged = [*proof[:j], _flip(proof[j], j % 32), *proof[j + 1 :]]
            _rejects(RootMismatch, **{**good, "proof": damaged})
        _rejects(RootMismatch, **{**good, "leaf_hash": _flip(leaves[i])})
        _rejects(RootMismatch, **{**good, "root": _flip(root, 31)})
        # The wrong leaf, and the raw event hash in place of its leaf hash.
        _rejects(RootMismatch, **{**good, "leaf_hash": LEAVES[(i + 1) % n] if n > 1 else OTHER})
        _rejects(RootMismatch, **{**good, "leaf_hash": EVENTS[i]})
        # Another index of the same tree: never accepted with this path.
        for other in {i - 1, i + 1, i ^ 1, i ^ 2} - {i}:
            if 0 <= other < n:
                _rejects(VerificationError, **{**good, "index": other})
        # Index out of range.
        _rejects(ProofError, **{**good, "index": n})
        _rejects(ProofError, **{**good, "index": -1})
        _rejects(ProofError, **{**good, "size": 0, "index": 0})
        # Another size together with that size's real root.
        for other in {n - 1, n + 1, 2 * n, n // 2} - {n}:
            if i < other <= 41:
                _rejects(VerificationError, **{**good, "size": other, "root": ROOTS[other]})
        # Shape damage is caught before any hashing.
        _rejects(ProofError, **{**good, "proof": [*proof, OTHER]})
        _rejects(ProofError, **{**good, "proof": [OTHER, *proof]})
        _rejects(ProofError, **{**good, "leaf_hash": leaves[i][:31]})
        if proof:
            _rejects(ProofError, **{**good, "proof": proof[:-1]})
            _rejects(ProofError, **{**good, "proof": proof[1:]})
            _rejects(ProofError, **{**good, "proof": [proof[0][:31], *proof[1:]]})
            _rejects(ProofError, **{**good, "proof": [*proof[:-1], proof[-1] + b"\x00"]})


@pytest.mark.parametrize("n", range(1, 41))
def test_consistency_proofs_round_trip_and_damage(n: int) -> None:
    new_root = ROOTS[n]
    small = MerkleTree(LEAVES[:n])
    for m in range(1, n + 1):
        proof = TREE.consistency_proof(m, n)
        assert proof == naive_subproof(m, LEAVES[:n]) == small.consistency_proof(m)
        old_root = ROOTS[m]
        good = {
            "old_size": m,
            "new_size": n,
            "old_root": old_root,
            "new_root": new_root,
            "proof": proof,
        }
        verify_consistency(**good)

        _rejects(RootMismatch, **{**good, "old_root": _flip(old_root, 31)})
        _rejects(RootMismatch, **{**good, "new_root": _flip(new_root, 31)})
        _rejects(ProofError, **{**good, "proof": [*proof, OTHER]})
        _rejects(ProofError, **{**good, "old_size": 0, "old_root": EMPTY_ROOT})
        _rejects(ProofError, **{**good, "old_size": n + 1})
        if m == n:
            assert proof == []
            continue
        for j in range(len(proof)):
            damaged = [*proof[:j], _flip(proof[j], j % 32), *proof[j + 1 :]]
            _rejects(RootMismatch, **{**good, "proof": damaged})
        _rejects(RootMismatch, **{**good, "old_root": new_root, "new_root": old_root})
        _rejects(ProofError, **{**good, "proof": []})
        _rejects(ProofError, **{**good, "proof": proof[:-1]})
        _rejects(ProofError, **{**good, "proof": [OTHER, *proof]})
        _rejects(ProofError, **{**good, "proof": [proof[0][:31], *proof[1:]]})
        # Other sizes with their own real roots.
        for other in {m - 1, m + 1, m ^ 2} - {m}:
            if 0 < other < n:
                _rejects(VerificationError, **{**good, "old_size": other, "old_root": ROOTS[other]})
        for other in {n - 1, n + 1, 2 * n} - {n}:
            if m < other <= 41:
                _rejects(VerificationError, **{**good, "new_size": other, "new_root": ROOTS[other]})


def test_sizes_with_the_same_path_shape_share_proofs() -> None:
    # What a verifier can and cannot know: leaf 5's path hashes alike in trees of 7 and 8
    # leaves, so the proof for size 8 "verifies" a size-7 claim carrying the size-8 root.
    # Only a root signed together with its size makes the size mean anything.
    proof = TREE.inclusion_proof(5, 8)
    verify_inclusion(index=5, size=7, leaf_hash=LEAVES[5], proof=proof, root=ROOTS[8])
    with pytest.raises(RootMismatch):
        verify_inclusion(index=5, size=7, leaf_hash=LEAVES[5], proof=proof, root=ROOTS[7])


def test_leaf_hashes_must_come_from_hash_leaf() -> None:
    # An interior node passes as "leaf 0 of a 2-leaf tree" with the 4-leaf root. The 0x00/0x01
    # prefixes stop any event hash from producing that value, but only if the verifier
    # computes hash_leaf(event_hash) itself and checks the size signed with the root.
    left, right = hash_children(LEAVES[0], LEAVES[1]), hash_children(LEAVES[2], LEAVES[3])
    verify_inclusion(index=0, size=2, leaf_hash=left, proof=[right], root=ROOTS[4])
    assert hash_leaf(LEAVES[0] + LEAVES[1]) != left


# --- Edge cases and errors -----------------------------------------------------------------


def test_consistency_edge_cases() -> None:
    r1, r2 = ROOTS[1], ROOTS[2]
    verify_consistency(old_size=1, new_size=1, old_root=r1, new_root=r1, proof=[])
    with pytest.raises(RootMismatch) as info:
        verify_consistency(old_size=1, new_size=1, old_root=r1, new_root=r2, proof=[])
    assert (info.value.expected, info.value.calculated) == (r2, r1)
    with pytest.raises(ProofError):
        verify_consistency(old_size=1, new_size=1, old_root=r1, new_root=r1, proof=[r1])
    # From the empty tree there is nothing to prove: refused, as transparency-dev's probes say.
    for new_size, new_root in [(0, EMPTY_ROOT), (2, r2)]:
        with pytest.raises(ProofError):
            verify_consistency(
                old_size=0, new_size=new_size, old_root=EMPTY_ROOT, new_root=new_root, proof=[]
            )
    with pytest.raises(ProofError):
        verify_consistency(old_size=2, new_size=1, old_root=r2, new_root=r1, proof=[])


def test_root_mismatch_carries_both_roots() -> None:
    proof = TREE.inclusion_proof(3, 9)
    with pytest.raises(RootMismatch) as info:
        verify_inclusion(index=3, size=9, leaf_hash=LEAVES[3], proof=proof, root=OTHER)
    assert info.value.expected == OTHER
    assert info.value.calculated == ROOTS[9]

    proof = TREE.consistency_proof(3, 9)
    with pytest.raises(RootMismatch) as info:
        verify_consistency(old_size=3, new_size=9, old_root=OTHER, new_root=ROOTS[9], proof=proof)
    assert (info.value.expected, info.value.calculated) == (OTHER, ROOTS[3])


def test_tree_preconditions_raise_value_error() -> None:
    tree = MerkleTree(LEAVES[:5])
    for call in [
        lambda: tree.root(6),
        lambda: tree.root(-1),
        lambda: tree.inclusion_proof(5),
        lambda: tree.inclusion_proof(-1),
        lambda: tree.inclusion_proof(2, 2),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.consistency_proof(0),
        lambda: tree.consistency_proof(3, 2),
        lambda: tree.consistency_proof(1, 6),
        lambda: tree.append(b"\x00" * 31),
        lambda: MerkleTree([LEAVES[0], b"short"]),
        lambda: RootBuilder().append(b"\x00" * 33),
    ]:
        with pytest.raises(ValueError):
            call()
    assert tree.size == 5  # The refused append changed nothing.
    assert MerkleTree().root() == EMPTY_ROOT
    with pytest.raises(TypeError):
        MerkleTree(LEAVES[0])  # One hash is not a list of hashes.
