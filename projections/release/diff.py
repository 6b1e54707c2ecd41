"""What changed between two releases of one ledger, and whether the later extends the earlier."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from dermledger.ledger.errors import InvalidInput, VerificationError
from dermledger.ledger.merkle import MerkleTree, verify_consistency
from dermledger.projections.release.verify import load_manifest


def diff_releases(old: Path, new: Path, tree: MerkleTree) -> dict[str, Any]:
    """Images added, removed and relabelled between two release folders, and the proof
    that the later release's log extends the earlier one's, from `tree` (the current log's
    Merkle tree)."""
    a, b = load_manifest(old), load_manifest(new)

    def rows(folder: Path) -> dict[str, dict[str, str]]:
        with (folder / "metadata.csv").open(encoding="utf-8", newline="") as handle:
            return {r["image_id"]: r for r in csv.DictReader(handle)}

    ra, rb = rows(old), rows(new)
    relabelled = sorted(
        i
        for i in set(ra) & set(rb)
        if (
            ra[i]["category"],
            ra[i]["diagnosis_1"],
            ra[i]["diagnosis_2"],
            ra[i]["diagnosis_3"],
            ra[i]["diagnosis_4"],
            ra[i]["diagnosis_5"],
        )
        != (
            rb[i]["category"],
            rb[i]["diagnosis_1"],
            rb[i]["diagnosis_2"],
            rb[i]["diagnosis_3"],
            rb[i]["diagnosis_4"],
            rb[i]["diagnosis_5"],
        )
    )
    size_a, size_b = a["checkpoint"]["tree_size"], b["checkpoint"]["tree_size"]
    if size_a > size_b:
        raise InvalidInput(f"{old.name} is later than {new.name}; give the earlier first")
    proof = tree.consistency_proof(size_a, size_b) if size_a else []
    extends = True
    try:
        if size_a:
            verify_consistency(
                old_size=size_a,
                new_size=size_b,
                old_root=bytes.fromhex(a["checkpoint"]["root"]),
                new_root=bytes.fromhex(b["checkpoint"]["root"]),
                proof=proof,
            )
    except VerificationError:
        extends = False
    return {
        "old": {"name": a["name"], "tree_size": size_a, "root": a["checkpoint"]["root"]},
        "new": {"name": b["name"], "tree_size": size_b, "root": b["checkpoint"]["root"]},
        "added": sorted(set(rb) - set(ra)),
        "removed": sorted(set(ra) - set(rb)),
        "relabelled": [
            {"image_id": i, "from": ra[i]["category"], "to": rb[i]["category"]} for i in relabelled
        ],
        "extends": extends,
        "consistency_proof": [h.hex() for h in proof],
    }
