"""Roles and permissions (DESIGN section 2): which role may append which event.

The same table decides at append time and, replayed, in `audit verify`, so the
audit checks exactly the rule the service enforced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dermledger.policies.base import Decision

POLICY_NAME = "role-permissions"
POLICY_VERSION = "1"

ROLES = ("coordinator", "annotator", "specialist", "pathologist", "auditor")

PERMISSIONS: dict[str, frozenset[str]] = {
    "coordinator": frozenset(
        {
            "ActorEnrolled",
            "ActorRevoked",
            "KeyRotated",
            "PatientRegistered",
            "ConsentRecorded",
            "ConsentWithdrawn",
            "PatientErased",
            "PersonalDataAccessed",
            "ImageCaptured",
            "MetadataEdited",
            "DuplicateSuspected",
            "DuplicateResolved",
            "ImageExcluded",
            "ImageReinstated",
            "FurtherReadOrdered",
            "CheckpointSigned",
            "LogKeyEnrolled",
            "WitnessAdded",
            "WitnessRemoved",
            "WitnessQuorumSet",
            "CheckpointCosigned",
            "ReleasePublished",
            "PartitionsAssigned",
            "PartitionReassigned",
            "ReferenceCollectionAdded",
            "ReferenceOverlapFound",
        }
    ),
    "annotator": frozenset({"AnnotationRecorded", "AnnotationCorrected"}),
    "specialist": frozenset({"ConsensusVoteCast", "ReadingSeedDrawn"}),
    "pathologist": frozenset({"HistologyRecorded", "HistologyCorrected"}),
    "auditor": frozenset(),
}

# Events any enrolled actor appends about itself, whatever its roles: the record of its
# own reading of the sequestered test set (issue 16), so an auditor's reading is logged too.
ANY_ROLE_EVENTS: frozenset[str] = frozenset({"TestSetAccessed"})

# What a signature by each role means, recorded in the audit trail.
SIGNATURE_MEANING: dict[str, str] = {
    "AnnotationRecorded": "authorship of the initial clinical annotation",
    "ConsensusVoteCast": "a consensus reader's vote",
    "HistologyRecorded": "a pathology result",
    "AnnotationCorrected": "a correction of the initial clinical annotation",
    "HistologyCorrected": "a correction of a pathology result",
}


@dataclass(frozen=True)
class AppendRequest:
    """Facts for the permission rule: who asks to append what."""

    actor: str
    roles: frozenset[str]
    revoked: bool
    event_type: str


def roles_for(event_type: str) -> list[str]:
    """The roles allowed to append an event type, for error messages."""
    return [role for role in ROLES if event_type in PERMISSIONS[role]]


def check_append(request: AppendRequest) -> Decision:
    """Allow the append only when one of the actor's roles permits the event type."""
    if request.revoked:
        return Decision(
            False, POLICY_NAME, POLICY_VERSION, f"{request.actor}'s key has been revoked"
        )
    if request.event_type in ANY_ROLE_EVENTS and request.roles:
        return Decision(True, POLICY_NAME, POLICY_VERSION)
    if any(request.event_type in PERMISSIONS.get(role, frozenset()) for role in request.roles):
        return Decision(True, POLICY_NAME, POLICY_VERSION)
    allowed = " or ".join(roles_for(request.event_type)) or "no role"
    held = ", ".join(sorted(request.roles)) or "no role"
    return Decision(
        False,
        POLICY_NAME,
        POLICY_VERSION,
        f"{request.actor} ({held}) may not append {request.event_type}; it needs {allowed}",
    )


def check_roles(roles: Iterable[str]) -> str | None:
    """A reason if any role name is unknown, else None."""
    given = set(roles)  # read once: `roles` may be a one-shot iterable
    unknown = sorted(given - set(ROLES))
    if unknown:
        return f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}"
    if not given:
        return "an actor needs at least one role"
    return None


CONTINUITY_POLICY_NAME = "coordinator-continuity"
CONTINUITY_POLICY_VERSION = "1"


@dataclass(frozen=True)
class Revocation:
    """Facts for revoking an actor: the actor's roles and who coordinates now."""

    actor: str
    roles: frozenset[str]
    active_coordinators: frozenset[str]


def check_revocation(request: Revocation) -> Decision:
    """Refuse to revoke the last active coordinator: nobody could enrol or revoke after."""
    others = request.active_coordinators - {request.actor}
    last = "coordinator" in request.roles and not others
    return Decision.of(
        CONTINUITY_POLICY_NAME,
        CONTINUITY_POLICY_VERSION,
        f"{request.actor} is the last active coordinator; enrol another coordinator first"
        if last
        else None,
    )
