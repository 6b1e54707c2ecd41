"""The demo study: a whole workflow on a fresh ledger, driven through the service.

`dermledger demo` calls `run_demo`; each step is a service call a coordinator could
make from the command line (`patient register`, `import`, `duplicates resolve`, …).
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.verify import Report
from dermledger.projections.release.cohort import CohortTable
from dermledger.projections.release.files import CsvRows
from dermledger.study.ledger import DermLedger
from dermledger.synthetic.cohort import generate_cohort
from dermledger.synthetic.demo_evaluation import run_evaluation
from dermledger.synthetic.structures import draw_structures

DEMO_PASSPHRASE = "demo passphrase, not a secret"
LEAD = "coordinator"
TEAM: dict[str, list[str]] = {
    "dr-annotator": ["annotator"],
    "dr-reader1": ["specialist"],
    "dr-reader2": ["specialist"],
    "dr-reader3": ["specialist"],
    "dr-reader4": ["specialist"],
    "dr-pathologist": ["pathologist"],
    "auditor": ["auditor"],
    "temp-coordinator": ["coordinator"],
}
Progress = Callable[[str, int, int], None]


@dataclass
class DemoResult:
    """What the demo did, and the cohort as the ledger reads it after the last step."""

    home: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    review: dict[str, Any] = field(default_factory=dict)
    # `dermledger stats --json` after the last step (the withdrawal and erasure included).
    statistics: dict[str, Any] = field(default_factory=dict)
    # The last release's cohort table: the numbers its datasheet.md prints.
    release_name: str = ""
    release: CohortTable | None = None
    report: Report | None = None
    release_failures: list[str] = field(default_factory=list)

    def step(self, what: str, detail: str) -> None:
        self.steps.append((what, detail))


def run_demo(
    settings: Settings,
    *,
    records: int = 1044,
    duplicates: int = 18,
    patients: int = 443,
    say: Callable[[str], None] = lambda s: None,
    progress: Progress = lambda what, done, total: None,
) -> DemoResult:
    """Enrol a team, generate and import a cohort, review duplicates, verify labels,
    checkpoint, release, withdraw and erase, release again, and read the cohort back."""
    result = DemoResult(home=settings.home)
    ledger = DermLedger(settings)
    try:
        lead = _enrol_team(ledger, result)
        say("Generating the synthetic cohort")
        started = time.perf_counter()
        cohort = generate_cohort(
            settings.home / "cohort",
            records=records,
            duplicates=duplicates,
            patients=patients,
            progress=lambda done, total: progress("Drawing images", done, total),
        )
        result.step(
            "generate",
            f"{len(cohort.records)} capture records, {len(cohort.patients)} patients "
            f"in {time.perf_counter() - started:.1f} s",
        )
        _register_patients(ledger, lead, cohort.patients, result, progress)
        image_ids, filenames = _import(ledger, lead, cohort.images_dir, cohort.metadata_csv,
                                       result, progress)  # fmt: skip
        result.review = _review_duplicates(ledger, lead, cohort.truth_csv, image_ids, filenames)
        _say_review(ledger, result)
        verified = _verify_labels(ledger, cohort.truth_csv, image_ids, filenames, progress)
        _say_verified(ledger, verified, result)
        say("Signing a checkpoint")
        cp = ledger.audit.sign_checkpoint(lead, lambda n: progress("Hashing the log", n, 0))
        result.step("checkpoint", f"tree_size {cp.payload['tree_size']}, root {cp.payload['root']}")
        say("Verifying the whole log")
        result.report = ledger.audit.verify(lambda n: progress("Verifying", n, 0))
        failure = result.report.failure
        result.step("audit verify", "OK" if failure is None else failure.sentence())
        withdrawn, erased = cohort.patients[0]["patient_id"], cohort.patients[1]["patient_id"]
        _release_withdraw_release(ledger, lead, (withdrawn, erased), result, progress)
        result.release_failures += run_evaluation(  # issue 16: partitions, evidence pack
            ledger, lead, result.home / "releases", result.step, image_ids[-1]
        )
        export_path = settings.home / "export" / "log.jsonl"
        count = ledger.audit.export(export_path)
        result.step("audit export", f"{count} events to {export_path}")
        result.statistics = ledger.queries.statistics()
    finally:
        ledger.close()
    return result


def _enrol_team(ledger: DermLedger, result: DemoResult) -> Any:
    """Found the ledger and enrol the team; returns the lead coordinator's signer."""
    ledger_id, _ = ledger.actors.found(LEAD, DEMO_PASSPHRASE)
    result.step("init", f"ledger {ledger_id}, founding coordinator '{LEAD}'")
    lead = ledger.actors.unlock(LEAD, DEMO_PASSPHRASE)
    for name, roles in TEAM.items():
        ledger.actors.enrol(lead, name, roles, passphrase=DEMO_PASSPHRASE)
    result.step("actor add", f"{len(TEAM)} actors: " + ", ".join(TEAM))
    ledger.actors.revoke(lead, "temp-coordinator", "temporary access ended")
    result.step("actor revoke", "temp-coordinator (its earlier events stay valid)")
    return lead


