"""A real release loads as it is with Hugging Face `datasets`' imagefolder loader.

`load_dataset("imagefolder", data_dir=RELEASE)` is the loader most ML users reach for
first. It reads a metadata.csv next to the images (the release's own, whose `file_name`
column gives each image's path, release format 2) and yields one example per row: every
released image with its metadata row and nothing else, not the datasheet's PNG charts
that lie in the same folder. Run with the library itself, offline, in a child process (so
its offline switches are set before it is imported and its cache stays in a temporary
folder).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dermledger.ledger.bootstrap import Settings
from dermledger.projections.release.columns import RELEASE_COLUMNS
from dermledger.projections.release.verify import FORMAT, verify_release_dir
from tests.integration.test_release_tools import CAPTURES, FAST_KDF, PATIENTS, study_image
from tests.support import open_handle, register_with_consent

LOADER = """
import hashlib, json, sys
import datasets
loaded = datasets.load_dataset("imagefolder", data_dir=sys.argv[1], cache_dir=sys.argv[2])
split = loaded["train"]
examples = []
for example in split:
    image = example.pop("image")
    example["pixels"] = hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()
    examples.append(example)
print(json.dumps({"splits": sorted(loaded), "features": list(split.features),
                  "image_feature": type(split.features["image"]).__name__,
                  "examples": examples}, default=str))
"""


def pixels(path: Path) -> str:
    with Image.open(path) as image:
        return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A published release of a small verified study (JPEG and PNG captures, one image
    that no gate lets through), with its datasheet charts."""
    tmp = tmp_path_factory.mktemp("imagefolder")
    team = open_handle(Settings(home=tmp / "home", kdf_log2_n=FAST_KDF))
    try:
        for patient_id, fields in PATIENTS.items():
            register_with_consent(team, patient_id, fields)
        for seed, capture in enumerate(CAPTURES, start=1):
            study_image(team, seed, *capture)
        team.ledger.releases.create_release(team["ada"], "v1", tmp / "v1")
    finally:
        team.ledger.close()
    manifest, failures = verify_release_dir(tmp / "v1")
    assert failures == []
    assert manifest["format"] == FORMAT == "dermledger-release/2"
    yield tmp / "v1"


@pytest.fixture(scope="module")
def loaded(release: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cache = tmp_path_factory.mktemp("hf-cache")
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(cache),
               HF_HUB_DISABLE_TELEMETRY="1")  # fmt: skip
    ran = subprocess.run(
        [sys.executable, "-c", LOADER, str(release), str(cache / "datasets")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout.splitlines()[-1])


def metadata(release: Path) -> dict[str, dict[str, str]]:
    with (release / "metadata.csv").open(encoding="utf-8", newline="") as handle:
        return {row["image_id"]: row for row in csv.DictReader(handle)}


def test_every_released_image_loads_with_its_metadata_row(
    release: Path, loaded: dict[str, Any]
) -> None:
    rows = metadata(release)
    examples = {e["image_id"]: e for e in loaded["examples"]}
    assert loaded["splits"] == ["train"]
    assert len(loaded["examples"]) == len(rows) == len(CAPTURES) - 1
    assert set(examples) == set(rows)
    for image_id, row in rows.items():
        example = examples[image_id]
        assert example["category"] == row["category"]
        assert example["verification_stage"] == row["verification_stage"]
        assert example["patient_id"] == row["patient_id"]
        assert example["filename"] == row["filename"]
        assert example["pixels"] == pixels(release / row["file_name"])
    assert {e["category"] for e in examples.values()} == {"NV", "BKL", "MEL", "BCC"}


def test_the_image_takes_file_names_place_and_nothing_else_is_loaded(
    release: Path, loaded: dict[str, Any]
) -> None:
    assert loaded["image_feature"] == "Image"
    assert loaded["features"] == [
        "image" if column == "file_name" else column for column in RELEASE_COLUMNS
    ]
    charts = sorted(release.glob("datasheet-*.png"))
    assert charts, "the release has datasheet charts beside the images"
    loaded_pixels = {e["pixels"] for e in loaded["examples"]}
    assert not loaded_pixels & {pixels(chart) for chart in charts}
    released = {pixels(path) for path in (release / "images").iterdir()}
    assert loaded_pixels == released


def test_verify_names_a_file_name_that_does_not_point_at_the_image(
    release: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    text = (copy / "metadata.csv").read_text(encoding="utf-8")
    first = next(iter(metadata(release).values()))
    (copy / "metadata.csv").write_text(
        text.replace(first["file_name"], f"docs/{first['filename']}"), encoding="utf-8"
    )
    failures = verify_release_dir(copy)[1]
    assert f"metadata.csv: {first['image_id']}'s file_name is not images/<filename>" in failures
