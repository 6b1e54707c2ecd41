"""The demo's evaluator steps (issue 16): a public reference list checked for overlap,
patients assigned to partitions, train and test releases cut (the test one with a stated
purpose), each verified with its evidence pack, and the two proven disjoint.

Kept apart from demo_study.py so the demo's own steps and these evolve independently;
`run_demo` calls `run_evaluation` once its ordinary releases are verified.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.signing import Signer
from dermledger.policies.partitions import Scheme
from dermledger.projections.release.partition_file import check_against
from dermledger.projections.release.verify import verify_release_dir
from dermledger.study.erasure import blob_opener
from dermledger.study.ledger import DermLedger
from dermledger.synthetic.references import reference_csv

Step = Callable[[str, str], None]
SCHEME = Scheme(seed=2026, ratios=(70, 15, 15), stratify="category")
PURPOSE = "demo: final evaluation of a classifier trained on the train partition"


def run_evaluation(
    ledger: DermLedger, lead: Signer, releases: Path, step: Step, sample_image: str
) -> list[str]:
    """Run the evaluator's steps, reporting each with `step`; returns verification
    failures (none expected). `sample_image`'s bytes are slipped into the generated public
    list, so an overlap shows."""
    captured = ledger.records.get_image(sample_image).captured
    public = reference_csv(40, overlapping=[image_bytes(ledger, captured)])
    added = ledger.references.add(lead, "public-example", public)
    step(
        "reference add",
        f"public-example: {added['entries']} images, {added['flagged']} captures flagged",
    )
    placed = ledger.partitions.assign(lead, SCHEME)
    counts = {name: list(placed.values()).count(name) for name in ("train", "validation", "test")}
    detail = ", ".join(f"{n} patients to {k}" for k, n in counts.items())
    step("partition assign", f"seed {SCHEME.seed}, 70:15:15 by category: {detail}")
    failures: list[str] = []
    folders = {}
    for name in ("train", "test"):
        folder = releases / f"{name}-v1"
        purpose = PURPOSE if name == "test" else None
        summary = ledger.releases.create_release(
            lead, f"{name}-v1", folder, partition=name, purpose=purpose
        )
        manifest, found = verify_release_dir(folder)
        found += ledger.evidence.check_against_ledger(folder, manifest)
        failures += found
        folders[name] = (folder, manifest)
        verdict = "OK" if not found else "; ".join(found)
        step(
            f"release create {name}-v1 --partition {name}",
            f"{summary['images']} images; evidence.json: {_evidence_line(folder)}; "
            f"verify: {verdict}",
        )
    (test, test_manifest), (train, _) = folders["test"], folders["train"]
    shared = check_against(test, test_manifest, [train])
    failures += shared
    disjoint = "no shared patient, lesion or duplicate cluster"
    step("release verify test-v1 --against train-v1", "; ".join(shared) or disjoint)
    readings = ledger.partitions.accesses()
    listed = "; ".join(f"{r['actor']} ({r['what']}): {r['purpose']}" for r in readings)
    step("audit trail --partition test", f"{len(readings)} reading(s): {listed}")
    return failures


def image_bytes(ledger: DermLedger, captured: dict[str, Any]) -> bytes:
    """A captured image's bytes: opened under its patient's key when sealed at rest."""
    if "blob_ref" in captured:
        return blob_opener(ledger.kernel)(captured)
    return BlobStore(ledger.settings.blobs_dir).read(captured["blob_sha256"])


def _evidence_line(folder: Path) -> str:
    e: dict[str, Any] = json.loads((folder / "evidence.json").read_text())
    rep = e["art_10_3_statistical_properties"]["representation_vs_skinmap"]
    kappa = e["art_10_3_statistical_properties"]["agreement"]
    parts = [f"Fleiss' kappa {kappa['fleiss_kappa']} (95% CI "
             f"{'-'.join(map(str, kappa['fleiss_kappa_ci95_bootstrap'] or []))})"]  # fmt: skip
    for key, label in (("fitzpatrick_v_vi", "Fitzpatrick V-VI"), ("paediatric", "paediatric")):
        r = rep[key]["release"]
        share = "n/a" if r["share"] is None else f"{100 * r['share']:.1f}%"
        parts.append(f"{label} {share} vs SkinMap {100 * rep[key]['field_share_skinmap']:.1f}%")
    overlap = e["art_10_2_c_preparation"]["images_overlapping_public_reference_collections"]
    return ", ".join(parts) + f", {overlap} overlapping public images"
