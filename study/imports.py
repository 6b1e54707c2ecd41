"""Bulk import of a folder with a metadata CSV: everything checked before anything is written.

Every row and file is checked first (columns, values, paths, patients, consent, the
SOP); any problem is listed with its spreadsheet row number and nothing is written.
Image ids are derived from the ledger, the file name and the file's hash, so a re-run
of an interrupted import completes it without duplicating events or blobs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.signing import Signer
from dermledger.policies import csv_rows, sop
from dermledger.study.capture import CaptureService, PlannedCapture
from dermledger.study.imaging import measure_files, read_capped
from dermledger.study.kernel import Kernel
from dermledger.study.records import Records, patient_stream
from dermledger.study.state import PatientState, fold_patient

# Images a transaction in an import: one commit and two blob-store flushes per batch
# instead of per image, while a batch stays small enough that a retry is cheap.
IMPORT_BATCH = 64
# Files; below this an import measures in-process (two spawned workers take about 0.5 s
# to start, the time of some 70 images).
PARALLEL_IMPORT_FROM = 100


@dataclass
class ImportReport:
    rows: int = 0
    captured: int = 0
    already_present: int = 0
    suspicions: int = 0
    image_ids: list[str] = field(default_factory=list)


class ImportService:
    """`dermledger import`: validate a whole folder, then capture it in batches."""

    def __init__(self, kernel: Kernel, records: Records, capture: CaptureService) -> None:
        self.kernel = kernel
        self.records = records
        self.capture = capture

    def import_folder(
        self,
        signer: Signer,
        folder: Path,
        header: list[str],
        rows: list[dict[str, str]],
        *,
        source: str = "the metadata file",
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> ImportReport:
        """Validate every row and file first; then capture, skipping what is already in.

        Raises InvalidInput listing every problem with its row number, before writing.
        Files are decoded and measured once, on `workers` processes (by default every core
        once the import is large enough to repay starting them); the captures are then
        appended IMPORT_BATCH images a transaction, each image's events all or nothing.
        """
        self.kernel.acting_record(signer)
        report = csv_rows.validate_rows(header, rows, known_patients=self.records.patient_ids())
        problems = list(report.problems)
        checked = []
        if report.ok:
            checked = _located_rows(folder.resolve(), rows, report.records, problems)
        if workers is None:
            workers = (os.cpu_count() or 1) if len(checked) >= PARALLEL_IMPORT_FROM else 1
        index = self.capture.dedup_index()
        measured = measure_files([(str(p), str(r["filename"])) for _, r, p in checked],
                                 workers=workers)  # fmt: skip
        plan = self._plan(checked, measured, index, problems)
        if problems:
            raise ImportRefused(problems, source)
        return self._append(signer, plan, index, progress)

    def _plan(
        self,
        checked: list[tuple[int, dict[str, Any], Path]],
        measured: list[Any],
        index: Any,
        problems: list[str],
    ) -> _Plan:
        """Each measured row as a planned capture, an image already present, or a problem
        (added to `problems` with its row number)."""
        plan = _Plan()
        patients: dict[str, PatientState | None] = {}
        for (number, record, path), facts in zip(checked, measured, strict=True):
            problem = facts if isinstance(facts, str) else _sop_problem(record, facts)
            if problem:
                problems.append(f"row {number}: {problem}")
                continue
            image_id = self.capture.new_image_id(f"import:{record['filename']}:{facts.sha256}")
            plan.order.append(image_id)
            if image_id in index:
                plan.present.append(image_id)
                continue
            patient_id = str(record["patient_id"])
            if patient_id not in patients:
                stream = self.kernel.stream(patient_stream(patient_id))
                patients[patient_id] = fold_patient(self.kernel.sealer.open_all(stream))
            problem = _patient_problem(record, patients[patient_id])
            if problem:
                problems.append(f"row {number}: {problem}")
                continue
            plan.planned.append((_planned_capture(image_id, record, facts), path))
        return plan

    def _append(
        self,
        signer: Signer,
        plan: _Plan,
        index: Any,
        progress: Callable[[int, int], None] | None,
    ) -> ImportReport:
        """Capture the planned images IMPORT_BATCH a transaction."""
        result = ImportReport(
            rows=len(plan.planned) + len(plan.present), already_present=len(plan.present)
        )
        done = len(plan.present)
        if progress and done:
            progress(done, result.rows)
        for start in range(0, len(plan.planned), IMPORT_BATCH):
            chunk = plan.planned[start : start + IMPORT_BATCH]
            captured = self.capture.capture_batch(
                signer, [(capture, read_capped(path)) for capture, path in chunk], index
            )
            for one in captured:
                result.already_present += one.skipped
                result.captured += not one.skipped
                result.suspicions += len(one.suspicions)
            done += len(chunk)
            if progress:
                progress(done, result.rows)
        result.image_ids = plan.order
        return result


@dataclass
class _Plan:
    """What an import will do: captures to make, images already in, every row's image id."""

    planned: list[tuple[PlannedCapture, Path]] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


