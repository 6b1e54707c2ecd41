"""policies/compliance.py: the ethics committee's questions as named, versioned rules."""

from __future__ import annotations

import dataclasses

from dermledger.policies import compliance
from dermledger.policies.compliance import RULES, Breach, ImageFacts, StudyFacts, breaches
from dermledger.policies.confirmation import Verification

NV = Verification(
    "consensus", "n", "NV", "single image expert consensus", True, "reached",
    consensus_category="NV", consensus_support="3/3", readers=("s1", "s2", "s3"),
)  # fmt: skip
MEL_CLINICAL = Verification(
    "clinical", "m", "MEL", "single contributor clinical assessment", True, "none",
    malignant=True, needs_histology=True,
)  # fmt: skip
MEL_HISTOLOGY = Verification(
    "histology", "m", "MEL", "histopathology", True, "none", malignant=True, readers=("s1",)
)
TWO_READERS = dataclasses.replace(NV, readers=("s1", "s2", "s1"))
ORDERED = dataclasses.replace(NV, histology_ordered=True, histology_awaited=True)


def image(image_id: str = "IMG-1", **changes: object) -> ImageFacts:
    clean = ImageFacts(
        image_id=image_id,
        patient_id="PAT-1",
        excluded=False,
        verification=NV,
        unresolved_suspicions=0,
        sop_deviations=(),
        consent_in_force_at_capture=True,
    )
    return dataclasses.replace(clean, **changes)  # type: ignore[arg-type]


def found(facts: StudyFacts) -> dict[str, list[str]]:
    return {b.rule: b.subjects for b in breaches(facts)}


def test_rules_are_named_versioned_and_ordered() -> None:
    assert compliance.POLICY_VERSION == "1"
    assert [name for name, _, _ in RULES] == [
        "malignant-without-histology",
        "consensus-under-three-readers",
        "unresolved-duplicate-suspicion",
        "sop-override",
        "edit-without-reason",
        "capture-without-consent",
        "event-by-revoked-key",
        "histology-order-unfulfilled",
        "included-exact-copy",
    ]


def test_an_empty_or_clean_study_has_no_breach() -> None:
    assert breaches(StudyFacts(images=[])) == []
    clean = [image("A"), image("B", verification=MEL_HISTOLOGY, consent_in_force_at_capture=None)]
    assert breaches(StudyFacts(images=clean)) == []


def test_a_breach_carries_its_rule_version_description_and_subjects() -> None:
    facts = StudyFacts(images=[image("A"), image("B", verification=MEL_CLINICAL)])
    assert breaches(facts) == [
        Breach(
            "malignant-without-histology",
            "1",
            "malignant labels (MEL, BCC, SCC) without histology",
            ["B"],
        )
    ]


def test_consensus_needs_three_distinct_readers() -> None:
    facts = StudyFacts(images=[image("A", verification=TWO_READERS), image("B")])
    assert found(facts) == {"consensus-under-three-readers": ["A"]}
    # Histology is the label, not the panel: its readers are not counted.
    assert found(StudyFacts(images=[image("C", verification=MEL_HISTOLOGY)])) == {}


def test_unresolved_suspicions_are_reported() -> None:
    facts = StudyFacts(images=[image("A", unresolved_suspicions=2), image("B")])
    assert found(facts) == {"unresolved-duplicate-suspicion": ["A"]}


def test_excluded_images_do_not_breach_the_release_quality_rules() -> None:
    excluded = [
        image("A", excluded=True, verification=MEL_CLINICAL),
        image("B", excluded=True, verification=TWO_READERS),
        image("C", excluded=True, unresolved_suspicions=1),
    ]
    assert breaches(StudyFacts(images=excluded)) == []


def test_sop_deviations_and_missing_consent_count_even_for_excluded_images() -> None:
    facts = StudyFacts(
        images=[
            image("A", excluded=True, sop_deviations=("focus", "accepted-format")),
            image("B", excluded=True, consent_in_force_at_capture=False),
            image("C", sop_deviations=("minimum-resolution",)),
        ]
    )
    assert found(facts) == {
        "sop-override": ["A (focus, accepted-format)", "C (minimum-resolution)"],
        "capture-without-consent": ["B"],
    }


def test_consent_not_recorded_by_the_study_is_not_a_breach() -> None:
    facts = StudyFacts(
        images=[
            image("A", consent_in_force_at_capture=None),
            image("B", consent_in_force_at_capture=False),
        ]
    )
    assert found(facts) == {"capture-without-consent": ["B"]}


def test_event_level_breaches_name_their_sequence_numbers() -> None:
    facts = StudyFacts(
        images=[],
        edits_without_reason=[(12, "IMG-3"), (15, "IMG-4")],
        revoked_key_events=[(40, "bob", "ImageCaptured")],
    )
    assert found(facts) == {
        "edit-without-reason": ["seq 12 (IMG-3)", "seq 15 (IMG-4)"],
        "event-by-revoked-key": ["seq 40 ImageCaptured by bob"],
    }


def test_every_rule_breached_is_reported_in_rule_order() -> None:
    facts = StudyFacts(
        images=[
            image("E", consent_in_force_at_capture=False),
            image("D", sop_deviations=("focus",)),
            image("C", unresolved_suspicions=1),
            image("B", verification=TWO_READERS),
            image("A", verification=MEL_CLINICAL),
            image("F", verification=ORDERED),
            image("G", exact_copy_of=("F",)),
        ],
        edits_without_reason=[(3, "C")],
        revoked_key_events=[(9, "eve", "MetadataEdited")],
    )
    result = breaches(facts)
    assert [b.rule for b in result] == [name for name, _, _ in RULES]
    assert [b.subjects for b in result] == [
        ["A"],
        ["B"],
        ["C"],
        ["D (focus)"],
        ["seq 3 (C)"],
        ["E"],
        ["seq 9 MetadataEdited by eve"],
        ["F"],
        ["G (copy of F)"],
    ]
    assert {b.version for b in result} == {"1"}


def test_an_ordered_histology_is_a_breach_until_it_is_recorded() -> None:
    recorded = dataclasses.replace(MEL_HISTOLOGY, histology_ordered=True)
    facts = StudyFacts(
        images=[image("A", verification=ORDERED), image("B", verification=recorded),
                image("C", verification=ORDERED, excluded=True)]
    )  # fmt: skip
    assert found(facts) == {"histology-order-unfulfilled": ["A"]}


def test_included_exact_copies_of_included_images_are_listed() -> None:
    """Issue 18 item 3: an exact copy cleared as distinct is the same photograph twice."""
    facts = StudyFacts(
        images=[image("A"), image("B", exact_copy_of=("A",)),
                image("C", exact_copy_of=("X",)), image("X", excluded=True),
                image("D", exact_copy_of=("A",), excluded=True)]
    )  # fmt: skip
    assert found(facts) == {"included-exact-copy": ["B (copy of A)"]}
