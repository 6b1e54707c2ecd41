"""The partitions as the log tells them: the recorded scheme, each patient's partition,
every reassignment and every read of the test set, folded from their events.

One fold for the service's decisions, the study view at any position and the release
writer, so a release cut at a past position sees the partitions as they stood then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.policies.partitions import Scheme

PARTITIONS_STREAM = "partitions"
ACCESS_STREAM = "partition-access"
EVENT_TYPES = ("PartitionsAssigned", "PartitionReassigned", "TestSetAccessed")


@dataclass
class PartitionState:
    """Scheme, assignment per patient, and the history of changes and accesses."""

    scheme: Scheme | None = None
    assignment: dict[str, str] = field(default_factory=dict)
    assigned_seqs: list[int] = field(default_factory=list)
    reassignments: list[dict[str, Any]] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, seq: int, env: Envelope) -> None:
        """Fold one event; events of other types are ignored."""
        p = env.payload
        if env.type == "PartitionsAssigned":
            self.scheme = Scheme.from_payload(p["scheme"])
            self.assignment.update(p["assignments"])
            self.assigned_seqs.append(seq)
        elif env.type == "PartitionReassigned":
            self.assignment[p["patient_id"]] = p["to"]
            self.reassignments.append(
                {"seq": seq, "actor": env.actor, "recorded_at": env.recorded_at, **p}
            )
        elif env.type == "TestSetAccessed":
            self.accesses.append(
                {"seq": seq, "actor": env.actor, "recorded_at": env.recorded_at, **p}
            )

    def of(self, patient_id: str) -> str | None:
        return self.assignment.get(patient_id)

    def patients_in(self, partition: str) -> list[str]:
        return sorted(p for p, name in self.assignment.items() if name == partition)


def fold_partitions(envelopes: list[Envelope]) -> PartitionState:
    """The state of the partition streams from their events (seq unknown: 0)."""
    state = PartitionState()
    for env in envelopes:
        state.apply(0, env)
    return state
