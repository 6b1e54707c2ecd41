"""`dermledger demo` prints what the ledger says (issue 18, items 1 and 10).

Every number of the demo's two cohort tables is read back after the last step (the
withdrawal and the erasure included): one table equals `dermledger stats --json`, the
other the last release's datasheet.md. Run through the CLI on a small cohort, as a user
would, with the tables wide enough not to wrap.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dermledger.policies.categories import CATEGORIES
from dermledger.policies.structures import VOCABULARY

LEDGER_TITLE = "The ledger after the last step"
RELEASE_TITLE = "Release v2: the published cohort"
PATIENTS = 25


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", DERMLEDGER_KDF_LOG2_N="10", NO_COLOR="1")
    env.pop("DERMLEDGER_DB", None)
    cmd = [sys.executable, "-m", "dermledger.commands", "--quiet", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("demo") / "home"
    ran = cli("demo", "--demo-home", str(home), "--records", "60", "--duplicates", "4",
              "--patients", str(PATIENTS))  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return home, ran.stdout


def table(output: str, title: str) -> dict[str, str]:
    """The rows of the rich table under `title`, as {first cell: second cell}."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(title))
    rows: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if line.startswith("│") and len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def counts(text: str) -> dict[str, int]:
    """ "NV 35, BKL 12" as {"NV": 35, "BKL": 12}."""
    return {k: int(n) for k, n in (part.rsplit(" ", 1) for part in text.split(", "))}


def datasheet(path: Path) -> dict[str, str]:
    """The datasheet's table rows as {label without markup: value}; first one wins."""
    rows: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 2 and cells[1] != "n (%)":
            rows.setdefault(re.sub(r"\*\*", "", cells[0]), cells[1])
    return rows


def leading(value: str) -> int:
    return int(value.split(" ")[0])


def test_the_ledger_table_is_stats_after_the_last_step(demo: tuple[Path, str]) -> None:
    home, output = demo
    stats: dict[str, Any] = json.loads(cli("--home", str(home), "stats", "--json").stdout)
    shown = table(output, LEDGER_TITLE)
    for key in ("images", "included", "excluded", "malignant", "malignant_with_histology",
                "discordant"):  # fmt: skip
        assert int(shown[key]) == stats[key], key
    for key in ("categories", "stages", "consensus"):
        assert counts(shown[key]) == stats[key], key
    agreement = stats["agreement"]
    assert float(shown["Fleiss' kappa"]) == round(agreement["fleiss_kappa"], 3)
    assert float(shown["Krippendorff's alpha (nominal)"]) == round(
        agreement["krippendorff_alpha"], 3
    )
    assert float(shown["mean pairwise agreement"]) == round(agreement["percent_agreement"], 3)


def test_the_release_table_is_the_datasheet_after_withdrawal_and_erasure(
    demo: tuple[Path, str],
) -> None:
    home, output = demo
    sheet = datasheet(home / "releases" / "v2" / "datasheet.md")
    shown = table(output, RELEASE_TITLE)
    assert int(shown["images"]) == leading(sheet["Images"])
    assert int(shown["patients"]) == leading(sheet["Patients"])
    assert int(shown["lesions"]) == leading(sheet["Lesions (distinct patient_id, lesion_id)"])
    by_code = {label.split(" ")[0]: leading(v) for label, v in sheet.items()
               if label.split(" ")[0] in CATEGORIES and "(" in label}  # fmt: skip
    assert counts(shown["categories"]) == by_code
    malignant, verified = shown["malignant (MEL, BCC, SCC)"].split(", histologically verified ")
    assert int(malignant) == leading(sheet["Malignant (MEL, BCC, SCC)"])
    assert int(verified) == leading(sheet["histologically verified"])
    assert counts(shown["verification stage"]) == {
        s: leading(sheet[s]) for s in ("clinical", "consensus", "histology")
    }
    age = next(v for k, v in sheet.items() if k.startswith("Age, years"))
    assert shown["age, years: median (range), from age_approx"] == age
    assert counts(shown["sex (patients)"]) == {s: leading(sheet[s]) for s in ("female", "male")}
    # The withdrawn and the erased patient are gone, with every image of theirs.
    assert int(shown["patients"]) == PATIENTS - 2
    v1 = sum(1 for _ in csv.DictReader((home / "releases" / "v1" / "metadata.csv").open()))
    assert 0 < int(shown["images"]) < v1


def test_every_initial_annotation_carries_its_structures(demo: tuple[Path, str]) -> None:
    home, _ = demo
    with (home / "releases" / "v2" / "annotations.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["type"] == "AnnotationRecorded"]
    assert rows
    for row in rows:
        assert set(json.loads(row["structures"])) == set(VOCABULARY), row["image_id"]
    with (home / "releases" / "v2" / "metadata.csv").open(encoding="utf-8") as handle:
        label = {r["image_id"]: r["category"] for r in csv.DictReader(handle)}
    score = {r["image_id"]: int(r["seven_point_score"]) for r in rows}
    melanoma = [score[i] for i, c in label.items() if c == "MEL"]
    nevi = [score[i] for i, c in label.items() if c == "NV"]
    assert melanoma and nevi
    assert min(melanoma) >= 3 > sum(nevi) / len(nevi)
