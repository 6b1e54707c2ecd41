"""Consent, withdrawal and erasure by crypto-shredding, searched for in the raw bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermledger.ledger.errors import NotFound, PolicyViolation
from dermledger.projections.release.verify import verify_release_dir
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, RawDB, register_with_consent

NAME, RECORD, BIRTH = "Xanthippe Quelldorf-Brimble", "MRN-77341902", "1961-04-09"
SECRETS = [NAME.encode(), RECORD.encode(), BIRTH.encode(), b"Quelldorf", b"77341902"]
META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
    "clin_size_long_diam_mm": "5.0",
}
NEVUS = "Nevus, NOS, Compound"


def raw_bytes(team: LedgerHandle) -> bytes:
    db = RawDB(team.ledger.settings)
    try:
        return b"".join(r[1].encode() + r[3].encode() + r[4] for r in db.rows())
    finally:
        db.close()


def sqlite_file_bytes(team: LedgerHandle) -> bytes:
    home = team.ledger.settings.home
    return b"".join(p.read_bytes() for p in home.glob("ledger.sqlite*"))


@pytest.fixture
def patient(team: LedgerHandle) -> str:
    team.ledger.patients.register_patient(
        team["ada"],
        "P7",
        {"age": "63", "sex": "female"},
        personal={"name": NAME, "record_number": RECORD, "birth_date": BIRTH},
    )
    return "P7"


def test_personal_data_is_never_stored_in_plain_text(
    team: LedgerHandle, patient: str, tmp_path: Path
) -> None:
    team.ledger.audit.export(tmp_path / "log.jsonl")
    places = {"event rows": raw_bytes(team), "export": (tmp_path / "log.jsonl").read_bytes()}
    if team.ledger.settings.db_url is None:
        places["sqlite file"] = sqlite_file_bytes(team)
    for where, data in places.items():
        for secret in SECRETS:
            assert secret not in data, f"{secret!r} found in {where}"
    revealed = team.ledger.patients.reveal_personal(team["ada"], patient, "follow-up call")
    assert revealed == {"name": NAME, "record_number": RECORD, "birth_date": BIRTH}
    assert [e.type for e in team.ledger.kernel.stream("patient:P7")][-1] == "PersonalDataAccessed"
    with pytest.raises(PolicyViolation):
        team.ledger.patients.reveal_personal(team["sam"], patient, "curiosity")


def test_capture_needs_consent_in_force(team: LedgerHandle, patient: str) -> None:
    data = encode_jpeg(draw_image(1))
    with pytest.raises(PolicyViolation, match="no consent in force"):
        team.ledger.capture.capture(
            team["ada"], data, patient_id=patient, lesion_id="L1", metadata=META
        )
    team.ledger.patients.record_consent(team["ada"], patient, "study", b"form")
    team.ledger.capture.capture(
        team["ada"], data, patient_id=patient, lesion_id="L1", metadata=META
    )
    team.ledger.patients.withdraw_consent(team["ada"], patient, "patient request")
    with pytest.raises(PolicyViolation, match="no consent in force"):
        team.ledger.capture.capture(
            team["ada"],
            encode_jpeg(draw_image(2)),
            patient_id=patient,
            lesion_id="L2",
            metadata=META,
        )


def verified_image(team: LedgerHandle, patient: str, seed: int) -> str:
    image = team.ledger.capture.capture(
        team["ada"],
        encode_jpeg(draw_image(seed)),
        patient_id=patient,
        lesion_id=f"L{seed}",
        metadata=META,
    ).image_id
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    for reader in ("sam", "sue", "sid"):
        team.ledger.confirmation.vote(team[reader], image, NEVUS)
    return image


def test_withdrawal_and_erasure_keep_every_proof(
    team: LedgerHandle, patient: str, tmp_path: Path
) -> None:
    team.ledger.patients.record_consent(team["ada"], patient, "study", b"form")
    register_with_consent(team, "P8", {"age": "40", "sex": "male"})
    mine, other = verified_image(team, patient, 11), verified_image(team, "P8", 12)
    team.ledger.audit.sign_checkpoint(team["ada"])
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    team.ledger.patients.withdraw_consent(team["ada"], patient, "patient request")
    team.ledger.patients.erase_patient(team["ada"], patient, "erasure request")
    team.ledger.releases.create_release(team["ada"], "v2", tmp_path / "v2")
    v1 = (tmp_path / "v1" / "metadata.csv").read_text()
    v2 = (tmp_path / "v2" / "metadata.csv").read_text()
    assert mine in v1 and other in v1
    assert mine not in v2 and other in v2
    for folder in (tmp_path / "v1", tmp_path / "v2"):
        manifest, failures = verify_release_dir(folder)
        assert failures == []
        assert team.ledger.releases.check_release_against_ledger(manifest, folder) == []
    assert team.ledger.audit.verify().ok
    assert not team.ledger.kernel.patient_keys.exists(patient)
    with pytest.raises(NotFound, match="erased"):
        team.ledger.patients.reveal_personal(team["ada"], patient, "try anyway")
    erased = next(e for e in team.ledger.kernel.stream("patient:P7") if e.type == "PatientErased")
    assert set(erased.payload) == {"patient_id", "reason", "key_destroyed"}
    rules = {b["rule"] for b in team.ledger.queries.compliance()["breaches"]}
    assert "capture-without-consent" not in rules
