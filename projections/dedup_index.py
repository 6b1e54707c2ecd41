"""The duplicate index: every captured image's hashes, searchable by Hamming radius.

Built from ImageCaptured events (a projection) and fed each new capture, it answers
"which earlier images could this one repeat?"; the duplicate policy then decides.

Candidates come from the exact pHash multi-index (`NearDuplicateIndex`): every
earlier image within the radius, whatever the collection's size. Each candidate is
then measured against the capture's *region probe* (ledger/imaging.py): the
capture's 192-bit region hash under 625 reframings, compared with the candidate's
stored region hash; the smallest Hamming distance over the reframings is the
candidate's region distance. That is one vectorised popcount over
(candidates x reframings x 3 words): about 5 us of CPU per candidate, measured on
20,000 candidates (the pHash query itself costs about 7 us per hit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dermledger.projections.near_duplicates import NearDuplicateIndex, hamming

REGION_HEX_DIGITS = 48  # 192 bits, as ledger/imaging.py writes them
_REGION_WORDS = REGION_HEX_DIGITS // 16
_BLOCK = 256  # candidates measured at once: 160 kB of distances
_NO_REGION = np.zeros(_REGION_WORDS, dtype=np.uint64)


@dataclass(frozen=True)
class IndexedImage:
    image_id: str
    sha256: str
    pixel_sha256: str
    phash: str
    dhash: str
    region_hash: str | None = None  # absent on images captured before policy version 2


@dataclass(frozen=True)
class Near:
    """A candidate: within the pHash radius; region distance None without a region hash."""

    image: IndexedImage
    distance: int
    region_distance: int | None


def region_words(region_hash: str) -> npt.NDArray[np.uint64]:
    """A 48-hex-digit region hash as three 64-bit words, most significant first."""
    if len(region_hash) != REGION_HEX_DIGITS:
        raise ValueError(f"a region hash has {REGION_HEX_DIGITS} hex digits, got {region_hash!r}")
    return np.array(
        [int(region_hash[i : i + 16], 16) for i in range(0, REGION_HEX_DIGITS, 16)],
        dtype=np.uint64,
    )


class DedupIndex:
    def __init__(self, images: Iterable[IndexedImage] = ()) -> None:
        # The newest notification id of the captures read into it (0: none read from a log).
        self.position = 0
        self._near: NearDuplicateIndex[str] = NearDuplicateIndex()
        self._images: dict[str, IndexedImage] = {}
        self._rows: dict[str, int] = {}
        self._regions = np.zeros((64, _REGION_WORDS), dtype=np.uint64)
        for image in images:
            self.add(image)

    def __len__(self) -> int:
        return len(self._images)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._images

    def add(self, image: IndexedImage) -> None:
        if image.image_id in self._images:
            return
        words = _NO_REGION if image.region_hash is None else region_words(image.region_hash)
        row = len(self._rows)
        if row == len(self._regions):
            self._regions = np.concatenate([self._regions, np.zeros_like(self._regions)])
        self._regions[row] = words
        self._near.add(image.image_id, int(image.phash, 16))
        self._images[image.image_id] = image
        self._rows[image.image_id] = row

    def near(self, phash: str, radius: int) -> list[tuple[IndexedImage, int]]:
        """Images whose pHash lies within `radius`, nearest first."""
        return [
            (self._images[image_id], distance)
            for image_id, distance in self._near.query(int(phash, 16), radius)
        ]

    def candidates(
        self, phash: str, radius: int, probe: npt.NDArray[np.uint64] | None
    ) -> list[Near]:
        """`near`, each with its region distance to `probe` (None if either side lacks one).

        `probe` is a capture's (reframings, 3) uint64 region probe; the region
        distance is the minimum over its rows of the Hamming distance to the
        candidate's stored region hash.
        """
        found = self.near(phash, radius)
        if probe is None or not found:
            return [Near(image, d, None) for image, d in found]
        rows = np.fromiter((self._rows[i.image_id] for i, _ in found), np.int64, len(found))
        by_word = np.ascontiguousarray(probe.T)  # (3, reframings)
        region = np.empty(len(found), dtype=np.uint8)
        for start in range(0, len(found), _BLOCK):  # (block, reframings) uint8 at a time
            stored = self._regions[rows[start : start + _BLOCK]]
            bits = np.bitwise_count(stored[:, 0:1] ^ by_word[0])
            for w in range(1, _REGION_WORDS):
                bits += np.bitwise_count(stored[:, w : w + 1] ^ by_word[w])
            region[start : start + _BLOCK] = bits.min(axis=1)
        return [
            Near(image, d, None if image.region_hash is None else int(r))
            for (image, d), r in zip(found, region.tolist(), strict=True)
        ]

    def distance(self, a: str, b: str) -> int:
        return hamming(int(self._images[a].phash, 16), int(self._images[b].phash, 16))
