"""policies/reasons.py: `reason-required` v1, the one home of "a reason is required"."""

from __future__ import annotations

import pytest

from dermledger.ledger.errors import InvalidInput, PolicyViolation
from dermledger.policies import reasons
from dermledger.policies.base import Decision
from dermledger.policies.reasons import check_reason, require_reason


def test_policy_is_named_and_versioned() -> None:
    assert (reasons.POLICY_NAME, reasons.POLICY_VERSION) == ("reason-required", "1")


@pytest.mark.parametrize("reason", ["x", "duplicate of IMG-7", "  padded  "])
def test_any_non_blank_text_is_a_reason(reason: str) -> None:
    assert check_reason(reason) == Decision(True, "reason-required", "1", "")


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("\tone\n", "starts like a spreadsheet formula"),
        ("=HYPERLINK(1)", "starts like a spreadsheet formula"),
        ("ok \x1b[2J", "control or escape characters"),
        ("x" * 501, "longer than 500 characters"),
    ],
)
def test_a_reason_is_free_text_under_its_one_rule(reason: str, says: str) -> None:
    decision = check_reason(reason)
    assert not decision.allowed and decision.policy == "free-text" and says in decision.reason


@pytest.mark.parametrize("reason", [None, "", " ", "\t\n  \r"])
def test_missing_or_blank_reason_is_refused(reason: str | None) -> None:
    assert check_reason(reason) == Decision(
        False, "reason-required", "1", "a reason is required to make this change"
    )


def test_the_action_completes_the_sentence() -> None:
    d = check_reason("   ", "withdraw consent")
    assert d.reason == "a reason is required to withdraw consent"
    assert not d.allowed


def test_require_reason_returns_the_reason_unchanged() -> None:
    assert require_reason("  because  ", "erase a patient") == "  because  "


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_require_reason_raises_invalid_input_not_a_policy_violation(
    reason: str | None,
) -> None:
    with pytest.raises(InvalidInput, match=r"^a reason is required to revoke an actor$") as e:
        require_reason(reason, "revoke an actor")
    assert not isinstance(e.value, PolicyViolation)  # a usage problem, not a refusal
