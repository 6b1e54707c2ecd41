"""A real reading station for tests: a study ledger with images awaiting consensus, and
`dermledger serve` as a subprocess on a free port of 127.0.0.1, stopped by the test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dermledger
from dermledger.ledger.bootstrap import Settings
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import PASSPHRASE, LedgerHandle, open_handle, register_with_consent

PACKAGE_PARENT = str(Path(dermledger.__file__).resolve().parent.parent)
META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}
START_SECONDS = 60


@dataclass
class Study:
    handle: LedgerHandle
    images: list[str]
    settings: Settings


def build_study(home: Path, annotations: list[str], *, unannotated: int = 0) -> Study:
    """A founded ledger (coordinator ada, annotator ann, pathologist pat) with one
    annotated image per label in `annotations`, then `unannotated` images more."""
    settings = Settings(home=home, kdf_log2_n=10)
    handle = open_handle(settings, team={"ann": ["annotator"], "pat": ["pathologist"]})
    register_with_consent(handle, "P1", {"age": "47", "sex": "female"})
    images = []
    labels: list[str | None] = [*annotations, *[None] * unannotated]
    for number, label in enumerate(labels):
        image_id = handle.ledger.capture.capture(
            handle["ada"],
            encode_jpeg(draw_image(100 + number)),
            patient_id="P1",
            lesion_id=f"L{number}",
            metadata=META | {"anatom_site": "Cheek", "clin_size_long_diam_mm": 4 + number},
        ).image_id
        if label is not None:
            handle.ledger.confirmation.annotate(
                handle["ann"], image_id, label, ["streaks=irregular"]
            )
        images.append(image_id)
    return Study(handle, images, settings)


def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=PACKAGE_PARENT,
        DERMLEDGER_HOME=str(home),
        DERMLEDGER_PASSPHRASE=PASSPHRASE,
        DERMLEDGER_KDF_LOG2_N="10",
        COLUMNS="2000",  # tables unwrapped, so a search of the output sees every value
    )
    env.pop("DERMLEDGER_DB", None)
    env.pop("DERMLEDGER_ACTOR", None)
    return env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dermledger ARGS` as a subprocess on this home."""
    code = "from dermledger.commands.main import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Server:
    url: str
    log: list[str]


@contextmanager
def serving(home: Path) -> Iterator[Server]:
    """`dermledger serve --port 0`; yields the URL it printed and its log (stderr, read
    all along so the pipe never fills); stops it afterwards."""
    code = "from dermledger.commands.main import run; run()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=cli_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    try:
        url = _bound_url(proc)
        assert proc.stderr is not None
        drain = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
        drain.start()
        yield Server(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _bound_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"dermledger serve exited with {proc.returncode}")
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if found:
            return found.group(1)
    raise RuntimeError("dermledger serve did not say where it listens")
