"""The near-duplicate index must agree exactly with the naive scan.

Exactness is argued in three layers: the multi-index-hashing lemma itself
(`probe_radii` leaves no way for a neighbour to escape every table), boundary
cases built to sit exactly on each table's probe radius, and end-to-end
comparison with `naive_query` / `naive_pairs` on random and clustered hashes.
The end-to-end tests run twice: as shipped, and with the linear-scan fallback
disabled, so that a fallback cannot hide a bug in the table path.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import numpy as np
import pytest

from dermledger.projections import near_duplicates as nd
from dermledger.projections.near_duplicates import (
    HASH_BITS,
    NearDuplicateIndex,
    hamming,
    linear_scan,
    naive_pairs,
    naive_query,
    parse_hash,
    probe_radii,
    substring_widths,
)

RADII = range(17)
SUBSTRINGS = (3, 4, 5, 8, 11)
MASK = (1 << HASH_BITS) - 1


# ------------------------------------------------------------------------ data


def random_hashes(n: int, seed: int) -> list[int]:
    """Uniform 64-bit hashes: no natural neighbours, evenly filled buckets."""
    rng = random.Random(seed)
    return [rng.getrandbits(HASH_BITS) for _ in range(n)]


def random_with_copies(n: int, seed: int) -> list[int]:
    """Uniform hashes, a fifth of them replaced by copies of others with 0-16 bits flipped.

    Uniform hashes alone almost never lie within 16 bits of each other, which
    would leave `pairs` nothing to find; planted copies give every radius work.
    """
    rng = random.Random(seed)
    hashes = random_hashes(n, seed)
    for i in rng.sample(range(1, n), n // 5):
        hashes[i] = flip(hashes[rng.randrange(i)], rng.randrange(17), rng)
    return hashes


def flip(h: int, bits: int, rng: random.Random) -> int:
    """`h` with `bits` distinct random bits flipped."""
    for b in rng.sample(range(HASH_BITS), bits):
        h ^= 1 << b
    return h


def clustered_hashes(n: int, centres: int, seed: int) -> list[int]:
    """Noisy copies of a few centres, like phashes of re-encoded or cropped images.

    Each bit flips with probability 0.08 (about 5 bits on average), so clusters
    are dense within radius 16 and buckets are very uneven: the hard case.
    """
    rng = random.Random(seed)
    base = [rng.getrandbits(HASH_BITS) for _ in range(centres)]
    out = []
    for _ in range(n):
        h = rng.choice(base)
        for b in range(HASH_BITS):
            if rng.random() < 0.08:
                h ^= 1 << b
        out.append(h)
    return out


def queries_for(hashes: list[int], count: int, seed: int) -> list[int]:
    """Stored hashes, perturbed copies at 0..20 bits, and unrelated hashes."""
    rng = random.Random(seed)
    qs = []
    for i in range(count):
        h = rng.choice(hashes)
        qs.append(rng.getrandbits(HASH_BITS) if i % 5 == 4 else flip(h, rng.randrange(21), rng))
    return qs


DATASETS = {
    "random": random_with_copies,
    "clustered": lambda n, seed: clustered_hashes(n, max(1, n // 100), seed),
}


@pytest.fixture(params=["shipped", "tables-only"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test as shipped and with the linear-scan fallback switched off."""
    if request.param == "tables-only":
        monkeypatch.setattr(nd, "SCAN_COST_RATIO", 0)
        monkeypatch.setattr(nd, "TABLE_OVERHEAD", 0)
    yield request.param


def build(hashes: list[int], substrings: int = 4, **kwargs: int) -> NearDuplicateIndex[str]:
    index: NearDuplicateIndex[str] = NearDuplicateIndex(substrings, **kwargs)
    for i, h in enumerate(hashes):
        index.add(f"img-{i}", h)
    return index


def items_of(hashes: list[int]) -> list[tuple[str, int]]:
    return [(f"img-{i}", h) for i, h in enumerate(hashes)]


# ---------------------------------------------------------------------- inputs


def test_parse_hash_accepts_ints_hex_strings_and_numpy() -> None:
    assert parse_hash(0) == 0
    assert parse_hash(MASK) == MASK
    assert parse_hash("ffffffffffffffff") == MASK
    assert parse_hash("00000000000000A1") == 0xA1
    assert parse_hash(np.uint64(MASK)) == MASK
    assert hamming("0000000000000000", MASK) == 64


