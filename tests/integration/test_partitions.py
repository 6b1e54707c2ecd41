"""Partitions, the sequestered test set and the evidence pack, on real ledgers (issue 16).

One study of twelve patients; each test tells one step of the evaluator's story: patients
assigned by a recorded seeded rule, a test release cut only with a stated purpose, two
partitions' releases proven disjoint, and every number of evidence.json recomputed by
`release verify`, which names a planted wrong number and a planted cross-partition patient.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dermledger.ledger.errors import Conflict, PolicyViolation
from dermledger.policies.partitions import Scheme
from dermledger.projections.release.evidence_check import check_evidence_pack
from dermledger.projections.release.partition_file import check_disjoint
from dermledger.projections.release.verify import file_sha256, manifest_digest, verify_release_dir
from dermledger.study.position import Position
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
    "clin_size_long_diam_mm": "6.5",
}
LABELS = ("Nevus, NOS, Compound", "Seborrheic keratosis")
SCHEME = Scheme(seed=7, ratios=(50, 25, 25), stratify="category")


def add_patient(team: LedgerHandle, number: int, images: int = 1) -> list[str]:
    """A consented patient with `images` consensus-verified images, one lesion each."""
    patient = f"P{number:02d}"
    fitz = "V" if number % 4 == 0 else "II"
    register_with_consent(
        team, patient, {"age": str(10 + 5 * number), "sex": "female", "fitzpatrick_skin_type": fitz}
    )
    ids = []
    for k in range(images):
        seed = 100 * number + k
        image = team.ledger.capture.capture(
            team["ada"], encode_jpeg(draw_image(seed)), patient_id=patient,
            lesion_id=f"L{seed}", metadata=META,
        ).image_id  # fmt: skip
        label = LABELS[number % 2]
        team.ledger.confirmation.annotate(team["ann"], image, label, ["pigment_network=typical"])
        for reader in ("sam", "sue", "sid"):
            team.ledger.confirmation.vote(team[reader], image, label)
        ids.append(image)
    return ids


@pytest.fixture
def study(team: LedgerHandle) -> LedgerHandle:
    for number in range(1, 13):
        add_patient(team, number, images=1 + number % 2)
    return team


def cut(team: LedgerHandle, tmp_path: Path, partition: str, name: str) -> Path:
    purpose = "final evaluation of model X" if partition == "test" else None
    team.ledger.releases.create_release(
        team["ada"], name, tmp_path / name, partition=partition, purpose=purpose
    )
    return tmp_path / name


def test_assignment_is_patient_level_seeded_and_late_additions_follow(study: LedgerHandle) -> None:
    placed = study.ledger.partitions.assign(study["ada"], SCHEME)
    assert len(placed) == 12
    assert sorted(placed.values()).count("train") == 6  # 50:25:25 of 12, within each stratum
    assert study.ledger.partitions.assign(study["ada"], SCHEME) == {}  # nothing new
    with pytest.raises(PolicyViolation, match="late additions must follow the same rule"):
        study.ledger.partitions.assign(study["ada"], Scheme(8, (50, 25, 25), "category"))
    add_patient(study, 13)
    assert list(study.ledger.partitions.assign(study["ada"], SCHEME)) == ["P13"]
    summary = study.ledger.partitions.summary()
    assert sum(p["patients"] for p in summary["partitions"].values()) == 13
    assert summary["unassigned_patients"] == 0


def test_reassignment_needs_a_reason_and_is_kept(study: LedgerHandle) -> None:
    placed = study.ledger.partitions.assign(study["ada"], SCHEME)
    patient = next(p for p, name in sorted(placed.items()) if name == "train")
    with pytest.raises(PolicyViolation, match="a reason is required"):
        study.ledger.partitions.reassign(study["ada"], patient, "test", " ")
    with pytest.raises(PolicyViolation, match="already in train"):
        study.ledger.partitions.reassign(study["ada"], patient, "train", "no-op")
    study.ledger.partitions.reassign(study["ada"], patient, "test", "sibling of a test patient")
    last = study.ledger.partitions.history()[-1]
    assert (last["from_partition"], last["to"], last["reason"]) == (
        "train", "test", "sibling of a test patient"
    )  # fmt: skip


def test_reading_the_test_set_needs_a_purpose_and_is_recorded(
    study: LedgerHandle, tmp_path: Path
) -> None:
    study.ledger.partitions.assign(study["ada"], SCHEME)
    with pytest.raises(PolicyViolation, match="needs a stated purpose"):
        study.ledger.releases.create_release(study["ada"], "t", tmp_path / "t", partition="test")
    with pytest.raises(PolicyViolation, match="needs a stated purpose"):
        study.ledger.partitions.read_partition(study["aud"], "test", None)
    assert not (tmp_path / "t").exists() and study.ledger.partitions.accesses() == []
    listing = study.ledger.partitions.read_partition(study["aud"], "test", "check the labels")
    assert listing["patients"] and listing["images"]
    cut(study, tmp_path, "test", "test-v1")
    accesses = study.ledger.partitions.accesses()
    assert [(a["actor"], a["what"], a["release"]) for a in accesses] == [
        ("aud", "listing", None), ("ada", "release", "test-v1")
    ]  # fmt: skip
    with pytest.raises(Conflict):  # no partitions at seq 1
        study.ledger.releases.create_release(
            study["ada"], "early", tmp_path / "early", as_of=Position.at_seq(1), partition="train"
        )


def test_partition_releases_verify_are_disjoint_and_rebuild_identically(
    study: LedgerHandle, tmp_path: Path
) -> None:
    study.ledger.partitions.assign(study["ada"], SCHEME)
    train, test = cut(study, tmp_path, "train", "train-v1"), cut(study, tmp_path, "test", "test-v1")
    for folder in (train, test):
        failures = verify_release_dir(folder)[1]
        assert failures == [] and (folder / "evidence.json").exists()
    manifests = [verify_release_dir(f)[0] for f in (train, test)]
    assert check_disjoint(train, manifests[0], test, manifests[1]) == []
    evidence = json.loads((test / "evidence.json").read_text())
    assert evidence["release"]["partition"] == "test"
    assert "Evidence pack (EU AI Act Article 10)" in (test / "datasheet.md").read_text()
    seq = manifests[1]["as_of"]["seq"]
    again = tmp_path / "again"
    study.ledger.releases.create_release(
        study["ada"], "test-v1", again, as_of=Position.at_seq(seq), publish=False, partition="test",
        purpose="rebuild check",
    )  # fmt: skip
    for path in sorted(p for p in test.rglob("*") if p.is_file()):
        assert (again / path.relative_to(test)).read_bytes() == path.read_bytes(), path
    assert study.ledger.partitions.accesses()[-1]["purpose"] == "rebuild check"  # a reading too


def test_a_cross_partition_patient_is_named(study: LedgerHandle, tmp_path: Path) -> None:
    placed = study.ledger.partitions.assign(study["ada"], SCHEME)
    train = cut(study, tmp_path, "train", "train-v1")
    moved = next(p for p, name in sorted(placed.items()) if name == "train")
    study.ledger.partitions.reassign(study["ada"], moved, "test", "planted leak")
    test = cut(study, tmp_path, "test", "test-v1")
    a, b = verify_release_dir(test)[0], verify_release_dir(train)[0]
    failures = check_disjoint(test, a, train, b)
    named = f"against train-v1: patient {moved} of partition test also appears in partition train"
    assert named in failures, failures
    assert any(f"lesion {moved}/" in f for f in failures)


def resign(folder: Path, team: LedgerHandle) -> None:
    """Re-list evidence.json's digest and re-sign the manifest, as a forger with the key
    would: only the recomputation can then catch the planted number."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        path = folder / entry["path"]
        entry["sha256"], entry["bytes"] = file_sha256(path), path.stat().st_size
    manifest.pop("signature")
    manifest["signature"] = team["ada"].sign_digest(manifest_digest(manifest))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def test_a_planted_wrong_number_is_named(study: LedgerHandle, tmp_path: Path) -> None:
    study.ledger.partitions.assign(study["ada"], SCHEME)
    release = cut(study, tmp_path, "train", "train-v1")
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    evidence = json.loads((copy / "evidence.json").read_text())
    true = evidence["art_10_2_b_collection"]["patients"]
    evidence["art_10_2_b_collection"]["patients"] = true + 1
    fitz = evidence["art_10_3_statistical_properties"]["representation_vs_skinmap"]
    fitz["fitzpatrick_v_vi"]["release"]["ci95"][0] = 0.5
    evidence["ledger"]["left_out_per_gate"]["not-excluded"] = 3  # a fact only the ledger knows
    (copy / "evidence.json").write_text(json.dumps(evidence, indent=2, sort_keys=True) + "\n")
    resign(copy, study)
    failures = verify_release_dir(copy)[1]
    assert (
        f"evidence.json: art_10_2_b_collection.patients is {true + 1}; "
        f"the release's files give {true}"
    ) in failures
    assert any("representation_vs_skinmap.fitzpatrick_v_vi.release.ci95" in f for f in failures), (
        failures
    )
    assert verify_release_dir(release)[1] == []
    # With the ledger at hand, the facts the files cannot show are checked too.
    manifest = verify_release_dir(copy)[0]
    assert study.ledger.evidence.check_against_ledger(copy, manifest) == [
        "evidence.json: ledger.left_out_per_gate.not-excluded is 3; the ledger gives 0"
    ]
    assert study.ledger.evidence.check_against_ledger(release, manifest) == []


