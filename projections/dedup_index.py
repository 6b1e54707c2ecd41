"""The duplicate index: every captured image's hashes, searchable by Hamming radius.

Built from ImageCaptured events (a projection) and fed each new capture, it answers
"which earlier images could this one repeat?"; the duplicate policy then decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dermledger.projections.near_duplicates import NearDuplicateIndex, hamming


@dataclass(frozen=True)
class IndexedImage:
    image_id: str
    sha256: str
    pixel_sha256: str
    phash: str
    dhash: str


class DedupIndex:
    def __init__(self, images: Iterable[IndexedImage] = ()) -> None:
        self._near: NearDuplicateIndex[str] = NearDuplicateIndex()
        self._images: dict[str, IndexedImage] = {}
        for image in images:
            self.add(image)

    def __len__(self) -> int:
        return len(self._images)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._images

    def add(self, image: IndexedImage) -> None:
        if image.image_id in self._images:
            return
        self._images[image.image_id] = image
        self._near.add(image.image_id, int(image.phash, 16))

    def near(self, phash: str, radius: int) -> list[tuple[IndexedImage, int]]:
        """Images whose pHash lies within `radius`, nearest first."""
        return [
            (self._images[image_id], distance)
            for image_id, distance in self._near.query(int(phash, 16), radius)
        ]

    def distance(self, a: str, b: str) -> int:
        return hamming(int(self._images[a].phash, 16), int(self._images[b].phash, 16))
