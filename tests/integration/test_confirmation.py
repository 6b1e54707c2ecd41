"""Every path of the staged verification, built from real signed events in a real ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dermledger.ledger.errors import InvalidInput, NotFound, PolicyViolation
from dermledger.policies import release_gates
from dermledger.policies.base import Decision
from dermledger.policies.confirmation import Verification
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import PASSPHRASE, LedgerHandle, register_with_consent

META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}
NEVUS, SEBK, DF = "Nevus, NOS, Compound", "Seborrheic keratosis", "Dermatofibroma"
MEL, BCC = "Melanoma Invasive", "Basal cell carcinoma"


@pytest.fixture
def image(team: LedgerHandle) -> str:
    register_with_consent(team, "P1", {"age": "50", "sex": "male"})
    data = encode_jpeg(draw_image(21))
    return team.ledger.capture.capture(
        team["ada"], data, patient_id="P1", lesion_id="L1", metadata=META
    ).image_id


def stage(team: LedgerHandle, image_id: str):
    return team.ledger.records.get_image(image_id).verification()


def count(team: LedgerHandle) -> int:
    return sum(1 for _ in team.ledger.kernel.log())


def panel(team: LedgerHandle, image_id: str, *labels: str) -> None:
    for reader, label in zip(("sam", "sue", "sid"), labels, strict=False):
        team.ledger.confirmation.vote(team[reader], image_id, label)


def test_clinical_then_unanimous_consensus(team: LedgerHandle, image: str) -> None:
    assert stage(team, image).stage is None
    env = team.ledger.confirmation.annotate(
        team["ann"], image, NEVUS, ["pigment_network=typical", "isic2018:globules=present"]
    )
    assert env.payload["signer_role"] == "annotator"
    v = stage(team, image)
    assert (v.stage, v.category, v.diagnosis_confirm_type) == (
        "clinical",
        "NV",
        "single contributor clinical assessment",
    )
    panel(team, image, NEVUS, NEVUS)
    assert stage(team, image).consensus == "pending"
    panel_last = team.ledger.confirmation.vote(team["sid"], image, NEVUS)
    assert panel_last.payload["signature_meaning"] == "consensus reader 3 of 3"
    v = stage(team, image)
    assert (v.stage, v.category, v.consensus_support) == ("consensus", "NV", "3/3")
    assert v.diagnosis_confirm_type == "single image expert consensus"
    assert v.melanocytic is True
    assert team.ledger.audit.verify().ok


def test_two_of_three_reach_consensus_and_label_is_majority(team: LedgerHandle, image: str) -> None:
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    panel(team, image, SEBK, SEBK, NEVUS)
    v = stage(team, image)
    assert (v.stage, v.category, v.consensus_support) == ("consensus", "BKL", "2/3")
    assert v.diagnosis.endswith("Seborrheic keratosis")


def test_three_way_split_is_disputed_until_a_further_reader(team: LedgerHandle, image: str) -> None:
    team.ledger.actors.enrol(team["ada"], "sal", ["specialist"], passphrase=PASSPHRASE)
    sal = team.ledger.actors.unlock("sal", PASSPHRASE)
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    panel(team, image, NEVUS, SEBK, DF)
    v = stage(team, image)
    assert (v.stage, v.consensus) == ("clinical", "disputed")
    before = count(team)
    with pytest.raises(PolicyViolation, match=r"3 of 3 votes.*further reader"):
        team.ledger.confirmation.vote(sal, image, NEVUS)  # a fourth vote, not ordered
    with pytest.raises(PolicyViolation, match="may not append FurtherReadOrdered"):
        team.ledger.confirmation.order_read(team["sam"], image, "further-reader", "split")
    assert count(team) == before
    team.ledger.confirmation.order_read(team["ada"], image, "further-reader", "three-way split")
    env = team.ledger.confirmation.vote(sal, image, SEBK)
    assert env.payload["signature_meaning"] == "consensus reader 4 of 4"
    v = stage(team, image)
    assert (v.stage, v.category, v.consensus_support) == ("consensus", "BKL", "2/4")


def test_histology_confirms_or_is_discordant(team: LedgerHandle, image: str) -> None:
    team.ledger.confirmation.annotate(
        team["ann"], image, MEL, ["pigment_network=atypical", "blue_whitish_veil=present"]
    )
    panel(team, image, MEL, MEL, NEVUS)
    v = stage(team, image)
    assert (v.stage, v.category, v.malignant, v.needs_histology) == ("consensus", "MEL", True, True)
    team.ledger.confirmation.record_histology(team["pat"], image, NEVUS, "PATH-1", "2026-11-20")
    v = stage(team, image)
    assert (v.stage, v.category, v.discordant) == ("histology", "NV", True)
    assert v.consensus_category == "MEL" and v.diagnosis_confirm_type == "histopathology"
    assert not v.needs_histology


def test_a_report_dated_after_today_is_refused(team: LedgerHandle, image: str) -> None:
    """Issue 18 item 6: the report date is checked against the kernel's clock, on the
    service path every front end shares."""
    team.ledger.kernel.clock = lambda: datetime(2026, 12, 2, 23, 59, tzinfo=UTC)
    before = count(team)
    with pytest.raises(PolicyViolation, match="after today, 2026-12-02") as refused:
        team.ledger.confirmation.record_histology(team["pat"], image, NEVUS, "PATH-9", "2026-12-03")
    assert refused.value.policy == "histology-report-date" and count(team) == before
    with pytest.raises(InvalidInput, match="not YYYY-MM-DD"):
        team.ledger.confirmation.record_histology(team["pat"], image, NEVUS, "PATH-9", "20261201")
    team.ledger.confirmation.record_histology(team["pat"], image, NEVUS, "PATH-9", "2026-12-02")
    assert stage(team, image).stage == "histology"


def test_an_annotation_is_corrected_and_the_old_one_kept(team: LedgerHandle, image: str) -> None:
    """Issue 18 item 6: a correction with a reason; the corrected value is the label and
    the old one stays in the event, the image's history and the audit trail."""
    with pytest.raises(PolicyViolation, match="no annotation to correct"):
        team.ledger.confirmation.correct(team["ann"], image, "annotation", NEVUS, "typo")
    team.ledger.confirmation.annotate(team["ann"], image, MEL, [])
    before = count(team)
    with pytest.raises(PolicyViolation, match="may not append AnnotationCorrected"):
        team.ledger.confirmation.correct(team["sam"], image, "annotation", NEVUS, "typo")
    with pytest.raises(InvalidInput):
        team.ledger.confirmation.correct(team["ann"], image, "annotation", NEVUS, " ")
    with pytest.raises(PolicyViolation, match="already says"):
        team.ledger.confirmation.correct(team["ann"], image, "annotation", MEL, "typo")
    assert count(team) == before
    env = team.ledger.confirmation.correct(
        team["ann"], image, "annotation", NEVUS, "wrong row in the worklist"
    )
    assert env.type == "AnnotationCorrected" and env.payload["old_diagnosis"].endswith(MEL)
    assert (stage(team, image).stage, stage(team, image).category) == ("clinical", "NV")
    history = [e.type for e in team.ledger.records.get_image(image).events]
    assert history[-2:] == ["AnnotationRecorded", "AnnotationCorrected"]
    row = team.ledger.queries.audit_trail(image=image)[-1]
    assert row["old_value"].endswith(MEL) and row["new_value"].endswith(NEVUS)
    assert row["reason"] == "wrong row in the worklist"
    assert team.ledger.audit.verify().ok