@pytest.mark.parametrize(
    "bad", [-1, 1 << 64, "", "fff", "0" * 17, "0x00000000000000", "g" * 16, " " + "0" * 15]
)
def test_parse_hash_rejects_values_outside_64_bits(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_hash(bad)


@pytest.mark.parametrize("bad", [True, 1.0, None, b"0" * 16])
def test_parse_hash_rejects_other_types(bad: object) -> None:
    with pytest.raises(TypeError):
        parse_hash(bad)


# ------------------------------------------------------------------- the lemma


@pytest.mark.parametrize("m", range(1, 65))
def test_probe_radii_cover_every_split_of_r_bits_and_no_more(m: int) -> None:
    """Escaping table t needs > radii[t] differing bits there; escaping all needs > r.

    A neighbour within r escapes every table only if it can put more than
    radii[t] differing bits into each table t, i.e. if sum(radii[t] + 1) <= r
    with each radii[t] + 1 <= width[t]. The sum must be exactly r + 1: any more
    and the plan probes keys that cannot hold a neighbour.
    """
    widths = substring_widths(m)
    assert sum(widths) == HASH_BITS
    for r in range(HASH_BITS + 2):
        radii = probe_radii(r, widths)
        capped = any(rad >= w for rad, w in zip(radii, widths, strict=True))
        escape_cost = sum(rad + 1 for rad in radii)
        assert capped or escape_cost == r + 1, (m, r, radii)


@pytest.mark.parametrize("m", [3, 4])
def test_probe_radii_exhaustively_for_small_m(m: int) -> None:
    """Enumerate every way to spread d <= r differing bits over the substrings."""
    widths = substring_widths(m)
    for r in RADII:
        radii = probe_radii(r, widths)
        for split in itertools.product(range(r + 1), repeat=m):
            if sum(split) <= r:
                assert any(d <= rad for d, rad in zip(split, radii, strict=True)), (r, split)
        # ...and a split with r + 1 bits exists that every table misses (tightness).
        assert sum(rad + 1 for rad in radii) == r + 1


def test_probe_radii_rejects_negative_radius() -> None:
    with pytest.raises(ValueError):
        probe_radii(-1, (16, 16, 16, 16))


def spread(h: int, counts: tuple[int, ...], widths: tuple[int, ...], rng: random.Random) -> int:
    """`h` with counts[t] distinct bits flipped inside substring t."""
    shift = HASH_BITS
    for count, width in zip(counts, widths, strict=True):
        shift -= width
        for b in rng.sample(range(width), count):
            h ^= 1 << (shift + b)
    return h


@pytest.mark.parametrize("m", [3, 4, 5, 7, 11, 16])
def test_neighbours_on_every_probe_boundary_are_found(m: int, mode: str) -> None:
    """The hardest neighbours: every table but one is missed by a single bit.

    For each radius and each table t, a hash at distance exactly r has
    radii[t] differing bits in table t (right on its probe boundary) and
    radii[u] + 1 in every other table u (just outside theirs). Adding the
    missing bit gives distance r + 1, which must not be reported.
    """
    rng = random.Random(m)
    widths = substring_widths(m)
    index = NearDuplicateIndex[str](m, merge_threshold=64)
    background = random_hashes(300, seed=m)
    for i, h in enumerate(background):
        index.add(f"bg-{i}", h)
    q = rng.getrandbits(HASH_BITS)
    cases = []
    for r in RADII:
        radii = probe_radii(r, widths)
        outside = tuple(rad + 1 for rad in radii)
        if any(o > w for o, w in zip(outside, widths, strict=True)):
            continue
        for t in range(m):
            if radii[t] < 0:
                continue
            inside = tuple(o - (u == t) for u, o in enumerate(outside))
            cases.append((r, f"in-{r}-{t}", spread(q, inside, widths, rng)))
        cases.append((r, f"out-{r}", spread(q, outside, widths, rng)))
    for _, key, h in cases:
        index.add(key, h)
    for r in RADII:
        found = {key for key, _ in index.query(q, r)}
        for case_r, key, h in cases:
            assert (key in found) == (hamming(q, h) <= r), (r, case_r, key)
    assert len(index) == 300 + len(cases)


# ------------------------------------------------------------- exact vs naive


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("m", SUBSTRINGS)
def test_query_equals_naive_query(dataset: str, m: int, mode: str) -> None:
    hashes = DATASETS[dataset](2500, seed=m)
    items = items_of(hashes)
    index = NearDuplicateIndex[str](m, merge_threshold=1000)
    index.add_many((k for k, _ in items), (h for _, h in items))
    assert len(index) == len(hashes)
    hits = 0
    for q in queries_for(hashes, 30, seed=m + 1):
        for r in RADII:
            expected = naive_query(items, q, r)
            assert index.query(q, r) == expected, (q, r)
            hits += len(expected)
    assert hits > 100  # the comparison must not be vacuous


@pytest.mark.parametrize("m", [4, 5])
def test_query_matches_linear_scan_on_clustered_data(m: int, mode: str) -> None:
    """Larger index, numpy reference: exercises merges and big, uneven buckets."""
    hashes = clustered_hashes(30_000, 300, seed=7)
    array = np.array(hashes, dtype=np.uint64)
    index = NearDuplicateIndex[int](m, merge_threshold=4096)
    for start in range(0, len(hashes), 7000):
        batch = array[start : start + 7000]
        index.add_many(range(start, start + batch.size), batch)
    for q in queries_for(hashes, 40, seed=8):
        for r in (0, 4, 8, 10, 12, 16):
            positions, distances = linear_scan(array[: len(index)], q, r)
            expected = sorted(zip(distances.tolist(), positions.tolist(), strict=True))
            assert index.query(q, r) == [(p, d) for d, p in expected]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("m", [4, 5, 11])
def test_pairs_equals_naive_pairs(dataset: str, m: int, mode: str) -> None:
    hashes = DATASETS[dataset](300, seed=m)
    items = items_of(hashes)
    index = build(hashes, m, merge_threshold=128)
    total = 0
    for r in RADII:
        expected = naive_pairs(items, r)
        assert index.pairs(r) == expected, r
        total += len(expected)
    assert total > 300


def test_tables_answer_at_realistic_sizes() -> None:
    """Guard the cost model: at 100k hashes, radius 10 must not fall back to scanning."""
    rng = np.random.default_rng(11)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=100_000, dtype=np.uint64)
    index = NearDuplicateIndex[int]()
    index.add_many(range(hashes.size), hashes)
    plan = index._plan(10)
    assert plan is not None
    assert plan.probes == 428  # 3 tables at radius 2 (137 keys each) + 1 at radius 1 (17)
    assert index._tables_pay(plan.probes + 2_000)
    assert not index._tables_pay(hashes.size)  # but scans when every hash is a candidate
    q = int(hashes[123]) ^ 0b1011
    assert index.query(q, 10)[0] == (123, 3)