def _register_patients(
    ledger: DermLedger,
    lead: Any,
    patients: list[dict[str, str]],
    result: DemoResult,
    progress: Progress,
) -> None:
    """Register every patient with invented personal data (so the demo exercises the
    encryption path) and record consent; the step's counts are read back from the log."""
    for done, row in enumerate(patients, start=1):
        pid = row["patient_id"]
        personal = {
            "name": f"Demo Person {pid}",
            "record_number": f"MRN-{pid}",
            "birth_date": f"{2026 - int(row['age'])}-01-01",
        }
        ledger.patients.register_patient(lead, pid, row, personal=personal)
        ledger.patients.record_consent(
            lead,
            pid,
            "study, publication and sharing",
            f"consent form v3 signed by {pid}".encode(),
        )
        progress("Registering patients", done, len(patients))
    registered = ledger.queries.view(None).patients.values()
    consents = sum(1 for p in registered if p.consent)
    result.step(
        "patient register, consent record",
        f"{len(registered)} patients by pseudonym (personal data encrypted per patient), "
        f"{consents} with consent in force",
    )


def _import(
    ledger: DermLedger,
    lead: Any,
    folder: Path,
    metadata_csv: Path,
    result: DemoResult,
    progress: Progress,
) -> tuple[list[str], list[str]]:
    """Import the folder as `dermledger import` does; returns image ids and file names."""
    header, rows = _read_csv(metadata_csv)
    started = time.perf_counter()
    imported = ledger.imports.import_folder(
        lead,
        folder,
        header,
        rows,
        source="metadata.csv",
        progress=lambda done, total: progress("Importing", done, total),
    )
    seconds = time.perf_counter() - started
    images = ledger.queries.statistics()["images"]
    flagged = len(ledger.curation.list_duplicates())
    result.step(
        "import",
        f"{images} images in {seconds:.1f} s ({images / seconds:.0f}/s), "
        f"{flagged} images with a duplicate suspicion",
    )
    return imported.image_ids, [r["filename"] for r in rows]


def _say_review(ledger: DermLedger, result: DemoResult) -> None:
    """The duplicate review's outcome as the ledger now counts it, and how it compares
    with the generator's planted copies (which the import never saw)."""
    stats = ledger.queries.statistics()
    r = result.review
    result.step(
        "duplicates resolve",
        f"{stats['excluded']} excluded as duplicates, {r['cleared']} cleared as distinct, "
        f"{stats['included']} images included "
        f"(against the {r['planted']} planted copies: recall {r['recall']:.2f}, "
        f"precision {r['precision']:.2f})",
    )


def _say_verified(ledger: DermLedger, verified: dict[str, int], result: DemoResult) -> None:
    """What annotation, the panel and histology changed, read back from the ledger."""
    stats = ledger.queries.statistics()
    stages, consensus = stats["stages"], stats["consensus"]
    result.step(
        "annotate, vote",
        f"{verified['annotated']} initial annotations with dermoscopic structures, "
        f"{verified['votes']} consensus votes; consensus "
        + ", ".join(f"{k} {v}" for k, v in consensus.items())
        + f" ({verified['further_readers']} further readers, "
        f"{verified['histology_ordered']} histology ordered)",
    )
    result.step(
        "histology",
        f"{verified['histology']} pathology results; stages "
        + ", ".join(f"{k} {v}" for k, v in stages.items())
        + f"; {stats['malignant_with_histology']} of {stats['malignant']} malignant "
        f"with histology, {stats['discordant']} discordant",
    )


