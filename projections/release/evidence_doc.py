"""Writing the evidence pack: evidence.json and its section at the end of datasheet.md.

The section is rendered from evidence.json alone, so `release verify` re-renders it from
the recomputed numbers and names a datasheet whose evidence section says otherwise. It is
appended after the cohort datasheet, which therefore stays byte for byte what it was.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dermledger.policies import partitions, sop
from dermledger.projections.release.evidence import (
    EVIDENCE,
    LEDGER_KEY,
    dumps,
    recompute,
)
from dermledger.projections.release.messages import say
from dermledger.projections.study_view import StudyView

SECTION = "## Evidence pack (EU AI Act Article 10)"
ASSUMPTIONS = (
    "Labels are the study's staged verification: consensus of three specialists, "
    "histology for every malignant label; a clinical-only label never enters a release.",
    "Partitions are patient-level; a model evaluated on the test partition has seen no "
    "image of its patients, lesions or duplicate clusters.",
    "age_approx is rounded to 5 years, so 'paediatric' means age_approx 15 or less.",
)
MITIGATION = (
    "release gates (consent, exclusion, unresolved duplicates, consensus, histology for "
    "malignant labels, metadata validity) applied to every image, counted below",
    "duplicates detected by perceptual hashes and resolved by a coordinator with a reason",
    "subgroup shares with 95% Wilson intervals per category, compared with SkinMap",
)


def duplicates_excluded(view: StudyView, partition: str | None) -> dict[str, int]:
    """Images excluded as duplicates (within the partition), by how they were found."""
    kinds: Counter[str] = Counter()
    for image in view.images.values():
        if partition is not None and view.partitions.of(image.patient_id) != partition:
            continue
        for s in image.suspicions:
            if s.outcome == "duplicate" and image.excluded:
                kinds[s.kind] += 1
    return dict(sorted(kinds.items()))


def ledger_facts(
    view: StudyView,
    released: Iterable[str],
    left_out: Mapping[str, int],
    partition: str | None = None,
) -> dict[str, Any]:
    """What the ledger knows at the release's position that its files cannot show."""
    scopes = consent_scopes(view, released)
    state = view.partitions
    return {
        "sop": {"policy": sop.POLICY_NAME, "version": sop.POLICY_VERSION},
        "consent_scope_patients": dict(sorted(scopes.items())),
        "left_out_per_gate": dict(left_out),
        "duplicates_excluded_by_detection": duplicates_excluded(view, partition),
        "partition_scheme": state.scheme.as_payload() if state.scheme else None,
        "partition_policy": {
            "policy": partitions.POLICY_NAME,
            "version": partitions.POLICY_VERSION,
        },
        "reassignments": [
            {k: r[k] for k in ("seq", "patient_id", "from_partition", "to", "reason")}
            for r in state.reassignments
        ],
        "test_set_accesses": [
            {k: a[k] for k in ("seq", "actor", "recorded_at", "purpose", "what")}
            for a in state.accesses
        ],
    }


def consent_scopes(view: StudyView, released: Iterable[str]) -> dict[str, int]:
    """Released patients per consent scope: the data-use terms the release inherits."""
    patients = {view.images[i].patient_id for i in released}
    found = Counter(view.patients[p].consent_scope or "none" for p in patients
                    if p in view.patients)  # fmt: skip
    return dict(sorted(found.items()))


def write_evidence(folder: Path, head: Mapping[str, Any], ledger: Mapping[str, Any]) -> None:
    """evidence.json, and its section appended to datasheet.md."""
    text = dumps(recompute(folder, head) | {LEDGER_KEY: dict(ledger)})
    (folder / EVIDENCE).write_text(text, encoding="utf-8")
    evidence = json.loads(text)  # rendered as a verifier reads it back: keys sorted
    with (folder / "datasheet.md").open("a", encoding="utf-8") as sheet:
        sheet.write(markdown(evidence))


def check_datasheet(
    folder: Path, manifest: Mapping[str, Any], written: Mapping[str, Any]
) -> list[str]:
    """The datasheet's evidence section must be the one the recomputed numbers give."""
    evidence = recompute(folder, manifest) | {LEDGER_KEY: written.get(LEDGER_KEY, {})}
    expected = markdown(json.loads(dumps(evidence)))
    text = (folder / "datasheet.md").read_text(encoding="utf-8")
    if not text.endswith(expected):
        return [say("evidence_datasheet")]
    return []


def _ci(s: Mapping[str, Any]) -> str:
    if s.get("share") is None:
        return f"{s['n']} of {s['of']}"
    low, high = s["ci95"]
    return (
        f"{s['n']} of {s['of']} ({100 * s['share']:.1f}%, 95% CI {100 * low:.1f}-{100 * high:.1f}%)"
    )


