"""Policy `reason-required` v1: every change that overrides, corrects, withdraws,
excludes or revokes states why, in words (DESIGN section 3: the audit trail shows why),
and the words follow the `free-text` rule like every other free text.

The one home of "a reason is required": services call `require_reason` before they
decide, so the rule reads the same everywhere and is tested once.
"""

from __future__ import annotations

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import free_text
from dermledger.policies.base import Decision

POLICY_NAME = "reason-required"
POLICY_VERSION = "1"


def check_reason(reason: str | None, action: str = "make this change") -> Decision:
    """Allowed when `reason` has some non-blank text; `action` completes "a reason is
    required to …"."""
    if reason is None or not reason.strip():
        return Decision(False, POLICY_NAME, POLICY_VERSION, f"a reason is required to {action}")
    text = free_text.check("reason", reason)
    return text if not text.allowed else Decision(True, POLICY_NAME, POLICY_VERSION)


def require_reason(reason: str | None, action: str = "make this change") -> str:
    """The reason, or InvalidInput (a usage problem, exit 1) when it is blank."""
    decision = check_reason(reason, action)
    if not decision.allowed:
        raise InvalidInput(decision.reason)
    assert reason is not None
    return reason
