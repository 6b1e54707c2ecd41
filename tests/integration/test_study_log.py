"""The benchmark's study-log generator makes a log the ledger itself accepts.

`bench/study_log.py` seals events without going through the service's commands (to make
a 1M-event log in minutes), so this holds it to the same contract as the service: the
whole log verifies (hashes, signatures, stream chains, roles, checkpoint), the study's
own queries read it, and a read-model rebuild of it agrees with them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dermledger.bench import study_log
from dermledger.bench.study_log import cached_log
from dermledger.ledger.bootstrap import Settings
from dermledger.projections.readmodel import ReadModel
from tests.integration.test_readmodel import assert_agrees_with_ledger

STUDY_TYPES = ("PatientRegistered", "ConsentRecorded", "ImageCaptured", "MetadataEdited",
               "DuplicateSuspected", "DuplicateResolved", "ImageExcluded", "AnnotationRecorded",
               "ConsensusVoteCast", "FurtherReadOrdered", "HistologyRecorded",
               "CheckpointSigned")  # fmt: skip


def test_generated_study_verifies_and_reads_like_the_services(settings: Settings) -> None:
    ledger, lead = study_log.open_founded(settings)
    try:
        size = study_log.build(ledger, lead, 1500)
        assert ledger.audit.verify().ok
        types = Counter(entry.topic for entry in ledger.kernel.log())
        assert sum(types.values()) == size
        assert set(STUDY_TYPES) <= types.keys()
        assert types["ConsensusVoteCast"] > 3 * types["AnnotationRecorded"]  # and supersedes
        with ReadModel(settings) as model:
            assert model.rebuild(ledger, batch_size=100) == size
            assert_agrees_with_ledger(model, ledger)
            assert model.audit_rows() == ledger.queries.audit_trail()
            statuses = Counter(row["status"] for row in model.dataset_rows())
            stages = Counter(row["verification_stage"] for row in model.dataset_rows())
        assert statuses["excluded"] > 0 and statuses["duplicate-suspected"] == 0
        assert stages["histology"] > 0 and stages["consensus"] > 0
    finally:
        ledger.close()


def test_cached_log_is_built_once(tmp_path: Path) -> None:
    settings, size = cached_log(tmp_path, 300)
    marker = settings.home / study_log.DONE
    built = marker.stat().st_mtime_ns
    again, same = cached_log(tmp_path, 300)
    assert (again.home, same) == (settings.home, size)
    assert marker.stat().st_mtime_ns == built
