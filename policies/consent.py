"""Policy `consent` v1: what a patient's consent state allows (DESIGN section 7).

Facts in (the patient's consent state), a Decision out. The capture service asks
`check_capture` before an image enters the study, the patient service asks the
others before it appends a consent event; release gating reads the same state
through the `consent-in-force` gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermledger.policies.base import Decision

POLICY_NAME = "consent"
POLICY_VERSION = "1"


@dataclass(frozen=True)
class ConsentFacts:
    """A patient's consent state at the moment of the decision."""

    patient_id: str
    registered: bool
    in_force: bool
    erased: bool


def _decide(reason: str | None) -> Decision:
    return Decision.of(POLICY_NAME, POLICY_VERSION, reason)


def check_record(facts: ConsentFacts) -> Decision:
    """Consent is recorded only for a registered, not erased patient without consent."""
    if not facts.registered:
        return _decide(f"patient {facts.patient_id} is not registered")
    if facts.erased:
        return _decide(f"patient {facts.patient_id} was erased")
    if facts.in_force:
        return _decide(f"patient {facts.patient_id} already has consent in force")
    return _decide(None)


def check_withdraw(facts: ConsentFacts) -> Decision:
    """Only consent in force can be withdrawn."""
    if not facts.in_force:
        return _decide(f"patient {facts.patient_id} has no consent in force to withdraw")
    return _decide(None)


def check_erase(facts: ConsentFacts) -> Decision:
    """A patient is erased once."""
    if facts.erased:
        return _decide(f"patient {facts.patient_id} is already erased")
    return _decide(None)


def check_capture(facts: ConsentFacts) -> Decision:
    """No capture without a registered patient with consent in force."""
    if not facts.registered:
        return _decide(f"patient {facts.patient_id} is not registered")
    if not facts.in_force:
        return _decide(
            f"patient {facts.patient_id} has no consent in force; record consent first"
        )
    return _decide(None)