def test_a_duplicate_cluster_across_partitions_is_named(team: LedgerHandle, tmp_path: Path) -> None:
    """P02's image is P01's image again: the suspicion joins the two patients (one unit,
    one partition); resolved as a duplicate, then reinstated, and P02 moved to test, the
    cluster spans both releases and `release verify --against` names it."""
    first = add_patient(team, 1)[0]
    add_patient(team, 3)
    register_with_consent(team, "P02", {"age": "40", "sex": "male"})
    copy = team.ledger.capture.capture(
        team["ada"], encode_jpeg(draw_image(100)), patient_id="P02", lesion_id="L2",
        metadata=META,
    ).image_id  # fmt: skip
    team.ledger.curation.resolve_duplicate(
        team["ada"], copy, duplicate_of=first, distinct=False, reason="same file"
    )
    team.ledger.curation.set_excluded(team["ada"], copy, excluded=False, reason="planted")
    team.ledger.confirmation.annotate(team["ann"], copy, LABELS[1], [])
    for reader in ("sam", "sue", "sid"):
        team.ledger.confirmation.vote(team[reader], copy, LABELS[1])
    placed = team.ledger.partitions.assign(team["ada"], Scheme(1, (34, 33, 33)))
    assert placed["P01"] == placed["P02"]  # the duplicate joins them
    home, away = placed["P01"], next(p for p in ("train", "test") if p != placed["P01"])
    team.ledger.partitions.reassign(team["ada"], "P02", away, "planted cluster leak")
    a = cut(team, tmp_path, home, f"{home}-v1")
    b = cut(team, tmp_path, away, f"{away}-v1")
    failures = check_disjoint(a, verify_release_dir(a)[0], b, verify_release_dir(b)[0])
    assert failures == [
        f"against {away}-v1: the duplicate cluster of {min(first, copy)} spans partitions "
        f"{home} and {away}"
    ]


def test_malformed_inputs_are_named_not_a_crash(study: LedgerHandle, tmp_path: Path) -> None:
    study.ledger.partitions.assign(study["ada"], SCHEME)
    release = cut(study, tmp_path, "train", "train-v1")
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    text = (copy / "metadata.csv").read_text()
    (copy / "metadata.csv").write_text(text.replace("category", "kategory", 1))
    manifest, failures = verify_release_dir(copy)
    # Altered files are named once; the evidence is recomputed only from vouched-for files,
    # and recomputing it from a malformed one is a named failure, not a crash.
    assert failures == ["metadata.csv: its bytes do not match the manifest's SHA-256"]
    recomputed = check_evidence_pack(copy, manifest)
    assert any("evidence.json: cannot be recomputed" in f for f in recomputed), recomputed