def _release_withdraw_release(
    ledger: DermLedger,
    lead: Any,
    leaving: tuple[str, str],
    result: DemoResult,
    progress: Progress,
) -> None:
    """Publish v1, withdraw one patient's consent and erase another, publish v2, verify
    both and diff them; the cohort table is then read from v2's own files."""
    releases = result.home / "releases"
    v1 = ledger.releases.create_release(
        lead, "v1", releases / "v1", progress=lambda what, d, t: progress(what, d, t)
    )
    result.step("release create v1", _release_line(v1))
    _verify_release(ledger, releases / "v1", result)
    withdrawn, erased = leaving
    ledger.patients.withdraw_consent(lead, withdrawn, "patient asked to leave the study")
    ledger.patients.erase_patient(lead, erased, "patient asked for erasure")
    gone = ledger.patients.last_erasure
    result.step(
        "consent withdraw, erase",
        f"{withdrawn} withdrawn; {erased} erased (key destroyed; "
        f"{_count(gone.images if gone else 0, 'image')}: "
        f"{_count(gone.blobs_deleted if gone else 0, 'blob')} and "
        f"{_count(gone.readmodel_rows_deleted if gone else 0, 'read-model row')} deleted; "
        "sealed events stay, unreadable)",
    )
    ledger.audit.sign_checkpoint(lead)
    v2 = ledger.releases.create_release(
        lead, "v2", releases / "v2", progress=lambda what, d, t: progress(what, d, t)
    )
    result.step("release create v2", _release_line(v2))
    _verify_release(ledger, releases / "v1", result)
    _verify_release(ledger, releases / "v2", result)
    diff = ledger.releases.diff_releases(releases / "v1", releases / "v2")
    result.step(
        "release diff v1 v2",
        f"added {len(diff['added'])}, removed "
        f"{len(diff['removed'])} ({len(diff.get('erased', []))} erased), relabelled "
        f"{len(diff['relabelled'])}; v2 extends "
        f"v1: {'yes' if diff['extends'] else 'NO'}",
    )
    result.report = ledger.audit.verify()
    result.step("audit verify (after erasure)", "OK" if result.report.ok else "FAILED")
    result.release_name = "v2"
    result.release = CohortTable.from_rows(CsvRows(releases / "v2" / "metadata.csv"))


def _release_line(summary: dict[str, Any]) -> str:
    left = ", ".join(f"{k} {v}" for k, v in summary["left_out"].items() if v)
    return (
        f"{summary['images']} images at seq {summary['as_of_seq']} in {summary['out']}"
        f"; left out: {left or 'none'}"
    )


def _verify_release(ledger: DermLedger, folder: Path, result: DemoResult) -> None:
    from dermledger.projections.release.verify import verify_release_dir

    manifest, failures = verify_release_dir(folder)
    failures += ledger.releases.check_release_against_ledger(manifest, folder)
    result.step(
        f"release verify {manifest['name']} --ledger", "OK" if not failures else "; ".join(failures)
    )
    result.release_failures += failures


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _truth(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["filename"]: row for row in csv.DictReader(handle)}


def _review_duplicates(
    ledger: DermLedger, lead: Any, truth_csv: Path, image_ids: list[str], filenames: list[str]
) -> dict[str, Any]:
    """The coordinator's review, played from the generator's truth: planted copies are
    excluded as duplicates of their original, anything else flagged is cleared."""
    truth = _truth(truth_csv)
    by_file = dict(zip(filenames, image_ids, strict=True))
    planted = {
        by_file[f]: by_file[t["duplicate_of"]] for f, t in truth.items() if t["duplicate_of"]
    }
    flagged = {r["image_id"]: r for r in ledger.curation.list_duplicates()}
    excluded = cleared = 0
    for image_id in flagged:
        original = planted.get(image_id)
        suspected = {s.duplicate_of for s in ledger.records.get_image(image_id).unresolved}
        if original in suspected:
            ledger.curation.resolve_duplicate(
                lead,
                image_id,
                duplicate_of=original,
                distinct=False,
                reason="planted copy of the same capture",
            )
            excluded += 1
        else:
            ledger.curation.resolve_duplicate(
                lead,
                image_id,
                duplicate_of=None,
                distinct=True,
                reason="reviewed: a different lesion or visit",
            )
            cleared += 1
    found = sum(1 for i in planted if i in flagged)
    return {
        "planted": len(planted),
        "flagged": len(flagged),
        "excluded": excluded,
        "cleared": cleared,
        "recall": found / len(planted) if planted else 1.0,
        "precision": found / len(flagged) if flagged else 1.0,
    }


# How often each reader's label is the truth (the rest are plausible confusions), as in
# published reader studies of dermoscopy: annotators a little below consensus readers.
ANNOTATOR_ACCURACY = 0.85
READER_ACCURACY = 0.82
CONFUSIONS = {
    "MEL": ("NV", "BKL"),
    "NV": ("MEL", "BKL", "DF"),
    "BKL": ("NV", "AK", "MEL"),
    "BCC": ("OTHER", "SCC", "NV"),
    "SCC": ("AK", "BCC"),
    "AK": ("SCC", "BKL"),
    "DF": ("NV", "OTHER"),
    "VASC": ("OTHER", "MEL"),
    "OTHER": ("NV", "BKL"),
}
MALIGNANT = {"MEL", "BCC", "SCC"}


