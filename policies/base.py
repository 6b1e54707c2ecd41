"""What a policy is: a named, versioned, pure rule that allows or refuses.

Policies receive facts (plain data) and a proposed change, never a database or a
clock they were not handed. They compose with AllOf/AnyOf; an empty AllOf is a
programming error, because a gate that checks nothing must never pass silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class Policy(Protocol):
    """One rule: `check(facts)` returns a Decision."""

    name: str
    version: str

    def check(self, facts: Any) -> Decision: ...


@dataclass(frozen=True)
class Rule:
    """A policy made from a pure function returning None (allowed) or a reason."""

    name: str
    version: str
    func: Callable[[Any], str | None]

    def check(self, facts: Any) -> Decision:
        reason = self.func(facts)
        return Decision(reason is None, self.name, self.version, reason or "")


@dataclass(frozen=True)
class AllOf:
    """Allowed when every policy allows; reports the first refusal."""

    policies: Sequence[Policy]
    name: str = "all-of"
    version: str = "1"

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("an empty AllOf would allow everything")

    def check(self, facts: Any) -> Decision:
        for policy in self.policies:
            decision = policy.check(facts)
            if not decision.allowed:
                return decision
        return Decision(True, self.name, self.version)


@dataclass(frozen=True)
class AnyOf:
    """Allowed when at least one policy allows; reports the last refusal otherwise."""

    policies: Sequence[Policy]
    name: str = "any-of"
    version: str = "1"

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("an empty AnyOf can never allow anything")

    def check(self, facts: Any) -> Decision:
        last = Decision(False, self.name, self.version, "no policy allowed it")
        for policy in self.policies:
            decision = policy.check(facts)
            if decision.allowed:
                return decision
            last = decision
        return last
