"""Exact near-duplicate search over 64-bit perceptual hashes (multi-index hashing).

`imagehash.phash` gives every image a 64-bit hash; two images are near duplicates
when their hashes differ in at most ``r`` bits (Hamming distance, typically 8-12).
The study holds about 1.1 million images, so "which stored images lie within r of
this one?" must be answered exactly (the release checks must not miss a leak
between the train and test splits) and far faster than a scan.

Why this is exact (generalised multi-index hashing, Norouzi, Punjani & Fleet,
"Fast exact search in Hamming space with multi-index hashing", TPAMI 2014)
----------------------------------------------------------------------------
Cut the 64 bits into ``m`` disjoint substrings. If ``dist(h, g) <= r`` the ``m``
substring distances sum to at most ``r``. Write ``r = s*m + a`` with
``0 <= a < m`` and pick any ``a + 1`` of the tables. Then some substring in
those is within ``s`` of the query's, or some substring in the others is within
``s - 1``: otherwise the distance would be at least
``(a+1)(s+1) + (m-a-1)s = r + 1``. So probing ``a + 1`` tables at radius ``s``
and the rest at ``s - 1`` (skipping them when that is negative) reaches every
true neighbour, and every candidate is verified with a full 64-bit popcount, so
nothing false survives. With ``m > r`` this is the classic "some substring
matches exactly" rule; ``probe_radii`` implements the general rule for any
``m``, any radius and unequal widths (the larger radius goes to the narrowest
tables, where it costs fewest probes). It is also tight: the escape cost
``sum(radius_t + 1)`` is exactly ``r + 1``, so no probe is wasted. The unit
tests check the rule in closed form for every ``m``, by enumeration for
``m = 3, 4``, with neighbours placed exactly on every table's probe boundary,
and end to end against ``naive_query`` / ``naive_pairs``.

Why this layout (measured, not guessed)
---------------------------------------
``bench/bench_near_duplicates.py --alternatives`` times all designs on the same
queries, interleaved, against 1.1M uniform hashes at radius 10. The machine is a
2-vCPU VM that other jobs shared during the runs, so absolute figures moved by
up to 2x between four runs; the ranking did not. One run (CPU time per query):

=============================  ========  ============  ========  =========
design                         probes/q  candidates/q  CPU time  arrays
=============================  ========  ============  ========  =========
numpy linear scan (baseline)          -     1,100,000   1.86 ms     9 MB
MIH m=3 (21-22-bit keys)          3,378        ~1,700   0.26 ms   124 MB
**MIH m=4 (16-bit keys)**           428        ~7,200   0.19 ms    73 MB
MIH m=5 (12-13-bit keys)            135       ~29,000   0.25 ms    84 MB
MIH m=6 (10-11-bit keys)             59       ~43,500   0.28 ms    97 MB
MIH m=8 (8-bit keys)                 32      ~137,000   0.57 ms   123 MB
MIH m=11 = r+1 (exact match)         11      ~223,000   0.89 ms   163 MB
m=4, dicts of lists, bit_count      428        ~7,200   6.9 ms        -
=============================  ========  ============  ========  =========

* ``m = r + 1`` (every substring matched exactly, the textbook rule) is the
  worst index: 5-6-bit keys leave 1/32-1/64 of the data in each bucket, so a
  query verifies a fifth of the collection; only 2x better than the scan.
* Fewer, longer substrings trade candidates for probes. ``m = 4`` balances
  them at this size: 16 bits is close to ``log2(1.1M) ~ 20``, the choice
  Norouzi et al. recommend (``m ~ 64 / log2 n``); ``m = 3`` has ~4x fewer
  candidates but 8x more probes and an 8M-entry offsets array.
* The same ``m = 4`` scheme in pure Python (dict lookups, a loop with
  ``int.bit_count`` per candidate) is slower than the numpy scan: the
  interpreter's per-candidate cost (~1 us) dominates. Here every step is a
  numpy call over all probes or all candidates at once: probe keys are one XOR
  of the query's substrings with a precomputed mask array, bucket ranges are one
  lookup in a dense CSR offsets array, candidates are gathered, XORed and
  popcounted in bulk, and one sort deduplicates and orders the hits: a few
  dozen numpy calls per query, whatever the radius.
* Candidates are verified against ``_bucket_hashes``, a bucket-ordered copy of
  the hashes, rather than gathered from ``_hashes`` by position: the runs are
  contiguous there, which halved query time (0.27 -> 0.13 ms, side by side)
  for 35 MB at 1.1M hashes.

Radius 10 at 1.1M hashes, mean wall time per query: 0.11-0.13 ms in the least
loaded measurements, 0.19-0.55 ms across five full benchmark runs on the shared
machine; clustered data (~400 hits per query, and building the answer list is a
good part of the cost) took 0.28-0.57 ms, and 1.0 ms in the one run at load
average 5 on 2 vCPUs, where the scan took 4.9 ms. The scan itself took
1.2-1.5 ms unloaded and 1.9-3.6 ms shared. Mind the constant rather than the
exponent: with ``m`` fixed,
candidates grow as ``n * probes / 2**16`` while probes stay fixed, so ``m = 3``
gains as the collection grows; re-run ``--alternatives`` at the new size before
changing the default. A cost model (``_tables_pay``) falls back to the linear
scan when probing would not pay: small collections (below ~34k hashes at
radius 10) and very large radii.

Memory and incremental adds
---------------------------
All tables share flat arrays: ``_order`` (int32 positions sorted by
(table, key): 4m bytes per hash), ``_bucket_hashes`` (8m bytes per hash) and
``_offsets`` (one int64 per (table, key)), beside ``_hashes`` and the id
pointers (8 bytes each per hash): 72.5 MB of arrays at 1.1M hashes with
``m = 4``. The id -> position dict (to refuse duplicate ids) roughly doubles
that; tracemalloc measures ~138 MB retained, ~204 MB peak, for building it.
A dense CSR cannot take inserts cheaply, so new hashes first land in a *tail*
(the newest positions) that queries scan linearly (8192 hashes: ~15 us); once
the tail holds ``merge_threshold`` hashes, it is merged into the tables with
``np.insert`` (no re-sort; ~20 ms at 1.1M hashes, so ~2.5 us per add
amortised). ``add_many`` of a large batch rebuilds the tables once with stable
radix argsorts (0.7-1.7 s for 1.1M hashes on the shared machine).

``pairs`` runs the same probes for blocks of stored hashes at once (a vectorised
self-join), keeping each pair once from its earlier-inserted side; only the few
candidates within the radius are mapped back to positions. Its cost is n
queries, i.e. ``n**2 * probes / 2**16`` candidates with ``m`` fixed: radius 10
over 1.1M random hashes took 119 s of CPU (229 s wall, shared machine) against
~1,040 s of CPU estimated for an all-pairs numpy scan.

The reference implementations ``naive_query`` and ``naive_pairs`` (pure Python)
and ``linear_scan`` (numpy) define the expected results; tests and the
benchmark compare the index against them. The index is not thread-safe.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Hashable, Iterable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MERGE_THRESHOLD",
    "DEFAULT_SUBSTRINGS",
    "HASH_BITS",
    "NearDuplicateIndex",
    "hamming",
    "linear_scan",
    "naive_pairs",
    "naive_query",
    "parse_hash",
    "probe_radii",
    "substring_widths",
]

HASH_BITS = 64
"""Width of an `imagehash.phash` hash with the default hash_size=8."""

DEFAULT_SUBSTRINGS = 4
"""16-bit substrings: the measured optimum near a million hashes (module docstring)."""

DEFAULT_MERGE_THRESHOLD = 8192
"""Tail length at which pending adds are merged; a tail this long scans in ~15 us."""

_HASH_MASK = (1 << HASH_BITS) - 1
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_MIN_SUBSTRINGS = 3  # widths stay <= 22 bits, so a dense bucket array stays small
_MAX_SUBSTRINGS = HASH_BITS
_MAX_POSITIONS = 2**31 - 1  # positions are stored as int32 to halve table memory
# Cost model, in units of one hash of a sequential numpy scan (~1-2 ns here): a probe or
# a gathered candidate costs about 3, and a table lookup has a fixed cost of ~25 numpy
# calls, about as much as scanning 32k hashes (measured crossover: 30k-50k hashes).
_SCAN_COST_RATIO = 3
_TABLE_OVERHEAD = 1 << 15
_MAX_PROBES = 1 << 20  # beyond this, probe arrays cost more memory than scanning costs time
_PAIRS_BLOCK_QUERIES = 256  # queries vectorised together by `pairs`
_PAIRS_BLOCK_CANDIDATES = 1 << 22  # cap on candidates materialised at once by `pairs`

type HashLike = int | str
"""A 64-bit hash as a non-negative int or as imagehash's 16-character hex string."""


