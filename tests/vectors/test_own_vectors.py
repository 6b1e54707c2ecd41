"""DermLedger's own Merkle proof probes (tests/vectors/dermledger/, by scripts/gen_vectors.py).

Same schema as transparency-dev's probes. The generator derives proofs and `wantErr` from the
RFC 6962 definitions without importing ledger/merkle.py, so these are an independent check.
Regenerate with `.venv/bin/python scripts/gen_vectors.py` after changing the generator.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dermledger.ledger.errors import ProofError, RootMismatch
from dermledger.ledger.merkle import verify_consistency, verify_inclusion

REPO = Path(__file__).resolve().parents[2]
PROBES = REPO / "tests" / "vectors" / "dermledger"
GENERATOR = REPO / "scripts" / "gen_vectors.py"


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def run_probe(kind: str, probe: dict[str, Any]) -> None:
    """Feed one probe to the matching verifier; return normally iff it verifies."""
    proof = [_b64(p) for p in probe["proof"] or ()]
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


def _load_generator() -> ModuleType:
    # scripts/ is not a package; load the file directly.
    spec = importlib.util.spec_from_file_location("dermledger_gen_vectors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILES = sorted(PROBES.rglob("*.json"))


def test_probe_files_exist() -> None:
    # An empty or missing folder would otherwise make the parametrised test vanish silently.
    kinds = {p.relative_to(PROBES).parts[0] for p in FILES}
    assert kinds == {"inclusion", "consistency"}, f"run scripts/gen_vectors.py (found {kinds})"


def test_probe_files_match_generator() -> None:
    """The files are exactly what the generator writes: no hand edits, none stale."""
    expected = _load_generator().build()
    actual = {p.relative_to(PROBES).as_posix(): p.read_text() for p in FILES}
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    changed = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    assert not (missing or extra or changed), (
        f"rerun scripts/gen_vectors.py; missing={missing[:5]} extra={extra[:5]} "
        f"changed={changed[:5]}"
    )


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(PROBES).as_posix() for p in FILES])
def test_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    kind = path.relative_to(PROBES).parts[0]
    if probe["wantErr"]:
        with pytest.raises((ProofError, RootMismatch)):
            run_probe(kind, probe)
    else:
        run_probe(kind, probe)
