"""The evaluator's workflow as a user types it (issue 16): assign partitions, refuse to
read the test set without a purpose, cut train and test releases, prove them disjoint,
and list every reading of the test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from dermledger.ledger.bootstrap import Settings
from tests.integration.test_partitions import add_patient
from tests.support import PASSPHRASE, open_handle


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    handle = open_handle(Settings(home=home, kdf_log2_n=10))
    for number in range(1, 9):
        add_patient(handle, number)
    handle.ledger.close()
    monkeypatch.setenv("DERMLEDGER_HOME", str(home))
    monkeypatch.setenv("DERMLEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("DERMLEDGER_KDF_LOG2_N", "10")
    monkeypatch.delenv("DERMLEDGER_DB", raising=False)
    monkeypatch.delenv("DERMLEDGER_ACTOR", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["--quiet", *args])


def test_evaluator_workflow(cli, tmp_path: Path) -> None:
    assigned = cli("--as", "ada", "partition", "assign", "--seed", "7", "--ratios", "50:25:25",
                   "--stratify", "category", "--json")  # fmt: skip
    assert assigned.exit_code == 0, assigned.output
    assert json.loads(assigned.stdout)["assigned"] == 8
    bad = cli("--as", "ada", "partition", "assign", "--seed", "7", "--ratios", "50:50")
    assert bad.exit_code == 1
    assert "ratios '50:50' must be three whole numbers like 70:15:15" in bad.output
    listing = json.loads(cli("partition", "list", "--json").stdout)
    assert sum(p["patients"] for p in listing["partitions"].values()) == 8
    # Reading the test set without a purpose: one sentence, exit 1, nothing written.
    refused = cli("--as", "aud", "partition", "show", "test")
    assert refused.exit_code == 1
    assert "reading the test partition needs a stated purpose (--purpose TEXT)" in refused.output
    out = tmp_path / "test-v1"
    refused = cli("--as", "ada", "release", "create", "test-v1", "--out", str(out),
                  "--partition", "test")  # fmt: skip
    assert refused.exit_code == 1 and not out.exists()
    assert json.loads(cli("audit", "trail", "--partition", "test", "--json").stdout) == []
    made = cli("--as", "ada", "release", "create", "test-v1", "--out", str(out), "--partition",
               "test", "--purpose", "final evaluation of model X")  # fmt: skip
    assert made.exit_code == 0, made.output
    train = tmp_path / "train-v1"
    made = cli("--as", "ada", "release", "create", "train-v1", "--out", str(train),
               "--partition", "train")  # fmt: skip
    assert made.exit_code == 0, made.output
    checked = cli("release", "verify", str(out), "--against", str(train), "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["ok"] is True
    listing = cli("--as", "aud", "partition", "show", "test", "--purpose", "label audit", "--json")
    image = json.loads(listing.stdout)["images"][0]
    refused = cli("--as", "aud", "show", image)
    assert refused.exit_code == 1 and "needs a stated purpose" in refused.output
    shown = cli("--as", "aud", "show", image, "--purpose", "check one label", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["image_id"] == image
    trail = json.loads(cli("audit", "trail", "--partition", "test", "--json").stdout)
    assert [(t["actor"], t["what"], t["release"], t["subject"], t["purpose"]) for t in trail] == [
        ("ada", "release", "test-v1", None, "final evaluation of model X"),
        ("aud", "listing", None, None, "label audit"),
        ("aud", "image", None, image, "check one label"),
    ]
