"""evidence.json: the release's answer to EU AI Act Article 10(2)(a)-(h), 10(3), 10(4),
computed from the release's own files so that `release verify` recomputes every number.

Why from the files and not from the ledger: a regulator or an evaluator holds the release,
not the ledger. Everything under the Article keys is a function of metadata.csv,
annotations.csv, provenance.jsonl and the manifest's head (name, ledger, position,
checkpoint, policy versions, partition); `recompute` is that function, used both to
write the file and to check it. Facts the files cannot show (consent scopes of the released
patients, images left out per gate, readings of the test set) sit apart under "ledger",
each carrying the seqs of the signed events behind it, and are checked against the ledger
by `release verify --ledger` (a rebuild at the same position).

Intervals: Wilson score intervals at 95% (statsmodels' `proportion_confint`, method
"wilson"), which stay inside [0, 1] and behave at small counts and at 0% or 100%, unlike
the normal approximation. Fleiss' kappa gets a percentile bootstrap over images (1,000
resamples from a fixed seed), so the interval is reproducible bit for bit. Numbers are
rounded to 4 decimals before they are written or compared.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from dermledger.policies.categories import CATEGORIES, MALIGNANT
from dermledger.projections.agreement import agreement
from dermledger.projections.release.messages import say

EVIDENCE: Final = "evidence.json"
FORMAT: Final = "dermledger-evidence/1"
CONFIDENCE: Final = 0.95
MINIMUM_PER_CATEGORY: Final = 30  # fewer images than this in a category is a data gap
BOOTSTRAP_RESAMPLES: Final = 1000
BOOTSTRAP_SEED: Final = 20260
# SkinMap (arXiv 2601.00840), the field-wide audit of public dermatology image collections.
SKINMAP: Final[dict[str, float]] = {"fitzpatrick_v_vi": 0.058, "paediatric": 0.030}
PAEDIATRIC_BELOW: Final = 18  # age_approx under 18 (i.e. <= 15: nearest 5 years)
NOT_RELEASED: Final[tuple[str, ...]] = (
    "collection site (institution) and country: one study, not recorded per image",
    "capture device per image: recorded in the ledger, not released",
    "ethnicity and skin colour measures other than Fitzpatrick type",
)
AGE_BANDS: Final[tuple[tuple[str, int, int], ...]] = (
    ("0-17", 0, 17),
    ("18-39", 18, 39),
    ("40-64", 40, 64),
    ("65+", 65, 200),
)
FIELDS_CHECKED: Final[tuple[str, ...]] = (
    "age_approx",
    "sex",
    "fitzpatrick_skin_type",
    "personal_hx_mm",
    "family_hx_mm",
    "anatom_site_1",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_day",
    "diagnosis_1",
    "diagnosis_confirm_type",
    "melanocytic",
)


def rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def share(n: int, total: int) -> dict[str, Any]:
    """n of total with its share and Wilson 95% interval."""
    if not total:
        return {"n": n, "of": total, "share": None, "ci95": None}
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(n, total, alpha=1 - CONFIDENCE, method="wilson")
    return {"n": n, "of": total, "share": rounded(n / total), "ci95": [rounded(low), rounded(high)]}


def age_band(text: str) -> str:
    if not text.strip():
        return "not recorded"
    age = int(text)
    return next(name for name, low, high in AGE_BANDS if low <= age <= high)


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def provenance_types(path: Path) -> Counter[str]:
    """How many events of each type stand behind the released images; under the key
    OVERLAP_IMAGES, how many released images a reference collection flags."""
    types: Counter[str] = Counter()
    if path.exists():
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                found = [e["type"] for e in json.loads(line)["events"]]
                types.update(found)
                types[OVERLAP_IMAGES] += "ReferenceOverlapFound" in found
    return types


OVERLAP_IMAGES: Final = "images flagged by a reference collection"


def distribution(rows: list[dict[str, str]], key: Any) -> dict[str, Any]:
    counts = Counter(key(row) for row in rows)
    return {value: share(counts[value], len(rows)) for value in sorted(counts)}


def subgroups(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Sex, age band, Fitzpatrick type and anatomic site, per category and overall."""
    keys = {
        "sex": lambda r: r.get("sex") or "not recorded",
        "age_band": lambda r: age_band(r.get("age_approx", "")),
        "fitzpatrick_skin_type": lambda r: r.get("fitzpatrick_skin_type") or "not recorded",
        "anatom_site_1": lambda r: r.get("anatom_site_1") or "not recorded",
    }
    groups = {"ALL": rows, **{c: [r for r in rows if r["category"] == c] for c in CATEGORIES}}
    return {
        name: {k: distribution(members, f) for k, f in keys.items()}
        for name, members in groups.items()
        if members
    }


