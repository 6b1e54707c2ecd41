"""The issue-16 checks `release verify` runs on a release's own files: evidence.json and
the datasheet's evidence section recomputed, and partition.json against metadata.csv.

A release made before evidence.json existed lists no such file in its manifest and gets
none of these checks, so every older release still verifies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dermledger.projections.release.evidence import EVIDENCE, check_evidence
from dermledger.projections.release.evidence_doc import check_datasheet
from dermledger.projections.release.messages import say
from dermledger.projections.release.partition_file import check_partition_file


def lists_evidence(manifest: Mapping[str, Any]) -> bool:
    files = manifest.get("files")
    return isinstance(files, list) and any(
        isinstance(f, dict) and f.get("path") == EVIDENCE for f in files
    )


def check_evidence_pack(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Every failure, each naming the file and the number or item that is wrong; a
    malformed manifest or input file is named, never raised (its digest check, or the
    manifest's own checks, say what is wrong with it)."""
    try:
        failures = check_partition_file(folder, manifest)
        if not lists_evidence(manifest) or not (folder / EVIDENCE).exists():
            return failures
        failures += check_evidence(folder, manifest)
        written = json.loads((folder / EVIDENCE).read_text(encoding="utf-8"))
        if (folder / "datasheet.md").exists():
            failures += check_datasheet(folder, manifest, written)
    except (KeyError, ValueError, TypeError, AttributeError, OSError) as exc:
        return [say("evidence_inputs", problem=f"{type(exc).__name__}: {exc}")]
    return failures
