"""policies/confirmation.py: staged clinical confirmation (`staged-verification` v1).

clinical (an annotator) -> consensus (two of three distinct specialists agree) ->
histology (the label). Three different categories is a dispute that a further reader
may break; superseded votes do not count; a malignant label needs histology.
"""

from __future__ import annotations

import dataclasses

import pytest

from dermledger.policies import confirmation
from dermledger.policies.base import Decision
from dermledger.policies.confirmation import (
    CONFIRM_TYPE,
    PANEL_SIZE,
    Facts,
    Label,
    Verification,
    Vote,
    check_annotation,
    check_histology,
    check_order,
    check_report_date,
    check_vote,
    consensus_of,
    derive,
)

MEL = "Malignant:Malignant melanocytic proliferations (Melanoma)"
BCC = "Malignant:Malignant adnexal epithelial proliferations - Follicular:Basal cell carcinoma"
SCC = "Malignant:Malignant epidermal proliferations"
NEVUS = "Benign:Benign melanocytic proliferations:Nevus"
LENTIGO_SIMPLEX = "Benign:Benign melanocytic proliferations:Lentigo simplex"
VASCULAR = "Benign:Benign soft tissue proliferations - Vascular"
DF = "Benign:Benign soft tissue proliferations - Fibro-histiocytic:Dermatofibroma"
BENIGN_OTHER = "Benign:Benign - Other"
CATEGORY = {
    MEL: "MEL",
    BCC: "BCC",
    SCC: "SCC",
    NEVUS: "NV",
    LENTIGO_SIMPLEX: "NV",
    VASCULAR: "VASC",
    DF: "DF",
    BENIGN_OTHER: "OTHER",
}

ALLOW = Decision(True, "staged-verification", "1", "")


def label(actor: str, diagnosis: str) -> Label:
    return Label(actor, diagnosis, CATEGORY[diagnosis])


def vote(actor: str, diagnosis: str, *, superseded: bool = False) -> Vote:
    return Vote(actor, diagnosis, CATEGORY[diagnosis], superseded)


def annotated(*votes: Vote, annotation: str = NEVUS, **kw: object) -> Facts:
    return Facts(annotation=label("ann", annotation), votes=votes, **kw)  # type: ignore[arg-type]


def refused(decision: Decision, *words: str) -> None:
    assert (decision.allowed, decision.policy, decision.version) == (
        False,
        "staged-verification",
        "1",
    )
    for word in words:
        assert word in decision.reason, (word, decision.reason)


def test_policy_is_named_and_versioned() -> None:
    assert (confirmation.POLICY_NAME, confirmation.POLICY_VERSION) == ("staged-verification", "1")
    assert PANEL_SIZE == 3
    assert CONFIRM_TYPE == {
        "clinical": "single contributor clinical assessment",
        "consensus": "single image expert consensus",
        "histology": "histopathology",
    }


# ------------------------------------------------------------------ consensus_of


@pytest.mark.parametrize("n", [0, 1, 2])
def test_consensus_is_pending_until_the_panel_is_full(n: int) -> None:
    # Even two identical votes are not yet a consensus.
    assert consensus_of([vote(f"s{i}", MEL) for i in range(n)]) == ("pending", None, None, None)


def test_unanimous_panel_reaches_consensus_three_of_three() -> None:
    votes = [vote("s1", MEL), vote("s2", MEL), vote("s3", MEL)]
    assert consensus_of(votes) == ("reached", "MEL", MEL, "3/3")


@pytest.mark.parametrize("odd_one_out", [0, 1, 2])
def test_two_of_three_agreeing_on_a_category_is_consensus(odd_one_out: int) -> None:
    votes = [vote("s1", NEVUS), vote("s2", NEVUS)]
    votes.insert(odd_one_out, vote("s0", MEL))
    assert consensus_of(votes) == ("reached", "NV", NEVUS, "2/3")


def test_agreement_is_on_the_category_not_the_exact_label() -> None:
    # Nevus and lentigo simplex are both NV: agreement; the earliest label wins a tie.
    votes = [vote("s1", LENTIGO_SIMPLEX), vote("s2", VASCULAR), vote("s3", NEVUS)]
    assert consensus_of(votes) == ("reached", "NV", LENTIGO_SIMPLEX, "2/3")
    votes = [vote("s3", NEVUS), vote("s2", VASCULAR), vote("s1", LENTIGO_SIMPLEX)]
    assert consensus_of(votes) == ("reached", "NV", NEVUS, "2/3")


