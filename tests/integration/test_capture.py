"""Capture under the SOP on real ledgers, with real generated images and a real blob store."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermledger.ledger.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from dermledger.study.sealing import keyed_blobs
from dermledger.synthetic.images import blur, decode, draw_image, encode_jpeg, encode_png
from tests.support import LedgerHandle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
}


def jpeg(seed: int, **kw: object) -> bytes:
    return encode_jpeg(draw_image(seed, **kw))  # type: ignore[arg-type]


def state(team: LedgerHandle) -> tuple[int, list[Path]]:
    blobs = team.ledger.settings.blobs_dir
    files = sorted(p for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    return sum(1 for _ in team.ledger.kernel.log()), files


@pytest.fixture
def study(team: LedgerHandle) -> LedgerHandle:
    register_with_consent(
        team, "P0001", {"age": "38", "sex": "female", "fitzpatrick_skin_type": "II"}
    )
    return team


def test_capture_stores_blob_and_signed_event(study: LedgerHandle) -> None:
    data = jpeg(1)
    result = study.ledger.capture.capture(
        study["ada"], data, patient_id="P0001", lesion_id="L1", metadata=META, device="DermLite DL5"
    )
    image = study.ledger.records.get_image(result.image_id)
    assert image.captured["format"] == "JPEG" and image.captured["width"] == 640
    assert image.metadata["age"] == 38 and image.metadata["sex"] == "female"
    assert image.metadata["anatom_site"] == "Trunk:Posterior trunk"
    assert all(c["passed"] for c in image.captured["sop"]["checks"])
    # Encrypted at rest under the patient's key, at an address that matches nothing else
    ref = image.captured["blob_ref"]
    stored = keyed_blobs(study.ledger.settings).path(ref).read_bytes()
    assert data not in stored and image.captured["blob_sha256"] not in str(stored)
    key = study.ledger.kernel.sealer.key("P0001")
    assert key is not None
    blob_key = study.ledger.kernel.sealer.blob_key(key)
    assert keyed_blobs(study.ledger.settings).read(blob_key, ref) == data
    assert result.suspicions == [] and study.ledger.audit.verify().ok


def test_duplicates_exact_and_near_are_suspected(study: LedgerHandle) -> None:
    pixels = draw_image(7)
    first = study.ledger.capture.capture(
        study["ada"], encode_jpeg(pixels), patient_id="P0001", lesion_id="L1", metadata=META
    ).image_id
    same = study.ledger.capture.capture(
        study["ada"], encode_jpeg(pixels), patient_id="P0001", lesion_id="L1", metadata=META
    )
    assert [(s.duplicate_of, s.kind) for s in same.suspicions] == [(first, "exact-bytes")]
    same_pixels = encode_png(decode(encode_jpeg(pixels)))
    png = study.ledger.capture.capture(
        study["ada"], same_pixels, patient_id="P0001", lesion_id="L1", metadata=META
    )
    assert png.suspicions[0].kind == "exact-pixels"
    brighter = np.clip(pixels.astype(int) * 1.06, 0, 255).astype(np.uint8)
    near = study.ledger.capture.capture(
        study["ada"], encode_jpeg(brighter, 80), patient_id="P0001", lesion_id="L1", metadata=META
    )
    assert near.suspicions[0].kind == "near"
    assert near.suspicions[0].duplicate_of in {first, same.image_id, png.image_id}
    other = study.ledger.capture.capture(
        study["ada"], jpeg(99), patient_id="P0001", lesion_id="L2", metadata=META
    )
    assert other.suspicions == []
    listed = study.ledger.curation.list_duplicates()
    assert {r["image_id"] for r in listed} == {same.image_id, png.image_id, near.image_id}

    study.ledger.curation.resolve_duplicate(
        study["ada"], same.image_id, duplicate_of=first, distinct=False, reason="same file twice"
    )
    assert study.ledger.records.get_image(same.image_id).excluded
    study.ledger.curation.resolve_duplicate(
        study["ada"],
        near.image_id,
        duplicate_of=None,
        distinct=True,
        reason="second visit, new lesion",
    )
    near_state = study.ledger.records.get_image(near.image_id)
    assert not near_state.excluded and not near_state.unresolved
    with pytest.raises(Conflict):
        study.ledger.curation.resolve_duplicate(
            study["ada"], near.image_id, duplicate_of=None, distinct=True, reason="again"
        )
    assert {r["image_id"] for r in study.ledger.curation.list_duplicates()} == {png.image_id}


def test_clearing_an_exact_copy_as_distinct_needs_an_override(study: LedgerHandle) -> None:
    """Issue 18 item 3: an exact copy is cleared as distinct only with --override-exact and
    a reason, the event records the override, and compliance lists the copy while both
    images are included."""
    data = jpeg(11)
    first = study.ledger.capture.capture(
        study["ada"], data, patient_id="P0001", lesion_id="L1", metadata=META
    ).image_id
    copy = study.ledger.capture.capture(
        study["ada"], data, patient_id="P0001", lesion_id="L1", metadata=META
    ).image_id
    before = state(study)
    with pytest.raises(PolicyViolation, match="--override-exact") as refused:
        study.ledger.curation.resolve_duplicate(
            study["ada"], copy, duplicate_of=None, distinct=True, reason="looks different"
        )
    assert refused.value.policy == "duplicate-resolution" and state(study) == before
    with pytest.raises(InvalidInput):
        study.ledger.curation.resolve_duplicate(
            study["ada"], copy, duplicate_of=first, distinct=False, reason="x",
            override_exact=True,
        )  # fmt: skip
    [env] = study.ledger.curation.resolve_duplicate(
        study["ada"], copy, duplicate_of=None, distinct=True, reason="two sessions, same file",
        override_exact=True,
    )  # fmt: skip
    assert env.payload["override_exact"] is True and env.payload["outcome"] == "distinct"
    rules = {b["rule"]: b for b in study.ledger.queries.compliance()["breaches"]}
    assert rules["included-exact-copy"]["subjects"] == [f"{copy} (copy of {first})"]
    study.ledger.curation.set_excluded(study["ada"], first, excluded=True, reason="the copy stays")
    rules = {b["rule"] for b in study.ledger.queries.compliance()["breaches"]}
    assert "included-exact-copy" not in rules and study.ledger.audit.verify().ok


def test_resolutions_without_the_override_keep_their_payload_bytes(study: LedgerHandle) -> None:
    """The override field is absent from resolutions that do not use it."""
    first = study.ledger.capture.capture(
        study["ada"], jpeg(12), patient_id="P0001", lesion_id="L1", metadata=META
    ).image_id
    copy = study.ledger.capture.capture(
        study["ada"], jpeg(12), patient_id="P0001", lesion_id="L1", metadata=META
    ).image_id
    envs = study.ledger.curation.resolve_duplicate(
        study["ada"], copy, duplicate_of=first, distinct=False, reason="same file"
    )
    assert set(envs[0].payload) == {"image_id", "duplicate_of", "outcome", "reason"}


def test_metadata_edit_keeps_old_value(study: LedgerHandle) -> None:
    image_id = study.ledger.capture.capture(
        study["ada"], jpeg(3), patient_id="P0001", lesion_id="L1", metadata=META
    ).image_id
    env = study.ledger.curation.edit_metadata(
        study["ada"], image_id, "anatom_site", "Head and neck:Head", "corrected after review"
    )
    assert env.payload["old_value"] is None and "Trunk" not in str(env.payload)  # sealed
    assert study.ledger.kernel.sealer.open(env).payload["old_value"] == "Trunk:Posterior trunk"
    assert study.ledger.records.get_image(image_id).metadata["anatom_site"] == "Head and neck:Head"
    before = state(study)
    with pytest.raises(InvalidInput, match="reason"):
        study.ledger.curation.edit_metadata(study["ada"], image_id, "age", "40", " ")
    with pytest.raises(InvalidInput, match="age"):
        study.ledger.curation.edit_metadata(study["ada"], image_id, "age", "200", "typo")
    with pytest.raises(PolicyViolation):
        study.ledger.curation.edit_metadata(study["ada"], image_id, "diagnosis", "Nevus", "x")
    with pytest.raises(PolicyViolation):  # an annotator may not edit metadata
        study.ledger.curation.edit_metadata(study["ann"], image_id, "age", "40", "x")
    assert state(study) == before


def corrupt_inputs(tmp: Path) -> dict[str, bytes]:
    good = jpeg(5)
    png = encode_png(draw_image(5))
    big = io.BytesIO()
    Image.new("L", (10_000, 6_000)).save(big, format="PNG")
    return {
        "empty": b"",
        "truncated jpeg": good[: len(good) // 2],
        "truncated png": png[: len(png) // 3],
        "corrupt jpeg": good[:600] + bytes(200) + good[800:1200],
        "text named .jpg": b"this is not an image\n" * 10,
        "decompression bomb": big.getvalue(),
    }


def test_bad_files_are_refused_and_change_nothing(study: LedgerHandle, tmp_path: Path) -> None:
    before = state(study)
    for name, data in corrupt_inputs(tmp_path).items():
        with pytest.raises(InvalidInput):
            study.ledger.capture.capture(
                study["ada"], data, patient_id="P0001", lesion_id="L1", metadata=META, name=name
            )
    assert state(study) == before


def test_sop_violations_and_override(study: LedgerHandle) -> None:
    before = state(study)
    blurry = encode_jpeg(blur(draw_image(11), 6))
    with pytest.raises(PolicyViolation, match="SOP rule focus: measured"):
        study.ledger.capture.capture(
            study["ada"], blurry, patient_id="P0001", lesion_id="L1", metadata=META
        )
    small = encode_jpeg(draw_image(12, size=(300, 225)))
    with pytest.raises(PolicyViolation, match="minimum-resolution: measured 300x225"):
        study.ledger.capture.capture(
            study["ada"], small, patient_id="P0001", lesion_id="L1", metadata=META
        )
    with pytest.raises(InvalidInput, match="dermoscopic_type is required"):
        study.ledger.capture.capture(
            study["ada"],
            jpeg(13),
            patient_id="P0001",
            lesion_id="L1",
            metadata={"image_type": "dermoscopic"},
        )
    with pytest.raises(NotFound, match="not registered"):
        study.ledger.capture.capture(
            study["ada"], jpeg(14), patient_id="P9999", lesion_id="L1", metadata=META
        )
    assert state(study) == before
    ok = study.ledger.capture.capture(
        study["ada"],
        blurry,
        patient_id="P0001",
        lesion_id="L1",
        metadata=META,
        override_reason="patient moved",
    )
    deviations = study.ledger.records.get_image(ok.image_id).captured["sop"]["deviations"]
    assert [d["rule"] for d in deviations] == ["focus"]
    assert deviations[0]["reason"] == "patient moved"


def test_patient_registration_rules(study: LedgerHandle) -> None:
    before = state(study)
    with pytest.raises(Conflict):
        study.ledger.patients.register_patient(study["ada"], "P0001", {})
    with pytest.raises(InvalidInput):
        study.ledger.patients.register_patient(study["ada"], "P0002", {"age": "200"})
    with pytest.raises(InvalidInput):
        study.ledger.patients.register_patient(study["ada"], "=HYPERLINK(1)", {})
    with pytest.raises(PolicyViolation):
        study.ledger.patients.register_patient(study["ann"], "P0003", {})
    assert state(study) == before


def _import_cohort(team: LedgerHandle, cohort, *, workers: int) -> dict[str, dict]:
    """Import `cohort` on `team`'s ledger; each image's facts and suspicions by file name."""
    import csv as csv_module

    for row in cohort.patients:
        register_with_consent(team, row["patient_id"], row)
    with cohort.metadata_csv.open(newline="") as handle:
        reader = csv_module.DictReader(handle)
        rows = list(reader)
    report = team.ledger.imports.import_folder(
        team["ada"], cohort.images_dir, list(reader.fieldnames or []), rows, workers=workers
    )
    assert report.captured == len(rows) and team.ledger.audit.verify().ok
    names = {i: r["filename"] for i, r in zip(report.image_ids, rows, strict=True)}
    out = {}
    for row, image_id in zip(rows, report.image_ids, strict=True):
        image = team.ledger.records.get_image(image_id)
        # blob_ref is keyed by the patient's own key: different on every ledger
        facts = {k: v for k, v in image.captured.items() if k not in ("image_id", "blob_ref")}
        suspected = sorted(names.get(s.duplicate_of, "?") for s in image.suspicions)
        out[row["filename"]] = facts | {"suspected": suspected}
    return out


def test_pooled_batched_import_records_what_one_process_records(
    team: LedgerHandle, tmp_path: Path
) -> None:
    """Measuring on two worker processes and appending 64 images a transaction records the
    same hashes, focus, SOP results and duplicate suspicions as measuring in-process: the
    cohort (90 records, 6 planted duplicates) spans two batches, so some copies and their
    originals land in different batches and some in the same one."""
    from dermledger.ledger.bootstrap import Settings
    from dermledger.synthetic.cohort import generate_cohort
    from tests.support import open_handle

    cohort = generate_cohort(tmp_path / "cohort", records=90, duplicates=6, patients=30, workers=1)
    pooled = _import_cohort(team, cohort, workers=2)
    other = open_handle(Settings(home=tmp_path / "serial", kdf_log2_n=10))
    try:
        serial = _import_cohort(other, cohort, workers=1)
    finally:
        other.ledger.close()
    assert pooled == serial
    assert sum(1 for d in pooled.values() if d["suspected"]) >= 6
    blobs = team.ledger.settings.blobs_dir
    assert not list(blobs.rglob(".*.tmp"))  # no temporary file left behind


def test_import_without_consent_is_refused_before_writing(
    study: LedgerHandle, tmp_path: Path
) -> None:
    study.ledger.patients.register_patient(study["ada"], "P0002", {"age": "50", "sex": "male"})
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(11))
    (folder / "b.jpg").write_bytes(jpeg(12))
    header = ["filename", "patient_id", "lesion_id", "image_type", "dermoscopic_type"]
    rows = [
        {
            "filename": "a.jpg",
            "patient_id": "P0001",
            "lesion_id": "L1",
            "image_type": "dermoscopic",
            "dermoscopic_type": "contact polarized",
        },
        {
            "filename": "b.jpg",
            "patient_id": "P0002",
            "lesion_id": "L2",
            "image_type": "dermoscopic",
            "dermoscopic_type": "contact polarized",
        },
    ]
    before = state(study)
    with pytest.raises(InvalidInput, match="row 3: patient P0002 has no consent in force"):
        study.ledger.imports.import_folder(study["ada"], folder, header, rows)
    assert state(study) == before


def test_a_withdrawal_after_a_batch_read_its_patients_stops_the_batch(
    study: LedgerHandle, tmp_path: Path
) -> None:
    """A batch reads each patient once, before its blobs are written, and its decision
    reuses that read: a withdrawal committed in between must make the insert fail, the
    batch decide again and be refused, and the blobs it wrote be removed."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(21))
    header = ["filename", "patient_id", "lesion_id", "image_type", "dermoscopic_type"]
    row = dict(
        zip(header, ["a.jpg", "P0001", "L1", "dermoscopic", "contact polarized"], strict=True)
    )
    service = study.ledger.capture
    read_patients = service._batch_patients

    def read_then_withdrawn(batch: object) -> object:
        patients = read_patients(batch)  # type: ignore[arg-type]
        study.ledger.patients.withdraw_consent(study["ada"], "P0001", "the patient asked")
        return patients

    service._batch_patients = read_then_withdrawn  # type: ignore[method-assign]
    with pytest.raises(PolicyViolation, match="no consent in force"):
        study.ledger.imports.import_folder(study["ada"], folder, header, [row])
    log = [e.envelope().type for e in study.ledger.kernel.log()]
    assert "ConsentWithdrawn" in log and "ImageCaptured" not in log
    assert not [p for p in keyed_blobs(study.ledger.settings).folder.rglob("*") if p.is_file()]