def _located_rows(
    folder: Path, rows: list[dict[str, str]], records: list[Any], problems: list[str]
) -> list[tuple[int, dict[str, Any], Path]]:
    """(row number, record, file) of every row whose file is inside the folder and exists;
    the others become problems."""
    checked = []
    for number, record in zip(_row_numbers(rows), records, strict=True):
        path = (folder / str(record["filename"])).resolve()
        if not path.is_relative_to(folder):
            problems.append(f"row {number}: filename leaves the import folder")
        elif not path.is_file():
            problems.append(f"row {number}: {record['filename']} does not exist")
        else:
            checked.append((number, record, path))
    return checked


def _sop_problem(record: dict[str, Any], facts: Any) -> str | None:
    """The first SOP check the file fails (no override in an import), or None."""
    checks = sop.run_checks(
        sop.CaptureFacts(
            facts.format, facts.width, facts.height, facts.focus,
            str(record.get("image_type") or "") or None,
            str(record.get("dermoscopic_type") or "") or None,
            True,
        )
    )  # fmt: skip
    failed = [c for c in checks if not c.passed]
    return failed[0].sentence() if failed else None


def _planned_capture(image_id: str, record: dict[str, Any], facts: Any) -> PlannedCapture:
    values = {
        k: v
        for k, v in record.items()
        if k not in ("filename", "device", "patient_id", "lesion_id") and v is not None
    }
    return PlannedCapture(
        image_id, str(record["patient_id"]), str(record["lesion_id"]), values,
        str(record["device"]) if record.get("device") else None, facts,
        name=str(record["filename"]),
    )  # fmt: skip


class ImportRefused(InvalidInput):
    """An import with problems: every problem, with row numbers, and nothing written."""

    def __init__(self, problems: list[str], source: str) -> None:
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        listed = "; ".join(problems[:10]) + more
        super().__init__(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {source} "
            f"(row 1 is the header), nothing was imported: {listed}"
        )
        self.problems = problems


def _patient_problem(record: dict[str, Any], patient: PatientState | None) -> str | None:
    """Why a row cannot be captured for its patient: no consent in force, or a patient-level
    field that contradicts the registration (values not echoed: they describe a person)."""
    patient_id = record["patient_id"]
    if patient is None or not patient.consent:
        return f"patient {patient_id} has no consent in force; record consent first"
    differ = csv_rows.patient_contradictions(record, patient.fields)
    if differ:
        return (
            f"{', '.join(differ)} contradict{'s' if len(differ) == 1 else ''} what is "
            f"registered for patient {patient_id}; correct the row, or the registration"
        )
    return None


def _row_numbers(rows: list[dict[str, str]]) -> list[int]:
    """Spreadsheet row numbers of the non-blank data rows (the header is row 1)."""
    return [
        number
        for number, row in enumerate(rows, start=2)
        if any(str(v or "").strip() for k, v in row.items() if k is not None)
    ]
