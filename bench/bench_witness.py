"""The witness's add-checkpoint rate beside an HTTP round trip that does nothing.

A real `dermledger witness serve` process on 127.0.0.1 (uvicorn, Starlette, its own SQLite
file with a full fsync per commit). Ours: one client on a keep-alive connection sends
add-checkpoint requests, each growing a real RFC 6962 tree by one leaf with its
consistency proof, so every request parses the note, verifies the log's Ed25519
signature and the proof, signs a cosignature and commits. Baseline: `GET /healthz` on
the same server and connection. The two alternate in blocks so drift hits both.
Request bodies are built before timing: the log's side is not what is measured.
Peak memory is the witness process's (VmHWM), not this one's.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

import httpx

from dermledger.bench.common import SQLITE, BenchArgs, Row, Stopwatch, rate, say
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import Ed25519Signer
from dermledger.ledger.tlog import AddCheckpointRequest, Checkpoint, sign_checkpoint
from dermledger.ledger.witness_home import WitnessHome

BLOCK = 100  # requests per turn while ours and the baseline alternate
MAX_REQUESTS = 2_000  # each request is one fsync'ed commit: keep the run to seconds
ORIGIN = "bench.example/log"
BASELINE = (
    "GET /healthz (does nothing) on the same server and keep-alive connection; "
    "peak MiB is the witness process's"
)


def _cli_env() -> dict[str, str]:
    return {**os.environ, "DERMLEDGER_WITNESS_PASSPHRASE": "bench", "DERMLEDGER_KDF_LOG2_N": "10"}


@contextmanager
def witness_server(home: Path, log_vkey: str) -> Iterator[tuple[str, int]]:
    """Init a witness home, trust the log, serve on a free port; yield (URL, pid)."""
    command = [sys.executable, "-m", "dermledger.commands", "witness"]
    subprocess.run([*command, "init", "--home", str(home), "--name", "bench.example/w"],
                   env=_cli_env(), check=True, capture_output=True, timeout=60)  # fmt: skip
    WitnessHome(home).trust(ORIGIN, log_vkey)
    process = subprocess.Popen(
        [*command, "serve", "--home", str(home), "--port", "0"],
        env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(process.stdout, selectors.EVENT_READ)
            if not sel.select(30):
                raise RuntimeError("the witness did not start within 30 s")
        yield process.stdout.readline().decode().strip(), process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def request_bodies(count: int) -> tuple[list[bytes], str]:
    """add-checkpoint bodies growing a tree from 1 to `count` leaves, and the log's vkey."""
    key = Ed25519Signer.generate(ORIGIN)
    tree = MerkleTree([hash_leaf(sha256(b"event %d" % i).digest()) for i in range(count)])
    bodies = []
    for size in range(1, count + 1):
        old = size - 1
        proof = tuple(tree.consistency_proof(old, size)) if old else ()
        note = sign_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)), [key])
        bodies.append(AddCheckpointRequest(old, proof, note).to_bytes())
    return bodies, key.verifier.vkey


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(url: str, bodies: list[bytes]) -> tuple[float, float]:
    """Seconds for all add-checkpoints and for as many no-op round trips, interleaved."""
    ours, baseline = Stopwatch(), Stopwatch()
    with httpx.Client(timeout=10) as client:
        client.get(url + "/healthz").raise_for_status()  # open the connection first
        for start in range(0, len(bodies), BLOCK):
            block = bodies[start : start + BLOCK]
            with ours:
                for body in block:
                    response = client.post(url + "/add-checkpoint", content=body)
                    if response.status_code != 200:
                        raise RuntimeError(f"the witness refused: {response.text.strip()}")
            with baseline:
                for _ in block:
                    client.get(url + "/healthz").raise_for_status()
    return ours.seconds, baseline.seconds


def run(args: BenchArgs) -> list[Row]:
    count = max(1, min(args.events, MAX_REQUESTS))
    bodies, vkey = request_bodies(count)
    with (
        tempfile.TemporaryDirectory(dir=args.workdir, prefix="witness-") as tmp,
        witness_server(Path(tmp) / "w", vkey) as (url, pid),
    ):
        say(f"witness at {url}: {count} add-checkpoint requests …")
        ours, baseline = measure(url, bodies)
        peak = _peak_mib(pid)
    return [
        Row(
            "witness add-checkpoint (HTTP, 1 client)",
            SQLITE,
            count,
            rate(count, ours),
            rate(count, baseline),
            peak,
            BASELINE,
        )
    ]


if __name__ == "__main__":
    from dermledger.bench.run import main

    sys.exit(main(["--only", "bench_witness", *sys.argv[1:]]))
