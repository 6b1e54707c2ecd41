"""The capture standard operating procedure (SOP) as a named, versioned policy.

Each rule measures one thing and names its threshold, so a refusal says which rule
failed and by how much, and an accepted deviation (`--override-sop --reason`) is
recorded with the same numbers. Pure: it sees measurements, not files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dermledger.policies.base import Decision

POLICY_NAME = "capture-sop"
POLICY_VERSION = "2"  # 2: accepted-format can no longer be overridden

ACCEPTED_FORMATS = ("JPEG", "PNG")
MIN_WIDTH, MIN_HEIGHT = 320, 240
# Variance of the Laplacian on the 8-bit grayscale image; sharp dermoscopy sits far above,
# a defocused or motion-blurred capture far below (see tests/unit/test_policy_sop.py).
MIN_FOCUS = 30.0


@dataclass(frozen=True)
class CaptureFacts:
    format: str
    width: int
    height: int
    focus: float
    image_type: str | None
    dermoscopic_type: str | None
    patient_registered: bool


@dataclass(frozen=True)
class Check:
    rule: str
    passed: bool
    measured: str
    required: str

    def sentence(self) -> str:
        return f"SOP rule {self.rule}: measured {self.measured}, required {self.required}"


def run_checks(facts: CaptureFacts) -> list[Check]:
    """Every SOP rule's result, in a fixed order."""
    return [
        Check("patient-registered", facts.patient_registered,
              "registered" if facts.patient_registered else "not registered", "registered"),
        Check("accepted-format", facts.format in ACCEPTED_FORMATS, facts.format,
              " or ".join(ACCEPTED_FORMATS)),
        Check("minimum-resolution",
              facts.width >= MIN_WIDTH and facts.height >= MIN_HEIGHT,
              f"{facts.width}x{facts.height}", f"at least {MIN_WIDTH}x{MIN_HEIGHT}"),
        Check("focus", facts.focus >= MIN_FOCUS, f"{facts.focus:.1f}",
              f"Laplacian variance at least {MIN_FOCUS:.0f}"),
        Check("dermoscopic-fields",
              facts.image_type != "dermoscopic" or bool(facts.dermoscopic_type),
              f"image_type {facts.image_type or 'missing'}, "
              f"dermoscopic_type {facts.dermoscopic_type or 'missing'}",
              "dermoscopic_type for a dermoscopic image"),
    ]  # fmt: skip


# A deviation may be accepted for image quality, never for the patient's registration,
# nor for a format a release cannot publish (the image could never leave the ledger).
NOT_OVERRIDABLE = frozenset({"patient-registered", "accepted-format"})


def decide(facts: CaptureFacts, *, override_reason: str | None = None) -> tuple[Decision, dict]:
    """Decision plus the SOP record that goes into ImageCaptured."""
    checks = run_checks(facts)
    failed = [c for c in checks if not c.passed]
    record = {
        "policy": POLICY_NAME,
        "version": POLICY_VERSION,
        "checks": [asdict(c) for c in checks],
        "deviations": [],
    }
    hard = [c for c in failed if c.rule in NOT_OVERRIDABLE]
    if hard or (failed and not (override_reason and override_reason.strip())):
        first = (hard or failed)[0]
        hint = "" if hard else " (use --override-sop --reason to record an accepted deviation)"
        return Decision(False, POLICY_NAME, POLICY_VERSION, first.sentence() + hint), record
    record["deviations"] = [
        {"rule": c.rule, "measured": c.measured, "reason": override_reason} for c in failed
    ]
    return Decision(True, POLICY_NAME, POLICY_VERSION), record
