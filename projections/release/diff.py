"""What changed between two releases of one ledger, and whether the later extends the earlier."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from dermledger.ledger.errors import InvalidInput, VerificationError
from dermledger.ledger.merkle import MerkleTree, verify_consistency
from dermledger.projections.release.verify import load_manifest

LABEL = ("category", *(f"diagnosis_{n}" for n in range(1, 6)))


def _rows(folder: Path) -> dict[str, dict[str, str]]:
    """metadata.csv by image id; one sentence when it is missing, not UTF-8, or lacks the
    columns a comparison reads."""
    path = folder / "metadata.csv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"image_id", *LABEL} - set(reader.fieldnames or [])
            if missing:
                raise VerificationError(f"{path} has no column {sorted(missing)[0]}")
            return {r["image_id"]: r for r in reader}
    except FileNotFoundError:
        raise VerificationError(f"{folder} has no metadata.csv; is it a release?") from None
    except UnicodeDecodeError:
        raise VerificationError(f"{path} is not UTF-8 text") from None
    except (OSError, csv.Error) as exc:
        raise VerificationError(f"{path} cannot be read ({exc})") from None


def _tree_size(manifest: dict[str, Any], folder: Path) -> int:
    checkpoint = manifest.get("checkpoint")
    size = checkpoint.get("tree_size") if isinstance(checkpoint, dict) else None
    root = checkpoint.get("root") if isinstance(checkpoint, dict) else None
    if not isinstance(size, int) or size < 0 or not isinstance(root, str):
        raise VerificationError(f"the manifest of {folder} has no valid checkpoint")
    return size


def diff_releases(old: Path, new: Path, tree: MerkleTree) -> dict[str, Any]:
    """Images added, removed and relabelled between two release folders, and the proof
    that the later release's log extends the earlier one's, from `tree` (the current log's
    Merkle tree)."""
    a, b = load_manifest(old), load_manifest(new)
    ra, rb = _rows(old), _rows(new)
    relabelled = sorted(
        i for i in set(ra) & set(rb) if [ra[i][k] for k in LABEL] != [rb[i][k] for k in LABEL]
    )
    size_a, size_b = _tree_size(a, old), _tree_size(b, new)
    if size_a > size_b:
        raise InvalidInput(f"{old.name} is later than {new.name}; give the earlier first")
    if size_b > tree.size:
        raise VerificationError(
            f"{new.name} claims {size_b} events; this ledger's log holds {tree.size}"
        )
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
    except (VerificationError, ValueError):  # a root that is not hex proves nothing either
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
