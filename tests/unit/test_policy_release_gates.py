"""policies/release_gates.py: `release-gates` v1, checked in order; the first failure counts."""

from __future__ import annotations

import dataclasses

import pytest

from dermledger.policies import release_gates
from dermledger.policies.base import Decision
from dermledger.policies.confirmation import Verification
from dermledger.policies.release_gates import GATES, Candidate, decide, first_failed_gate

CONSENSUS_NV = Verification(
    "consensus", "n", "NV", "single image expert consensus", True, "reached"
)
CLINICAL_NV = Verification(
    "clinical", "n", "NV", "single contributor clinical assessment", True, "none"
)
CONSENSUS_MEL = Verification(
    "consensus", "m", "MEL", "single image expert consensus", True, "reached",
    malignant=True, needs_histology=True,
)  # fmt: skip
HISTOLOGY_MEL = Verification(
    "histology", "m", "MEL", "histopathology", True, "reached", malignant=True
)
UNANNOTATED = Verification(None, None, None, None, None, "none")


def candidate(**changes: object) -> Candidate:
    """An image that passes every gate, with `changes` applied."""
    ok = Candidate(
        image_id="IMG-1",
        excluded=False,
        unresolved_suspicions=0,
        verification=CONSENSUS_NV,
        consent_in_force=True,
        metadata_problem=None,
    )
    return dataclasses.replace(ok, **changes)  # type: ignore[arg-type]


def test_policy_is_named_and_versioned() -> None:
    assert (release_gates.POLICY_NAME, release_gates.POLICY_VERSION) == ("release-gates", "1")
    assert {gate.version for gate in GATES} == {"1"}


def test_gates_are_checked_in_this_order() -> None:
    assert [gate.name for gate in GATES] == [
        "consent-in-force",
        "not-excluded",
        "duplicates-resolved",
        "verified-by-consensus",
        "malignant-histology",
        "metadata-valid",
    ]


def test_an_image_passing_every_gate_enters_the_release() -> None:
    assert first_failed_gate(candidate()) is None
    assert decide(candidate()) == Decision(True, "release-gates", "1", "")


@pytest.mark.parametrize(
    ("changes", "gate"),
    [
        ({"consent_in_force": False}, "consent-in-force"),
        ({"excluded": True}, "not-excluded"),
        ({"unresolved_suspicions": 1}, "duplicates-resolved"),
        ({"verification": CLINICAL_NV}, "verified-by-consensus"),
        ({"verification": UNANNOTATED}, "verified-by-consensus"),
        ({"verification": CONSENSUS_MEL}, "malignant-histology"),
        ({"metadata_problem": "age_approx is not a multiple of 5"}, "metadata-valid"),
    ],
)
def test_each_gate_refuses_its_own_failure(changes: dict[str, object], gate: str) -> None:
    c = candidate(**changes)
    failed = first_failed_gate(c)
    assert failed is not None and failed.name == gate
    d = decide(c)
    assert (d.allowed, d.policy, d.version) == (False, "release-gates", "1")
    assert d.reason == f"{gate}: not {failed.description}"


def test_consent_not_recorded_by_the_study_passes_the_consent_gate() -> None:
    # None means the study records no consent for anyone, not "withdrawn".
    assert first_failed_gate(candidate(consent_in_force=None)) is None


def test_histology_satisfies_both_verification_gates() -> None:
    assert first_failed_gate(candidate(verification=HISTOLOGY_MEL)) is None


def test_more_than_one_suspicion_is_still_one_gate() -> None:
    gate = first_failed_gate(candidate(unresolved_suspicions=3))
    assert gate is not None and gate.name == "duplicates-resolved"


def test_the_first_failed_gate_is_named_when_several_fail() -> None:
    everything_wrong = candidate(
        consent_in_force=False,
        excluded=True,
        unresolved_suspicions=2,
        verification=CONSENSUS_MEL,
        metadata_problem="bad",
    )
    assert decide(everything_wrong).reason == (
        "consent-in-force: not the patient's consent is in force at the as-of position"
    )
    later = dataclasses.replace(everything_wrong, consent_in_force=True, excluded=False)
    assert decide(later).reason == "duplicates-resolved: not no unresolved duplicate suspicion"
    last = dataclasses.replace(later, unresolved_suspicions=0)
    assert decide(last).reason.startswith("malignant-histology: not every malignant label")


def test_malignant_without_histology_is_kept_out_even_with_a_full_consensus() -> None:
    d = decide(candidate(verification=CONSENSUS_MEL))
    assert not d.allowed
    assert d.reason == (
        "malignant-histology: not every malignant label (MEL, BCC, SCC) histologically verified"
    )
