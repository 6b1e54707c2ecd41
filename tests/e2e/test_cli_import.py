"""Bulk import from the command line on a generated cohort: happy path, bad input, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from dermledger.synthetic.cohort import generate_cohort

PASS = "import test passphrase"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory):
    return generate_cohort(
        tmp_path_factory.mktemp("cohort"), records=40, duplicates=4, patients=15, workers=1
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "DERMLEDGER_HOME": str(tmp_path / "home"),
        "DERMLEDGER_PASSPHRASE": PASS,
        "DERMLEDGER_NEW_PASSPHRASE": PASS,
        "DERMLEDGER_KDF_LOG2_N": "10",
        "DERMLEDGER_ACTOR": "ada",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DERMLEDGER_DB", raising=False)
    return values


def cli(*args: str):
    return CliRunner().invoke(app, ["--quiet", *args])


def registered(cohort, env) -> None:
    assert cli("init", "--founder", "ada").exit_code == 0
    for row in csv.DictReader(cohort.patients_csv.open()):
        result = cli(
            "patient", "register", row["patient_id"], "--age", row["age"], "--sex", row["sex"],
            "--fitzpatrick", row["fitzpatrick_skin_type"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        consent = cli("consent", "record", row["patient_id"], "--scope", "study",
                      "--document", str(cohort.patients_csv))  # fmt: skip
        assert consent.exit_code == 0, consent.output


def events(env) -> int:
    return json.loads(cli("audit", "verify", "--json").stdout)["events"]


def test_import_flags_planted_duplicates_and_is_idempotent(cohort, env) -> None:
    registered(cohort, env)
    images = cohort.out_dir / "images"
    result = cli("import", str(images), "--metadata", str(cohort.metadata_csv), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["captured"] == 40 and summary["already_present"] == 0
    listed = json.loads(cli("duplicates", "list", "--json").stdout)
    flagged = {r["image_id"] for r in listed}
    truth = [r for r in csv.DictReader(cohort.truth_csv.open()) if r["duplicate_of"]]
    assert len(truth) == 4
    dataset = json.loads(cli("dataset", "--json").stdout)
    assert len(dataset) == 40
    assert len(flagged) >= 4  # every planted duplicate is flagged (precision: see unit test)
    before = events(env)
    again = json.loads(
        cli("import", str(images), "--metadata", str(cohort.metadata_csv), "--json").stdout
    )
    assert again["captured"] == 0 and again["already_present"] == 40
    assert events(env) == before
    first = listed[0]
    shown = cli("show", first["image_id"], "--json")
    assert json.loads(shown.stdout)["history"][1]["type"] == "DuplicateSuspected"
    resolved = cli("duplicates", "resolve", first["image_id"], "--duplicate-of",
                   first["duplicate_of"], "--reason", "planted copy")  # fmt: skip
    assert resolved.exit_code == 0, resolved.output
    assert cli("audit", "verify").exit_code == 0


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda h, r: (h[:1] + h[2:], r), "patient_id"),  # a required column missing
        (lambda h, r: ([*h, "colour"], r), "colour"),  # an unknown column
        (lambda h, r: (h, [{**r[0], "sex": "robot"}, *r[1:]]), "row 2"),
        (lambda h, r: (h, [r[0], {**r[1], "age": "200"}, *r[2:]]), "row 3"),
        (lambda h, r: (h, [{**r[0], "device": '=HYPERLINK("x")'}, *r[1:]]), "row 2"),
        (lambda h, r: (h, [{**r[0], "filename": "../secret.jpg"}, *r[1:]]), "row 2"),
        (lambda h, r: (h, [{**r[0], "patient_id": "P9999"}, *r[1:]]), "row 2"),
        (lambda h, r: (h, [{**r[0], "filename": "missing.jpg"}, *r[1:]]), "row 2"),
    ],
)
def test_bad_csv_is_refused_with_row_numbers_and_nothing_written(
    cohort, env, tmp_path: Path, change, expected: str
) -> None:
    registered(cohort, env)
    header = next(csv.reader(cohort.metadata_csv.open()))
    rows = list(csv.DictReader(cohort.metadata_csv.open()))[:5]
    new_header, new_rows = change(header, rows)
    new_rows = [{k: v for k, v in row.items() if k in new_header} for row in new_rows]
    bad = write_csv(tmp_path / "bad.csv", new_header, new_rows)
    before = events(env)
    result = cli("import", str(cohort.out_dir / "images"), "--metadata", str(bad))
    assert result.exit_code == 1
    assert expected in result.output and "nothing was imported" in result.output
    assert events(env) == before
    assert not (Path(env["DERMLEDGER_HOME"]) / "blobs").exists()


def test_bad_image_files_in_import(cohort, env, tmp_path: Path) -> None:
    registered(cohort, env)
    folder = tmp_path / "images"
    folder.mkdir()
    rows = list(csv.DictReader(cohort.metadata_csv.open()))[:3]
    (folder / rows[0]["filename"]).write_bytes(b"")
    (folder / rows[1]["filename"]).write_bytes(b"plain text, not a JPEG")
    good = (cohort.out_dir / "images" / rows[2]["filename"]).read_bytes()
    (folder / rows[2]["filename"]).write_bytes(good[: len(good) // 2])
    header = next(csv.reader(cohort.metadata_csv.open()))
    bad = write_csv(tmp_path / "m.csv", header, rows)
    before = events(env)
    result = cli("import", str(folder), "--metadata", str(bad))
    assert result.exit_code == 1
    for number in (2, 3, 4):
        assert f"row {number}:" in result.output
    assert events(env) == before


def test_killed_import_completes_on_rerun(cohort, env) -> None:
    registered(cohort, env)
    command = [sys.executable, "-m", "dermledger.commands", "--quiet", "import",
               str(cohort.out_dir / "images"), "--metadata", str(cohort.metadata_csv)]  # fmt: skip
    proc = subprocess.Popen(command, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    home = Path(env["DERMLEDGER_HOME"])
    while time.monotonic() < deadline and proc.poll() is None:
        blobs = list((home / "blobs").rglob("*")) if (home / "blobs").exists() else []
        if sum(1 for b in blobs if b.is_file()) >= 5:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert cli("audit", "verify").exit_code == 0  # no half-written event
    rerun = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    dataset = json.loads(cli("dataset", "--json").stdout)
    assert len(dataset) == 40 and len({d["image_id"] for d in dataset}) == 40
    assert cli("audit", "verify").exit_code == 0
