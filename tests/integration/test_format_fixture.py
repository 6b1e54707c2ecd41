"""Formats do not move: a ledger made by the main of 2026-12-02 still verifies, exports
byte for byte and rebuilds its release byte-identical (tests/fixtures/build_main_ledger.py
made it through the CLI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "main-ledger"
PASSPHRASE = "fixture passphrase"
ADDED_SINCE_FIXTURE = {"report.html", "evidence.json"}
# Files that only grow: the old bytes are a prefix (the evidence pack is appended).
GROWN_SINCE_FIXTURE = {"datasheet.md"}
# croissant.json gains the per-label provenance (annotations.csv and the `labels` record set)
# and two RAI sentences; everything it had stays.
EXTENDED_SINCE_FIXTURE = {"croissant.json"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    target = tmp_path / "home"
    shutil.copytree(FIXTURE / "home", target)
    return target


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DERMLEDGER_HOME=str(home), DERMLEDGER_PASSPHRASE=PASSPHRASE,
               DERMLEDGER_ACTOR="ada", DERMLEDGER_KDF_LOG2_N="10")  # fmt: skip
    cmd = [sys.executable, "-m", "dermledger.commands", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_old_ledger_verifies_and_exports_byte_for_byte(home: Path, tmp_path: Path) -> None:
    verified = cli(home, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    exported = cli(home, "audit", "export", "--out", str(tmp_path / "log.jsonl"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "log.jsonl").read_bytes() == (FIXTURE / "export.jsonl").read_bytes()


def test_old_release_verifies_and_rebuilds_byte_identical(home: Path, tmp_path: Path) -> None:
    old = FIXTURE / "release-v1"
    checked = cli(home, "release", "verify", str(old), "--ledger")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    as_of = json.loads((old / "manifest.json").read_text())["as_of"]["seq"]
    again = tmp_path / "again"
    built = cli(home, "release", "create", "v1", "--out", str(again), "--as-of", str(as_of),
                "--dry-run")  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    old_files, new_files = files_of(old), files_of(again)
    # Releases only grow: report.html (the self-verifying page) and evidence.json (the
    # evidence pack, issue 16) are new since the fixture; datasheet.md gains the evidence
    # section at its end; every other file the old release had is rebuilt byte for byte,
    # except the manifest, whose file list now names the new files too.
    assert set(new_files) - set(old_files) == ADDED_SINCE_FIXTURE
    for path, data in old_files.items():
        if path in GROWN_SINCE_FIXTURE:
            assert new_files[path].startswith(data), path
        elif path in EXTENDED_SINCE_FIXTURE:
            assert_extends(json.loads(data), json.loads(new_files[path]))
        elif path != "manifest.json":
            assert new_files[path] == data, path
    old_manifest = json.loads(old_files["manifest.json"])
    new_manifest = json.loads(new_files["manifest.json"])
    unchanged = ADDED_SINCE_FIXTURE | GROWN_SINCE_FIXTURE | EXTENDED_SINCE_FIXTURE
    assert [f for f in new_manifest["files"] if f["path"] not in unchanged] == [
        f for f in old_manifest["files"] if f["path"] not in unchanged
    ]
    checked = cli(home, "release", "verify", str(again))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def assert_extends(old: object, new: object) -> None:
    """Every key and list item of `old` is in `new`, unchanged (lists may gain items)."""
    if isinstance(old, dict):
        assert isinstance(new, dict) and set(old) <= set(new)
        for key, value in old.items():
            assert_extends(value, new[key])
    elif isinstance(old, list):
        assert isinstance(new, list) and new[: len(old)] == old
    else:
        assert old == new
