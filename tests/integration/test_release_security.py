"""Releases against adversaries (issue 18 items 19, 21, 23): forged re-signed releases,
formats a release cannot publish, and released files that share storage with the blobs."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest

from dermledger.ledger.signing import Signer
from dermledger.projections.release.verify import file_sha256, manifest_digest, verify_release_dir
from dermledger.projections.release.writer import write_manifest
from tests.integration.test_release import NEVUS, SEBK, verified
from tests.support import LedgerHandle, register_with_consent


@pytest.fixture
def release(team: LedgerHandle, tmp_path: Path) -> Path:
    register_with_consent(team, "P1", {"age": "47", "sex": "female", "fitzpatrick_skin_type": "II"})
    verified(team, 1, NEVUS)
    verified(team, 2, SEBK)
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    return tmp_path / "v1"


def resign(folder: Path, signer: Signer) -> None:
    """Recompute every file entry and sign the manifest again, as a forger would."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        path = folder / entry["path"]
        entry["sha256"], entry["bytes"] = file_sha256(path), path.stat().st_size
    manifest["signer"] = {"actor": signer.actor, "key_id": signer.key_id,
                          "public_key": signer.public_hex}  # fmt: skip
    manifest.pop("signature", None)
    manifest["signature"] = signer.sign_digest(manifest_digest(manifest))
    write_manifest(folder, manifest)


def rewrite_metadata(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = folder / "metadata.csv"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields or [])
        writer.writeheader()
        writer.writerows(rows)


def forged_copy(release: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "forged"
    shutil.copytree(release, copy)
    return copy


def test_a_label_changed_and_resigned_by_an_annotator_is_refused(
    team: LedgerHandle, release: Path, tmp_path: Path
) -> None:
    copy = forged_copy(release, tmp_path)

    def relabel(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[0]["category"] = "MEL"
        return rows

    rewrite_metadata(copy, relabel)
    resign(copy, team["ann"])
    manifest, offline = verify_release_dir(copy)
    # Offline, a re-signed forgery is self-consistent except for the evidence pack, whose
    # numbers (recomputed from metadata.csv) no longer match evidence.json (issue 16).
    assert offline and all(f.startswith(("evidence.json:", "datasheet.md:")) for f in offline)
    assert any("art_10_2_e_availability.per_category.MEL.n" in f for f in offline), offline
    failures = team.ledger.releases.check_release_against_ledger(manifest, copy)
    assert any("not the manifest published as release v1" in f for f in failures), failures
    assert any("may not publish" in f for f in failures), failures
    assert (
        team.ledger.releases.check_release_against_ledger(verify_release_dir(release)[0], release)
        == []
    )


def test_an_image_dropped_and_resigned_by_the_coordinator_is_refused(
    team: LedgerHandle, release: Path, tmp_path: Path
) -> None:
    copy = forged_copy(release, tmp_path)
    rewrite_metadata(copy, lambda rows: rows[1:])
    resign(copy, team["ada"])
    manifest, _ = verify_release_dir(copy)
    failures = team.ledger.releases.check_release_against_ledger(manifest, copy)
    assert failures and "altered and re-signed" in failures[0], failures


def test_editing_a_released_image_in_place_leaves_the_blob_intact(
    team: LedgerHandle, release: Path
) -> None:
    image = next((release / "images").iterdir())
    blobs = team.ledger.kernel.settings.blobs_dir
    sha = file_sha256(image)
    with image.open("r+b") as handle:  # as `dd … conv=notrunc` does
        handle.seek(10)
        handle.write(b"\x00" * 16)
    assert image.stat().st_nlink == 1
    # erasure v2: the stored copy is encrypted under the patient's key; it must still open
    # to the captured bytes
    from dermledger.study.sealing import keyed_blobs

    captured = team.ledger.records.get_image(image.stem).captured
    key = team.ledger.kernel.sealer.key(captured["patient_id"])
    assert key is not None and blobs.exists()
    opened = keyed_blobs(team.ledger.settings).read(
        team.ledger.kernel.sealer.blob_key(key), captured["blob_ref"]
    )
    assert hashlib.sha256(opened).hexdigest() == sha, "the blob store's copy must be untouched"