def test_the_most_frequent_label_in_the_winning_category_is_the_diagnosis() -> None:
    votes = [
        vote("s1", LENTIGO_SIMPLEX),
        vote("s2", NEVUS),
        vote("s3", MEL),
        vote("s4", NEVUS),
    ]
    assert consensus_of(votes) == ("reached", "NV", NEVUS, "3/4")


def test_three_way_split_is_disputed() -> None:
    votes = [vote("s1", MEL), vote("s2", NEVUS), vote("s3", VASCULAR)]
    assert consensus_of(votes) == ("disputed", None, None, None)


def test_a_further_reader_breaks_a_three_way_tie() -> None:
    split = [vote("s1", MEL), vote("s2", NEVUS), vote("s3", VASCULAR)]
    assert consensus_of([*split, vote("s4", NEVUS)]) == ("reached", "NV", NEVUS, "2/4")
    assert consensus_of([*split, vote("s4", DF)])[0] == "disputed"  # four-way split


def test_a_two_two_tie_is_disputed() -> None:
    votes = [vote("s1", MEL), vote("s2", NEVUS), vote("s3", MEL), vote("s4", NEVUS)]
    assert consensus_of(votes) == ("disputed", None, None, None)


def test_majority_of_five() -> None:
    votes = [vote(f"s{i}", d) for i, d in enumerate([MEL, NEVUS, MEL, NEVUS, MEL])]
    assert consensus_of(votes) == ("reached", "MEL", MEL, "3/5")


# ------------------------------------------------------------------ derive


def test_an_image_without_events_has_no_stage() -> None:
    v = derive(Facts())
    assert v == Verification(None, None, None, None, None, "none")
    assert v.as_dict() == {
        "verification_stage": None,
        "diagnosis": None,
        "category": None,
        "diagnosis_confirm_type": None,
        "melanocytic": None,
        "consensus": "none",
        "consensus_category": None,
        "consensus_support": None,
        "discordant": False,
        "malignant": False,
        "needs_histology": False,
        "readers": [],
        "histology_ordered": False,
        "histology_awaited": False,
    }


def test_histology_is_awaited_when_ordered_or_needed_until_recorded() -> None:
    annotated = Facts(annotation=Label("a", NEVUS, "NV"))
    assert not derive(annotated).histology_awaited
    ordered = derive(dataclasses.replace(annotated, histology_ordered=True))
    assert ordered.histology_ordered and ordered.histology_awaited
    assert not ordered.needs_histology  # the order does not make a benign label malignant
    malignant = derive(Facts(annotation=Label("a", MEL, "MEL")))
    assert malignant.needs_histology and malignant.histology_awaited
    done = derive(Facts(annotation=Label("a", MEL, "MEL"), histology=Label("p", MEL, "MEL"),
                        histology_ordered=True))  # fmt: skip
    assert done.histology_ordered and not done.histology_awaited


def test_an_annotation_alone_is_the_clinical_stage() -> None:
    v = derive(annotated(annotation=NEVUS))
    assert v == Verification(
        stage="clinical",
        diagnosis=NEVUS,
        category="NV",
        diagnosis_confirm_type="single contributor clinical assessment",
        melanocytic=True,
        consensus="none",
    )


def test_votes_short_of_a_panel_keep_the_clinical_label_and_show_pending() -> None:
    v = derive(annotated(vote("s1", MEL), vote("s2", MEL), annotation=NEVUS))
    assert (v.stage, v.diagnosis, v.category, v.consensus) == ("clinical", NEVUS, "NV", "pending")
    assert v.readers == ("s1", "s2")
    assert v.consensus_category is None and v.consensus_support is None


def test_a_reached_consensus_overrides_the_initial_annotation() -> None:
    v = derive(
        annotated(vote("s1", VASCULAR), vote("s2", DF), vote("s3", VASCULAR), annotation=NEVUS)
    )
    assert (v.stage, v.diagnosis, v.category) == ("consensus", VASCULAR, "VASC")
    assert v.diagnosis_confirm_type == "single image expert consensus"
    assert (v.consensus, v.consensus_category, v.consensus_support) == ("reached", "VASC", "2/3")
    assert v.melanocytic is False
    assert v.readers == ("s1", "s2", "s3")
    assert not v.malignant and not v.needs_histology and not v.discordant


def test_a_disputed_panel_leaves_the_image_at_the_clinical_stage() -> None:
    v = derive(annotated(vote("s1", MEL), vote("s2", NEVUS), vote("s3", DF), annotation=VASCULAR))
    assert (v.stage, v.diagnosis, v.category) == ("clinical", VASCULAR, "VASC")
    assert (v.consensus, v.consensus_category, v.consensus_support) == ("disputed", None, None)


