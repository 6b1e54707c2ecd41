"""Per-stream state folded from events: what the service's policies decide on.

Only the events of one stream are folded, so a decision about an image costs one
stream read, not a replay of the log. Derived facts (verification stage, consensus)
are computed by policies from these plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.policies import confirmation, duplicates, inclusion


@dataclass
class PatientState:
    patient_id: str
    fields: dict[str, Any]
    registered_at: str
    registered_by: str
    personal: dict[str, str] | None = None
    consent: bool = False
    consent_scope: str | None = None
    erased: bool = False

    @property
    def consent_state(self) -> str:
        """`in force`, `withdrawn`, `erased` or `none` (never recorded), for people."""
        if self.erased:
            return "erased"
        if self.consent:
            return "in force"
        return "withdrawn" if self.consent_scope is not None else "none"


def apply_patient_event(state: PatientState | None, env: Envelope) -> PatientState | None:
    p = env.payload
    if env.type == "PatientRegistered":
        fields = {k: v for k, v in p.items() if k not in ("patient_id", "personal")}
        return PatientState(p["patient_id"], fields, env.recorded_at, env.actor, p.get("personal"))
    if state is None:
        return None
    if env.type == "ConsentRecorded" and not state.erased:
        state.consent, state.consent_scope = True, p["scope"]
    elif env.type == "ConsentWithdrawn":
        state.consent = False
    elif env.type == "PatientErased":
        state.consent, state.erased = False, True
    return state


def fold_patient(events: list[Envelope]) -> PatientState | None:
    state: PatientState | None = None
    for env in events:
        state = apply_patient_event(state, env)
    return state


@dataclass
class Suspicion:
    duplicate_of: str
    kind: str
    distance: int
    outcome: str | None = None  # None while unresolved; "duplicate" or "distinct"
    reason: str | None = None


@dataclass
class ImageState:
    """One image's record as its stream tells it."""

    image_id: str
    captured: dict[str, Any]
    captured_at: str
    captured_by: str
    metadata: dict[str, Any]
    suspicions: list[Suspicion] = field(default_factory=list)
    excluded: bool = False
    exclusion_reason: str | None = None
    events: list[Envelope] = field(default_factory=list)
    annotation: confirmation.Label | None = None
    structures: dict[str, str] = field(default_factory=dict)
    votes: list[tuple[str, confirmation.Vote]] = field(default_factory=list)  # (event_id, vote)
    histology: confirmation.Label | None = None
    further_readers_ordered: int = 0
    histology_ordered: bool = False

    def facts(self) -> confirmation.Facts:
        return confirmation.Facts(
            annotation=self.annotation,
            votes=tuple(v for _, v in self.votes),
            histology=self.histology,
            further_readers_ordered=self.further_readers_ordered,
            histology_ordered=self.histology_ordered,
        )

    def verification(self) -> confirmation.Verification:
        return confirmation.derive(self.facts())

    @property
    def unresolved(self) -> list[Suspicion]:
        return [s for s in self.suspicions if s.outcome is None]

    @property
    def exact_copy_of(self) -> list[str]:
        """The images this one is an exact copy of (bytes or pixels), cleared as distinct."""
        return [
            s.duplicate_of
            for s in self.suspicions
            if s.kind in duplicates.EXACT_KINDS and s.outcome == "distinct"
        ]

    @property
    def patient_id(self) -> str:
        return str(self.captured["patient_id"])

    @property
    def status(self) -> str:
        """The dataset-inclusion policy's status of this image; `erased` once its patient's
        key is destroyed (erasure v2: study/sealing.py marks the opened capture)."""
        if self.captured.get("erased"):
            return "erased"
        return inclusion.status(inclusion.Facts(self.excluded, len(self.unresolved)))


def apply_image_event(state: ImageState | None, env: Envelope) -> ImageState | None:
    p = env.payload
    if env.type == "ImageCaptured":
        state = ImageState(
            image_id=p["image_id"],
            captured=dict(p),
            captured_at=env.recorded_at,
            captured_by=env.actor,
            metadata={
                "patient_id": p["patient_id"],
                "lesion_id": p["lesion_id"],
                **(p["metadata"] or {}),  # None: sealed and not opened (erasure v2)
            },
        )
    elif state is None:
        return None
    elif env.type == "MetadataEdited":
        if p["new_value"] is None:
            state.metadata.pop(p["field"], None)
        else:
            state.metadata[p["field"]] = p["new_value"]
    elif env.type == "DuplicateSuspected":
        state.suspicions.append(Suspicion(p["duplicate_of"], p["kind"], p["distance"]))
    elif env.type == "DuplicateResolved":
        for s in state.suspicions:
            if s.duplicate_of == p["duplicate_of"] and s.outcome is None:
                s.outcome, s.reason = p["outcome"], p["reason"]
    elif env.type == "ImageExcluded":
        state.excluded, state.exclusion_reason = True, p["reason"]
    elif env.type == "ImageReinstated":
        state.excluded, state.exclusion_reason = False, None
    elif env.type == "AnnotationRecorded":
        state.annotation = confirmation.Label(env.actor, p["diagnosis"], p["category"])
        state.structures = dict(p.get("structures") or {})
    elif env.type == "ConsensusVoteCast":
        if p.get("supersedes"):
            state.votes = [
                (eid, replace(v, superseded=True) if eid == p["supersedes"] else v)
                for eid, v in state.votes
            ]
        state.votes.append(
            (env.event_id, confirmation.Vote(env.actor, p["diagnosis"], p["category"]))
        )
    elif env.type == "HistologyRecorded":
        state.histology = confirmation.Label(env.actor, p["diagnosis"], p["category"])
    elif env.type == "AnnotationCorrected":  # the old label stays in the event and history
        state.annotation = confirmation.Label(env.actor, p["diagnosis"], p["category"])
    elif env.type == "HistologyCorrected":
        state.histology = confirmation.Label(env.actor, p["diagnosis"], p["category"])
    elif env.type == "FurtherReadOrdered":
        if p["kind"] == "further-reader":
            state.further_readers_ordered += 1
        else:
            state.histology_ordered = True
    state.events.append(env)
    return state


def fold_image(events: list[Envelope]) -> ImageState | None:
    state: ImageState | None = None
    for env in events:
        state = apply_image_event(state, env)
    return state
