"""Policy `key-ownership` v1: a public key, once enrolled, belongs to one actor for ever.

A key enrolled under a second name would let its holder sign as either actor, and a
revoked key enrolled again under a new name would undo the revocation. The service asks
before it enrols; `audit verify` replays the same rule, so a log that broke it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermledger.policies.base import Decision

POLICY_NAME = "key-ownership"
POLICY_VERSION = "1"


@dataclass(frozen=True)
class KeyEnrolment:
    """Facts: who is to be enrolled with which key, and who (if anyone) already holds it."""

    actor: str
    key_id: str
    owner: str | None  # the actor the key was enrolled for before, if any
    owner_revoked: bool = False


def check_enrolment(request: KeyEnrolment) -> Decision:
    """Allowed only for a key never enrolled before, under any name."""
    if request.owner is None:
        return Decision(True, POLICY_NAME, POLICY_VERSION)
    if request.owner_revoked:
        reason = (
            f"key {request.key_id[:16]}… was enrolled for {request.owner} and revoked; "
            "a revoked key is never enrolled again"
        )
    else:
        reason = (
            f"key {request.key_id[:16]}… is already enrolled for {request.owner}; "
            "a key belongs to one actor for ever"
        )
    return Decision(False, POLICY_NAME, POLICY_VERSION, reason)