@pytest.mark.parametrize("radius", [24, 40, 64, 65, 1000])
def test_large_radii_fall_back_to_scanning_and_stay_exact(radius: int) -> None:
    hashes = random_hashes(150, seed=radius)
    items = items_of(hashes)
    index = build(hashes, 4, merge_threshold=50)
    assert index.pairs(radius) == naive_pairs(items, radius)
    for q in queries_for(hashes, 10, seed=radius):
        assert index.query(q, radius) == naive_query(items, q, radius)


# ----------------------------------------------------------------- behaviour


@pytest.mark.parametrize("threshold", [1, 5, 64, 10_000])
def test_incremental_adds_agree_at_every_stage(threshold: int, mode: str) -> None:
    """Queries between adds see exactly the hashes added so far, tail or tables."""
    hashes = clustered_hashes(700, 12, seed=threshold)
    index = NearDuplicateIndex[str](4, merge_threshold=threshold)
    queries = queries_for(hashes, 6, seed=threshold)
    added = 0
    for step in (1, 2, 30, 97, 250, 320):
        batch = hashes[added : added + step]
        if step % 2:
            for i, h in enumerate(batch, start=added):
                index.add(f"img-{i}", h)
        else:
            index.add_many([f"img-{i}" for i in range(added, added + len(batch))], batch)
        added += len(batch)
        items = items_of(hashes[:added])
        assert len(index) == added
        for q in queries:
            for r in (0, 3, 8, 12):
                assert index.query(q, r) == naive_query(items, q, r)
        assert index.pairs(6) == naive_pairs(items, 6)
    assert added == len(hashes)