def test_superseded_votes_do_not_count() -> None:
    votes = (vote("s1", MEL, superseded=True), vote("s1", NEVUS), vote("s2", NEVUS))
    v = derive(annotated(*votes))
    assert (v.stage, v.consensus, v.readers) == ("clinical", "pending", ("s1", "s2"))
    # With the replacement counted once, the third reader completes a 2-of-3 NV panel ...
    v = derive(annotated(*votes, vote("s3", MEL)))
    assert (v.stage, v.category, v.consensus_support) == ("consensus", "NV", "2/3")
    assert v.readers == ("s1", "s2", "s3")
    # ... which counting the superseded MEL vote would have made a 2-2 dispute.
    assert consensus_of([*votes, vote("s3", MEL)])[0] == "disputed"


def test_only_superseded_votes_are_no_consensus_at_all() -> None:
    v = derive(annotated(vote("s1", MEL, superseded=True)))
    assert (v.stage, v.consensus, v.readers) == ("clinical", "none", ())


@pytest.mark.parametrize("diagnosis", [MEL, BCC, SCC])
def test_a_malignant_clinical_label_needs_histology(diagnosis: str) -> None:
    v = derive(annotated(annotation=diagnosis))
    assert (v.stage, v.malignant, v.needs_histology) == ("clinical", True, True)


def test_a_malignant_consensus_without_histology_needs_histology() -> None:
    v = derive(annotated(vote("s1", MEL), vote("s2", MEL), vote("s3", NEVUS)))
    assert (v.stage, v.category, v.malignant, v.needs_histology) == ("consensus", "MEL", True, True)


def test_histology_is_the_label_and_satisfies_the_malignant_rule() -> None:
    facts = annotated(
        vote("s1", MEL), vote("s2", MEL), vote("s3", MEL), histology=label("path", MEL)
    )
    v = derive(facts)
    assert (v.stage, v.diagnosis, v.category) == ("histology", MEL, "MEL")
    assert v.diagnosis_confirm_type == "histopathology"
    assert (v.malignant, v.needs_histology, v.discordant) == (True, False, False)
    assert (v.consensus, v.consensus_category, v.consensus_support) == ("reached", "MEL", "3/3")


def test_histology_disagreeing_with_the_consensus_is_kept_as_discordant() -> None:
    facts = annotated(
        vote("s1", NEVUS), vote("s2", NEVUS), vote("s3", MEL), histology=label("path", MEL)
    )
    v = derive(facts)
    assert (v.stage, v.category, v.consensus_category) == ("histology", "MEL", "NV")
    assert (v.discordant, v.malignant, v.needs_histology) == (True, True, False)


def test_benign_histology_clears_a_malignant_consensus() -> None:
    facts = annotated(
        vote("s1", MEL), vote("s2", MEL), vote("s3", NEVUS), histology=label("path", NEVUS)
    )
    v = derive(facts)
    assert (v.category, v.malignant, v.needs_histology, v.discordant) == ("NV", False, False, True)


def test_histology_without_a_consensus_is_not_discordant() -> None:
    for votes in [(), (vote("s1", MEL), vote("s2", NEVUS), vote("s3", DF))]:
        v = derive(annotated(*votes, annotation=NEVUS, histology=label("path", MEL)))
        assert (v.stage, v.category, v.discordant) == ("histology", "MEL", False)


def test_melanocytic_follows_the_diagnosis_and_may_be_unknown() -> None:
    assert derive(annotated(annotation=BENIGN_OTHER)).melanocytic is None
    assert derive(annotated(annotation=DF)).melanocytic is False
    assert derive(annotated(annotation=LENTIGO_SIMPLEX)).melanocytic is True


def test_votes_without_annotation_still_derive() -> None:
    pending = derive(Facts(votes=(vote("s1", MEL),)))
    assert (pending.stage, pending.consensus) == (None, "pending")
    reached = derive(Facts(votes=(vote("s1", DF), vote("s2", DF), vote("s3", MEL))))
    assert (reached.stage, reached.category) == ("consensus", "DF")
    assert reached.consensus_support == "2/3"


def test_derive_is_a_pure_function_of_the_facts() -> None:
    facts = annotated(vote("s1", MEL), vote("s2", NEVUS), vote("s3", MEL))
    assert derive(facts) == derive(facts)
    assert facts.votes == (vote("s1", MEL), vote("s2", NEVUS), vote("s3", MEL))


# ------------------------------------------------------------------ append rules


def test_first_annotation_is_allowed_a_second_is_refused() -> None:
    assert check_annotation(Facts()) == ALLOW
    refused(check_annotation(annotated()), "already has an initial annotation", "ann")


def test_no_vote_before_the_initial_annotation() -> None:
    refused(check_vote(Facts(), "s1", supersede=False), "no initial annotation")


