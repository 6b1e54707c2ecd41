"""Study statistics over a set of image states: stages, categories, malignancy, agreement."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from dermledger.policies import inclusion
from dermledger.projections.agreement import agreement
from dermledger.study.state import ImageState


def study_statistics(images: Iterable[ImageState]) -> dict[str, Any]:
    """How many images are included, duplicate-suspected and excluded; stage, category and
    malignancy counts over the included ones; and the consensus panel's agreement."""
    stages: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    consensus: Counter[str] = Counter()
    votes: dict[str, list[str]] = {}
    # erased: the patient's key is destroyed (erasure v2); counted here, never in agreement
    counts = {"images": 0, "included": 0, "duplicate_suspected": 0, "excluded": 0, "erased": 0,
              "discordant": 0, "malignant": 0, "malignant_with_histology": 0}  # fmt: skip
    for image in images:
        counts["images"] += 1
        status = image.status  # the dataset-inclusion policy: one meaning of "included"
        counts[status.replace("-", "_")] += 1
        if status != inclusion.INCLUDED:
            continue
        v = image.verification()
        stages[v.stage or "unannotated"] += 1
        consensus[v.consensus] += 1
        if v.category:
            categories[v.category] += 1
        counts["discordant"] += v.discordant
        counts["malignant"] += v.malignant
        counts["malignant_with_histology"] += v.malignant and v.stage == "histology"
        _add_votes(votes, image)
    return counts | {
        "stages": dict(sorted(stages.items())),
        "consensus": dict(sorted(consensus.items())),
        "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        "agreement": agreement(votes).as_dict(),
    }


def panel_agreement(images: Iterable[ImageState]) -> dict[str, Any]:
    """`study_statistics(images)["agreement"]` alone: a release's documents need only
    this, and deriving every image's verification again was 5% of a release."""
    votes: dict[str, list[str]] = {}
    for image in images:
        if image.status == inclusion.INCLUDED:
            _add_votes(votes, image)
    return agreement(votes).as_dict()


def _add_votes(votes: dict[str, list[str]], image: ImageState) -> None:
    active = [vote.category for vote in image.facts().active_votes]
    if active:
        votes[image.image_id] = active
