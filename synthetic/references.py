"""A small generated reference list, shaped like the one a user computes for a public
collection (id, pHash, dHash): not real data. `overlapping` images of the study can be
slipped in, so the demo and the tests show an overlap being flagged."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from dermledger.study.imaging import inspect_image
from dermledger.synthetic.images import draw_image, encode_jpeg


def reference_csv(
    count: int = 20, *, seed: int = 90_000, overlapping: Iterable[bytes] = ()
) -> bytes:
    """CSV bytes: `count` synthetic public images, then one row per `overlapping` image."""
    rows = []
    images = [encode_jpeg(draw_image(seed + k)) for k in range(count)] + list(overlapping)
    for k, data in enumerate(images):
        facts = inspect_image(data)
        rows.append({"id": f"PUBLIC_{k:05d}", "phash": facts.phash, "dhash": facts.dhash})
    out = io.StringIO()
    writer = csv.DictWriter(out, ["id", "phash", "dhash"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
