"""The reading station at scale: a reader's queue page, image page and image bytes beside
a static file served by the same `dermledger serve` in the same run.

The study: N annotated images awaiting consensus ($DERMLEDGER_BENCH_STATION_IMAGES,
default 100,000), appended through the real write kernel in batches (each image is
one of a few real captured JPEGs, re-recorded under a new id: the ledger does not care
that the pixels repeat). A reader with their own key signs in over HTTP as a browser
does, draws their seed, then each URL is requested K times; p50 and p95 latency per
URL are printed, and `run` reports requests per second at p50 against the baseline.

    .venv/bin/python bench/bench_station.py [--images N] [--requests K] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.bench.common import FAST_KDF, BenchArgs, Row, say
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.canonical import jcs_sha256
from dermledger.ledger.signing import raw_public_key
from dermledger.study.kernel import Proposal
from dermledger.study.ledger import DermLedger
from dermledger.synthetic.images import draw_image, encode_jpeg

BATCH = 500
PASSPHRASE = "bench station passphrase"
META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}


def build(home: Path, images: int) -> None:
    """A ledger with `images` annotated images, made once per size in `home`."""
    if (home / "done").exists():
        return
    ledger = DermLedger(Settings(home=home, kdf_log2_n=FAST_KDF))
    ledger.actors.found("ada", PASSPHRASE)
    ada = ledger.actors.unlock("ada", PASSPHRASE)
    ledger.actors.enrol(ada, "ann", ["annotator"], passphrase=PASSPHRASE)
    ann = ledger.actors.unlock("ann", PASSPHRASE)
    ledger.patients.register_patient(ada, "P1", {"age": "50", "sex": "female"})
    ledger.patients.record_consent(ada, "P1", "study", b"consent")
    templates = [
        ledger.records.get_image(
            ledger.capture.capture(
                ada, encode_jpeg(draw_image(n)), patient_id="P1", lesion_id=f"T{n}", metadata=META
            ).image_id
        ).captured
        for n in range(4)
    ]
    started = time.perf_counter()
    for start in range(0, images, BATCH):
        ids = [f"IMG-{n:016x}" for n in range(start, min(images, start + BATCH))]
        captures = [
            Proposal(i, "ImageCaptured", templates[n % 4] | {"image_id": i, "lesion_id": f"L{n}"})
            for n, i in enumerate(ids)
        ]
        ledger.kernel.append(ada, lambda c=captures: c)
        notes = [Proposal(i, "AnnotationRecorded", annotation(i)) for i in ids]
        ledger.kernel.append(ann, lambda a=notes: a)
        if start % 10_000 == 0:
            say(f"  {start + len(ids)} images, {time.perf_counter() - started:.0f}s")
    ledger.close()
    (home / "done").write_text("ok")


def annotation(image_id: str) -> dict[str, object]:
    return {
        "image_id": image_id, "diagnosis": "Benign:Benign melanocytic proliferations:Nevus",
        "category": "NV", "structures": {}, "signer_role": "annotator",
        "signature_meaning": "authorship of the initial clinical annotation",
    }  # fmt: skip


class Reader:
    """A reader's browser over HTTP: its own key, the session cookie and CSRF token."""

    def __init__(self, url: str, home: Path) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.http = httpx.Client(base_url=url, timeout=120)
        public = raw_public_key(self.key.public_key()).hex()
        ledger = DermLedger(Settings(home=home, kdf_log2_n=FAST_KDF))
        ada = ledger.actors.unlock("ada", PASSPHRASE)
        name = f"reader-{public[:8]}"
        ledger.actors.enrol(ada, name, ["specialist"], public_key=public)
        ledger.close()
        self.name, self.csrf = name, ""

    def get(self, url: str) -> httpx.Response:
        response = self.http.get(url)
        found = re.search(
            r'data-csrf="([^"]+)"',
            response.text if "html" in response.headers.get("content-type", "") else "",
        )
        self.csrf = found.group(1) if found else self.csrf
        return response

    def post(self, url: str, body: dict[str, str]) -> dict:
        return self.http.post(url, json=body, headers={"X-CSRF-Token": self.csrf}).json()

    def sign_in_and_draw(self) -> None:
        self.get("/signin")
        c = self.post("/api/signin/challenge", {"actor": self.name})
        text = f"dermledger sign-in v1\n{c['ledger_id']}\n{self.name}\n{c['nonce']}"
        sig = base64.b64encode(self.key.sign(hashlib.sha256(text.encode()).digest())).decode()
        self.post("/api/signin", {"signature": sig})
        self.get("/queue")
        prepared = self.post("/api/seed/prepare", {})
        sig = base64.b64encode(self.key.sign(jcs_sha256(prepared["fields"]))).decode()
        self.post("/api/sign/complete", {"token": prepared["token"], "signature": sig})


def timings(reader: Reader, url: str, requests: int) -> list[float]:
    reader.get(url)  # warm
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        response = reader.get(url)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return seconds


def measure(home: Path, requests: int) -> dict[str, list[float]]:
    code = "from dermledger.commands.main import run; run()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--home", str(home), "serve", "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        url = ""
        while not url:
            line = proc.stderr.readline()
            assert line, "dermledger serve stopped"
            found = re.search(r"(http://\S+?)/?$", line.strip())
            url = found.group(1) if found else ""
        subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)  # drain the log
        reader = Reader(url, home)
        reader.sign_in_and_draw()
        first = re.search(r'href="/read/([^"]+)"', reader.get("/queue").text).group(1)  # type: ignore[union-attr]
        return {
            "queue page": timings(reader, "/queue", requests),
            "image page": timings(reader, f"/read/{first}", requests),
            "image bytes": timings(reader, f"/images/{first}/file", requests),
            "static file (baseline)": timings(reader, "/static/station.css", requests),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def report(images: int, results: dict[str, list[float]]) -> None:
    print(f"reading station, {images} images awaiting consensus, SQLite")
    print(f"{'request':<24}{'p50 ms':>10}{'p95 ms':>10}")
    for name, seconds in results.items():
        p50, p95 = (percentile(seconds, p) * 1000 for p in (50, 95))
        print(f"{name:<24}{p50:>10.1f}{p95:>10.1f}")


def run(args: BenchArgs, images: int | None = None, requests: int = 50) -> list[Row]:
    count = images or int(os.environ.get("DERMLEDGER_BENCH_STATION_IMAGES", 100_000))
    home = args.workdir / f"station-{count}"
    build(home, count)
    results = measure(home, requests)
    report(count, results)
    base = 1 / percentile(results["static file (baseline)"], 50)
    return [
        Row(name, "sqlite", count, 1 / percentile(s, 50), base, 0.0, "a static file, same server")
        for name, s in results.items()
        if "baseline" not in name
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--workdir", type=Path, default=None)
    options = parser.parse_args(argv)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="dermledger-bench-station-"))
    home = workdir / f"station-{options.images}"
    say(f"building {options.images} images in {home} …")
    build(home, options.images)
    report(options.images, measure(home, options.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
