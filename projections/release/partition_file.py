"""partition.json in a partition's release, and the proof that two partitions' releases
share no patient, lesion or duplicate cluster.

Why a file of its own: metadata.csv names each image's patient and lesion, but not the
duplicate clusters, whose other members may have been excluded and so are not released.
partition.json lists them (image ids only), signed through the manifest like every
file, so a verifier holding two releases of one ledger proves them disjoint from the
releases alone.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from dermledger.projections.release.messages import say
from dermledger.projections.study_view import StudyView

PARTITION_FILE: Final = "partition.json"


def clusters(view: StudyView, released: Iterable[str]) -> list[list[str]]:
    """Duplicate clusters (suspicions not resolved distinct, joined transitively) that
    contain a released image, each with every member, released or not."""
    parent: dict[str, str] = {}

    def root(i: str) -> str:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for image in view.images.values():
        for s in image.suspicions:
            if s.outcome != "distinct":
                a, b = root(image.image_id), root(s.duplicate_of)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, set[str]] = {}
    for i in list(parent):
        groups.setdefault(root(i), set()).add(i)
    wanted = set(released)
    return sorted(sorted(g) for g in groups.values() if g & wanted)


def write_partition_file(
    folder: Path, partition: str, view: StudyView, released: list[str]
) -> dict[str, Any]:
    """Write partition.json; return the manifest's `partition` entry."""
    state = view.partitions
    scheme = state.scheme.as_payload() if state.scheme else None
    patients = sorted({view.images[i].patient_id for i in released})
    lesions = sorted(
        {
            f"{view.images[i].patient_id}/{view.images[i].metadata.get('lesion_id')}"
            for i in released
        }
    )
    doc = {
        "partition": partition,
        "scheme": scheme,
        "patients": patients,
        "lesions": lesions,
        "duplicate_clusters": clusters(view, released),
    }
    (folder / PARTITION_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return {"name": partition, "scheme": scheme}


def _load(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / PARTITION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _rows(folder: Path) -> list[dict[str, str]]:
    try:
        with (folder / "metadata.csv").open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def check_partition_file(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """partition.json agrees with metadata.csv (same patients and lesions)."""
    if not manifest.get("partition"):
        return []
    doc = _load(folder)
    if doc is None or doc.get("partition") != manifest["partition"].get("name"):
        return [say("partition_file")]
    rows = _rows(folder)
    patients = sorted({r["patient_id"] for r in rows})
    lesions = sorted({f"{r['patient_id']}/{r['lesion_id']}" for r in rows})
    failures = []
    if doc.get("patients") != patients:
        failures.append(say("partition_members", what="patients"))
    if doc.get("lesions") != lesions:
        failures.append(say("partition_members", what="lesions"))
    return failures


def check_against(folder: Path, manifest: Mapping[str, Any], others: Iterable[Path]) -> list[str]:
    """`release verify --against`: each other release verifies on its own and shares no
    patient, lesion or duplicate cluster with this one."""
    from dermledger.projections.release.verify import verify_release_dir

    failures = []
    for other in others:
        other_manifest, other_failures = verify_release_dir(other)
        name = other_manifest.get("name")
        failures += [say("against_fails", other=name, failure=f) for f in other_failures]
        failures += check_disjoint(folder, manifest, other, other_manifest)
    return failures


def check_disjoint(
    folder: Path, manifest: Mapping[str, Any], other: Path, other_manifest: Mapping[str, Any]
) -> list[str]:
    """No patient, lesion or duplicate cluster of `folder` appears in `other`, another
    partition's release of the same ledger; each overlap named."""
    name, theirs = manifest.get("partition") or {}, other_manifest.get("partition") or {}
    where = other_manifest.get("name")
    if not name or not theirs:
        return [say("against_kind", other=where)]
    if manifest.get("ledger_id") != other_manifest.get("ledger_id"):
        return [say("against_ledger", other=where)]
    if name.get("name") == theirs.get("name"):
        return [say("against_same", other=where, partition=name.get("name"))]
    mine, doc = _load(folder), _load(other)
    if mine is None or doc is None:
        return [say("against_unreadable", other=where)]
    pair = {"other": where, "partition": name["name"], "theirs": theirs["name"]}
    failures = []
    for key, label in (("patients", "patient"), ("lesions", "lesion")):
        for item in sorted(set(mine[key]) & set(doc[key])):
            failures.append(say("against_shared", what=label, item=item, **pair))
    members = {i for cluster in doc["duplicate_clusters"] for i in cluster}
    members |= {row["image_id"] for row in _rows(other)}  # a member released there
    for cluster in mine["duplicate_clusters"]:
        if members & set(cluster):
            failures.append(say("against_cluster", image_id=cluster[0], **pair))
    return failures
