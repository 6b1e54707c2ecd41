"""Hamming-space primitives for near-duplicate search: 64-bit hash parsing, reference
searches (naive and linear scans, the ground truth the index is tested against), and the
multi-index hashing lemma (substring widths and per-table probe radii).

See `near_duplicates.py` for the index built on them.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

HASH_BITS = 64
"""Width of an `imagehash.phash` hash with the default hash_size=8."""

DEFAULT_SUBSTRINGS = 4
"""16-bit substrings: the measured optimum near a million hashes (module docstring)."""

DEFAULT_MERGE_THRESHOLD = 8192
"""Tail length at which pending adds are merged; a tail this long scans in ~15 us."""

_HASH_MASK = (1 << HASH_BITS) - 1
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
MIN_SUBSTRINGS = 3  # widths stay <= 22 bits, so a dense bucket array stays small
MAX_SUBSTRINGS = HASH_BITS
MAX_POSITIONS = 2**31 - 1  # positions are stored as int32 to halve table memory
# Cost model, in units of one hash of a sequential numpy scan (~1-2 ns here): a probe or
# a gathered candidate costs about 3, and a table lookup has a fixed cost of ~25 numpy
# calls, about as much as scanning 32k hashes (measured crossover: 30k-50k hashes).
SCAN_COST_RATIO = 3
TABLE_OVERHEAD = 1 << 15
MAX_PROBES = 1 << 20  # beyond this, probe arrays cost more memory than scanning costs time
PAIRS_BLOCK_QUERIES = 256  # queries vectorised together by `pairs`
PAIRS_BLOCK_CANDIDATES = 1 << 22  # cap on candidates materialised at once by `pairs`

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


def check_radius(radius: object) -> int:
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
    r = check_radius(radius)
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
    r = check_radius(radius)
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
    r = check_radius(radius)
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
    r = check_radius(radius)
    m = len(widths)
    if m == 0:
        raise ValueError("at least one substring is needed")
    s, a = divmod(r, m)
    by_width = sorted(range(m), key=lambda t: (widths[t], t))
    radii = [s - 1] * m
    for t in by_width[: a + 1]:
        radii[t] = s
    return tuple(min(rad, widths[t]) for t, rad in enumerate(radii))


def probes_per_table(width: int, radius: int) -> int:
    """Number of `width`-bit keys within `radius` of a given key."""
    return sum(math.comb(width, i) for i in range(radius + 1))


@lru_cache(maxsize=64)
def flip_masks(width: int, radius: int) -> npt.NDArray[np.int64]:
    """All `width`-bit masks with at most `radius` bits set, fewest bits first."""
    masks = np.arange(1 << width, dtype=np.int64)
    counts = np.bitwise_count(masks)
    masks = masks[counts <= radius]
    masks = masks[np.argsort(np.bitwise_count(masks), kind="stable")]
    masks.setflags(write=False)
    return masks


def sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values: np.unique minus its hash-table pass (4-8x faster here)."""
    values = np.sort(values)
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


class ProbePlan:
    """Precomputed probe keys for one radius: which table, which XOR mask, which base."""

    __slots__ = ("bases", "flips", "probes", "tables")

    def __init__(self, widths: Sequence[int], bases: Sequence[int], radius: int) -> None:
        radii = probe_radii(radius, widths)
        tables, flips, key_bases = [], [], []
        for t, (width, rad) in enumerate(zip(widths, radii, strict=True)):
            if rad < 0:
                continue
            masks = flip_masks(width, rad)
            tables.append(np.full(masks.size, t, dtype=np.intp))
            flips.append(masks)
            key_bases.append(np.full(masks.size, bases[t], dtype=np.int64))
        self.tables = np.concatenate(tables)
        self.flips = np.concatenate(flips)
        self.bases = np.concatenate(key_bases)
        self.probes = int(self.flips.size)
