"""Policy `dataset-inclusion`: the one meaning of "included" every view asks."""

from __future__ import annotations

import pytest

from dermledger.policies import inclusion
from dermledger.policies.inclusion import Facts


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (Facts(excluded=False, unresolved_suspicions=0), "included"),
        (Facts(excluded=False, unresolved_suspicions=2), "duplicate-suspected"),
        (Facts(excluded=True, unresolved_suspicions=1), "excluded"),
        (Facts(excluded=True, unresolved_suspicions=0), "excluded"),
    ],
)
def test_status_and_decision_agree(facts: Facts, status: str) -> None:
    assert inclusion.status(facts) == status
    decision = inclusion.decide(facts)
    assert decision.allowed is (status == "included")
    assert (decision.policy, decision.version) == ("dataset-inclusion", "1")
    assert (
        decision.reason
        == {
            "included": "",
            "duplicate-suspected": "a duplicate suspicion about the image is unresolved",
            "excluded": "the image is excluded",
        }[status]
    )
