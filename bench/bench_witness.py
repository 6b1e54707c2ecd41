"""The witness's add-checkpoint rate beside an HTTP round trip that does nothing.

A real `dermledger witness serve` process on 127.0.0.1 (uvicorn, Starlette, its own SQLite
file with a full fsync per commit). Ours: one client on a keep-alive connection sends
add-checkpoint requests, each growing a real RFC 6962 tree by one leaf with its
consistency proof, so every request parses the note, verifies the log's Ed25519
signature and the proof, signs a cosignature and commits. Baseline: `GET /healthz` on
the same server and connection. The two alternate in blocks so drift hits both.
Request bodies are built before timing: the log's side is not what is measured.
Peak memory is the witness process's (VmHWM), not this one's.

Second measure, the ledger's side: `checkpoint` with two witness processes (the note
signed by the log key, unlocked each time as the CLI does, sent with its consistency
proof to both witnesses at once, replies checked, `CheckpointCosigned` appended) beside a
plain signed checkpoint (no note, no witnesses) on a second SQLite ledger of the same size
(a log with a key must sign notes), alternating checkpoint by checkpoint.
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
from math import nan
from pathlib import Path

import httpx

from dermledger.bench.common import SQLITE, BenchArgs, Row, Stopwatch, rate, say
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import Ed25519Signer
from dermledger.ledger.signing import Signer
from dermledger.ledger.tlog import AddCheckpointRequest, Checkpoint, sign_checkpoint
from dermledger.ledger.witness_home import WitnessHome
from dermledger.study.ledger import DermLedger

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
def witness_server(home: Path, log_vkey: str, origin: str = ORIGIN) -> Iterator[tuple[str, int]]:
    """Init a witness home, trust the log, serve on a free port; yield (URL, pid)."""
    command = [sys.executable, "-m", "dermledger.commands", "witness"]
    subprocess.run([*command, "init", "--home", str(home), "--name", f"{home.name}.example/w"],
                   env=_cli_env(), check=True, capture_output=True, timeout=60)  # fmt: skip
    WitnessHome(home).trust(origin, log_vkey)
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


CHECKPOINTS = 20  # per side; each witnessed one is two fsync'ed witness commits + two appends
LEDGER_PASS = "bench"
BASELINE_CHECKPOINT = (
    "a plain signed checkpoint (CheckpointSigned, no note, no witness) on a ledger of the "
    "same size, alternating with ours"
)


def measure_checkpoints(workdir: Path, count: int) -> tuple[float, float, int]:
    """Seconds for `count` witnessed and `count` plain checkpoints, and the log's size."""
    ledger, ada = _small_ledger(workdir / "witnessed")
    plain, bea = _small_ledger(workdir / "plain")  # a note-less ledger: no log key
    vkey = ledger.audit.enrol_log_key(ada, LEDGER_PASS)
    origin = vkey.split("+", 1)[0]
    ours, baseline = Stopwatch(), Stopwatch()
    with (
        witness_server(workdir / "w1", vkey, origin) as (url1, _),
        witness_server(workdir / "w2", vkey, origin) as (url2, _),
    ):
        for name, url in (("w1", url1), ("w2", url2)):
            ledger.witnesses.add(ada, name, url, _witness_vkey(workdir / name))
        for _ in range(count):
            with ours:
                env = ledger.audit.sign_checkpoint(ada, log_passphrase=LEDGER_PASS)
                report = ledger.witnesses.cosign(ada, env)
            if not report.quorum_met:
                raise RuntimeError(f"the witnesses did not cosign: {report.missing}")
            with baseline:
                plain.audit.sign_checkpoint(bea)
    size = ledger.kernel.recorder.max_notification_id() or 0
    ledger.close()
    plain.close()
    return ours.seconds, baseline.seconds, size


def _small_ledger(home: Path) -> tuple[DermLedger, Signer]:
    """A ledger of 51 events: what grows with the log (hashing it) is alike both sides."""
    ledger = DermLedger(Settings(home=home, kdf_log2_n=10))
    ledger.actors.found("ada", LEDGER_PASS)
    ada = ledger.actors.unlock("ada", LEDGER_PASS)
    for i in range(50):
        ledger.actors.enrol(ada, f"actor{i}", ["annotator"], passphrase=LEDGER_PASS)
    return ledger, ada


def _witness_vkey(home: Path) -> str:
    return WitnessHome(home).vkey


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
        ),
        *run_checkpoints(args),
    ]


def run_checkpoints(args: BenchArgs) -> list[Row]:
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="witnessed-") as tmp:
        say(f"{CHECKPOINTS} checkpoints with two witnesses, {CHECKPOINTS} plain …")
        ours, baseline, size = measure_checkpoints(Path(tmp), CHECKPOINTS)
    measure = f"`checkpoint` cosigned by 2 witnesses (log of ~{size} events)"
    ours_rate, base_rate = rate(CHECKPOINTS, ours), rate(CHECKPOINTS, baseline)
    return [Row(measure, SQLITE, CHECKPOINTS, ours_rate, base_rate, nan, BASELINE_CHECKPOINT)]


if __name__ == "__main__":
    from dermledger.bench.run import main

    sys.exit(main(["--only", "bench_witness", *sys.argv[1:]]))