def representation(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Fitzpatrick V-VI and paediatric shares against the SkinMap field figures."""

    def dark(r: Mapping[str, str]) -> bool:
        return r.get("fitzpatrick_skin_type") in ("V", "VI")

    def child(r: Mapping[str, str]) -> bool:
        age = r.get("age_approx", "").strip()
        return bool(age) and int(age) < PAEDIATRIC_BELOW

    result: dict[str, Any] = {}
    for key, test in (("fitzpatrick_v_vi", dark), ("paediatric", child)):
        per = {
            c: share(sum(map(test, m)), len(m))
            for c in CATEGORIES
            if (m := [r for r in rows if r["category"] == c])
        }
        overall = share(sum(map(test, rows)), len(rows))
        ci = overall["ci95"]
        position = (
            None
            if ci is None
            else "above"
            if ci[0] > SKINMAP[key]
            else "below"
            if ci[1] < SKINMAP[key]
            else "not distinguishable"
        )
        result[key] = {
            "field_share_skinmap": SKINMAP[key],
            "release": overall,
            "release_vs_field": position,
            "per_category": per,
        }
    return result


def votes_by_image(annotations: list[dict[str, str]]) -> dict[str, list[str]]:
    votes: dict[str, list[str]] = defaultdict(list)
    for row in annotations:
        if row["type"] == "ConsensusVoteCast" and row["superseded"] != "true":
            votes[row["image_id"]].append(row["category"])
    return dict(sorted(votes.items()))


def kappa_interval(votes: Mapping[str, list[str]]) -> list[float | None] | None:
    """Percentile bootstrap of Fleiss' kappa over the images Fleiss' kappa uses (those
    with the modal number of votes), from a fixed seed; vectorised: one count table,
    resampled by rows, with the formula statsmodels' `fleiss_kappa` uses."""
    import numpy as np

    sizes = Counter(len(v) for v in votes.values() if len(v) >= 2)
    if not sizes:
        return None
    modal = max(sizes, key=lambda size: (sizes[size], size))
    items = [votes[k] for k in sorted(votes) if len(votes[k]) == modal]
    if len(items) < 2:
        return None
    code = {c: i for i, c in enumerate(CATEGORIES)}
    table = np.zeros((len(items), len(CATEGORIES)))
    for row, item in enumerate(items):
        for vote in item:
            table[row, code[vote]] += 1
    agree, chance = _resampled(table, modal, np.random.default_rng(BOOTSTRAP_SEED))
    usable = chance < 1  # a resample with a single category voted has no kappa
    if usable.sum() < BOOTSTRAP_RESAMPLES // 2:
        return None
    kappas = (agree[usable] - chance[usable]) / (1 - chance[usable])
    low, high = np.percentile(kappas, [2.5, 97.5])
    return [rounded(low), rounded(high)]


def _resampled(table: Any, modal: int, rng: Any, cells: int = 1 << 21) -> tuple[Any, Any]:
    """Each resample's mean observed agreement and chance agreement. A few resamples at
    a time: all 1,000 at once held a resamples x images x categories array (720 MB at
    10k images, 7 GB at 100k). The same draws in the same order and the same float
    operations on the same values (each image's agreement, then the row means; category
    counts are exact integers whatever the order), so the interval is bit for bit the
    same; tests/unit/test_release_evidence_bootstrap.py checks it against the whole array."""
    import numpy as np

    n = len(table)
    per_item = ((table**2).sum(axis=1) - modal) / (modal * (modal - 1))
    step = max(1, cells // n)  # resamples a chunk: `cells` float64 (16 MB by default)
    agree, chance = [], []
    for done in range(0, BOOTSTRAP_RESAMPLES, step):
        rows = min(step, BOOTSTRAP_RESAMPLES - done)
        picked = rng.integers(0, n, (rows, n))
        agree.append(per_item[picked].mean(axis=1))
        counts = np.bincount((picked + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n)
        shares = (counts.reshape(rows, n).astype(float) @ table) / (n * modal)
        chance.append((shares**2).sum(axis=1))
    return np.concatenate(agree), np.concatenate(chance)


def agreement_section(annotations: list[dict[str, str]]) -> dict[str, Any]:
    votes = votes_by_image(annotations)
    report = agreement(votes)
    unanimous = sum(1 for v in votes.values() if len(v) >= 2 and len(set(v)) == 1)
    pairable = sum(1 for v in votes.values() if len(v) >= 2)
    return {
        "fleiss_kappa": rounded(report.fleiss_kappa),
        "fleiss_kappa_ci95_bootstrap": kappa_interval(votes),
        "fleiss_items": report.fleiss_items,
        "krippendorff_alpha": rounded(report.krippendorff_alpha),
        "percent_agreement": rounded(report.percent_agreement),
        "unanimous_images": share(unanimous, pairable),
    }


def preparation(annotations: list[dict[str, str]], types: Counter[str]) -> dict[str, Any]:
    """Every preparation operation behind the released images, counted."""
    by_image: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in annotations:
        by_image[row["image_id"]].append(row)
    disputes = histology_settled = reader_settled = discordant = 0
    for rows in by_image.values():
        votes = [
            r["category"]
            for r in rows
            if r["type"] == "ConsensusVoteCast" and r["superseded"] != "true"
        ]
        histology = [r["category"] for r in rows if r["type"] == "HistologyRecorded"]
        top = Counter(votes[:3]).most_common(1)
        if len(votes) >= 3 and len(set(votes[:3])) == 3:
            disputes += 1
            histology_settled += bool(histology)
            reader_settled += not histology and len(votes) > 3
        elif histology and top and top[0][1] >= 2 and top[0][0] != histology[-1]:
            discordant += 1
    kinds = Counter(r["type"] for r in annotations)
    overlap = types.pop(OVERLAP_IMAGES, 0)
    return {
        "events_behind_released_images": dict(sorted(types.items())),
        "images_overlapping_public_reference_collections": overlap,
        "captures": types.get("ImageCaptured", 0),
        "metadata_edits_each_with_reason": types.get("MetadataEdited", 0),
        "duplicate_suspicions_resolved": types.get("DuplicateResolved", 0),
        "initial_annotations": kinds.get("AnnotationRecorded", 0),
        "annotations_with_structures": sum(
            1 for r in annotations if r["type"] == "AnnotationRecorded" and r["structures"]
        ),
        "consensus_votes": kinds.get("ConsensusVoteCast", 0),
        "superseded_votes": sum(1 for r in annotations if r["superseded"] == "true"),
        "histology_results": kinds.get("HistologyRecorded", 0),
        "three_way_disputes": disputes,
        "disputes_settled_by_histology": histology_settled,
        "disputes_settled_by_further_reader": reader_settled,
        "histology_discordant_with_consensus": discordant,
    }


def gaps(rows: list[dict[str, str]]) -> dict[str, Any]:
    counts = Counter(r["category"] for r in rows)
    return {
        "minimum_images_per_category": MINIMUM_PER_CATEGORY,
        "not_in_the_release": list(NOT_RELEASED),
        "categories_below_minimum": {
            c: counts[c] for c in CATEGORIES if counts[c] < MINIMUM_PER_CATEGORY
        },
        "missing_values_per_field": {
            f: sum(1 for r in rows if not r.get(f, "").strip()) for f in FIELDS_CHECKED
        },
    }


def collection(rows: list[dict[str, str]]) -> dict[str, Any]:
    days = sorted(int(r["acquisition_day"]) for r in rows if r.get("acquisition_day", "").strip())
    return {
        "images": len(rows),
        "patients": len({r["patient_id"] for r in rows}),
        "lesions": len({(r["patient_id"], r["lesion_id"]) for r in rows}),
        "acquisition_day_first": days[0] if days else None,
        "acquisition_day_last": days[-1] if days else None,
        "image_type": dict(sorted(Counter(r.get("image_type", "") for r in rows).items())),
        "dermoscopic_type": dict(
            sorted(Counter(r.get("dermoscopic_type", "") for r in rows).items())
        ),
    }


def _tree(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint's size and root (a witnessed release also carries its cosigned
    note there, added after evidence.json is written)."""
    return {k: checkpoint[k] for k in ("tree_size", "root") if k in checkpoint}


def recompute(folder: Path, head: Mapping[str, Any]) -> dict[str, Any]:
    """Every Article section of evidence.json, from the release's files and manifest head."""
    rows = read_csv(folder / "metadata.csv")
    annotations = read_csv(folder / "annotations.csv")
    categories = Counter(r["category"] for r in rows)
    partition = (head.get("partition") or {}).get("name")
    return {
        "format": FORMAT,
        "release": {
            "name": head.get("name"),
            "ledger_id": head.get("ledger_id"),
            "partition": partition,
        },
        "as_of": {**head.get("as_of", {}), **_tree(head.get("checkpoint", {}))},
        "art_10_2_a_design_choices": {
            "policy_version": head.get("policy_version"),
            "unit_of_partition": "patient (lesions and duplicate clusters follow it)",
            "categories": list(CATEGORIES),
            "malignant_categories": sorted(MALIGNANT),
        },
        "art_10_2_b_collection": collection(rows),
        "art_10_2_c_preparation": preparation(
            annotations, provenance_types(folder / "provenance.jsonl")
        ),
        "art_10_2_e_availability": {
            "per_category": {c: share(categories[c], len(rows)) for c in CATEGORIES},
            "per_stage": dict(sorted(Counter(r["verification_stage"] for r in rows).items())),
        },
        "art_10_2_f_bias_examination": {"subgroups": subgroups(rows)},
        "art_10_2_h_gaps": gaps(rows),
        "art_10_3_statistical_properties": {
            "agreement": agreement_section(annotations),
            "representation_vs_skinmap": representation(rows),
        },
        "art_10_4_setting": {
            "anatomic_sites": dict(
                sorted(Counter(r.get("anatom_site_1") or "not recorded" for r in rows).items())
            ),
        },
    }


def differences(
    written: Any, computed: Any, path: str = "", *, value: str = "evidence_value"
) -> list[str]:
    """Each place where evidence.json and the recomputed value part, named by its path
    (`value` is the message for a differing number: from the files or from the ledger)."""
    if isinstance(written, dict) and isinstance(computed, dict):
        found = []
        for key in sorted(set(written) | set(computed), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in computed:
                found.append(say("evidence_extra", path=where))
            elif key not in written:
                found.append(say("evidence_missing", path=where))
            else:
                found += differences(written[key], computed[key], where, value=value)
        return found
    if written != computed:
        return [say(value, path=path, written=json.dumps(written), computed=json.dumps(computed))]
    return []


def dumps(evidence: Mapping[str, Any]) -> str:
    return json.dumps(evidence, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


LEDGER_KEY: Final = "ledger"  # facts the files cannot show, checked with the ledger


def check_evidence(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Failures of evidence.json against the release's own files; none when the release
    predates evidence.json (it is not listed in the manifest)."""
    if not any(f.get("path") == EVIDENCE for f in manifest.get("files", [])):
        return []
    try:
        written = json.loads((folder / EVIDENCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [say("evidence_unreadable")]
    computed = recompute(folder, manifest)
    written = {k: v for k, v in written.items() if k != LEDGER_KEY}
    return differences(written, computed)


def unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