def test_a_histology_result_is_corrected(team: LedgerHandle, image: str) -> None:
    """Issue 18 item 6: only a pathologist corrects a histology result."""
    team.ledger.confirmation.annotate(team["ann"], image, MEL, [])
    team.ledger.confirmation.record_histology(team["pat"], image, MEL, "PATH-5")
    with pytest.raises(PolicyViolation, match="may not append HistologyCorrected"):
        team.ledger.confirmation.correct(team["ann"], image, "histology", NEVUS, "slide mix-up")
    env = team.ledger.confirmation.correct(team["pat"], image, "histology", NEVUS, "slide mix-up")
    assert env.payload["old_diagnosis"].endswith(MEL)
    assert env.payload["signer_role"] == "pathologist"
    v = stage(team, image)
    assert (v.stage, v.category, v.malignant) == ("histology", "NV", False)
    assert not v.needs_histology
    assert team.ledger.audit.verify().ok


def release_ready(v: Verification) -> Decision:
    """The release gates for an image that passes every gate but verification's two."""
    return release_gates.decide(release_gates.Candidate(
        image_id="IMG", excluded=False, unresolved_suspicions=0, verification=v,
        consent_in_force=True, metadata_problem=None,
    ))  # fmt: skip


def test_malignant_without_histology_is_not_releasable(team: LedgerHandle, image: str) -> None:
    team.ledger.confirmation.annotate(team["ann"], image, BCC, [])
    assert not release_ready(stage(team, image)).allowed  # clinical only
    panel(team, image, BCC, BCC, BCC)
    decision = release_ready(stage(team, image))
    assert not decision.allowed and decision.reason.startswith("malignant-histology")
    team.ledger.confirmation.record_histology(team["pat"], image, BCC, "PATH-2")
    assert release_ready(stage(team, image)).allowed
    assert not stage(team, image).discordant


