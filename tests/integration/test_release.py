"""Releases on real ledgers: gates, reproducibility, offline verification, every damage."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from dermledger.ledger.errors import Conflict, PolicyViolation
from dermledger.projections.release.verify import verify_release_dir
from dermledger.study.position import Position
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
    "clin_size_long_diam_mm": "6.5",
}
NEVUS, SEBK, MEL = "Nevus, NOS, Compound", "Seborrheic keratosis", "Melanoma Invasive"


def capture(team: LedgerHandle, seed: int) -> str:
    return team.ledger.capture.capture(
        team["ada"],
        encode_jpeg(draw_image(seed)),
        patient_id="P1",
        lesion_id=f"L{seed}",
        metadata=META,
    ).image_id


def verified(team: LedgerHandle, seed: int, label: str, *, histology: bool = False) -> str:
    image = capture(team, seed)
    team.ledger.confirmation.annotate(team["ann"], image, label, ["pigment_network=typical"])
    for reader in ("sam", "sue", "sid"):
        team.ledger.confirmation.vote(team[reader], image, label)
    if histology:
        team.ledger.confirmation.record_histology(
            team["pat"], image, label, f"PATH-{seed}", "2026-11-01"
        )
    return image


@pytest.fixture
def study(team: LedgerHandle) -> dict[str, str]:
    register_with_consent(team, "P1", {"age": "47", "sex": "female", "fitzpatrick_skin_type": "II"})
    images = {
        "nevus": verified(team, 1, NEVUS),
        "sebk": verified(team, 2, SEBK),
        "melanoma": verified(team, 3, MEL, histology=True),
        "melanoma-unbiopsied": verified(team, 4, MEL),
        "clinical-only": capture(team, 5),
        "excluded": verified(team, 6, NEVUS),
    }
    team.ledger.confirmation.annotate(team["ann"], images["clinical-only"], NEVUS, [])
    team.ledger.curation.set_excluded(
        team["ada"], images["excluded"], excluded=True, reason="wrong site"
    )
    return images


def released_ids(folder: Path) -> set[str]:
    with (folder / "metadata.csv").open() as handle:
        return {row["image_id"] for row in csv.DictReader(handle)}


def test_gates_reproducibility_and_verification(
    team: LedgerHandle, study: dict[str, str], tmp_path: Path
) -> None:
    summary = team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    folder = tmp_path / "v1"
    assert released_ids(folder) == {study["nevus"], study["sebk"], study["melanoma"]}
    assert summary["left_out"]["not-excluded"] == 1
    assert summary["left_out"]["verified-by-consensus"] == 1
    assert summary["left_out"]["malignant-histology"] == 1
    assert verify_release_dir(folder)[1] == []
    manifest = verify_release_dir(folder)[0]
    assert team.ledger.releases.check_release_against_ledger(manifest, folder) == []
    datasheet = (folder / "datasheet.md").read_text()
    assert "malignant-histology" in datasheet and "verified-by-consensus" in datasheet
    # The same position and software give byte-identical files (a rebuild at the same seq).
    team.ledger.releases.create_release(
        team["ada"],
        "v1",
        tmp_path / "again",
        publish=False,
        as_of=Position.at_seq(summary["as_of_seq"]),
    )
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file()
    )
    for path in files:
        assert (tmp_path / "again" / path).read_bytes() == (folder / path).read_bytes(), path
    assert [r["name"] for r in team.ledger.releases.list_releases()] == ["v1"]


def test_release_name_and_folder_refusals(
    team: LedgerHandle, study: dict[str, str], tmp_path: Path
) -> None:
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    with pytest.raises(Conflict):
        team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "other")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(Conflict):
        team.ledger.releases.create_release(team["ada"], "v2", tmp_path / "full")
    with pytest.raises(PolicyViolation):
        team.ledger.releases.create_release(team["sam"], "v3", tmp_path / "v3")
    assert not (tmp_path / "other").exists() and not (tmp_path / "v3").exists()
    assert not list(tmp_path.glob(".*partial*"))


@pytest.fixture
def release(team: LedgerHandle, study: dict[str, str], tmp_path: Path) -> Path:
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    return tmp_path / "v1"


def damage_csv_row(folder: Path) -> None:
    text = (folder / "metadata.csv").read_text()
    (folder / "metadata.csv").write_text(text.replace("female", "male", 1))


def replace_image(folder: Path) -> None:
    target = next((folder / "images").iterdir())
    target.write_bytes(encode_jpeg(draw_image(999)))


def remove_file(folder: Path) -> None:
    (folder / "annotations.csv").unlink()


def extra_file(folder: Path) -> None:
    (folder / "images" / "extra.jpg").write_bytes(encode_jpeg(draw_image(998)))


def forge_manifest(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["name"] = "v1-final"
    (folder / "manifest.json").write_text(json.dumps(manifest))


def break_proof(folder: Path) -> None:
    lines = (folder / "provenance.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    proof = record["events"][0]["proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
    lines[0] = json.dumps(record)
    (folder / "provenance.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (damage_csv_row, "metadata.csv: its bytes do not match"),
        (replace_image, "its bytes do not match"),
        (remove_file, "annotations.csv: listed in the manifest but missing"),
        (extra_file, "images/extra.jpg: present but not listed"),
        (forge_manifest, "signature does not verify"),
        (break_proof, "inclusion proof does not verify"),
    ],
)
def test_each_kind_of_damage_is_named(release: Path, tmp_path: Path, damage, expected) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)  # hard links in images/ must not let damage reach the blobs
    for image in (copy / "images").iterdir():
        data = image.read_bytes()
        image.unlink()
        image.write_bytes(data)
    damage(copy)
    failures = verify_release_dir(copy)[1]
    assert any(expected in f for f in failures), failures
    assert verify_release_dir(release)[1] == []


def test_diff_shows_changes_and_extension(
    team: LedgerHandle, study: dict[str, str], release: Path, tmp_path: Path
) -> None:
    team.ledger.confirmation.record_histology(
        team["pat"], study["melanoma-unbiopsied"], MEL, "PATH-44"
    )
    team.ledger.confirmation.record_histology(
        team["pat"], study["sebk"], MEL, "PATH-45"
    )  # discordant
    team.ledger.releases.create_release(team["ada"], "v2", tmp_path / "v2")
    result = team.ledger.releases.diff_releases(release, tmp_path / "v2")
    assert result["added"] == [study["melanoma-unbiopsied"]] and result["removed"] == []
    assert result["relabelled"] == [{"image_id": study["sebk"], "from": "BKL", "to": "MEL"}]
    assert result["extends"] is True
    manifest = verify_release_dir(release)[0]
    assert team.ledger.releases.check_release_against_ledger(manifest, release) == []


def test_metadata_csv_passes_isic_validation(release: Path) -> None:
    from isic_metadata.metadata import MetadataRow

    from dermledger.policies.metadata_schema import to_isic_input

    rows = list(csv.DictReader(io.StringIO((release / "metadata.csv").read_text())))
    assert rows
    for row in rows:
        MetadataRow.model_validate(to_isic_input(row))


def test_a_damaged_blob_is_refused_and_nothing_is_written(
    team: LedgerHandle, study: dict[str, str], tmp_path: Path
) -> None:
    """Each image's blob is checked against its address once, as it is linked out, and the
    manifest reuses that hash: a blob changed in the store stops the release instead."""
    from dermledger.ledger.errors import VerificationError
    from dermledger.study.sealing import keyed_blobs

    ref = team.ledger.records.get_image(study["sebk"]).captured["blob_ref"]
    blob = keyed_blobs(team.ledger.settings).path(ref)
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    before = sum(1 for _ in team.ledger.kernel.log())
    with pytest.raises(VerificationError, match="does not match"):
        team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    assert not (tmp_path / "v1").exists() and not list(tmp_path.glob(".*partial*"))
    assert sum(1 for _ in team.ledger.kernel.log()) == before


def test_annotations_mark_a_superseded_vote(
    team: LedgerHandle, study: dict[str, str], tmp_path: Path
) -> None:
    """annotations.csv is written image by image as the release streams; a vote replaced
    later in the log is still marked superseded on its own row."""
    team.ledger.confirmation.vote(team["sam"], study["nevus"], SEBK, supersede_reason="second look")
    team.ledger.confirmation.vote(team["sam"], study["nevus"], NEVUS, supersede_reason="third look")
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    with (tmp_path / "v1" / "annotations.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["image_id"] == study["nevus"]]
    assert [r["superseded"] for r in rows if r["actor"] == "sam"] == ["true", "true", "false"]
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    assert verify_release_dir(tmp_path / "v1")[1] == []


def test_a_corrected_histology_is_the_released_label(
    team: LedgerHandle, study: dict[str, str], tmp_path: Path
) -> None:
    """Issue 18 item 6: the corrected value is released; the release still verifies."""
    team.ledger.confirmation.correct(
        team["pat"], study["melanoma"], "histology", NEVUS, "slide mix-up"
    )
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    with (tmp_path / "v1" / "metadata.csv").open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["image_id"] == study["melanoma"])
    assert row["diagnosis_1"] == "Benign" and "Nevus" in row["diagnosis_3"] + row["diagnosis_4"]
    folder = tmp_path / "v1"
    assert verify_release_dir(folder)[1] == []
    manifest = verify_release_dir(folder)[0]
    assert team.ledger.releases.check_release_against_ledger(manifest, folder) == []
