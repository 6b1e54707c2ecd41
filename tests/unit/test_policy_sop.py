"""policies/sop.py: `capture-sop` v1, its thresholds, and which deviations may be accepted."""

from __future__ import annotations

import dataclasses

import pytest

from dermledger.policies import sop
from dermledger.policies.base import Decision
from dermledger.policies.sop import (
    MIN_FOCUS,
    MIN_HEIGHT,
    MIN_WIDTH,
    CaptureFacts,
    Check,
    decide,
    run_checks,
)

GOOD = CaptureFacts(
    format="JPEG",
    width=1024,
    height=768,
    focus=250.0,
    image_type="dermoscopic",
    dermoscopic_type="contact polarized",
    patient_registered=True,
)
HINT = " (use --override-sop --reason to record an accepted deviation)"


def facts(**changes: object) -> CaptureFacts:
    return dataclasses.replace(GOOD, **changes)  # type: ignore[arg-type]


def failed(f: CaptureFacts) -> list[str]:
    return [c.rule for c in run_checks(f) if not c.passed]


def test_policy_is_named_and_versioned_with_its_thresholds() -> None:
    assert (sop.POLICY_NAME, sop.POLICY_VERSION) == ("capture-sop", "2")
    assert sop.ACCEPTED_FORMATS == ("JPEG", "PNG")
    assert (MIN_WIDTH, MIN_HEIGHT, MIN_FOCUS) == (320, 240, 30.0)
    assert sorted(sop.NOT_OVERRIDABLE) == ["accepted-format", "patient-registered"]


def test_every_rule_is_checked_in_a_fixed_order() -> None:
    assert run_checks(GOOD) == [
        Check("patient-registered", True, "registered", "registered"),
        Check("accepted-format", True, "JPEG", "JPEG or PNG"),
        Check("minimum-resolution", True, "1024x768", "at least 320x240"),
        Check("focus", True, "250.0", "Laplacian variance at least 30"),
        Check(
            "dermoscopic-fields",
            True,
            "image_type dermoscopic, dermoscopic_type contact polarized",
            "dermoscopic_type for a dermoscopic image",
        ),
    ]


def test_focus_exactly_at_the_threshold_passes() -> None:
    assert failed(facts(focus=MIN_FOCUS)) == []
    assert failed(facts(focus=MIN_FOCUS - 0.01)) == ["focus"]
    assert failed(facts(focus=0.0)) == ["focus"]
    assert failed(facts(focus=float("nan"))) == ["focus"]


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (MIN_WIDTH, MIN_HEIGHT, True),
        (MIN_WIDTH - 1, MIN_HEIGHT, False),
        (MIN_WIDTH, MIN_HEIGHT - 1, False),
        (MIN_HEIGHT, MIN_WIDTH, False),  # portrait 240x320: width below 320
        (4000, MIN_HEIGHT - 1, False),
    ],
)
def test_minimum_resolution_boundaries(width: int, height: int, ok: bool) -> None:
    assert failed(facts(width=width, height=height)) == ([] if ok else ["minimum-resolution"])


@pytest.mark.parametrize(("fmt", "ok"), [("JPEG", True), ("PNG", True), ("jpeg", False),
                                         ("TIFF", False), ("", False)])  # fmt: skip
def test_accepted_formats_are_exact(fmt: str, ok: bool) -> None:
    assert failed(facts(format=fmt)) == ([] if ok else ["accepted-format"])


@pytest.mark.parametrize(
    ("image_type", "dermoscopic_type", "ok"),
    [
        ("dermoscopic", "contact non-polarized", True),
        ("dermoscopic", None, False),
        ("dermoscopic", "", False),
        ("clinical: close-up", None, True),
        (None, None, True),
    ],
)
def test_a_dermoscopic_image_needs_its_dermoscopic_type(
    image_type: str | None, dermoscopic_type: str | None, ok: bool
) -> None:
    f = facts(image_type=image_type, dermoscopic_type=dermoscopic_type)
    assert failed(f) == ([] if ok else ["dermoscopic-fields"])


