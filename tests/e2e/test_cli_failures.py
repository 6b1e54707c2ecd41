"""Broken inputs get one sentence and exit 1, never a traceback (issue 18 item 27)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from dermledger.ledger.bootstrap import Settings
from tests.integration.test_release import NEVUS, verified
from tests.support import PASSPHRASE, open_handle, register_with_consent


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A home with a ledger and one published release."""
    root = tmp_path_factory.mktemp("failures")
    team = open_handle(Settings(home=root / "home", kdf_log2_n=10))
    try:
        register_with_consent(team, "P1", {"age": "47", "sex": "female"})
        verified(team, 1, NEVUS)
        team.ledger.releases.create_release(team["ada"], "v1", root / "v1")
    finally:
        team.ledger.close()
    return root / "home", root / "v1"


def run(*args: str, home: Path) -> str:
    """Run the CLI; assert a refusal: exit 1, one `Error:` sentence, no traceback."""
    result = CliRunner().invoke(
        app, ["--home", str(home), *args],
        env={"DERMLEDGER_PASSPHRASE": PASSPHRASE, "DERMLEDGER_KDF_LOG2_N": "10"},
    )  # fmt: skip
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def copy_home(built: tuple[Path, Path], tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    return home


def copy_release(built: tuple[Path, Path], tmp_path: Path) -> Path:
    release = tmp_path / "v1"
    shutil.copytree(built[1], release)
    return release


def test_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert "is a file, not a folder" in run("audit", "verify", home=tmp_path / "afile")


def test_ledger_sqlite_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "ledger.sqlite").write_text("not a database at all")
    assert "is not a DermLedger database" in run("audit", "verify", home=tmp_path / "home")


def test_key_file_with_an_absurd_scrypt_cost(built: tuple[Path, Path], tmp_path: Path) -> None:
    home = copy_home(built, tmp_path)
    path = home / "keys" / "ada.key.json"
    document = json.loads(path.read_text())
    document["kdf"]["log2_n"] = 40
    path.write_text(json.dumps(document))
    assert "log2_n 40 is outside 10 to 22" in run("--as", "ada", "checkpoint", home=home)


def test_capture_of_a_device_reads_nothing(built: tuple[Path, Path], tmp_path: Path) -> None:
    home = copy_home(built, tmp_path)
    args = ("--as", "ada", "capture", "/dev/zero", "--patient", "P1", "--lesion", "L9")
    assert "/dev/zero is not a regular file" in run(*args, home=home)


def test_release_create_into_an_unwritable_place(built: tuple[Path, Path], tmp_path: Path) -> None:
    home = copy_home(built, tmp_path)
    line = run("--as", "ada", "release", "create", "v2", "--out", "/proc/x", home=home)
    assert "cannot create the release folder /proc/x" in line


def test_release_diff_against_a_folder_that_is_no_release(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    other = copy_release(built, tmp_path)
    (other / "metadata.csv").unlink()
    line = run("release", "diff", str(built[1]), str(other), home=built[0])
    assert "has no metadata.csv" in line


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda r: (r / "manifest.json").write_text("[1, 2]"), "not in a known format"),
        (lambda r: (r / "manifest.json").write_bytes(b'{"format": "\xff"}'), "not valid JSON"),
        (lambda r: _edit_manifest(r, lambda m: m["files"][0].pop("path")), "fails"),
        (lambda r: _edit_manifest(r, lambda m: m.update(files={"a": 1})), "fails"),
        (lambda r: _edit_manifest(r, lambda m: m.update(signer=[1])), "fails"),
        (lambda r: _edit_manifest(r, lambda m: m.update(checkpoint=7)), "fails"),
        (lambda r: (r / "metadata.csv").write_bytes(b"image_id\n\xff\xfe\n"), "fails"),
        (lambda r: (r / "provenance.jsonl").write_bytes(b"\xff\n"), "fails"),
    ],
)
def test_release_verify_on_malformed_files(
    built: tuple[Path, Path], tmp_path: Path, damage, says: str
) -> None:
    release = copy_release(built, tmp_path)
    damage(release)
    assert says in run("release", "verify", str(release), home=built[0])
    assert says in run("release", "verify", "--ledger", str(release), home=built[0])


def _edit_manifest(release: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = release / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(bytes(range(256)) * 20),  # garbage, no SQLite header
        lambda path: path.write_bytes(path.read_bytes()[:100] + b"\xa5" * 8192),  # bad pages
    ],
)
@pytest.mark.parametrize("rebuild", [False, True])
def test_corrupt_readmodel_says_how_to_reset_it(
    built: tuple[Path, Path], tmp_path: Path, damage, rebuild: bool
) -> None:
    home = copy_home(built, tmp_path)
    readmodel = home / "readmodel.sqlite"
    ok = CliRunner().invoke(app, ["--quiet", "--home", str(home), "readmodel", "update"])
    assert ok.exit_code == 0, ok.output
    for leftover in home.glob("readmodel.sqlite-*"):
        leftover.unlink()
    damage(readmodel)
    args = ["readmodel", "update", *(["--rebuild"] if rebuild else [])]
    said = run(*args, home=home)
    assert f"the read model {readmodel} is damaged" in said
    assert "delete it" in said and f"dermledger --home {home} readmodel update" in said
    readmodel.unlink()  # the reset the sentence describes works
    ok = CliRunner().invoke(app, ["--quiet", "--home", str(home), "readmodel", "update"])
    assert ok.exit_code == 0, ok.output


def test_erasure_with_a_corrupt_readmodel_is_refused_before_it_starts(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    home = copy_home(built, tmp_path)
    readmodel = home / "readmodel.sqlite"
    ok = CliRunner().invoke(app, ["--quiet", "--home", str(home), "readmodel", "update"])
    assert ok.exit_code == 0, ok.output
    for leftover in home.glob("readmodel.sqlite-*"):
        leftover.unlink()
    readmodel.write_bytes(bytes(range(256)) * 20)
    keys = sorted((home / "patient-keys").iterdir())
    said = run("--as", "ada", "consent", "erase", "P1", "--reason", "request", home=home)
    assert f"the read model {readmodel} is damaged" in said and "delete it" in said
    assert sorted((home / "patient-keys").iterdir()) == keys  # nothing erased yet
    readmodel.unlink()
    erased = CliRunner().invoke(
        app, ["--home", str(home), "--as", "ada", "consent", "erase", "P1", "--reason", "r"],
        env={"DERMLEDGER_PASSPHRASE": PASSPHRASE, "DERMLEDGER_KDF_LOG2_N": "10"},
    )  # fmt: skip
    assert erased.exit_code == 0, erased.output
    assert "Erased P1" in erased.output
