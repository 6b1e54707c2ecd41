"""What a policy is: a named, versioned, pure rule. Facts in, a Decision out.

Every rule in `policies/` has this one shape: a module with `POLICY_NAME` and
`POLICY_VERSION`, and functions that take plain facts (dataclasses, strings,
numbers; never a database or a clock they were not handed) and return a
`Decision`. A service asks, then calls `enforce()`; verification and compliance
replay the very same functions over the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermledger.ledger.errors import PolicyViolation


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy: allowed, or refused with one sentence."""

    allowed: bool
    policy: str
    version: str
    reason: str = ""

    def enforce(self) -> None:
        """Raise PolicyViolation if the decision is a refusal."""
        if not self.allowed:
            raise PolicyViolation(self.reason, policy=self.policy, version=self.version)

    @classmethod
    def of(cls, policy: str, version: str, reason: str | None) -> Decision:
        """Allowed when `reason` is None, else refused with it."""
        return cls(reason is None, policy, version, reason or "")
