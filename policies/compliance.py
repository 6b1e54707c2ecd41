"""The questions an ethics committee asks, as named, versioned rules over the study's facts.

Each rule returns the images (or events) that breach it. `audit compliance` reports
every breach with its rule's name and exits 1 when there is any, so a release script
can gate on it. Pure: the facts are handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dermledger.policies.confirmation import Verification

POLICY_VERSION = "1"


@dataclass(frozen=True)
class ImageFacts:
    image_id: str
    patient_id: str
    excluded: bool
    verification: Verification
    unresolved_suspicions: int
    sop_deviations: Sequence[str]
    consent_in_force_at_capture: bool | None = None  # None: the study records no consent
    exact_copy_of: Sequence[str] = ()  # images it repeats exactly, cleared as distinct


@dataclass(frozen=True)
class StudyFacts:
    images: Sequence[ImageFacts]
    edits_without_reason: Sequence[tuple[int, str]] = ()  # (seq, image_id)
    revoked_key_events: Sequence[tuple[int, str, str]] = ()  # (seq, actor, type)


@dataclass(frozen=True)
class Breach:
    rule: str
    version: str
    description: str
    subjects: list[str] = field(default_factory=list)


def _not_excluded(facts: StudyFacts) -> list[ImageFacts]:
    """Images still in the dataset or awaiting a duplicate decision (see policies.inclusion)."""
    return [i for i in facts.images if not i.excluded]


def _included_exact_copies(facts: StudyFacts) -> list[str]:
    """Included images that are exact copies (bytes or pixels) of another included image:
    the same photograph twice in the dataset, however the suspicion was cleared."""
    included = {i.image_id for i in _not_excluded(facts)}
    return [
        f"{i.image_id} (copy of {', '.join(others)})"
        for i in _not_excluded(facts)
        if (others := [o for o in i.exact_copy_of if o in included])
    ]


RULES: list[tuple[str, str, Callable[[StudyFacts], list[str]]]] = [
    ("malignant-without-histology", "malignant labels (MEL, BCC, SCC) without histology",
     lambda f: [i.image_id for i in _not_excluded(f) if i.verification.needs_histology]),
    ("consensus-under-three-readers", "consensus with fewer than three distinct readers",
     lambda f: [i.image_id for i in _not_excluded(f)
                if i.verification.stage == "consensus" and len(set(i.verification.readers)) < 3]),
    ("unresolved-duplicate-suspicion", "duplicate suspicions nobody has resolved",
     lambda f: [i.image_id for i in _not_excluded(f) if i.unresolved_suspicions]),
    ("sop-override", "captures accepted with a recorded SOP deviation",
     lambda f: [f"{i.image_id} ({', '.join(i.sop_deviations)})"
                for i in f.images if i.sop_deviations]),
    ("edit-without-reason", "metadata edits recorded without a reason",
     lambda f: [f"seq {seq} ({image})" for seq, image in f.edits_without_reason]),
    ("capture-without-consent", "captures of patients without consent in force",
     lambda f: [i.image_id for i in f.images if i.consent_in_force_at_capture is False]),
    ("event-by-revoked-key", "events signed after the signer's key was revoked",
     lambda f: [f"seq {seq} {kind} by {actor}" for seq, actor, kind in f.revoked_key_events]),
    ("histology-order-unfulfilled", "histology ordered by a coordinator, no result recorded",
     lambda f: [i.image_id for i in _not_excluded(f)
                if i.verification.histology_ordered and i.verification.stage != "histology"]),
    ("included-exact-copy", "exact copies (same bytes or pixels) of another included image",
     _included_exact_copies),
]  # fmt: skip


def breaches(facts: StudyFacts) -> list[Breach]:
    """Every rule with at least one breach, in rule order."""
    found = []
    for name, description, rule in RULES:
        subjects = rule(facts)
        if subjects:
            found.append(Breach(name, POLICY_VERSION, description, subjects))
    return found
