"""The "ledger" block of evidence.json recomputed from the log at the release's position,
for `release verify --ledger`: the facts a release's files cannot show (consent scopes,
images left out per gate, partition scheme and reassignments, readings of the test set)
are checked against the signed events they came from.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dermledger.policies import release_gates
from dermledger.projections.release.evidence import EVIDENCE, LEDGER_KEY, differences, dumps
from dermledger.projections.release.evidence_doc import ledger_facts
from dermledger.projections.release.messages import say
from dermledger.projections.release.writer import gate
from dermledger.projections.study_view import StudyView


def ledger_block_at(view: StudyView, released: list[str], partition: str | None) -> dict[str, Any]:
    """The ledger block the writer would write at `view`'s position."""
    left_out = {g.name: 0 for g in release_gates.GATES}
    for image_id in sorted(view.images):
        image = view.images[image_id]
        if partition is not None and view.partitions.of(image.patient_id) != partition:
            continue
        gate(image, image.verification(), view, left_out)
    return ledger_facts(view, released, left_out, partition)


def check_ledger_block(folder: Path, manifest: Mapping[str, Any], view: StudyView) -> list[str]:
    """Failures of evidence.json's ledger block against the log replayed to the release's
    position (`view`); none for a release without evidence.json."""
    path = folder / EVIDENCE
    if not path.exists():
        return []
    try:
        written = json.loads(path.read_text(encoding="utf-8")).get(LEDGER_KEY, {})
        with (folder / "metadata.csv").open(encoding="utf-8", newline="") as handle:
            released = [row["image_id"] for row in csv.DictReader(handle)]
        partition = (manifest.get("partition") or {}).get("name")
        expected = json.loads(dumps(ledger_block_at(view, released, partition)))
    except (KeyError, ValueError, TypeError, AttributeError, OSError) as exc:
        # a damaged file: its digest check already names it
        return [say("evidence_inputs", problem=f"{type(exc).__name__}: {exc}")]
    return differences(written, expected, LEDGER_KEY, value="evidence_ledger_value")
