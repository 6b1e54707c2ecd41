"""Partitions of the study's patients and the sequestered test set (DESIGN section 12).

Each method is a permit, a decision by `policies/partitions.py`, an append: assigning
writes the scheme and every new placement in one event, a reassignment keeps the old
partition and the reason forever, and each reading of the test partition is an event
with who, when and why, refused without a purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.ledger.signing import Signer
from dermledger.policies import partitions as policy
from dermledger.policies.categories import CATEGORIES, MALIGNANT
from dermledger.projections.study_view import StudyView, replay
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.partition_state import (
    ACCESS_STREAM,
    PARTITIONS_STREAM,
    PartitionState,
    fold_partitions,
)
from dermledger.study.state import fold_image

SEVERITY = tuple(c for c in CATEGORIES if c in MALIGNANT) + tuple(
    c for c in CATEGORIES if c not in MALIGNANT
)


def candidates(view: StudyView) -> list[policy.Candidate]:
    """Included patients (consent in force, at least one image not excluded), each with
    its stratum and the patients its duplicate suspicions (not resolved distinct) join."""
    categories: dict[str, list[str | None]] = {}
    linked: dict[str, set[str]] = {}
    for image in view.images.values():
        patient = view.patients.get(image.patient_id)
        if patient is None or not patient.consent:
            continue
        if not image.excluded:
            categories.setdefault(image.patient_id, []).append(image.verification().category)
        for s in image.suspicions:
            other = view.images.get(s.duplicate_of)
            if s.outcome != "distinct" and other and other.patient_id != image.patient_id:
                linked.setdefault(image.patient_id, set()).add(other.patient_id)
    return [
        policy.Candidate(
            pid,
            policy.stratum_of(cats, SEVERITY),
            tuple(sorted(p for p in linked.get(pid, ()) if p in categories)),
        )
        for pid, cats in sorted(categories.items())
    ]


class PartitionService:
    """Assign, reassign, list and read partitions; every test-set reading is recorded."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def state(self) -> PartitionState:
        return fold_partitions(
            self.kernel.stream(PARTITIONS_STREAM) + self.kernel.stream(ACCESS_STREAM)
        )

    def assign(self, signer: Signer, scheme: policy.Scheme) -> dict[str, str]:
        """Place every included patient without a partition by `scheme`; returns the new
        placements (empty when every included patient already has one)."""
        self.kernel.permit(signer, "PartitionsAssigned")

        def decide() -> list[Proposal]:
            state = fold_partitions(self.kernel.stream(PARTITIONS_STREAM))
            policy.check_scheme(scheme, state.scheme).enforce()
            found = candidates(replay(self.kernel.opened_log()))
            new = policy.assign(scheme, found, state.assignment)
            if not new:
                return []
            payload = {"scheme": scheme.as_payload(), "assignments": dict(sorted(new.items()))}
            return [self.kernel.proposal(PARTITIONS_STREAM, "PartitionsAssigned", payload)]

        envelopes = self.kernel.append(signer, decide)
        return dict(envelopes[0].payload["assignments"]) if envelopes else {}

    def reassign(self, signer: Signer, patient_id: str, to: str, reason: str) -> Envelope:
        """Move one patient; the old partition and the reason stay in the log."""

        def decide() -> list[Proposal]:
            current = fold_partitions(self.kernel.stream(PARTITIONS_STREAM)).of(patient_id)
            policy.check_reassignment(patient_id, current, to, reason).enforce()
            payload = {
                "patient_id": patient_id,
                "from_partition": current,
                "to": to,
                "reason": reason.strip(),
            }
            return [self.kernel.proposal(PARTITIONS_STREAM, "PartitionReassigned", payload)]

        return self.kernel.append(signer, decide)[0]

    def access_proposal(
        self, partition: str, purpose: str | None, what: str, release: str | None = None
    ) -> Proposal | None:
        """The event recording a reading of `partition`, or None when it is not the
        sequestered one; refused without a purpose before anything is read."""
        policy.check_access(partition, purpose).enforce()
        if partition != policy.SEQUESTERED:
            return None
        payload = {
            "partition": partition,
            "purpose": (purpose or "").strip(),
            "what": what,
            "release": release,
        }
        return self.kernel.proposal(ACCESS_STREAM, "TestSetAccessed", payload)

    def guard_image(
        self, signer_of: Callable[[], Signer], image_id: str, purpose: str | None
    ) -> None:
        """Before one image's record is shown: if its patient is in the test partition,
        refuse without a purpose, else record the reading by `signer_of()`."""
        image = fold_image(self.kernel.stream(image_id))
        if image is None:
            return  # the query says it does not exist
        partition = self.state().of(image.patient_id)
        access = self.access_proposal(partition, purpose, "image") if partition else None
        if access is not None:
            payload = access.payload | {"subject": image_id}
            self.kernel.append(signer_of(), lambda: [Proposal(ACCESS_STREAM, access.event_type,
                                                              payload)])  # fmt: skip

    def read_partition(
        self, signer: Signer | None, partition: str, purpose: str | None
    ) -> dict[str, Any]:
        """The patients and images of one partition; reading the test set is recorded
        first (by `signer`, who must then be given)."""
        access = self.access_proposal(partition, purpose, "listing")
        if access is not None:
            if signer is None:
                raise InvalidInput("say who is reading the test partition with --as NAME")
            self.kernel.append(signer, lambda: [access])
        view = replay(self.kernel.opened_log())
        patients = view.partitions.patients_in(partition)
        members = set(patients)
        images = sorted(i.image_id for i in view.images.values() if i.patient_id in members)
        return {"partition": partition, "patients": patients, "images": images}

    def summary(self) -> dict[str, Any]:
        """Scheme and counts per partition, no patient listed (the test set stays sealed)."""
        view = replay(self.kernel.opened_log())
        state = view.partitions
        counts = {name: {"patients": 0, "images": 0} for name in policy.PARTITIONS}
        for patient in state.assignment.values():
            counts[patient]["patients"] += 1
        for image in view.images.values():
            name = state.of(image.patient_id)
            if name is not None and not image.excluded:
                counts[name]["images"] += 1
        unassigned = [c.patient_id for c in candidates(view) if state.of(c.patient_id) is None]
        return {
            "scheme": state.scheme.as_payload() if state.scheme else None,
            "partitions": counts,
            "unassigned_patients": len(unassigned),
            "reassignments": len(state.reassignments),
            "test_accesses": len(state.accesses),
        }

    def accesses(self, partition: str = policy.SEQUESTERED) -> list[dict[str, Any]]:
        """Every recorded reading of `partition` (only the test set's are recorded)."""
        policy.check_partition(partition).enforce()
        rows = []
        for env in self.kernel.stream(ACCESS_STREAM):
            if env.payload["partition"] == partition:
                rows.append(
                    {
                        "recorded_at": env.recorded_at,
                        "actor": env.actor,
                        "event_id": env.event_id,
                        **env.payload,
                    }
                )
        return rows

    def history(self) -> list[dict[str, Any]]:
        """Assignments and reassignments, oldest first, reasons included."""
        rows = []
        for env in self.kernel.stream(PARTITIONS_STREAM):
            p = env.payload
            if env.type == "PartitionsAssigned":
                row = {"patients": len(p["assignments"]), "scheme": p["scheme"]}
            else:
                row = dict(p)
            rows.append(
                {"type": env.type, "recorded_at": env.recorded_at, "actor": env.actor, **row}
            )
        return rows


def require_assigned(state: PartitionState, partition: str) -> None:
    """A partition release needs partitions assigned at its position."""
    policy.check_partition(partition).enforce()
    if state.scheme is None:
        raise Conflict("no partitions are assigned at this position; run partition assign")
