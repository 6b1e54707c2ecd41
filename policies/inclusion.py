"""Policy `dataset-inclusion` v1: what "included" means, in every view of the dataset.

An image is included when it is not excluded and no duplicate suspicion about it is
left unresolved; while one is, it is `duplicate-suspected`, neither included nor
excluded. `dataset`, `show`, `stats` (now and `--as-of`) and the SQL read model all ask
this one rule, so they can never count differently. Whether an included image may be
released is a further question, answered by `release_gates`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermledger.policies.base import Decision

POLICY_NAME = "dataset-inclusion"
POLICY_VERSION = "1"

INCLUDED = "included"
EXCLUDED = "excluded"
DUPLICATE_SUSPECTED = "duplicate-suspected"
STATUSES = (INCLUDED, DUPLICATE_SUSPECTED, EXCLUDED)


@dataclass(frozen=True)
class Facts:
    excluded: bool
    unresolved_suspicions: int


def status(facts: Facts) -> str:
    """`excluded`, `duplicate-suspected` or `included`, in that order of precedence."""
    if facts.excluded:
        return EXCLUDED
    return DUPLICATE_SUSPECTED if facts.unresolved_suspicions else INCLUDED


def decide(facts: Facts) -> Decision:
    """Included, or not with the reason why."""
    found = status(facts)
    reason = {
        EXCLUDED: "the image is excluded",
        DUPLICATE_SUSPECTED: "a duplicate suspicion about the image is unresolved",
    }.get(found)
    return Decision.of(POLICY_NAME, POLICY_VERSION, reason)
