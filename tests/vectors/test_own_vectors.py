"""DermLedger's own Merkle proof probes (tests/vectors/dermledger/, by scripts/gen_vectors.py).

Same schema as transparency-dev's probes. The generator derives proofs and `wantErr` from the
RFC 6962 definitions without importing ledger/merkle.py, so these are an independent check.
Regenerate with `.venv/bin/python scripts/gen_vectors.py` after changing the generator.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from dermledger.tests.vectors.probes import check_probe_file

REPO = Path(__file__).resolve().parents[2]
PROBES = REPO / "tests" / "vectors" / "dermledger"
GENERATOR = REPO / "scripts" / "gen_vectors.py"


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
    check_probe_file(path, PROBES)
