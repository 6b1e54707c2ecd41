"""Erasure v2 (issue 15): after `consent erase P` nothing depicts, describes or matches P,
searched for in the raw bytes of the home folder, the PostgreSQL schema, a fresh export
and a new release, while every earlier proof still verifies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dermledger.ledger.bootstrap import postgres_connect
from dermledger.ledger.errors import InvalidInput, PolicyViolation
from dermledger.projections.readmodel import ReadModel
from dermledger.projections.release.verify import verify_release_dir
from dermledger.study.imaging import inspect_image
from dermledger.study.position import Position
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.independent_checker import check_export
from tests.support import LedgerHandle, register_with_consent

SITE = "Upper extremity:Forearm:Dorsal forearm"  # P's site, nobody else's
META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
        "anatom_site": SITE, "clin_size_long_diam_mm": "71.3"}  # fmt: skip
OTHER = META | {"anatom_site": "Trunk:Posterior trunk", "clin_size_long_diam_mm": "5.0"}
NEVUS = "Nevus, NOS, Compound"


def verified(team: LedgerHandle, patient: str, seed: int, meta: dict[str, str]) -> str:
    """A captured image with an annotation and three agreeing votes (releasable)."""
    image = team.ledger.capture.capture(
        team["ada"], encode_jpeg(draw_image(seed)), patient_id=patient,
        lesion_id=f"L{seed}", metadata=meta,
    ).image_id  # fmt: skip
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    for reader in ("sam", "sue", "sid"):
        team.ledger.confirmation.vote(team[reader], image, NEVUS)
    return image


def secrets_of(images: list[bytes]) -> dict[str, bytes]:
    """What must not survive: the files, their hashes (hex and raw), P's values."""
    found: dict[str, bytes] = {
        "age": b'"age":83', "age spaced": b'"age": 83', "size": b"71.3",
        "edited size": b"71.9", "site": b"Dorsal forearm", "report": b"HX-2026-99731",
        "consent form": hashlib.sha256(b"signed consent form v3").hexdigest().encode(),
    }  # fmt: skip
    for n, data in enumerate(images):
        facts = inspect_image(data)
        found |= {
            f"image {n} bytes": data[-300:-236],
            f"image {n} sha256": facts.sha256.encode(),
            f"image {n} raw sha256": bytes.fromhex(facts.sha256),
            f"image {n} pixel sha256": facts.pixel_sha256.encode(),
            f"image {n} phash": facts.phash.encode(),
            f"image {n} dhash": facts.dhash.encode(),
            f"image {n} region hash": facts.region_hash.encode(),
        }
    return found


def home_bytes(home: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def folder_bytes(folder: Path) -> bytes:
    return home_bytes(folder)


def schema_text(team: LedgerHandle) -> bytes:
    """Every row of every table in the ledger's PostgreSQL schema, as text."""
    database = team.ledger.settings.database
    assert database is not None
    with postgres_connect(team.ledger.settings) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (database.schema,),
        )]  # fmt: skip
        rows = [
            repr(conn.execute(f'SELECT * FROM "{database.schema}"."{t}"').fetchall()).encode()
            for t in tables
        ]
        data = [
            r[0] for r in conn.execute(f'SELECT state FROM "{database.schema}".dermledger_events')
        ]
    return b"\n".join(rows) + b"\n".join(bytes(d) for d in data)


def before_erasure(team: LedgerHandle, tmp_path: Path) -> tuple[list[str], str, list[bytes], int]:
    """P0042 with two verified, released images (one edited, one with histology) and
    P0043 with one; the read model built and release v1 published. Returns P0042's image
    ids, P0043's, P0042's image files and v1's position."""
    ledger = team.ledger
    register_with_consent(team, "P0042", {"age": "83", "sex": "female"})
    register_with_consent(team, "P0043", {"age": "40", "sex": "male"})
    mine = [verified(team, "P0042", seed, META) for seed in (31, 32)]
    other = verified(team, "P0043", 33, OTHER)
    ledger.curation.edit_metadata(
        team["ada"], mine[0], "clin_size_long_diam_mm", "71.9", "measured again"
    )
    ledger.confirmation.record_histology(team["pat"], mine[1], NEVUS, "HX-2026-99731")
    images = [encode_jpeg(draw_image(seed)) for seed in (31, 32)]
    with ReadModel(ledger.settings) as model:
        model.catch_up(ledger)
        assert {r["image_id"] for r in model.dataset_rows()} >= set(mine)
    ledger.audit.sign_checkpoint(team["ada"])
    ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    assert (tmp_path / "v1" / "images" / f"{mine[0]}.jpg").read_bytes() == images[0]
    # The search below finds what is there: the read model holds opened values until now
    held = (home_bytes(ledger.settings.home) if ledger.settings.database is None
            else schema_text(team))  # fmt: skip
    assert b"Dorsal forearm" in held and b"71.9" in held
    assert b"HX-2026-99731" in (tmp_path / "v1" / "annotations.csv").read_bytes()
    return mine, other, images, ledger.releases.list_releases()[0]["as_of_seq"]


