"""policies/roles.py: `role-permissions` v1, which role may append which event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dermledger.policies import roles
from dermledger.policies.base import Decision
from dermledger.policies.roles import (
    PERMISSIONS,
    ROLES,
    SIGNATURE_MEANING,
    AppendRequest,
    check_append,
    check_roles,
    roles_for,
)

ALLOW = Decision(True, "role-permissions", "1", "")
COORDINATOR_EVENTS = {
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
CLINICAL = {
    "annotator": "AnnotationRecorded",
    "specialist": "ConsensusVoteCast",
    "pathologist": "HistologyRecorded",
}
# A reader's queue seed (the reading station): signed by the specialist, no clinical meaning.
READING = {"specialist": "ReadingSeedDrawn"}
# Corrections of a recorded judgement (issue 18): the same role as the original.
CORRECTIONS = {"annotator": "AnnotationCorrected", "pathologist": "HistologyCorrected"}


def request(
    event_type: str, *held: str, revoked: bool = False, actor: str = "alice"
) -> AppendRequest:
    return AppendRequest(actor, frozenset(held), revoked, event_type)


def test_policy_is_named_and_versioned() -> None:
    assert (roles.POLICY_NAME, roles.POLICY_VERSION) == ("role-permissions", "1")
    assert ROLES == ("coordinator", "annotator", "specialist", "pathologist", "auditor")


def test_permissions_table() -> None:
    assert set(PERMISSIONS) == set(ROLES)
    assert PERMISSIONS["coordinator"] == COORDINATOR_EVENTS
    for role, event in CLINICAL.items():
        assert PERMISSIONS[role] == (
            {event}
            | ({READING[role]} if role in READING else set())
            | ({CORRECTIONS[role]} if role in CORRECTIONS else set())
        )
    assert PERMISSIONS["auditor"] == frozenset()


def test_every_event_type_belongs_to_exactly_one_role() -> None:
    events = [e for role in ROLES for e in PERMISSIONS[role]]
    expected = len(COORDINATOR_EVENTS) + len(CLINICAL) + len(READING) + len(CORRECTIONS)
    assert len(events) == len(set(events)) == expected
    for event in events:
        assert len(roles_for(event)) == 1


def test_clinical_signatures_have_a_recorded_meaning() -> None:
    assert set(SIGNATURE_MEANING) == set(CLINICAL.values()) | set(CORRECTIONS.values())
    assert SIGNATURE_MEANING["ConsensusVoteCast"] == "a consensus reader's vote"


@pytest.mark.parametrize("event", sorted(COORDINATOR_EVENTS))
def test_a_coordinator_may_append_every_administrative_event(event: str) -> None:
    assert check_append(request(event, "coordinator")) == ALLOW


@pytest.mark.parametrize(("role", "event"), sorted(CLINICAL.items()))
def test_each_clinical_event_needs_its_clinical_role(role: str, event: str) -> None:
    assert check_append(request(event, role)) == ALLOW
    for other in ROLES:
        if other != role:
            d = check_append(request(event, other))
            assert d == Decision(
                False,
                "role-permissions",
                "1",
                f"alice ({other}) may not append {event}; it needs {role}",
            )


def test_a_coordinator_may_not_sign_a_clinical_label() -> None:
    d = check_append(request("AnnotationRecorded", "coordinator"))
    assert not d.allowed and "it needs annotator" in d.reason


def test_an_auditor_may_append_nothing() -> None:
    for event in [*COORDINATOR_EVENTS, *CLINICAL.values()]:
        assert not check_append(request(event, "auditor")).allowed


def test_one_permitting_role_among_several_is_enough() -> None:
    assert check_append(request("HistologyRecorded", "auditor", "pathologist")) == ALLOW


class ReverseOrdered(frozenset[str]):
    """A frozenset that iterates in reverse order, so set order cannot pass for sorting."""

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(super().__iter__(), reverse=True))


def test_the_refusal_lists_held_roles_sorted() -> None:
    held = ReverseOrdered({"pathologist", "coordinator", "auditor", "annotator"})
    d = check_append(AppendRequest("bob", held, False, "ConsensusVoteCast"))
    assert d.reason == (
        "bob (annotator, auditor, coordinator, pathologist) may not append ConsensusVoteCast; "
        "it needs specialist"
    )


def test_no_roles_and_unknown_events_are_named_as_such() -> None:
    assert check_append(request("ImageCaptured")).reason == (
        "alice (no role) may not append ImageCaptured; it needs coordinator"
    )
    assert check_append(request("Teleported", "coordinator")).reason == (
        "alice (coordinator) may not append Teleported; it needs no role"
    )
    assert roles_for("Teleported") == []


def test_an_unknown_held_role_grants_nothing_and_does_not_crash() -> None:
    d = check_append(request("ImageCaptured", "superuser"))
    assert not d.allowed and "(superuser)" in d.reason


def test_a_revoked_key_is_refused_before_roles_are_looked_at() -> None:
    d = check_append(request("ImageCaptured", "coordinator", revoked=True, actor="carol"))
    assert d == Decision(False, "role-permissions", "1", "carol's key has been revoked")


def test_roles_for_lists_roles_in_table_order() -> None:
    assert roles_for("ImageCaptured") == ["coordinator"]
    assert roles_for("HistologyRecorded") == ["pathologist"]


# ------------------------------------------------------------------ check_roles


@pytest.mark.parametrize(
    "held", [["annotator"], list(ROLES), ["specialist", "specialist"], ("auditor",)]
)
def test_known_roles_are_accepted(held: list[str]) -> None:
    assert check_roles(held) is None


def test_unknown_roles_are_named_sorted_with_the_known_ones() -> None:
    assert check_roles(["zeta", "annotator", "admin"]) == (
        "unknown role admin, zeta; "
        "roles are coordinator, annotator, specialist, pathologist, auditor"
    )


def test_an_actor_needs_at_least_one_role() -> None:
    assert check_roles([]) == "an actor needs at least one role"


def test_known_roles_from_a_generator_are_accepted() -> None:
    assert check_roles(role for role in ["annotator"]) is None


@pytest.mark.parametrize("role", ROLES)
def test_any_enrolled_role_records_its_own_reading_of_the_test_set(role: str) -> None:
    assert check_append(request("TestSetAccessed", role)) == ALLOW
    assert not check_append(request("TestSetAccessed")).allowed