def markdown(e: Mapping[str, Any]) -> str:
    """The datasheet section, one subsection per Article letter."""
    c, p = e["art_10_2_b_collection"], e["art_10_2_c_preparation"]
    ledger = e.get(LEDGER_KEY, {})
    head = [
        "",
        SECTION,
        "",
        f"Machine-readable in `{EVIDENCE}`; `dermledger release verify` recomputes every "
        "number from this release's files.",
        "",
        f"As of ledger position {e['as_of'].get('seq')} (checkpoint root "
        f"`{e['as_of'].get('root')}`).",
        "",
    ]
    lines = [
        *head,
        "### 10(2)(a) Design choices",
        "",
        f"- Policies: {e['art_10_2_a_design_choices']['policy_version']}; SOP "
        f"{ledger.get('sop', {}).get('policy')} v{ledger.get('sop', {}).get('version')}.",
        f"- Partition unit: {e['art_10_2_a_design_choices']['unit_of_partition']}; "
        f"this release: {e['release']['partition'] or 'all partitions'}.",
        "",
        "### 10(2)(b) Collection and origin",
        "",
        f"- {c['images']} images, {c['patients']} patients, {c['lesions']} lesions; "
        f"acquisition days {_known(c['acquisition_day_first'])} to "
        f"{_known(c['acquisition_day_last'])}.",
        f"- Consent scope (patients): {_pairs(ledger.get('consent_scope_patients', {}))}.",
        "",
        "### 10(2)(c) Preparation operations",
        "",
        *(f"- {k.replace('_', ' ')}: {v}" for k, v in p.items() if not isinstance(v, dict)),
        "",
        "### 10(2)(d) Assumptions",
        "",
        *(f"- {a}" for a in ASSUMPTIONS),
        "",
        *_later_letters(e, ledger),
    ]
    return "\n".join(lines)


def _later_letters(e: Mapping[str, Any], ledger: Mapping[str, Any]) -> list[str]:
    """10(2)(e) to (h), 10(3), 10(4) and the readings of the test set."""
    return [
        "### 10(2)(e) Availability, quantity and suitability",
        "",
        *(f"- {k}: {_ci(v)}" for k, v in e["art_10_2_e_availability"]["per_category"].items()),
        "",
        "### 10(2)(f) Examination of possible biases",
        "",
        *_subgroup_lines(e["art_10_2_f_bias_examination"]["subgroups"]),
        "",
        "### 10(2)(g) Measures to detect, prevent and mitigate biases",
        "",
        *(f"- {m}" for m in MITIGATION),
        f"- left out per gate: {_pairs(ledger.get('left_out_per_gate', {}))}.",
        "- duplicates excluded, by how they were found: "
        f"{_pairs(ledger.get('duplicates_excluded_by_detection', {}))}.",
        "",
        "### 10(2)(h) Data gaps and shortcomings",
        "",
        *_gap_lines(e["art_10_2_h_gaps"]),
        "",
        "### 10(3) Representativeness and statistical properties",
        "",
        *_stat_lines(e["art_10_3_statistical_properties"]),
        "",
        "### 10(4) Setting",
        "",
        f"- Anatomic sites (images): {_pairs(e['art_10_4_setting']['anatomic_sites'])}.",
        "",
        "### Readings of the test partition",
        "",
        *_access_lines(ledger),
        "",
    ]


def _known(value: object) -> str:
    return "not recorded" if value is None else str(value)


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "none"


def _subgroup_lines(groups: Mapping[str, Any]) -> list[str]:
    lines = ["| Category | Subgroup | Value | Images (share, 95% CI) |", "|---|---|---|---|"]
    for name, fields in groups.items():
        for field, values in fields.items():
            lines += [f"| {name} | {field} | {value} | {_ci(s)} |" for value, s in values.items()]
    return lines


def _gap_lines(g: Mapping[str, Any]) -> list[str]:
    below = g["categories_below_minimum"]
    missing = {k: v for k, v in g["missing_values_per_field"].items() if v}
    return [
        f"- Categories under {g['minimum_images_per_category']} images: {_pairs(below)}.",
        f"- Missing values per field: {_pairs(missing)}.",
        *(f"- Not in the release: {item}." for item in g["not_in_the_release"]),
    ]


def _stat_lines(s: Mapping[str, Any]) -> list[str]:
    a = s["agreement"]
    ci = a["fleiss_kappa_ci95_bootstrap"]
    lines = [
        f"- Fleiss' kappa {a['fleiss_kappa']} (bootstrap 95% CI "
        f"{ci[0] if ci else '-'}-{ci[1] if ci else '-'}); Krippendorff's alpha "
        f"{a['krippendorff_alpha']}; unanimous images {_ci(a['unanimous_images'])}."
    ]
    for key, r in s["representation_vs_skinmap"].items():
        lines.append(
            f"- {key.replace('_', ' ')}: {_ci(r['release'])} vs SkinMap "
            f"{100 * r['field_share_skinmap']:.1f}% ({r['release_vs_field']})."
        )
        lines += [f"  - {cat}: {_ci(v)}" for cat, v in r["per_category"].items()]
    return lines


def _access_lines(ledger: Mapping[str, Any]) -> list[str]:
    rows = ledger.get("test_set_accesses") or []
    if not rows:
        return ["- none recorded up to this position."]
    return [
        f"- seq {a['seq']}, {a['recorded_at']}, {a['actor']} ({a['what']}): {a['purpose']}"
        for a in rows
    ]