def test_missing_fields_are_measured_as_missing() -> None:
    check = run_checks(facts(image_type="dermoscopic", dermoscopic_type=None))[-1]
    assert check.measured == "image_type dermoscopic, dermoscopic_type missing"
    assert run_checks(facts(image_type=None))[-1].measured.startswith("image_type missing")


def test_sentence_names_rule_measurement_and_requirement() -> None:
    check = run_checks(facts(focus=12.345))[3]
    assert check.sentence() == (
        "SOP rule focus: measured 12.3, required Laplacian variance at least 30"
    )


# ------------------------------------------------------------------ decide


def test_a_conforming_capture_is_allowed_with_no_deviations() -> None:
    decision, record = decide(GOOD)
    assert decision == Decision(True, "capture-sop", "2", "")
    assert record == {
        "policy": "capture-sop",
        "version": "2",
        "checks": [dataclasses.asdict(c) for c in run_checks(GOOD)],
        "deviations": [],
    }


def test_an_override_reason_on_a_conforming_capture_records_nothing() -> None:
    decision, record = decide(GOOD, override_reason="just in case")
    assert decision.allowed and record["deviations"] == []


def test_a_failure_is_refused_with_its_numbers_and_the_override_hint() -> None:
    decision, record = decide(facts(width=300, height=200))
    assert decision == Decision(
        False,
        "capture-sop",
        "2",
        "SOP rule minimum-resolution: measured 300x200, required at least 320x240" + HINT,
    )
    assert record["deviations"] == []
    assert [c["passed"] for c in record["checks"]] == [True, True, False, True, True]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_blank_override_reason_does_not_override(reason: str | None) -> None:
    decision, _ = decide(facts(focus=5.0), override_reason=reason)
    assert not decision.allowed
    assert decision.reason == (
        "SOP rule focus: measured 5.0, required Laplacian variance at least 30" + HINT
    )


def test_the_first_failure_is_named_when_several_fail() -> None:
    decision, _ = decide(facts(format="BMP", focus=1.0))
    assert decision.reason.startswith("SOP rule accepted-format: measured BMP")


def test_an_accepted_deviation_is_recorded_with_its_numbers_and_reason() -> None:
    f = facts(width=300, height=200, focus=29.5)
    decision, record = decide(f, override_reason="legacy scanner")
    assert decision == Decision(True, "capture-sop", "2", "")
    assert record["deviations"] == [
        {"rule": "minimum-resolution", "measured": "300x200", "reason": "legacy scanner"},
        {"rule": "focus", "measured": "29.5", "reason": "legacy scanner"},
    ]


def test_a_format_a_release_cannot_publish_cannot_be_overridden() -> None:
    """v2 (issue 18 item 21): an override relaxes quality rules, never the format."""
    decision, record = decide(facts(format="GIF"), override_reason="the only camera we had")
    assert decision == Decision(
        False, "capture-sop", "2", "SOP rule accepted-format: measured GIF, required JPEG or PNG"
    )  # no hint: the deviation may not be accepted
    assert record["deviations"] == []


def test_an_unregistered_patient_cannot_be_overridden() -> None:
    for reason in [None, "the coordinator approved it"]:
        decision, record = decide(facts(patient_registered=False), override_reason=reason)
        assert decision == Decision(
            False,
            "capture-sop",
            "2",
            "SOP rule patient-registered: measured not registered, required registered",
        )  # no hint: the deviation may not be accepted
        assert record["deviations"] == []


def test_the_hard_rule_is_named_even_after_soft_failures() -> None:
    f = facts(patient_registered=False, format="BMP", focus=1.0)
    decision, _ = decide(f, override_reason="quality is fine")
    assert not decision.allowed
    assert decision.reason.startswith("SOP rule patient-registered:")
    assert "--override-sop" not in decision.reason
