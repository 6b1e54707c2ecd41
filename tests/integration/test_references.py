"""Overlap with public collections (issue 16): a capture that near-duplicates a reference
image is flagged, and each partition's evidence pack reports its overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.policies.partitions import Scheme
from dermledger.projections.release.verify import verify_release_dir
from dermledger.synthetic.images import draw_image, encode_jpeg
from dermledger.synthetic.references import reference_csv
from tests.integration.test_partitions import add_patient
from tests.support import LedgerHandle


def test_overlap_is_flagged_and_reported_per_partition(team: LedgerHandle, tmp_path: Path) -> None:
    for number in range(1, 7):
        add_patient(team, number)
    public = reference_csv(10, overlapping=[encode_jpeg(draw_image(100))])  # P01's capture
    added = team.ledger.references.add(team["ada"], "public-example", public)
    assert (added["entries"], added["flagged"]) == (11, 1)
    assert team.ledger.references.scan(team["ada"]) == 0  # already flagged, not repeated
    with pytest.raises(Conflict):
        team.ledger.references.add(team["ada"], "public-example", public)
    with pytest.raises(InvalidInput, match="row 2 needs id"):
        team.ledger.references.add(team["ada"], "bad", b"id,phash,dhash\nX,zz,00\n")
    assert team.ledger.references.list_collections()[0]["images_flagged"] == 1
    placed = team.ledger.partitions.assign(team["ada"], Scheme(5, (50, 25, 25)))
    overlap = {}
    for name in ("train", "validation", "test"):
        folder = tmp_path / name
        team.ledger.releases.create_release(
            team["ada"], name, folder, partition=name, purpose="overlap check"
        )
        assert verify_release_dir(folder)[1] == []
        evidence = json.loads((folder / "evidence.json").read_text())
        prep = evidence["art_10_2_c_preparation"]
        overlap[name] = prep["images_overlapping_public_reference_collections"]
    assert overlap[placed["P01"]] == 1 and sum(overlap.values()) == 1
