"""Point-in-time queries, the audit trail and compliance rules on real ledgers."""

from __future__ import annotations

import json

import pytest

from dermledger.commands.options import parse_moment, parse_position
from dermledger.ledger.errors import InvalidInput
from dermledger.study.position import Position
from dermledger.synthetic.images import blur, draw_image, encode_jpeg
from tests.support import LedgerHandle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
}
NEVUS, MEL = "Nevus, NOS, Compound", "Melanoma Invasive"


def size(team: LedgerHandle) -> int:
    return sum(1 for _ in team.ledger.kernel.log())


@pytest.fixture
def study(team: LedgerHandle) -> LedgerHandle:
    register_with_consent(team, "P1", {"age": "61", "sex": "male"})
    return team


def capture(team: LedgerHandle, seed: int, **kw) -> str:
    data = encode_jpeg(draw_image(seed))
    return team.ledger.capture.capture(
        team["ada"], data, patient_id="P1", lesion_id=f"L{seed}", metadata=META, **kw
    ).image_id


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def test_as_of_is_stable_and_equals_what_was_shown_then(study: LedgerHandle) -> None:
    image = capture(study, 1)
    study.ledger.confirmation.annotate(study["ann"], image, NEVUS, [])
    shown_then = dumps(study.ledger.queries.list_images())
    stats_then = dumps(study.ledger.queries.statistics())
    show_then = study.ledger.queries.show_image(image)
    then = size(study)
    study.ledger.curation.edit_metadata(
        study["ada"], image, "anatom_site", "Head and neck:Head", "fix"
    )
    for reader in ("sam", "sue", "sid"):
        study.ledger.confirmation.vote(study[reader], image, NEVUS)
    assert dumps(study.ledger.queries.list_images(Position.at_seq(then))) == shown_then
    assert dumps(study.ledger.queries.statistics(Position.at_seq(then))) == stats_then
    assert dumps(study.ledger.queries.list_images(Position.at_seq(then))) == dumps(
        study.ledger.queries.list_images(Position.at_seq(then))
    )
    past = study.ledger.queries.show_image(image, Position.at_seq(then))
    assert past["metadata"]["anatom_site"] == "Trunk:Posterior trunk"
    assert [e["type"] for e in past["history"]] == [e["type"] for e in show_then["history"]]
    now = study.ledger.queries.list_images()
    assert now[0]["verification_stage"] == "consensus"
    assert dumps(study.ledger.queries.list_images(Position.at_seq(size(study)))) == dumps(now)


def test_as_of_by_time_and_bad_positions(study: LedgerHandle) -> None:
    capture(study, 2)
    assert study.ledger.queries.list_images(Position.at_time(parse_moment("2000-01-01"))) == []
    later = Position.at_time(parse_moment("2999-01-01T00:00:00Z"))
    assert len(study.ledger.queries.list_images(later)) == 1
    with pytest.raises(InvalidInput):
        study.ledger.queries.list_images(Position.at_seq(size(study) + 1))
    with pytest.raises(InvalidInput):
        study.ledger.queries.list_images(Position.at_seq(0))
    with pytest.raises(InvalidInput):
        parse_position("yesterday")


def test_audit_trail_keeps_old_and_new(study: LedgerHandle) -> None:
    image = capture(study, 3)
    study.ledger.curation.edit_metadata(
        study["ada"], image, "anatom_site", "Head and neck:Head", "typo"
    )
    study.ledger.confirmation.annotate(study["ann"], image, NEVUS, [])
    study.ledger.confirmation.vote(study["sam"], image, MEL)
    study.ledger.confirmation.vote(study["sam"], image, NEVUS, supersede_reason="second look")
    rows = study.ledger.queries.audit_trail(image=image)
    edit = next(r for r in rows if r["type"] == "MetadataEdited")
    assert (edit["old_value"], edit["new_value"], edit["reason"]) == (
        "Trunk:Posterior trunk",
        "Head and neck:Head",
        "typo",
    )
    votes = [r for r in rows if r["type"] == "ConsensusVoteCast"]
    assert votes[1]["old_value"].endswith("Melanoma Invasive") and votes[1]["reason"]
    assert votes[0]["meaning"] == "consensus reader 1 of 3" and votes[0]["role"] == "specialist"
    assert {r["actor"] for r in study.ledger.queries.audit_trail(actor="ann")} == {"ann"}


def test_compliance_rules_fire_on_real_scenarios_and_fall_silent(study: LedgerHandle) -> None:
    assert study.ledger.queries.compliance()["breaches"] == []
    mel = capture(study, 4)
    study.ledger.confirmation.annotate(study["ann"], mel, MEL, [])
    for reader in ("sam", "sue", "sid"):
        study.ledger.confirmation.vote(study[reader], mel, MEL)
    capture(study, 4)  # the same file again: an exact duplicate suspicion
    blurry = encode_jpeg(blur(draw_image(5), 6))
    study.ledger.capture.capture(
        study["ada"],
        blurry,
        patient_id="P1",
        lesion_id="L5",
        metadata=META,
        override_reason="patient could not hold still",
    )
    study.ledger.actors.enrol(study["ada"], "old", ["coordinator"], public_key="11" * 32)
    rules = {b["rule"]: b for b in study.ledger.queries.compliance()["breaches"]}
    assert set(rules) == {
        "malignant-without-histology",
        "unresolved-duplicate-suspicion",
        "sop-override",
    }
    assert rules["malignant-without-histology"]["subjects"] == [mel]
    study.ledger.confirmation.record_histology(study["pat"], mel, MEL, "PATH-9")
    dup = next(r for r in study.ledger.curation.list_duplicates())
    study.ledger.curation.resolve_duplicate(
        study["ada"],
        dup["image_id"],
        duplicate_of=dup["duplicate_of"],
        distinct=False,
        reason="same file",
    )
    rules = {b["rule"] for b in study.ledger.queries.compliance()["breaches"]}
    assert rules == {"sop-override"}


def test_a_seq_position_is_checked_without_reading_the_log(
    study: LedgerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    newest = size(study)

    def unread() -> None:
        raise AssertionError("a seq position must not read the log")

    monkeypatch.setattr(study.ledger.kernel, "log", unread)
    assert study.ledger.queries.position(Position.at_seq(newest)) == newest
    with pytest.raises(InvalidInput, match=f"after the newest event: .* to seq {newest}"):
        study.ledger.queries.position(Position.at_seq(newest + 1))


def test_a_position_in_an_empty_log_is_one_sentence(settings) -> None:
    from dermledger.study.ledger import DermLedger

    ledger = DermLedger(settings)
    try:
        for seq in (0, 1):
            with pytest.raises(InvalidInput, match=r"^the ledger has no events yet"):
                ledger.queries.list_images(Position.at_seq(seq))
    finally:
        ledger.close()
