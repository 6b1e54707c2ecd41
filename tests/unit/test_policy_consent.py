"""policies/consent.py: `consent` v1, what a patient's consent state allows."""

from __future__ import annotations

import itertools

import pytest

from dermledger.policies import consent
from dermledger.policies.base import Decision
from dermledger.policies.consent import (
    ConsentFacts,
    check_capture,
    check_erase,
    check_record,
    check_withdraw,
)

ALLOW = Decision(True, "consent", "1", "")


def state(*, in_force: bool = False, erased: bool = False, registered: bool = True) -> ConsentFacts:
    return ConsentFacts("PAT-0042", registered, in_force, erased)


def refusal(reason: str) -> Decision:
    return Decision(False, "consent", "1", reason)


def test_policy_is_named_and_versioned() -> None:
    assert (consent.POLICY_NAME, consent.POLICY_VERSION) == ("consent", "1")


def test_consent_is_recorded_once_while_not_in_force() -> None:
    assert check_record(state()) == ALLOW  # never given, or withdrawn: consent anew
    assert check_record(state(in_force=True)) == refusal(
        "patient PAT-0042 already has consent in force"
    )


def test_no_consent_for_an_erased_patient() -> None:
    assert check_record(state(erased=True)) == refusal("patient PAT-0042 was erased")
    # Erasure is named first, whatever the consent state.
    assert check_record(state(erased=True, in_force=True)).reason == "patient PAT-0042 was erased"


def test_only_consent_in_force_can_be_withdrawn() -> None:
    assert check_withdraw(state(in_force=True)) == ALLOW
    assert check_withdraw(state()) == refusal(
        "patient PAT-0042 has no consent in force to withdraw"
    )


def test_a_patient_is_erased_once() -> None:
    assert check_erase(state()) == ALLOW
    assert check_erase(state(in_force=True)) == ALLOW
    assert check_erase(state(erased=True)) == refusal("patient PAT-0042 is already erased")


def test_no_capture_without_consent_in_force() -> None:
    assert check_capture(state(in_force=True)) == ALLOW
    assert check_capture(state()) == refusal(
        "patient PAT-0042 has no consent in force; record consent first"
    )


@pytest.mark.parametrize(("in_force", "erased"), list(itertools.product([False, True], repeat=2)))
def test_every_rule_returns_a_consent_decision(in_force: bool, erased: bool) -> None:
    f = state(in_force=in_force, erased=erased)
    for rule in (check_record, check_withdraw, check_erase, check_capture):
        d = rule(f)
        assert (d.policy, d.version) == ("consent", "1")
        assert d.allowed == (d.reason == "")
        assert d.allowed or "PAT-0042" in d.reason


def test_no_consent_for_an_unregistered_patient() -> None:
    assert not check_record(state(registered=False)).allowed
