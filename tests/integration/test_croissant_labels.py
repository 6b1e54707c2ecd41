"""croissant.json carries per-label provenance that mlcroissant reads (issue 16)."""

from __future__ import annotations

import csv
from pathlib import Path

import mlcroissant as mlc

from tests.integration.test_partitions import add_patient
from tests.support import LedgerHandle


def test_labels_record_set_gives_who_role_stage_and_event(
    team: LedgerHandle, tmp_path: Path
) -> None:
    images = add_patient(team, 1, images=2)
    team.ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    dataset = mlc.Dataset(jsonld=tmp_path / "v1" / "croissant.json")
    assert not dataset.metadata.ctx.issues.errors, dataset.metadata.ctx.issues.report()
    assert sorted(dataset.metadata.ctx.issues.warnings) == []
    labels = list(dataset.records("labels"))
    with (tmp_path / "v1" / "annotations.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(labels) == len(rows) == 2 * 4  # an annotation and three votes per image
    found = {(r["labels/image_id"].decode(), r["labels/actor"].decode(), r["labels/role"].decode(),
              r["labels/type"].decode(), int(r["labels/seq"])) for r in labels}  # fmt: skip
    assert (images[0], "ann", "annotator", "AnnotationRecorded") in {f[:4] for f in found}
    assert {(r["image_id"], r["actor"], r["role"], r["type"], int(r["seq"])) for r in rows} == found
    doc = (tmp_path / "v1" / "croissant.json").read_text()
    assert "Data-use terms follow the consent the patients gave: 'study' (1 patients)" in doc