def test_identical_hashes_are_all_returned_in_insertion_order(mode: str) -> None:
    h = 0x8F3A_55AA_0F0F_1234
    index = NearDuplicateIndex[str](merge_threshold=3)
    for key in ("a", "b", "c", "d", "e"):
        index.add(key, h)
    index.add("near", h ^ 0b101)
    index.add("far", h ^ MASK)
    assert index.query(h, 0) == [("a", 0), ("b", 0), ("c", 0), ("d", 0), ("e", 0)]
    assert index.query(format(h, "016x"), 2)[-1] == ("near", 2)
    assert index.query(h ^ 1, 1) == [("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("near", 1)]
    pairs = index.pairs(0)
    assert pairs == [(a, b, 0) for a, b in itertools.combinations("abcde", 2)]
    assert len(index.pairs(2)) == 10 + 5


def test_empty_index() -> None:
    index = NearDuplicateIndex[str]()
    assert len(index) == 0
    assert "x" not in index
    assert index.query(0, 10) == []
    assert index.query(MASK, 64) == []
    assert index.pairs(10) == []
    index.add_many([], [])
    assert len(index) == 0


def test_single_hash_and_hex_input() -> None:
    index = NearDuplicateIndex[str]()
    index.add("only", "8f3a55aa0f0f1234")
    assert "only" in index
    assert index.query(0x8F3A55AA0F0F1234, 0) == [("only", 0)]
    assert index.pairs(64) == []


def test_any_hashable_id_works_including_tuples() -> None:
    """Ids live in a numpy object array; a tuple must stay one element there."""
    index = NearDuplicateIndex[object]()
    index.add_many([("site", 1), ("site", 2), 7], [5, 5, 4])
    index.add(("site", 3), 5)
    index.add(None, 1 << 63)
    assert index.query(5, 1) == [(("site", 1), 0), (("site", 2), 0), (("site", 3), 0), (7, 1)]
    assert index.pairs(0) == [(("site", 1), ("site", 2), 0), (("site", 1), ("site", 3), 0),
                              (("site", 2), ("site", 3), 0)]  # fmt: skip
    assert index.query(1 << 63, 0) == [(None, 0)]


def test_add_many_accepts_numpy_arrays() -> None:
    hashes = random_hashes(100, seed=3)
    index = NearDuplicateIndex[int]()
    index.add_many(range(50), np.array(hashes[:50], dtype=np.uint64))
    index.add_many(range(50, 100), np.array([h >> 1 for h in hashes[50:]], dtype=np.int64))
    items = list(enumerate(hashes[:50] + [h >> 1 for h in hashes[50:]]))
    for q in hashes[:10]:
        assert index.query(q, 12) == naive_query(items, q, 12)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("bad", [-1, 1 << 64, (1 << 64) + 5, "zz", "1234"])
def test_bad_hashes_are_rejected_and_leave_the_index_unchanged(bad: object) -> None:
    index = NearDuplicateIndex[str]()
    index.add("ok", 1)
    with pytest.raises(ValueError):
        index.add("bad", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        index.add_many(["x", "y"], [2, bad])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        index.query(bad, 3)  # type: ignore[arg-type]
    assert len(index) == 1
    assert "bad" not in index
    assert "x" not in index
    assert index.query(1, 64) == [("ok", 0)]


def test_negative_radius_is_rejected() -> None:
    index = build(random_hashes(10, seed=1))
    for call in (lambda: index.query(0, -1), lambda: index.pairs(-1)):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        naive_query([], 0, -1)
    with pytest.raises(ValueError):
        naive_pairs([], -3)
    with pytest.raises(TypeError):
        index.query(0, 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        index.query(0, True)


def test_bad_numpy_batches_are_rejected() -> None:
    index = NearDuplicateIndex[int]()
    with pytest.raises(ValueError):
        index.add_many([1, 2], np.array([1, -2], dtype=np.int64))
    with pytest.raises(TypeError):
        index.add_many([1], np.array([1.5]))
    with pytest.raises(ValueError):
        index.add_many([1, 2], np.array([[1, 2]], dtype=np.uint64))
    with pytest.raises(ValueError):
        index.add_many([1, 2, 3], [1, 2])
    assert len(index) == 0


def test_duplicate_ids_are_rejected() -> None:
    index = NearDuplicateIndex[str]()
    index.add("a", 1)
    with pytest.raises(ValueError):
        index.add("a", 2)
    with pytest.raises(ValueError):
        index.add_many(["b", "a"], [3, 4])
    with pytest.raises(ValueError):
        index.add_many(["c", "c"], [3, 4])
    assert len(index) == 1
    assert index.query(1, 64) == [("a", 0)]


@pytest.mark.parametrize("m", [0, 1, 2, 65])
def test_substring_count_is_validated(m: int) -> None:
    with pytest.raises(ValueError):
        NearDuplicateIndex(m)


def test_merge_threshold_is_validated() -> None:
    with pytest.raises(ValueError):
        NearDuplicateIndex(merge_threshold=0)
