"""policies/base.py: the one shape of a policy outcome (Decision.of, enforce)."""

from __future__ import annotations

import dataclasses

import pytest

from dermledger.ledger.errors import DermLedgerError, PolicyViolation
from dermledger.policies.base import Decision


def test_of_without_a_reason_is_allowed_with_an_empty_reason() -> None:
    assert Decision.of("some-policy", "7", None) == Decision(True, "some-policy", "7", "")


def test_of_with_a_reason_is_a_refusal_carrying_it() -> None:
    d = Decision.of("some-policy", "7", "the image is excluded")
    assert d == Decision(False, "some-policy", "7", "the image is excluded")
    assert (d.allowed, d.policy, d.version, d.reason) == (
        False,
        "some-policy",
        "7",
        "the image is excluded",
    )


def test_of_treats_an_empty_reason_as_a_refusal() -> None:
    # Only None means "no objection": a policy that forgot its sentence still refuses.
    d = Decision.of("p", "1", "")
    assert not d.allowed and d.reason == ""


def test_enforce_is_silent_for_an_allowed_decision() -> None:
    assert Decision(True, "p", "1").enforce() is None
    assert Decision.of("p", "1", None).enforce() is None


def test_enforce_raises_policy_violation_naming_the_policy_and_version() -> None:
    with pytest.raises(PolicyViolation) as caught:
        Decision.of("capture-sop", "3", "SOP rule focus: measured 1.0").enforce()
    err = caught.value
    assert isinstance(err, DermLedgerError)
    assert str(err) == "SOP rule focus: measured 1.0"
    assert (err.policy, err.version) == ("capture-sop", "3")


def test_decision_is_frozen_and_compares_by_value() -> None:
    d = Decision(True, "p", "1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.allowed = False  # type: ignore[misc]
    assert d == Decision(True, "p", "1", "")
    assert d != Decision(True, "p", "2")
    assert hash(d) == hash(Decision(True, "p", "1"))
