"""Policy `reference-overlap` v1: a capture that near-duplicates an image of a public
collection is flagged, by the very rule that flags internal duplicates.

Why the same rule: a study used to evaluate models trained on public data must show it
holds none of their images, and "the same image" should mean one thing in this project.
A reference list carries what a user can compute for a public collection without its
files here: the image identifier and its 64-bit pHash and dHash (imagehash's `phash` and
`dhash` of the greyscale image, as this project computes them). With no region hash, the
duplicate policy's version 1 rule applies: pHash within its legacy threshold, confirmed by
dHash (policies/duplicates.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import duplicates, free_text

POLICY_NAME = "reference-overlap"
POLICY_VERSION = "1"
HEX16 = re.compile(r"^[0-9a-f]{16}$")
MAX_ENTRIES = 200_000  # one event holds the list; larger collections need splitting


@dataclass(frozen=True)
class Overlap:
    reference_id: str
    kind: str
    distance: int


NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def check_name(name: str) -> None:
    """InvalidInput unless the collection name is 1-64 letters, digits, '.', '_', '-'."""
    if not NAME.match(name):
        raise InvalidInput(f"reference name {name!r} must be 1-64 letters, digits, '.', '_', '-'")


def parse_entries(rows: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """Rows with id, phash and dhash (16 lowercase hex digits each), sorted by id;
    InvalidInput naming the first bad row."""
    entries, seen = [], set()
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        ident = (row.get("id") or "").strip()
        phash, dhash = (row.get("phash") or "").strip(), (row.get("dhash") or "").strip()
        if not ident or not HEX16.match(phash) or not HEX16.match(dhash):
            raise InvalidInput(
                f"reference row {number} needs id, and phash and dhash as 16 hex digits"
            )
        free = free_text.check("reference id", ident)
        if not free.allowed:
            raise InvalidInput(f"reference row {number}: {free.reason}")
        if ident in seen:
            raise InvalidInput(f"reference row {number} repeats id {ident}")
        seen.add(ident)
        entries.append({"id": ident, "phash": phash, "dhash": dhash})
    if not entries or len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"a reference list needs 1 to {MAX_ENTRIES} rows")
    return sorted(entries, key=lambda e: e["id"])


def overlaps(phash: str, dhash: str, entries: Iterable[Mapping[str, str]]) -> list[Overlap]:
    """The reference images a capture with these hashes near-duplicates."""
    found = duplicates.classify(
        sha256="",
        pixel_sha256="",
        candidates=(
            duplicates.Candidate(e["id"], "-", "-", duplicates.hamming_hex(e["phash"], phash),
                                 duplicates.hamming_hex(e["dhash"], dhash))
            for e in entries
        ),
        threshold=duplicates.LEGACY_THRESHOLD,
    )  # fmt: skip
    return [Overlap(s.duplicate_of, s.kind, s.distance) for s in found]