def test_the_initial_annotator_may_not_vote() -> None:
    refused(check_vote(annotated(), "ann", supersede=False), "ann made the initial annotation")
    refused(check_vote(annotated(vote("s1", MEL)), "ann", supersede=True), "may not vote")


def test_a_specialist_votes_once_and_may_supersede_only_their_own_vote() -> None:
    facts = annotated(vote("s1", MEL))
    assert check_vote(facts, "s2", supersede=False) == ALLOW
    refused(check_vote(facts, "s1", supersede=False), "s1 has already voted", "supersede")
    assert check_vote(facts, "s1", supersede=True) == ALLOW
    refused(check_vote(facts, "s2", supersede=True), "s2 has no vote", "to supersede")


def test_a_superseded_vote_is_not_the_voters_vote() -> None:
    facts = annotated(vote("s1", MEL, superseded=True), vote("s2", NEVUS))
    refused(check_vote(facts, "s1", supersede=True), "s1 has no vote")


def test_superseded_votes_do_not_fill_the_panel() -> None:
    facts = annotated(vote("s1", MEL, superseded=True), vote("s1", NEVUS), vote("s2", NEVUS))
    assert check_vote(facts, "s3", supersede=False) == ALLOW


def test_votes_are_closed_once_histology_is_recorded() -> None:
    facts = annotated(vote("s1", MEL), histology=label("path", MEL))
    refused(check_vote(facts, "s2", supersede=False), "already has histology", "closed")


def test_a_full_reached_panel_refuses_a_fourth_reader_without_a_hint() -> None:
    facts = annotated(vote("s1", MEL), vote("s2", MEL), vote("s3", NEVUS))
    d = check_vote(facts, "s4", supersede=False)
    refused(d, "the panel already has 3 of 3 votes")
    assert "further reader" not in d.reason
    assert check_vote(facts, "s3", supersede=True) == ALLOW  # a member may still correct


def test_a_full_disputed_panel_hints_at_a_further_reader() -> None:
    facts = annotated(vote("s1", MEL), vote("s2", NEVUS), vote("s3", DF))
    refused(
        check_vote(facts, "s4", supersede=False),
        "the panel already has 3 of 3 votes",
        "a coordinator may order a further reader",
    )


def test_an_ordered_further_reader_may_vote_once_more() -> None:
    split = (vote("s1", MEL), vote("s2", NEVUS), vote("s3", DF))
    facts = annotated(*split, further_readers_ordered=1)
    assert check_vote(facts, "s4", supersede=False) == ALLOW
    full = annotated(*split, vote("s4", VASCULAR), further_readers_ordered=1)
    refused(check_vote(full, "s5", supersede=False), "4 of 4 votes")


def test_one_histology_result_per_image() -> None:
    assert check_histology(annotated()) == ALLOW
    assert check_histology(Facts()) == ALLOW
    refused(check_histology(annotated(histology=label("path", MEL))), "already", "by path")


# ------------------------------------------------------------------ orders


def test_a_further_reader_is_ordered_only_for_a_disputed_panel() -> None:
    disputed = annotated(vote("s1", MEL), vote("s2", NEVUS), vote("s3", DF))
    assert check_order(disputed, "further-reader") == ALLOW
    refused(check_order(annotated(vote("s1", MEL)), "further-reader"), "(it is pending)")
    reached = annotated(vote("s1", MEL), vote("s2", MEL), vote("s3", DF))
    refused(check_order(reached, "further-reader"), "only for a disputed panel", "(it is reached)")


def test_histology_may_be_ordered_at_any_stage_until_it_is_recorded() -> None:
    assert check_order(annotated(), "histology") == ALLOW
    reached = annotated(vote("s1", MEL), vote("s2", MEL), vote("s3", MEL))
    assert check_order(reached, "histology") == ALLOW
    recorded = annotated(histology=label("path", NEVUS))
    refused(check_order(recorded, "histology"), "already has histology")


def test_a_report_is_not_dated_after_the_day_it_is_recorded() -> None:
    """Issue 18 item 6: `histology --date 2030-01-01` is refused in one sentence."""
    refused = check_report_date("2030-01-01", "2026-12-02")
    assert not refused.allowed
    assert (refused.policy, refused.version) == ("histology-report-date", "1")
    assert "2030-01-01" in refused.reason and "2026-12-02" in refused.reason
    assert refused.reason.count(".") == 0 and "\n" not in refused.reason
    assert check_report_date("2026-12-02", "2026-12-02").allowed
    assert check_report_date("2026-11-20", "2026-12-02").allowed
    assert check_report_date(None, "2026-12-02").allowed
