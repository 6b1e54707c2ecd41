"""What may come in (issue 18 items 20, 21, 22, 33): identifiers in canonical form only,
free text under one rule, formats a release can publish, patient fields that agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermledger.ledger.errors import InvalidInput
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
