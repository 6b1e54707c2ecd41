"""transparency-dev/merkle's published RFC 6962 proof probes, read in place.

Every JSON file under the shared vectors folder is one probe; the verifier must raise exactly
when its `wantErr` is true. The folder is `../shared/vectors/transparency-dev-merkle/` next to
the repository (override with DERMLEDGER_VECTORS_DIR). The probes are Apache-2.0 data owned by
that project and are deliberately not copied into this repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dermledger.tests.vectors.probes import check_probe_file

ENV_VAR = "DERMLEDGER_VECTORS_DIR"
DEFAULT_DIR = (
    Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "transparency-dev-merkle"
)


def _vectors_dir() -> tuple[Path, bool]:
    """The folder to read, and whether the environment chose it."""
    override = os.environ.get(ENV_VAR)
    return (Path(override), True) if override else (DEFAULT_DIR, False)


def _params() -> list[Any]:
    folder, from_env = _vectors_dir()
    if not folder.is_dir():
        if from_env:
            # An explicit setting that points nowhere is a mistake, not a reason to skip:
            # test_probe fails on this placeholder.
            return [pytest.param(None, id="missing")]
        reason = f"transparency-dev vectors not found at {folder} (set {ENV_VAR})"
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=reason))]
    files = sorted(folder.rglob("*.json"))
    return [pytest.param(path, id=path.relative_to(folder).as_posix()) for path in files]


PARAMS = _params()


def test_folder_has_both_kinds_of_probe() -> None:
    folder, _ = _vectors_dir()
    if not folder.is_dir():
        pytest.skip(f"transparency-dev vectors not found at {folder}")
    for kind in ("inclusion", "consistency"):
        files = list((folder / kind).rglob("*.json"))
        assert len(files) >= 20, f"only {len(files)} {kind} probes under {folder}"
        assert any(json.loads(f.read_text())["wantErr"] is False for f in files)


@pytest.mark.parametrize("path", PARAMS)
def test_probe(path: Path | None) -> None:
    folder, _ = _vectors_dir()
    assert path is not None, f"{ENV_VAR} is set but {folder} is not a folder"
    check_probe_file(path, folder)
