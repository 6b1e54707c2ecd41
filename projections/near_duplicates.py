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

Why this layout: measured, not guessed; the design table (probes, candidates and CPU
time per query for m = 3 to 11, pure Python against numpy) is in bench/README.md,
"Near-duplicate index: the design measured". In short, m = 4 (16-bit keys) balances
probes against candidates near a million hashes, and every step is a numpy call over
all probes or all candidates at once. A cost model (``_tables_pay``) falls back to the
linear scan when probing would not pay (below ~34k hashes at radius 10).

Memory and incremental adds
---------------------------
All tables share flat arrays (``_order`` int32 positions sorted by (table, key),
``_bucket_hashes``, ``_offsets``, ``_hashes``): about 72.5 MB at 1.1M hashes with
``m = 4`` (bench/README.md has the measurements). A dense CSR cannot take inserts
cheaply, so new hashes first land in a *tail* that queries scan linearly; once the tail
holds ``merge_threshold`` hashes it is merged into the tables with ``np.insert``, and
``add_many`` of a large batch rebuilds the tables once with stable radix argsorts.

``pairs`` runs the same probes for blocks of stored hashes at once (a vectorised
self-join), keeping each pair once from its earlier-inserted side (measured in
bench/README.md).

The reference implementations ``naive_query`` and ``naive_pairs`` (pure Python)
and ``linear_scan`` (numpy) define the expected results; tests and the
benchmark compare the index against them. The index is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

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

from dermledger.projections.hash_search import (
    DEFAULT_MERGE_THRESHOLD,
    DEFAULT_SUBSTRINGS,
    HASH_BITS,
    MAX_POSITIONS,
    MAX_PROBES,
    MAX_SUBSTRINGS,
    MIN_SUBSTRINGS,
    PAIRS_BLOCK_CANDIDATES,
    PAIRS_BLOCK_QUERIES,
    SCAN_COST_RATIO,
    TABLE_OVERHEAD,
    HashLike,
    ProbePlan,
    check_radius,
    hamming,
    linear_scan,
    naive_pairs,
    naive_query,
    parse_hash,
    probe_radii,
    probes_per_table,
    sorted_unique,
    substring_widths,
)

# --------------------------------------------------------------------------- index


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
        if not MIN_SUBSTRINGS <= substrings <= MAX_SUBSTRINGS:
            raise ValueError(
                f"substrings must lie in [{MIN_SUBSTRINGS}, {MAX_SUBSTRINGS}], got {substrings}"
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
        self._plans: dict[int, ProbePlan | None] = {}

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
        if n >= MAX_POSITIONS:
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
        if n + len(new_keys) > MAX_POSITIONS:
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
        r = check_radius(radius)
        positions, distances = self._search(q, r)
        return list(zip(self._ids[positions].tolist(), distances.tolist(), strict=True))

    def pairs(self, radius: int) -> list[tuple[K, K, int]]:
        """All pairs within `radius` as (earlier id, later id, distance).

        Exactly `naive_pairs` over the same adds: each unordered pair once,
        ordered by the earlier id's insertion, then the later one's. Runs as
        blocks of vectorised self-queries, so its cost is about n queries, not
        n**2 distance computations (unless the answer itself is that large).
        """
        r = check_radius(radius)
        n = self._n
        if n < 2:
            return []
        self._seal()
        plan = self._plan(r)
        if plan is None or not self._tables_pay(plan.probes):
            firsts, seconds = self._pairs_by_scan(r)
        else:
            # Bound the (queries x probes) key matrix to about a million entries.
            block = max(1, min(PAIRS_BLOCK_QUERIES, (1 << 20) // plan.probes))
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

    def _plan(self, radius: int) -> ProbePlan | None:
        """The (cached) probe plan for `radius`, or None if it would be absurdly large.

        Counting probes before building the plan avoids mask arrays of millions
        of entries for radii where scanning is the only sensible strategy.
        Whether the plan beats a scan for the current size is `_tables_pay`'s call.
        """
        radius = min(radius, HASH_BITS)
        if radius not in self._plans:
            radii = probe_radii(radius, self._widths)
            probes = sum(
                probes_per_table(w, rad)
                for w, rad in zip(self._widths, radii, strict=True)
                if rad >= 0
            )
            too_many = probes > MAX_PROBES
            self._plans[radius] = (
                None if too_many else ProbePlan(self._widths, self._bases, radius)
            )
        return self._plans[radius]

    def _tables_pay(self, work: int) -> bool:
        """Whether `work` probes and candidates beat scanning the sealed hashes."""
        return work * SCAN_COST_RATIO + TABLE_OVERHEAD < self._sealed

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
        packed = sorted_unique(np.concatenate(found))
        return packed & 0xFFFFFFFF, packed >> 32

    def _pairs_block(
        self, start: int, stop: int, plan: ProbePlan, r: int
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
            q_hi = int(np.searchsorted(bounds, base + PAIRS_BLOCK_CANDIDATES, side="right"))
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
                packed = sorted_unique((owner[later] << 32) | seconds_[later])
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
