"""What may enter a release: named, versioned gates (DESIGN section 6).

Every image is checked against every gate in order; the first gate it fails is the
reason it is left out, and the datasheet lists each gate with how many it left out,
so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dermledger.policies.base import Decision
from dermledger.policies.confirmation import Verification

POLICY_NAME = "release-gates"
POLICY_VERSION = "1"


@dataclass(frozen=True)
class Candidate:
    image_id: str
    excluded: bool
    unresolved_suspicions: int
    verification: Verification
    consent_in_force: bool | None  # None: the study records no consent for anyone
    metadata_problem: str | None  # None when the record is valid for ISIC and the study
    format: str = "JPEG"  # the captured file's format


@dataclass(frozen=True)
class Gate:
    name: str
    description: str
    passes: Callable[[Candidate], bool]
    version: str = POLICY_VERSION


GATES: tuple[Gate, ...] = (
    Gate("consent-in-force", "the patient's consent is in force at the as-of position",
         lambda c: c.consent_in_force is not False),
    Gate("not-excluded", "the image is not excluded (duplicates, other reasons)",
         lambda c: not c.excluded),
    Gate("duplicates-resolved", "no unresolved duplicate suspicion",
         lambda c: c.unresolved_suspicions == 0),
    Gate("verified-by-consensus", "verification stage at least consensus",
         lambda c: c.verification.stage in ("consensus", "histology")),
    Gate("malignant-histology", "every malignant label (MEL, BCC, SCC) histologically verified",
         lambda c: not c.verification.needs_histology),
    Gate("metadata-valid", "the record is valid for ISIC and the study's own rules",
         lambda c: c.metadata_problem is None),
)  # fmt: skip


PUBLISHABLE_FORMATS: tuple[str, ...] = ("JPEG", "PNG")
# Applied after GATES. Capture refuses other formats even with an SOP override (capture-sop
# v2), so only an older log can hold one; a release leaves such an image out, by name,
# instead of failing. Listed in a release's documents only when it left something out,
# so every release of a log without such an image is what it always was.
FORMAT_GATE = Gate(
    "publishable-format",
    f"the image is in a format a release publishes ({' or '.join(PUBLISHABLE_FORMATS)})",
    lambda c: c.format in PUBLISHABLE_FORMATS,
)


def first_failed_gate(candidate: Candidate) -> Gate | None:
    """The gate that keeps the image out, or None when it enters the release."""
    return next((gate for gate in (*GATES, FORMAT_GATE) if not gate.passes(candidate)), None)


def decide(candidate: Candidate) -> Decision:
    """Allowed into the release, or refused naming the first gate it fails."""
    gate = first_failed_gate(candidate)
    reason = None if gate is None else f"{gate.name}: not {gate.description}"
    return Decision.of(POLICY_NAME, POLICY_VERSION, reason)
