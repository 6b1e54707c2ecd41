"""One image as the release gates see it, built in one place for every asker.

The release writer gates every image with this; `dataset` and `show` ask the same
question of the same facts to say which gate an image would fail today, so the
listing and the next release can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import confirmation, metadata_schema, release_gates
from dermledger.study.state import ImageState


def release_candidate(
    image: ImageState,
    verdict: confirmation.Verification,
    consent_in_force: bool,
    check: Callable[[dict[str, Any]], tuple[Any, str | None]] | None = None,
) -> tuple[release_gates.Candidate, Any]:
    """The gates' facts about `image`, and its validated metadata record (None when
    invalid). `verdict` is `image.verification()`, passed in so it is derived once;
    `check` validates the record as `record_problem` does (a release's memo)."""
    values = {k: v for k, v in image.metadata.items() if v is not None} | {
        "diagnosis": verdict.diagnosis,
        "verification_stage": verdict.stage,
        "diagnosis_confirm_type": verdict.diagnosis_confirm_type,
        "melanocytic": verdict.melanocytic,
    }
    record, problem = (check or record_problem)({k: v for k, v in values.items() if v is not None})
    candidate = release_gates.Candidate(
        image_id=image.image_id,
        excluded=image.excluded,
        unresolved_suspicions=len(image.unresolved),
        verification=verdict,
        consent_in_force=consent_in_force,
        metadata_problem=problem,
        format=image.captured["format"],
    )
    return candidate, record


def record_problem(values: dict[str, Any]) -> tuple[Any, str | None]:
    """The validated ISIC record, or None and the sentence saying why it is not valid."""
    try:
        return metadata_schema.validate_record(values), None
    except InvalidInput as exc:
        return None, str(exc)