def test_bad_input_appends_nothing(team: LedgerHandle, image: str) -> None:
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    before = count(team)
    with pytest.raises(InvalidInput, match="Melanoma"):  # ISIC's suggestions
        team.ledger.confirmation.vote(team["sam"], image, "Melanoma")
    with pytest.raises(PolicyViolation, match="may not append ConsensusVoteCast"):
        team.ledger.confirmation.vote(team["ann"], image, NEVUS)  # annotator, not a specialist
    with pytest.raises(PolicyViolation, match="may not append HistologyRecorded"):
        team.ledger.confirmation.record_histology(team["sam"], image, NEVUS, "PATH-3")
    with pytest.raises(NotFound):
        team.ledger.confirmation.record_histology(
            team["pat"], "IMG-0000000000000000", NEVUS, "PATH-4"
        )
    with pytest.raises(InvalidInput, match="not in the vocabulary"):
        team.ledger.confirmation.annotate(team["ann"], image, NEVUS, ["sparkles=present"])
    with pytest.raises(InvalidInput, match="not allowed"):
        team.ledger.confirmation.annotate(team["ann"], image, NEVUS, ["pigment_network=wavy"])
    with pytest.raises(PolicyViolation, match="already has an initial annotation"):
        team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    panel(team, image, NEVUS)
    with pytest.raises(PolicyViolation, match="already voted"):
        team.ledger.confirmation.vote(team["sam"], image, SEBK)
    assert count(team) == before + 1


def test_annotator_may_not_vote_on_own_image(team: LedgerHandle, image: str) -> None:
    team.ledger.actors.enrol(
        team["ada"], "dual", ["annotator", "specialist"], passphrase=PASSPHRASE
    )
    dual = team.ledger.actors.unlock("dual", PASSPHRASE)
    team.ledger.confirmation.annotate(dual, image, NEVUS, [])
    with pytest.raises(PolicyViolation, match="made the initial annotation"):
        team.ledger.confirmation.vote(dual, image, NEVUS)


def test_superseding_a_vote_needs_a_reason_and_keeps_the_old(
    team: LedgerHandle, image: str
) -> None:
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    panel(team, image, MEL, NEVUS, NEVUS)
    with pytest.raises(InvalidInput):
        team.ledger.confirmation.vote(team["sam"], image, NEVUS, supersede_reason=" ")
    env = team.ledger.confirmation.vote(
        team["sam"], image, NEVUS, supersede_reason="misread the veil"
    )
    assert env.payload["signature_meaning"] == "consensus reader 1 of 3"
    assert env.payload["supersedes"]
    state = team.ledger.records.get_image(image)
    assert [v.superseded for _, v in state.votes] == [True, False, False, False]
    assert stage(team, image).consensus_support == "3/3"


def test_statistics(team: LedgerHandle, image: str) -> None:
    team.ledger.confirmation.annotate(team["ann"], image, NEVUS, [])
    panel(team, image, NEVUS, NEVUS, SEBK)
    result = team.ledger.queries.statistics()
    assert result["stages"] == {"consensus": 1}
    assert result["categories"] == {"NV": 1}
    assert result["agreement"]["n_items"] == 1