PANEL = ("dr-reader1", "dr-reader2", "dr-reader3")
VERIFIERS = (LEAD, "dr-annotator", *PANEL, "dr-reader4", "dr-pathologist")


class _Panel:
    """The study's readers, played from the generator's truth with realistic error: one
    random stream for readings (so a run repeats exactly) and its own stream for the
    structures the annotator sees (so adding them changed no vote)."""

    def __init__(self, ledger: DermLedger, truth: dict[str, dict[str, str]]) -> None:
        self.ledger = ledger
        self.rng = random.Random(2026)
        self.seen = random.Random("dermoscopic structures")
        self.labels: dict[str, list[str]] = {}
        for row in truth.values():
            self.labels.setdefault(row["category"], []).append(row["diagnosis"])
        for choices in self.labels.values():
            choices.sort()
        self.keys = {name: ledger.actors.unlock(name, DEMO_PASSPHRASE) for name in VERIFIERS}
        self.counts = dict.fromkeys(
            ("annotated", "votes", "disputed", "further_readers", "histology_ordered",
             "histology"), 0,
        )  # fmt: skip

    def reading(self, category: str, accuracy: float) -> str:
        """The category a reader sees: the truth, or a plausible confusion."""
        if self.rng.random() < accuracy:
            return category
        options = [c for c in CONFUSIONS[category] if c in self.labels]
        return self.rng.choice(options) if options else category

    def label(self, category: str, true_label: str, true_category: str) -> str:
        """An ISIC label for a read category: the true label when the reading is right."""
        return true_label if category == true_category else self.rng.choice(self.labels[category])

    def verify(self, image_id: str, truth: dict[str, str], number: int) -> None:
        """Annotate one image, let the panel vote, settle a split, record histology."""
        confirm, cat, true_label = self.ledger.confirmation, truth["category"], truth["diagnosis"]
        first = self.reading(cat, ANNOTATOR_ACCURACY)
        seen = draw_structures(cat, self.seen)  # what the lesion shows, whatever is read
        confirm.annotate(self.keys["dr-annotator"], image_id, self.label(first, true_label, cat),
                         seen)  # fmt: skip
        self.counts["annotated"] += 1
        readings = []
        for reader in PANEL:
            read = self.reading(cat, READER_ACCURACY)
            readings.append(read)
            confirm.vote(self.keys[reader], image_id, self.label(read, true_label, cat))
            self.counts["votes"] += 1
        if self.ledger.records.get_image(image_id).verification().consensus == "disputed":
            self._settle(image_id, cat in MALIGNANT or bool(MALIGNANT & set(readings)), true_label)
        v = self.ledger.records.get_image(image_id).verification()
        if cat in MALIGNANT or v.malignant or v.consensus == "disputed":
            confirm.record_histology(self.keys["dr-pathologist"], image_id, true_label,
                                     f"PATH-{number:05d}", "2026-11-20")  # fmt: skip
            self.counts["histology"] += 1

    def _settle(self, image_id: str, malignant_reading: bool, true_label: str) -> None:
        """A coordinator's decision on a three-way split: histology when a malignant
        reading is in play, else a further reader."""
        confirm, lead = self.ledger.confirmation, self.keys[LEAD]
        self.counts["disputed"] += 1
        if malignant_reading:
            confirm.order_read(lead, image_id, "histology",
                               "three-way split including a malignant reading")  # fmt: skip
            self.counts["histology_ordered"] += 1
            return
        confirm.order_read(lead, image_id, "further-reader", "three-way split")
        confirm.vote(self.keys["dr-reader4"], image_id, true_label)
        self.counts["further_readers"] += 1
        self.counts["votes"] += 1


def _verify_labels(
    ledger: DermLedger,
    truth_csv: Path,
    image_ids: list[str],
    filenames: list[str],
    progress: Progress,
) -> dict[str, int]:
    """Annotate every included image, let the panel vote with realistic disagreement,
    settle disputes as a coordinator would, and record histology for every lesion that
    is malignant or was labelled malignant. Returns the counts of what was signed."""
    truth = _truth(truth_csv)
    panel = _Panel(ledger, truth)
    included = [
        (image_id, truth[name])
        for image_id, name in zip(image_ids, filenames, strict=True)
        if not ledger.records.get_image(image_id).excluded
    ]
    for done, (image_id, row) in enumerate(included, start=1):
        panel.verify(image_id, row, done)
        progress("Annotating, voting, histology", done, len(included))
    return panel.counts


def _count(n: int, noun: str) -> str:
    """'1 image', '3 images': a count as people write it."""
    return f"{n} {noun}" + ("" if n == 1 else "s")