# --------------------------------------------------------------------------- inputs


def parse_hash(value: object) -> int:
    """Return `value` as an int in [0, 2**64), accepting ints and 16-digit hex strings.

    Strings are the form `str(imagehash.phash(img))` and the ledger store; being
    strict about their length catches hashes made with another `hash_size`,
    whose distances would be meaningless against 64-bit ones.
    """
    if isinstance(value, str):
        if len(value) != HASH_BITS // 4 or not _HEX_DIGITS.issuperset(value):
            raise ValueError(f"a hash string must be {HASH_BITS // 4} hex digits, got {value!r}")
        return int(value, 16)
    if isinstance(value, bool):
        raise TypeError("a hash must be an int or a hex string, not a bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"a hash must be an int or a hex string, not {type(value).__name__}"
        ) from None
    if not 0 <= number <= _HASH_MASK:
        raise ValueError(f"a hash must lie in [0, 2**{HASH_BITS}), got {number}")
    return number


def _check_radius(radius: object) -> int:
    """Validate a Hamming radius; radii above 64 are allowed and match everything."""
    if isinstance(radius, bool) or not isinstance(radius, int):
        raise TypeError(f"radius must be an int, not {type(radius).__name__}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return radius


def hamming(a: HashLike, b: HashLike) -> int:
    """Hamming distance between two 64-bit hashes."""
    return (parse_hash(a) ^ parse_hash(b)).bit_count()


# ----------------------------------------------------------------------- references


def naive_query[K](
    items: Iterable[tuple[K, HashLike]], h: HashLike, radius: int
) -> list[tuple[K, int]]:
    """Reference: every item within `radius` of `h`, by (distance, insertion order).

    A plain linear scan with `int.bit_count`, deliberately free of numpy and of
    any cleverness, so that it can serve as the definition the index is tested
    against.
    """
    q = parse_hash(h)
    r = _check_radius(radius)
    found = []
    for order, (key, value) in enumerate(items):
        d = (parse_hash(value) ^ q).bit_count()
        if d <= r:
            found.append((d, order, key))
    found.sort(key=lambda t: (t[0], t[1]))
    return [(key, d) for d, _, key in found]


def naive_pairs[K](items: Iterable[tuple[K, HashLike]], radius: int) -> list[tuple[K, K, int]]:
    """Reference: all pairs within `radius` as (earlier id, later id, distance).

    Each unordered pair appears once; the list is ordered by the insertion order
    of the earlier item, then of the later one, exactly as the nested loop below
    produces it. Quadratic: for tests only.
    """
    r = _check_radius(radius)
    entries = [(key, parse_hash(value)) for key, value in items]
    result = []
    for i, (key_i, h_i) in enumerate(entries):
        for key_j, h_j in entries[i + 1 :]:
            d = (h_i ^ h_j).bit_count()
            if d <= r:
                result.append((key_i, key_j, d))
    return result


def linear_scan(
    hashes: npt.NDArray[np.uint64], h: HashLike, radius: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
    """Numpy reference: positions and distances of `hashes` within `radius` of `h`.

    Vectorised XOR plus popcount over a uint64 array: the strong baseline the
    benchmark measures the index against, and the index's own fallback when a
    radius is so large that probing would touch most of the data anyway.
    Positions come back in increasing order, not sorted by distance.
    """
    q = np.uint64(parse_hash(h))
    r = _check_radius(radius)
    dist = np.bitwise_count(hashes ^ q)
    positions = np.flatnonzero(dist <= r)
    return positions, dist[positions]


# ------------------------------------------------------------------ the MIH lemma


def substring_widths(substrings: int, bits: int = HASH_BITS) -> tuple[int, ...]:
    """Widths of `substrings` disjoint, contiguous pieces of a `bits`-bit hash.

    As equal as possible; the wider pieces come first (most significant bits).
    """
    if not 1 <= substrings <= bits:
        raise ValueError(f"substrings must lie in [1, {bits}], got {substrings}")
    base, extra = divmod(bits, substrings)
    return tuple(base + 1 if t < extra else base for t in range(substrings))


def probe_radii(radius: int, widths: Sequence[int]) -> tuple[int, ...]:
    """Search radius per substring table that makes multi-index hashing exact.

    With ``m`` tables and ``radius = s*m + a`` (``0 <= a < m``), ``a + 1`` tables
    are probed at radius ``s`` and the others at ``s - 1`` (-1 means: skip the
    table). Any true neighbour then has a substring within its table's radius,
    by pigeonhole (see the module docstring). The larger radius goes to the
    narrowest tables, where it costs the fewest probes; radii are capped at the
    table width, since a w-bit substring cannot differ in more than w bits.
    """
    r = _check_radius(radius)
    m = len(widths)
    if m == 0:
        raise ValueError("at least one substring is needed")
    s, a = divmod(r, m)
    by_width = sorted(range(m), key=lambda t: (widths[t], t))
    radii = [s - 1] * m
    for t in by_width[: a + 1]:
        radii[t] = s
    return tuple(min(rad, widths[t]) for t, rad in enumerate(radii))


def _probes_per_table(width: int, radius: int) -> int:
    """Number of `width`-bit keys within `radius` of a given key."""
    return sum(math.comb(width, i) for i in range(radius + 1))


@lru_cache(maxsize=64)
def _flip_masks(width: int, radius: int) -> npt.NDArray[np.int64]:
    """All `width`-bit masks with at most `radius` bits set, fewest bits first."""
    masks = np.arange(1 << width, dtype=np.int64)
    counts = np.bitwise_count(masks)
    masks = masks[counts <= radius]
    masks = masks[np.argsort(np.bitwise_count(masks), kind="stable")]
    masks.setflags(write=False)
    return masks


def _sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values: np.unique minus its hash-table pass (4-8x faster here)."""
    values = np.sort(values)
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


# --------------------------------------------------------------------------- index


class _ProbePlan:
    """Precomputed probe keys for one radius: which table, which XOR mask, which base."""

    __slots__ = ("bases", "flips", "probes", "tables")

    def __init__(self, widths: Sequence[int], bases: Sequence[int], radius: int) -> None:
        radii = probe_radii(radius, widths)
        tables, flips, key_bases = [], [], []
        for t, (width, rad) in enumerate(zip(widths, radii, strict=True)):
            if rad < 0:
                continue
            masks = _flip_masks(width, rad)
            tables.append(np.full(masks.size, t, dtype=np.intp))
            flips.append(masks)
            key_bases.append(np.full(masks.size, bases[t], dtype=np.int64))
        self.tables = np.concatenate(tables)
        self.flips = np.concatenate(flips)
        self.bases = np.concatenate(key_bases)
        self.probes = int(self.flips.size)


class NearDuplicateIndex[K: Hashable]:
    """Exact Hamming-radius search over 64-bit hashes by multi-index hashing.

    ``query(h, r)`` returns exactly what ``naive_query`` returns over the same
    adds, for any radius; for typical radii it touches well under 1% of the
    hashes a scan would (see the module docstring for the design and its
    measurements). Ids are any hashable values
    and must be unique: a projection replayed twice should fail loudly rather
    than report every image as its own duplicate.
    """

    def __init__(
        self,
        substrings: int = DEFAULT_SUBSTRINGS,
        *,
        merge_threshold: int = DEFAULT_MERGE_THRESHOLD,
    ) -> None:
        """Create an empty index.

        `substrings` is the number ``m`` of tables (3..64; 4 is fastest near a
        million hashes). `merge_threshold` is how many adds may wait in the
        linearly scanned tail before they are merged into the tables.
        """
        if isinstance(substrings, bool) or not isinstance(substrings, int):
            raise TypeError("substrings must be an int")
        if not _MIN_SUBSTRINGS <= substrings <= _MAX_SUBSTRINGS:
            raise ValueError(
                f"substrings must lie in [{_MIN_SUBSTRINGS}, {_MAX_SUBSTRINGS}], got {substrings}"
            )
        if isinstance(merge_threshold, bool) or not isinstance(merge_threshold, int):
            raise TypeError("merge_threshold must be an int")
        if merge_threshold < 1:
            raise ValueError(f"merge_threshold must be >= 1, got {merge_threshold}")
        self._merge_threshold = merge_threshold
        self._widths = substring_widths(substrings)
        shifts, bases, base = [], [], 0
        shift = HASH_BITS
        for width in self._widths:
            shift -= width
            shifts.append(shift)
            bases.append(base)
            base += 1 << width
        self._shifts = tuple(shifts)
        self._masks = tuple((1 << w) - 1 for w in self._widths)
        self._bases = tuple(bases)
        self._n_keys = base
        self._shifts_u64 = np.array(shifts, dtype=np.uint64)
        self._masks_u64 = np.array(self._masks, dtype=np.uint64)

        self._n = 0
        # Ids and hashes by position (insertion order); both grow by doubling. An
        # object array, not a list: answers are built by fancy indexing in C, which
        # is 2-3x faster than a Python loop over hundreds of scattered ids.
        self._ids = np.empty(1024, dtype=object)
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._positions: dict[K, int] = {}
        self._sealed = 0  # positions [0, _sealed) are in the tables, the rest is tail
        self._order = np.zeros(0, dtype=np.int32)
        self._bucket_hashes = np.zeros(0, dtype=np.uint64)  # _hashes[_order], see _search
        self._offsets = np.zeros(self._n_keys + 1, dtype=np.int64)
        self._plans: dict[int, _ProbePlan | None] = {}

    # ------------------------------------------------------------------ public

    @property
    def substrings(self) -> int:
        """Number of substring tables ``m``."""
        return len(self._widths)

    @property
    def nbytes(self) -> int:
        """Bytes in numpy arrays: hashes, id pointers, tables, probe plans.

        The id objects themselves and the id -> position dict are not counted.
        """
        plans = sum(
            p.flips.nbytes + p.bases.nbytes + p.tables.nbytes for p in self._plans.values() if p
        )
        tables = self._order.nbytes + self._bucket_hashes.nbytes + self._offsets.nbytes
        return self._hashes.nbytes + self._ids.nbytes + tables + plans

    def __len__(self) -> int:
        """Number of stored hashes."""
        return self._n

    def __contains__(self, key: object) -> bool:
        """Whether `key` is a stored id."""
        return key in self._positions

    def add(self, key: K, h: HashLike) -> None:
        """Store hash `h` under the new id `key`.

        Raises ValueError for a duplicate id or a hash outside 64 bits; the index
        is unchanged then.
        """
        value = parse_hash(h)
        if key in self._positions:
            raise ValueError(f"id {key!r} is already in the index")
        n = self._n
        if n >= _MAX_POSITIONS:
            raise OverflowError("the index holds at most 2**31 - 1 hashes")
        if n == self._hashes.size:
            self._grow(n + 1)
        self._hashes[n] = value
        self._ids[n] = key
        self._positions[key] = n
        self._n = n + 1
        if n + 1 - self._sealed >= self._merge_threshold:
            self._seal()

    def add_many(
        self,
        keys: Iterable[K],
        hashes: Iterable[HashLike] | npt.NDArray[np.integer],
    ) -> None:
        """Store many hashes at once; equivalent to `add` in order, but much faster.

        `hashes` may be a numpy integer array (no per-hash Python work) or any
        iterable of ints / hex strings. Everything is validated before anything
        is stored, so a bad batch leaves the index unchanged.
        """
        new_keys = list(keys)
        values = self._hash_array(hashes)
        if values.size != len(new_keys):
            raise ValueError(f"{len(new_keys)} ids but {values.size} hashes")
        n = self._n
        if n + len(new_keys) > _MAX_POSITIONS:
            raise OverflowError("the index holds at most 2**31 - 1 hashes")
        positions = dict(zip(new_keys, range(n, n + len(new_keys)), strict=True))
        if len(positions) != len(new_keys):
            raise ValueError("duplicate ids in the batch")
        clash = next((k for k in new_keys if k in self._positions), None) if n else None
        if clash is not None:
            raise ValueError(f"id {clash!r} is already in the index")
        if not new_keys:
            return
        self._grow(n + len(new_keys))
        self._hashes[n : n + len(new_keys)] = values
        # fromiter stores each id as one element, even a tuple (slice assignment
        # from a list would try to broadcast tuples into a second dimension).
        self._ids[n : n + len(new_keys)] = np.fromiter(new_keys, dtype=object, count=len(new_keys))
        self._positions.update(positions)
        self._n = n + len(new_keys)
        if self._n - self._sealed >= self._merge_threshold:
            self._seal()

    def query(self, h: HashLike, radius: int) -> list[tuple[K, int]]:
        """Every stored (id, distance) with distance <= `radius`, by (distance, insertion).

        Exactly `naive_query` over the same adds. Raises ValueError for a hash
        outside 64 bits or a negative radius.
        """
        q = parse_hash(h)
        r = _check_radius(radius)
        positions, distances = self._search(q, r)
        return list(zip(self._ids[positions].tolist(), distances.tolist(), strict=True))

    def pairs(self, radius: int) -> list[tuple[K, K, int]]:
        """All pairs within `radius` as (earlier id, later id, distance).

        Exactly `naive_pairs` over the same adds: each unordered pair once,
        ordered by the earlier id's insertion, then the later one's. Runs as
        blocks of vectorised self-queries, so its cost is about n queries, not
        n**2 distance computations (unless the answer itself is that large).
        """
        r = _check_radius(radius)
        n = self._n
        if n < 2:
            return []
        self._seal()
        plan = self._plan(r)
        if plan is None or not self._tables_pay(plan.probes):
            firsts, seconds = self._pairs_by_scan(r)
        else:
            # Bound the (queries x probes) key matrix to about a million entries.
            block = max(1, min(_PAIRS_BLOCK_QUERIES, (1 << 20) // plan.probes))
            chunks = [
                self._pairs_block(start, min(start + block, n), plan, r)
                for start in range(0, n, block)
            ]
            firsts = np.concatenate([c[0] for c in chunks])
            seconds = np.concatenate([c[1] for c in chunks])
        hashes = self._hashes
        distances = np.bitwise_count(hashes[firsts] ^ hashes[seconds])
        ids = self._ids
        return list(
            zip(ids[firsts].tolist(), ids[seconds].tolist(), distances.tolist(), strict=True)
        )

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _hash_array(hashes: Iterable[HashLike] | npt.NDArray[np.integer]) -> npt.NDArray[np.uint64]:
        """Validate a batch of hashes into a uint64 array."""
        if isinstance(hashes, np.ndarray):
            if hashes.ndim != 1:
                raise ValueError("hashes must be one-dimensional")
            if hashes.dtype == np.uint64:
                return hashes
            if hashes.dtype.kind not in "iu":
                raise TypeError(f"hashes must be integers, not {hashes.dtype}")
            if hashes.size and int(hashes.min()) < 0:
                raise ValueError("a hash must lie in [0, 2**64)")
            return hashes.astype(np.uint64)
        return np.fromiter((parse_hash(h) for h in hashes), dtype=np.uint64)

    def _grow(self, needed: int) -> None:
        """Make room for `needed` hashes, doubling so that adds stay amortised O(1)."""
        if needed <= self._hashes.size:
            return
        capacity = max(needed, 2 * self._hashes.size)
        hashes = np.zeros(capacity, dtype=np.uint64)
        hashes[: self._n] = self._hashes[: self._n]
        ids = np.empty(capacity, dtype=object)
        ids[: self._n] = self._ids[: self._n]
        self._hashes, self._ids = hashes, ids

    def _keys(self, hashes: npt.NDArray[np.uint64]) -> list[npt.NDArray[np.int64]]:
        """Global bucket key (table base + substring value) of `hashes` in every table."""
        return [
            ((hashes >> np.uint64(shift)) & np.uint64(mask)).astype(np.int64) + base
            for shift, mask, base in zip(self._shifts, self._masks, self._bases, strict=True)
        ]

    def _seal(self) -> None:
        """Move the tail into the tables: merge a short tail, rebuild for a long one."""
        n = self._n
        new = n - self._sealed
        if new == 0:
            return
        if 4 * new >= self._sealed:
            self._rebuild(n)
            return
        keys = np.concatenate(self._keys(self._hashes[self._sealed : n]))
        values = np.tile(np.arange(self._sealed, n, dtype=np.int32), self.substrings)
        # Each entry goes to its bucket's end, i.e. before the next bucket's first
        # entry. Empty buckets make different keys share an insertion index, and
        # np.insert keeps equal indices in argument order, so the arguments must
        # be in key order (stable, so that buckets also stay in insertion order).
        by_key = np.argsort(keys, kind="stable")
        keys, values = keys[by_key], values[by_key]
        at = self._offsets[keys + 1]
        self._order = np.insert(self._order, at, values)
        self._bucket_hashes = np.insert(self._bucket_hashes, at, self._hashes[values])
        counts = np.bincount(keys, minlength=self._n_keys)
        self._offsets[1:] += np.cumsum(counts)
        self._sealed = n

    def _rebuild(self, n: int) -> None:
        """Build the tables from scratch with one stable argsort per table."""
        hashes = self._hashes[:n]
        orders, counts = [], []
        for shift, mask, width in zip(self._shifts, self._masks, self._widths, strict=True):
            sub = ((hashes >> np.uint64(shift)) & np.uint64(mask)).astype(
                np.uint16 if width <= 16 else np.uint32
            )
            orders.append(np.argsort(sub, kind="stable").astype(np.int32))
            counts.append(np.bincount(sub, minlength=1 << width))
        self._order = np.concatenate(orders)
        self._bucket_hashes = hashes[self._order]
        offsets = np.zeros(self._n_keys + 1, dtype=np.int64)
        np.cumsum(np.concatenate(counts), out=offsets[1:])
        self._offsets = offsets
        self._sealed = n

    def _plan(self, radius: int) -> _ProbePlan | None:
        """The (cached) probe plan for `radius`, or None if it would be absurdly large.

        Counting probes before building the plan avoids mask arrays of millions
        of entries for radii where scanning is the only sensible strategy.
        Whether the plan beats a scan for the current size is `_tables_pay`'s call.
        """
        radius = min(radius, HASH_BITS)
        if radius not in self._plans:
            radii = probe_radii(radius, self._widths)
            probes = sum(
                _probes_per_table(w, rad)
                for w, rad in zip(self._widths, radii, strict=True)
                if rad >= 0
            )
            too_many = probes > _MAX_PROBES
            self._plans[radius] = (
                None if too_many else _ProbePlan(self._widths, self._bases, radius)
            )
        return self._plans[radius]

    def _tables_pay(self, work: int) -> bool:
        """Whether `work` probes and candidates beat scanning the sealed hashes."""
        return work * _SCAN_COST_RATIO + _TABLE_OVERHEAD < self._sealed

    def _search(self, q: int, r: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Positions and distances within `r` of `q`, sorted by (distance, position)."""
        n = self._n
        sealed = self._sealed
        q64 = np.uint64(q)
        plan = self._plan(r)
        if plan is not None and not self._tables_pay(plan.probes):
            plan = None
        found: list[npt.NDArray[np.int64]] = []
        scan_from = 0
        if plan is not None:
            subs = np.array(
                [(q >> s) & k for s, k in zip(self._shifts, self._masks, strict=True)],
                dtype=np.int64,
            )
            keys = plan.bases + (subs[plan.tables] ^ plan.flips)
            starts = self._offsets[keys]
            lengths = self._offsets[keys + 1] - starts
            ends = np.cumsum(lengths)
            total = int(ends[-1])
            if self._tables_pay(plan.probes + total):
                scan_from = sealed
                if total:
                    # Expand the [start, start+length) runs into one flat index array.
                    flat = np.arange(total, dtype=np.int64)
                    flat += np.repeat(starts - (ends - lengths), lengths)
                    # Verify against the bucket-ordered copy of the hashes: runs are
                    # contiguous there, unlike a gather from _hashes by position.
                    dist = np.bitwise_count(self._bucket_hashes[flat] ^ q64)
                    hit = np.flatnonzero(dist <= r)
                    # Pack (distance, position) into one int64: one sort both orders
                    # the hits and brings together those found by several tables.
                    found.append(
                        (dist[hit].astype(np.int64) << 32) | self._order[flat[hit]].astype(np.int64)
                    )
        if scan_from < n:
            dist = np.bitwise_count(self._hashes[scan_from:n] ^ q64)
            positions = np.flatnonzero(dist <= r)
            found.append((dist[positions].astype(np.int64) << 32) | (positions + scan_from))
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        packed = _sorted_unique(np.concatenate(found))
        return packed & 0xFFFFFFFF, packed >> 32

    def _pairs_block(
        self, start: int, stop: int, plan: _ProbePlan, r: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Pairs (i, j), i in [start, stop), j > i, within `r`, sorted by (i, j)."""
        hashes = self._hashes
        queries = hashes[start:stop]
        subs = ((queries[:, None] >> self._shifts_u64) & self._masks_u64).astype(np.int64)
        keys = plan.bases + (subs[:, plan.tables] ^ plan.flips)  # (queries, probes)
        starts = self._offsets[keys]
        lengths = self._offsets[keys + 1] - starts
        per_query = lengths.sum(axis=1)
        starts, lengths = starts.ravel(), lengths.ravel()
        firsts, seconds = [], []
        # Split the block so that no more than ~4M candidates are materialised at once.
        bounds = np.cumsum(per_query)
        q_lo = 0
        while q_lo < stop - start:
            base = int(bounds[q_lo - 1]) if q_lo else 0
            q_hi = int(np.searchsorted(bounds, base + _PAIRS_BLOCK_CANDIDATES, side="right"))
            q_hi = max(q_hi, q_lo + 1)
            p_lo, p_hi = q_lo * plan.probes, q_hi * plan.probes
            s, ln = starts[p_lo:p_hi], lengths[p_lo:p_hi]
            ends = np.cumsum(ln)
            total = int(ends[-1]) if ends.size else 0
            if total:
                flat = np.arange(total, dtype=np.int64)
                flat += np.repeat(s - (ends - ln), ln)
                own_hash = np.repeat(queries[q_lo:q_hi], per_query[q_lo:q_hi])
                close = np.flatnonzero(np.bitwise_count(self._bucket_hashes[flat] ^ own_hash) <= r)
                # Only the few close candidates need their positions and owners.
                seconds_ = self._order[flat[close]].astype(np.int64)
                owner = start + q_lo + np.searchsorted(bounds[q_lo:q_hi] - base, close, "right")
                later = seconds_ > owner
                packed = _sorted_unique((owner[later] << 32) | seconds_[later])
                firsts.append(packed >> 32)
                seconds.append(packed & 0xFFFFFFFF)
            q_lo = q_hi
        if not firsts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(firsts), np.concatenate(seconds)

    def _pairs_by_scan(self, r: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """All pairs by row-wise scans, for radii where most pairs qualify anyway."""
        n = self._n
        hashes = self._hashes[:n]
        firsts, seconds = [], []
        for i in range(n - 1):
            close = np.flatnonzero(np.bitwise_count(hashes[i + 1 :] ^ hashes[i]) <= r) + (i + 1)
            firsts.append(np.full(close.size, i, dtype=np.int64))
            seconds.append(close.astype(np.int64))
        return np.concatenate(firsts), np.concatenate(seconds)
