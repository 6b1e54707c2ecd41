"""Running one RFC 6962 proof probe (transparency-dev's JSON schema) against ledger/merkle.py.

Both vector suites, the published one and DermLedger's own, use this schema, so they share
one runner: a probe must verify exactly when its `wantErr` is false.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from dermledger.ledger.errors import ProofError, RootMismatch
from dermledger.ledger.merkle import verify_consistency, verify_inclusion


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def run_probe(kind: str, probe: dict[str, Any]) -> None:
    """Feed one probe to the matching verifier; return normally iff it verifies."""
    proof = [_b64(p) for p in probe["proof"] or ()]  # Go writes an empty proof as null.
    if kind == "inclusion":
        verify_inclusion(
            index=probe["leafIdx"],
            size=probe["treeSize"],
            leaf_hash=_b64(probe["leafHash"]),
            proof=proof,
            root=_b64(probe["root"]),
        )
    elif kind == "consistency":
        verify_consistency(
            old_size=probe["size1"],
            new_size=probe["size2"],
            old_root=_b64(probe["root1"]),
            new_root=_b64(probe["root2"]),
            proof=proof,
        )
    else:
        raise AssertionError(f"unknown probe kind {kind!r}: expected inclusion/ or consistency/")


def check_probe_file(path: Path, folder: Path) -> None:
    """The probe at `path` (kind = its first folder below `folder`) behaves as it says."""
    probe = json.loads(path.read_text())
    kind = path.relative_to(folder).parts[0]
    if probe["wantErr"]:
        with pytest.raises((ProofError, RootMismatch)):
            run_probe(kind, probe)
    else:
        run_probe(kind, probe)
