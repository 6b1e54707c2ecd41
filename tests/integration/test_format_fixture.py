"""Formats do not move without a version: a ledger made by the main of 2026-12-02 still
verifies and exports byte for byte; its format-1 release still verifies, and rebuilt at the
same position it is format 2 with the same images, annotations and provenance
(tests/fixtures/build_main_ledger.py made it through the CLI)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "main-ledger"
PASSPHRASE = "fixture passphrase"
ADDED_SINCE_FIXTURE = {"report.html"}


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


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_old_release_still_verifies_as_format_1(home: Path) -> None:
    old = FIXTURE / "release-v1"
    assert json.loads((old / "manifest.json").read_text())["format"] == "dermledger-release/1"
    checked = cli(home, "release", "verify", str(old), "--ledger")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_old_release_rebuilds_as_format_2_keeping_its_content(home: Path, tmp_path: Path) -> None:
    """Rebuilt at the same position, the release is format 2: metadata.csv gains
    `file_name` (so Hugging Face datasets' imagefolder loads it) and croissant.json
    describes that column; every other file is byte for byte the old one, and the new
    release verifies and rebuilds byte-identical."""
    old = FIXTURE / "release-v1"
    as_of = json.loads((old / "manifest.json").read_text())["as_of"]["seq"]
    builds = []
    for folder in (tmp_path / "again", tmp_path / "once-more"):
        built = cli(home, "release", "create", "v1", "--out", str(folder), "--as-of", str(as_of),
                    "--dry-run")  # fmt: skip
        assert built.returncode == 0, built.stdout + built.stderr
        builds.append(files_of(folder))
    assert builds[0] == builds[1]
    again = tmp_path / "again"
    old_files, new_files = files_of(old), builds[0]
    # Releases only grow: files added since the fixture (report.html, the page that
    # verifies the release itself) are new; the old ones stay.
    assert set(new_files) - set(old_files) == ADDED_SINCE_FIXTURE
    assert set(old_files) <= set(new_files)
    changed = {"manifest.json", "metadata.csv", "croissant.json"}
    for path, data in old_files.items():
        if path not in changed:
            assert new_files[path] == data, path
    assert json.loads(new_files["manifest.json"])["format"] == "dermledger-release/2"
    old_rows, new_rows = read_csv(old / "metadata.csv"), read_csv(again / "metadata.csv")
    assert new_rows == [row | {"file_name": f"images/{row['filename']}"} for row in old_rows]
    checked = cli(home, "release", "verify", str(again))
    assert checked.returncode == 0, checked.stdout + checked.stderr
