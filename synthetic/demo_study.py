"""The demo study: a whole workflow on a fresh ledger, driven through the service.

`dermledger demo` calls `run_demo`; each step is a service call a coordinator could
make from the command line (`patient register`, `import`, `duplicates resolve`, …).
"""

from __future__ import annotations

import csv
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.verify import Report
from dermledger.study.ledger import DermLedger
from dermledger.synthetic.cohort import generate_cohort

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
    """What the demo did, for the final summary."""

    home: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    cohort: dict[str, Any] = field(default_factory=dict)
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
    """Enrol a team, generate and import a cohort, review duplicates, checkpoint, verify."""
    result = DemoResult(home=settings.home)
    ledger = DermLedger(settings)
    try:
        ledger_id, _ = ledger.actors.found(LEAD, DEMO_PASSPHRASE)
        result.step("init", f"ledger {ledger_id}, founding coordinator '{LEAD}'")
        lead = ledger.actors.unlock(LEAD, DEMO_PASSPHRASE)
        for name, roles in TEAM.items():
            ledger.actors.enrol(lead, name, roles, passphrase=DEMO_PASSPHRASE)
        result.step("actor add", f"{len(TEAM)} actors: " + ", ".join(TEAM))
        ledger.actors.revoke(lead, "temp-coordinator", "temporary access ended")
        result.step("actor revoke", "temp-coordinator (its earlier events stay valid)")

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
        for done, row in enumerate(cohort.patients, start=1):
            pid = row["patient_id"]
            # Invented personal data, so the demo exercises the encryption path.
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
            progress("Registering patients", done, len(cohort.patients))
        result.step(
            "patient register, consent record",
            f"{len(cohort.patients)} patients by pseudonym (personal data encrypted per patient),"
            f" {len(cohort.patients)} consents",
        )

        header, rows = _read_csv(cohort.metadata_csv)
        started = time.perf_counter()
        imported = ledger.imports.import_folder(
            lead,
            cohort.images_dir,
            header,
            rows,
            source="metadata.csv",
            progress=lambda done, total: progress("Importing", done, total),
        )
        seconds = time.perf_counter() - started
        result.step(
            "import",
            f"{imported.captured} images in {seconds:.1f} s "
            f"({imported.captured / seconds:.0f}/s), {imported.suspicions} duplicate suspicions",
        )
        result.cohort.update(
            _review_duplicates(
                ledger, lead, cohort.truth_csv, imported.image_ids, [r["filename"] for r in rows]
            )
        )
        c = result.cohort
        result.step(
            "duplicates resolve",
            f"{c['excluded']} excluded as duplicates, {c['cleared']} cleared as distinct "
            f"(planted {c['planted']}: recall {c['recall']:.2f}, precision {c['precision']:.2f})",
        )
        verified = _verify_labels(
            ledger, cohort.truth_csv, imported.image_ids, [r["filename"] for r in rows], progress
        )
        result.step(
            "annotate, vote",
            f"{verified['annotated']} initial annotations, {verified['votes']} consensus votes, "
            f"{verified['disputed']} disputed ({verified['further_readers']} further readers, "
            f"{verified['histology_ordered']} histology ordered)",
        )
        result.step("histology", f"{verified['histology']} pathology results")
        say("Signing a checkpoint")
        cp = ledger.audit.sign_checkpoint(lead, lambda n: progress("Hashing the log", n, 0))
        result.step("checkpoint", f"tree_size {cp.payload['tree_size']}, root {cp.payload['root']}")
        say("Verifying the whole log")
        result.report = ledger.audit.verify(lambda n: progress("Verifying", n, 0))
        failure = result.report.failure
        result.step("audit verify", "OK" if failure is None else failure.sentence())
        releases = settings.home / "releases"
        v1 = ledger.releases.create_release(
            lead, "v1", releases / "v1", progress=lambda what, d, t: progress(what, d, t)
        )
        result.step("release create v1", _release_line(v1))
        _verify_release(ledger, releases / "v1", result)
        withdrawn, erased = cohort.patients[0]["patient_id"], cohort.patients[1]["patient_id"]
        ledger.patients.withdraw_consent(lead, withdrawn, "patient asked to leave the study")
        ledger.patients.erase_patient(lead, erased, "patient asked for erasure")
        gone = ledger.patients.last_erasure
        result.step(
            "consent withdraw, erase",
            f"{withdrawn} withdrawn; {erased} erased (key destroyed; "
            f"{gone.images if gone else 0} images: {gone.blobs_deleted if gone else 0} blobs and "
            f"{gone.readmodel_rows_deleted if gone else 0} read-model rows deleted; "
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
        export_path = settings.home / "export" / "log.jsonl"
        count = ledger.audit.export(export_path)
        result.step("audit export", f"{count} events to {export_path}")
        result.cohort.update(_cohort_table(ledger, cohort.truth_csv, imported.image_ids, rows))
        result.cohort["statistics"] = ledger.queries.statistics()
    finally:
        ledger.close()
    return result


def _release_line(summary: dict[str, Any]) -> str:
    left = ", ".join(f"{k} {v}" for k, v in summary["left_out"].items() if v)
    return (
        f"{summary['images']} images at seq {summary['as_of_seq']} in {summary['out']}"
        f"; left out: {left or 'none'}"
    )


def _verify_release(ledger: DermLedger, folder: Path, result: DemoResult) -> None:
    from dermledger.projections.release.verify import verify_release_dir

    manifest, failures = verify_release_dir(folder)
    failures += ledger.releases.check_release_against_ledger(manifest)
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


def _verify_labels(
    ledger: DermLedger,
    truth_csv: Path,
    image_ids: list[str],
    filenames: list[str],
    progress: Progress,
) -> dict[str, int]:
    """Annotate every included image, let the panel vote with realistic disagreement,
    settle disputes as a coordinator would, and record histology for every lesion that
    is malignant or was labelled malignant."""
    rng = random.Random(2026)
    truth = _truth(truth_csv)
    labels: dict[str, list[str]] = {}
    for row in truth.values():
        labels.setdefault(row["category"], []).append(row["diagnosis"])
    for choices in labels.values():
        choices.sort()

    def reading(category: str, accuracy: float) -> str:
        if rng.random() < accuracy:
            return category
        options = [c for c in CONFUSIONS[category] if c in labels]
        return rng.choice(options) if options else category

    def label(category: str, true_label: str, true_category: str) -> str:
        return true_label if category == true_category else rng.choice(labels[category])

    keys = {
        name: ledger.actors.unlock(name, DEMO_PASSPHRASE)
        for name in (
            LEAD,
            "dr-annotator",
            "dr-reader1",
            "dr-reader2",
            "dr-reader3",
            "dr-reader4",
            "dr-pathologist",
        )
    }
    counts = dict.fromkeys(
        ("annotated", "votes", "disputed", "further_readers", "histology_ordered", "histology"), 0
    )
    included = [
        (image_id, truth[name])
        for image_id, name in zip(image_ids, filenames, strict=True)
        if not ledger.records.get_image(image_id).excluded
    ]
    for done, (image_id, t) in enumerate(included, start=1):
        cat, true_label = t["category"], t["diagnosis"]
        first = reading(cat, ANNOTATOR_ACCURACY)
        ledger.confirmation.annotate(
            keys["dr-annotator"], image_id, label(first, true_label, cat), []
        )
        counts["annotated"] += 1
        readings = []
        for reader in ("dr-reader1", "dr-reader2", "dr-reader3"):
            read = reading(cat, READER_ACCURACY)
            readings.append(read)
            ledger.confirmation.vote(keys[reader], image_id, label(read, true_label, cat))
            counts["votes"] += 1
        v = ledger.records.get_image(image_id).verification()
        if v.consensus == "disputed":
            counts["disputed"] += 1
            if cat in MALIGNANT or MALIGNANT & set(readings):
                ledger.confirmation.order_read(
                    keys[LEAD],
                    image_id,
                    "histology",
                    "three-way split including a malignant reading",
                )
                counts["histology_ordered"] += 1
            else:
                ledger.confirmation.order_read(
                    keys[LEAD], image_id, "further-reader", "three-way split"
                )
                ledger.confirmation.vote(keys["dr-reader4"], image_id, true_label)
                counts["further_readers"] += 1
                counts["votes"] += 1
        v = ledger.records.get_image(image_id).verification()
        if cat in MALIGNANT or v.malignant or v.consensus == "disputed":
            ledger.confirmation.record_histology(
                keys["dr-pathologist"], image_id, true_label, f"PATH-{done:05d}", "2026-11-20"
            )
            counts["histology"] += 1
        progress("Annotating, voting, histology", done, len(included))
    return counts


def _cohort_table(
    ledger: DermLedger, truth_csv: Path, image_ids: list[str], rows: list[dict[str, str]]
) -> dict[str, Any]:
    truth = _truth(truth_csv)
    included = {i["image_id"] for i in ledger.queries.list_images() if i["status"] == "included"}
    kept = [
        (r, truth[r["filename"]]) for r, i in zip(rows, image_ids, strict=True) if i in included
    ]
    patients = {r["patient_id"]: r for r, _ in kept}
    ages = sorted(int(p["age"]) for p in patients.values())
    return {
        "records": len(rows),
        "unique_images": len(kept),
        "patients": len(patients),
        "categories": dict(Counter(t["category"] for _, t in kept).most_common()),
        "malignant": sum(1 for _, t in kept if t["malignant"] == "true"),
        "age_median": ages[len(ages) // 2] if ages else None,
        "age_range": (ages[0], ages[-1]) if ages else None,
        "sex": dict(Counter(p["sex"] for p in patients.values())),
    }
