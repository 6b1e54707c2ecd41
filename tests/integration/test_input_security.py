"""What may come in (issue 18 items 20, 21, 22, 33): identifiers in canonical form only,
free text under one rule, formats a release can publish, patient fields that agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermledger.ledger.errors import InvalidInput, PolicyViolation
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
}
HEADER = ["filename", "patient_id", "lesion_id", "image_type", "dermoscopic_type", "sex"]


def count(team: LedgerHandle) -> int:
    return sum(1 for _ in team.ledger.kernel.log())


def blob_files(team: LedgerHandle) -> list[Path]:
    blobs = team.ledger.settings.blobs_dir
    return sorted(p for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []


@pytest.fixture
def study(team: LedgerHandle) -> LedgerHandle:
    register_with_consent(team, "P0003", {"age": "38", "sex": "female"})
    return team


def capture(team: LedgerHandle, seed: int, **kw: object):  # type: ignore[no-untyped-def]
    args = {"patient_id": "P0003", "lesion_id": "L1", "metadata": META} | kw
    return team.ledger.capture.capture(team["ada"], encode_jpeg(draw_image(seed)), **args)


def import_rows(team: LedgerHandle, tmp_path: Path, rows: list[dict[str, str]]) -> None:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for seed, row in enumerate(rows, start=40):
        (folder / row["filename"]).write_bytes(encode_jpeg(draw_image(seed)))
    team.ledger.imports.import_folder(team["ada"], folder, HEADER, rows)


def row(**kw: str) -> dict[str, str]:
    return {"filename": "a.jpg", "patient_id": "P0003", "lesion_id": "L1",
            "image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
            "sex": ""} | kw  # fmt: skip


# ------------------------------------------------------------ 20: canonical identifiers

UNTRIMMED = [" P0003", "P0003 ", "\tP0003", "P0003\n"]


@pytest.mark.parametrize("pseudonym", UNTRIMMED)
def test_register_refuses_an_identifier_not_in_canonical_form(
    study: LedgerHandle, pseudonym: str
) -> None:
    before = count(study)
    with pytest.raises(InvalidInput, match="leading or trailing"):
        study.ledger.patients.register_patient(study["ada"], pseudonym, {})
    assert count(study) == before


@pytest.mark.parametrize("field", ["patient_id", "lesion_id"])
def test_capture_refuses_untrimmed_identifiers(study: LedgerHandle, field: str) -> None:
    before, blobs = count(study), blob_files(study)
    value = {"patient_id": " P0003", "lesion_id": "L1\t"}[field]
    with pytest.raises(InvalidInput, match=f"{field} has leading or trailing"):
        capture(study, 1, **{field: value})
    assert count(study) == before and blob_files(study) == blobs


def test_import_refuses_untrimmed_identifiers(study: LedgerHandle, tmp_path: Path) -> None:
    before = count(study)
    with pytest.raises(InvalidInput, match="row 2: patient_id has leading or trailing"):
        import_rows(study, tmp_path, [row(patient_id="P0003 ")])
    assert count(study) == before


def test_metadata_set_refuses_an_untrimmed_lesion_id(study: LedgerHandle) -> None:
    image = capture(study, 2).image_id
    before = count(study)
    with pytest.raises(InvalidInput, match="lesion_id has leading or trailing"):
        study.ledger.curation.edit_metadata(study["ada"], image, "lesion_id", " L2", "typo")
    assert count(study) == before


# ------------------------------------------------------------ 33: patient fields agree


def test_import_refuses_a_row_that_contradicts_the_registered_patient(
    study: LedgerHandle, tmp_path: Path
) -> None:
    before = count(study)
    with pytest.raises(InvalidInput, match="row 2: sex contradicts what is registered"):
        import_rows(study, tmp_path, [row(sex="male")])
    assert count(study) == before
    import_rows(study, tmp_path, [row(sex="female")])  # agreeing is fine
    assert count(study) == before + 1


# ------------------------------------------------------------ 22: one free-text rule

BAD_TEXT = [
    ('=HYPERLINK("http://x")', "spreadsheet formula"),
    ("+1", "spreadsheet formula"),
    ("@SUM(A1)", "spreadsheet formula"),
    ("\tx", "spreadsheet formula"),
    ("DL4 \x1b[31mred", "control or escape characters"),
    ("DL4 \u202eevil", "control or escape characters"),
    ("x" * 10_000, "longer than"),
]


@pytest.mark.parametrize(("text", "says"), BAD_TEXT)
def test_capture_device_follows_the_free_text_rule(
    study: LedgerHandle, text: str, says: str
) -> None:
    before, blobs = count(study), blob_files(study)
    with pytest.raises(InvalidInput, match=says):
        capture(study, 3, device=text)
    assert count(study) == before and blob_files(study) == blobs


@pytest.mark.parametrize(("text", "says"), BAD_TEXT)
def test_every_other_free_text_field_follows_it_too(
    study: LedgerHandle, text: str, says: str
) -> None:
    image = capture(study, 4).image_id
    ledger, ada, before = study.ledger, study["ada"], count(study)
    calls = [
        lambda: ledger.confirmation.record_histology(study["pat"], image, "Nevus", text),
        lambda: ledger.curation.set_excluded(ada, image, excluded=True, reason=text),
        lambda: ledger.patients.record_consent(ada, "P0003", text, b"form"),
        lambda: ledger.patients.withdraw_consent(ada, "P0003", text),
        lambda: ledger.actors.revoke(ada, "aud", text),
        lambda: ledger.patients.register_patient(ada, "P0009", {}, personal={"name": text}),
    ]
    for call in calls:
        with pytest.raises(InvalidInput, match=says):
            call()
    assert count(study) == before


def test_show_and_trail_escape_control_characters_of_old_events(tmp_path: Path) -> None:
    """An event recorded before the rule (written here around the service) is shown with
    its control characters escaped, never sent raw to the terminal."""
    from typer.testing import CliRunner

    from dermledger.commands.main import app
    from dermledger.ledger.bootstrap import Settings
    from dermledger.study.kernel import Proposal
    from tests.support import open_handle

    home = tmp_path / "home"
    team = open_handle(Settings(home=home, kdf_log2_n=10))
    try:
        register_with_consent(team, "P0003", {"age": "38", "sex": "female"})
        image = capture(team, 5).image_id
        reason = "blurred \x1b[2J\x1b]0;owned\x07 \u202eevil"
        payload = {"image_id": image, "reason": reason}
        team.ledger.kernel.append(team["ada"], lambda: [Proposal(image, "ImageExcluded", payload)])
    finally:
        team.ledger.close()
    runner = CliRunner()
    for args in (["show", image], ["audit", "trail", image]):
        result = runner.invoke(app, ["--home", str(home), *args], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\u202e" not in result.output
        assert "\\x1b[2J" in result.output, result.output


# ------------------------------------------------------------ 21: formats a release publishes


def gif(seed: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(draw_image(seed)).save(buffer, format="GIF")
    return buffer.getvalue()


def test_an_sop_override_never_lets_in_a_format_a_release_cannot_publish(
    study: LedgerHandle,
) -> None:
    before, blobs = count(study), blob_files(study)
    with pytest.raises(PolicyViolation, match="accepted-format: measured GIF"):
        study.ledger.capture.capture(
            study["ada"], gif(6), patient_id="P0003", lesion_id="L1", metadata=META,
            override_reason="the only camera we had",
        )  # fmt: skip
    assert count(study) == before and blob_files(study) == blobs


def old_gif_capture(team: LedgerHandle) -> str:
    """An overridden GIF capture as an older version recorded it (written around today's
    service, which refuses it), with its blob in the store."""
    from dermledger.ledger.blobs import BlobStore
    from dermledger.policies import metadata_schema
    from dermledger.study.imaging import inspect_image
    from dermledger.study.kernel import Proposal

    data = gif(7)
    facts = inspect_image(data)
    BlobStore(team.ledger.settings.blobs_dir).put(data)
    record = metadata_schema.validate_record(
        {"patient_id": "P0003", "lesion_id": "L7", "age": 38, "sex": "female", **META}
    ).model_dump(mode="json", exclude_none=True)
    del record["patient_id"], record["lesion_id"]
    image_id = "IMG-0123456789abcdef"
    payload = {
        "image_id": image_id, "patient_id": "P0003", "lesion_id": "L7",
        "blob_sha256": facts.sha256, "pixel_sha256": facts.pixel_sha256,
        "phash": facts.phash, "dhash": facts.dhash, "region_hash": facts.region_hash,
        "width": facts.width, "height": facts.height, "format": facts.format,
        "size_bytes": facts.size_bytes, "device": None, "focus": facts.focus,
        "sop": {"policy": "capture-sop", "version": "1", "checks": [], "deviations": [
            {"rule": "accepted-format", "measured": "GIF", "reason": "old camera"}]},
        "metadata": record,
    }  # fmt: skip
    team.ledger.kernel.append(team["ada"], lambda: [Proposal(image_id, "ImageCaptured", payload)])
    return image_id


def test_a_release_leaves_out_an_unpublishable_image_from_an_old_log_by_name(
    study: LedgerHandle, tmp_path: Path
) -> None:
    image = old_gif_capture(study)
    kept = capture(study, 8, lesion_id="L8").image_id
    nevus = "Nevus, NOS, Compound"
    for one in (image, kept):
        study.ledger.confirmation.annotate(study["ann"], one, nevus, [])
        for reader in ("sam", "sue", "sid"):
            study.ledger.confirmation.vote(study[reader], one, nevus)
    summary = study.ledger.releases.create_release(study["ada"], "v1", tmp_path / "v1")
    assert summary["images"] == 1 and summary["left_out"]["publishable-format"] == 1
    datasheet = (tmp_path / "v1" / "datasheet.md").read_text()
    assert "publishable-format" in datasheet
    assert [p.name for p in (tmp_path / "v1" / "images").iterdir()] == [f"{kept}.jpg"]