def test_erasure_leaves_nothing_that_depicts_describes_or_matches_the_patient(
    team: LedgerHandle, tmp_path: Path
) -> None:
    ledger = team.ledger
    mine, other, images, v1_seq = before_erasure(team, tmp_path)
    ledger.patients.erase_patient(team["ada"], "P0042", "GDPR art. 17 request")
    done = ledger.patients.last_erasure
    assert done is not None and done.images == 2 and done.blobs_deleted == 2

    # A copy of an erased image, captured for another patient, matches nothing
    again = ledger.capture.capture(
        team["ada"], images[0], patient_id="P0043", lesion_id="L9", metadata=OTHER
    )
    assert again.suspicions == []
    ledger.releases.create_release(team["ada"], "v2", tmp_path / "v2")
    ledger.audit.export(tmp_path / "log.jsonl")

    places = {"home": home_bytes(ledger.settings.home),
              "export": (tmp_path / "log.jsonl").read_bytes(),
              "release v2": folder_bytes(tmp_path / "v2")}  # fmt: skip
    if ledger.settings.database is not None:
        places["postgres schema"] = schema_text(team)
    for where, data in places.items():
        for what, secret in secrets_of(images).items():
            assert secret not in data, f"{what} of the erased patient found in {where}"

    # Every proof still verifies; earlier releases are their own
    assert ledger.audit.verify().ok and check_export(tmp_path / "log.jsonl") == []
    manifest, failures = verify_release_dir(tmp_path / "v1")
    assert failures == []
    assert ledger.releases.check_release_against_ledger(manifest, tmp_path / "v1") == []
    assert verify_release_dir(tmp_path / "v2")[1] == []
    v2 = (tmp_path / "v2" / "metadata.csv").read_text()
    assert other in v2 and not any(i in v2 for i in mine)
    diff = ledger.releases.diff_releases(tmp_path / "v1", tmp_path / "v2")
    assert diff["erased"] == sorted(mine) and diff["extends"]
    views_say_erased(team, mine, other, v1_seq)

    # Rebuilding the old release would need what is gone: one sentence naming the patient
    with pytest.raises(InvalidInput, match=r"cannot be rebuilt: patient P0042 was erased"):
        ledger.releases.create_release(
            team["ada"], "v1", tmp_path / "v1-again", as_of=Position.at_seq(v1_seq), publish=False
        )


def views_say_erased(team: LedgerHandle, mine: list[str], other: str, v1_seq: int) -> None:
    """dataset, --as-of, audit trail and show: the images are erased, now and then."""
    queries = team.ledger.queries
    statuses = {r["image_id"]: r["status"] for r in queries.list_images()}
    assert statuses[mine[0]] == statuses[mine[1]] == "erased" and statuses[other] == "included"
    past = {i["image_id"]: i for i in queries.list_images(as_of=Position.at_seq(v1_seq))}
    assert past[mine[0]]["status"] == "erased" and past[mine[0]]["metadata"] == {
        "patient_id": "P0042", "lesion_id": "L31"}  # fmt: skip
    trail = queries.audit_trail(image=mine[0])
    changed = {r["new_value"] for r in trail if r["type"] in ("ImageCaptured", "MetadataEdited")}
    assert changed == {"erased"}
    assert queries.show_image(mine[1])["status"] == "erased"
    assert queries.statistics()["erased"] == 2


def test_a_completed_erasure_is_not_repeated(team: LedgerHandle) -> None:
    register_with_consent(team, "P0050", {"age": "61"})
    verified(team, "P0050", 51, META)
    team.ledger.patients.erase_patient(team["ada"], "P0050", "request")
    assert not team.ledger.patients.erasure_pending("P0050")
    size = sum(1 for _ in team.ledger.kernel.log())
    with pytest.raises(PolicyViolation, match="already erased"):
        team.ledger.patients.erase_patient(team["ada"], "P0050", "request")
    assert sum(1 for _ in team.ledger.kernel.log()) == size


def test_blobs_of_sealed_captures_never_hold_the_plain_bytes(team: LedgerHandle) -> None:
    register_with_consent(team, "P0060", {"age": "30"})
    data = encode_jpeg(draw_image(61))
    team.ledger.capture.capture(
        team["ada"], data, patient_id="P0060", lesion_id="L1", metadata=META
    )
    stored = home_bytes(team.ledger.settings.blobs_dir)
    assert data[-300:-236] not in stored and hashlib.sha256(data).hexdigest().encode() not in stored


def test_a_patient_captured_before_the_upgrade_is_shown_erased(tmp_path: Path) -> None:
    """The fixture ledger (made by main before erasure v2) has plain captures: erasing one
    of its patients deletes their unshared files and read-model rows and hides their
    values in every view, though the old events keep them; old proofs still verify."""
    import shutil

    from dermledger.ledger.bootstrap import Settings
    from dermledger.study.ledger import DermLedger

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "main-ledger"
    shutil.copytree(fixture / "home", tmp_path / "home")
    ledger = DermLedger(Settings(home=tmp_path / "home", kdf_log2_n=10))
    try:
        ada = ledger.actors.unlock("ada", "fixture passphrase")
        images = {i["image_id"]: i for i in ledger.queries.list_images()}
        released = (fixture / "release-v1" / "metadata.csv").read_text().splitlines()
        owner = next(i["metadata"]["patient_id"] for k, i in images.items() if k in released[1])
        mine = sorted(i for i, r in images.items() if r["metadata"]["patient_id"] == owner)
        assert mine
        shas = [ledger.records.get_image(i).captured["blob_sha256"] for i in mine]
        ledger.patients.erase_patient(ada, owner, "erasure request")
        now = {i["image_id"]: i for i in ledger.queries.list_images()}
        assert all(now[i]["status"] == "erased" for i in mine)
        assert all(set(now[i]["metadata"]) == {"patient_id", "lesion_id"} for i in mine)
        blobs = ledger.settings.blobs_dir
        assert not any((blobs / s[:2] / s[2:]).exists() for s in shas)
        assert ledger.audit.verify().ok
        manifest, failures = verify_release_dir(fixture / "release-v1")
        assert failures == []
        as_of = int(manifest["as_of"]["seq"])
        with pytest.raises(InvalidInput, match=f"patient {owner} was erased"):
            ledger.releases.create_release(
                ada, "v1", tmp_path / "again", as_of=Position.at_seq(as_of), publish=False
            )
    finally:
        ledger.close()
