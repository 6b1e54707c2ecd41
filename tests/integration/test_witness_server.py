"""`dermledger witness serve` as a real process on 127.0.0.1, driven over real HTTP.

Checkpoints come from a real RFC 6962 tree (`dermledger.ledger.merkle`) signed with a real
log key; the witness's state is its own SQLite file. Every status code of c2sp.org/
tlog-witness is exercised, the refusal log is read back, concurrent requests race for
one stored size, and the server is always stopped within a bounded time.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import httpx
import pytest

from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import Ed25519Signer, parse_vkey
from dermledger.ledger.tlog import TLOG_SIZE_CONTENT_TYPE, Checkpoint, sign_checkpoint
from dermledger.ledger.witness_client import (
    Cosigned,
    Refused,
    SizeConflict,
    Unreachable,
    WitnessCheckpoint,
    add_checkpoint,
    latest_checkpoint,
    verify_cosignatures,
)
from dermledger.ledger.witness_home import WitnessHome

PASS = "witness test passphrase"
WITNESS = "ethics.example/w1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class Log:
    """A real log: a Merkle tree of event hashes and the key that signs its checkpoints."""

    def __init__(self, origin: str, leaves: int = 64) -> None:
        self.origin = origin
        self.key = Ed25519Signer.generate(origin)
        self.tree = MerkleTree([hash_leaf(sha256(b"%s %d" % (origin.encode(), i)).digest())
                                for i in range(leaves)])  # fmt: skip

    def note(self, size: int, root: bytes | None = None, key: Ed25519Signer | None = None) -> bytes:
        root = self.tree.root(size) if root is None else root
        return sign_checkpoint(Checkpoint(self.origin, size, root), [key or self.key])

    def proof(self, old: int, new: int) -> list[bytes]:
        return self.tree.consistency_proof(old, new) if 0 < old < new else []


@dataclass
class Server:
    url: str
    home: Path
    vkey: str
    process: subprocess.Popen[bytes]

    def trust(self, log: Log) -> None:
        WitnessHome(self.home).trust(log.origin, log.key.verifier.vkey)

    def refusals(self) -> list[dict[str, object]]:
        path = self.home / "refusals.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _env() -> dict[str, str]:
    return {**os.environ, "DERMLEDGER_WITNESS_PASSPHRASE": PASS, "DERMLEDGER_KDF_LOG2_N": "10"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dermledger.commands", "witness", *args],
        env=_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The server's first stdout line (its URL), or fail after `timeout` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the witness did not print its URL in time")
    return process.stdout.readline().decode().strip()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)
        raise AssertionError("the witness did not stop on SIGTERM in time") from None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("witness") / "w1"
    made = _cli("init", "--home", str(home), "--name", WITNESS)
    assert made.returncode == 0, made.stderr
    vkey = made.stdout.strip()
    process = subprocess.Popen(
        [sys.executable, "-m", "dermledger.commands", "witness", "serve", "--home", str(home),
         "--host", "127.0.0.1", "--port", "0", "--prefix", "/w"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = _first_line(process, START_TIMEOUT)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/w"), url
        yield Server(url, home, vkey, process)
    finally:
        _stop(process)


def _post(server: Server, body: bytes) -> httpx.Response:
    return httpx.post(server.url + "/add-checkpoint", content=body, timeout=10)


def test_init_prints_a_cosigner_vkey_and_refuses_a_second_init(server: Server) -> None:
    assert parse_vkey(server.vkey).name == WITNESS
    again = _cli("init", "--home", str(server.home), "--name", WITNESS)
    assert again.returncode == 1
    assert again.stderr.strip() == f"Error: {server.home} is already a witness home"


def test_every_status_code_and_the_refusal_log(server: Server) -> None:
    log = Log("study.example/status")
    result = _cli("trust", "--home", str(server.home), log.origin, log.key.verifier.vkey)
    assert result.returncode == 0, result.stderr
    witness_key = parse_vkey(server.vkey)
    before = len(server.refusals())

    unknown = Log("nobody.example/log")
    assert add_checkpoint(server.url, 0, [], unknown.note(3)) == Refused(
        404, "the witness does not know this log origin"
    )
    forged = log.note(3, key=Ed25519Signer.generate(log.origin))
    assert add_checkpoint(server.url, 0, [], forged) == Refused(
        403, "no signature on the note is by a trusted key"
    )
    assert _post(server, b"not a request").status_code == 400
    assert add_checkpoint(server.url, 9, [], log.note(5)).status == 400  # type: ignore[union-attr]
    assert _post(server, b"x" * (70 * 1024)).status_code == 413

    first = add_checkpoint(server.url, 0, [], log.note(5))
    assert isinstance(first, Cosigned)
    assert verify_cosignatures(log.note(5), first.signatures, [witness_key]).verified

    stale = _post(server, b"old 0\n\n" + log.note(8))
    assert (stale.status_code, stale.content) == (409, b"5\n")
    assert stale.headers["content-type"] == TLOG_SIZE_CONTENT_TYPE
    assert add_checkpoint(server.url, 0, [], log.note(8)) == SizeConflict(5)

    wrong_proof = log.proof(4, 9)  # a real proof, but from another size
    assert add_checkpoint(server.url, 5, wrong_proof, log.note(9)).status == 422  # type: ignore[union-attr]
    fork = log.note(5, root=sha256(b"another history").digest())
    assert add_checkpoint(server.url, 5, [], fork) == SizeConflict(5)

    assert isinstance(add_checkpoint(server.url, 5, log.proof(5, 9), log.note(9)), Cosigned)
    assert isinstance(add_checkpoint(server.url, 9, [], log.note(9)), Cosigned)  # same again

    latest = latest_checkpoint(server.url, log.origin, [log.key.verifier], [witness_key])
    assert isinstance(latest, WitnessCheckpoint)
    assert (latest.checkpoint.size, latest.checkpoint.root) == (9, log.tree.root(9))

    refusals = server.refusals()[before:]
    assert [r["status"] for r in refusals] == [404, 403, 400, 400, 413, 409, 409, 422, 409]
    assert all(
        set(r) == {"time", "origin", "status", "reason", "old_size", "size", "stored_size"}
        for r in refusals
    )
    fork_entry = refusals[-1]
    assert (fork_entry["origin"], fork_entry["old_size"], fork_entry["size"]) == (log.origin, 5, 5)
    assert fork_entry["reason"] == "the checkpoint has the latest cosigned size but another root"


def test_latest_checkpoint_of_an_unknown_or_uncosigned_log_is_404(server: Server) -> None:
    log = Log("study.example/quiet")
    server.trust(log)
    witness_key = parse_vkey(server.vkey)
    for origin in (log.origin, "nobody.example/x"):
        result = latest_checkpoint(server.url, origin, [log.key.verifier], [witness_key])
        assert isinstance(result, Refused) and result.status == 404


def test_racing_requests_from_one_size_cosign_exactly_one(server: Server) -> None:
    """The spec's race: N requests all claiming the stored size; one wins, the rest 409."""
    log = Log("study.example/race", leaves=200)
    server.trust(log)
    stored = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_ in range(6):
            targets = [stored + 1 + i + round_ for i in range(8)]
            barrier = threading.Barrier(8)

            def send(size: int, old: int = stored, gate: threading.Barrier = barrier) -> object:
                note, proof = log.note(size), log.proof(old, size)
                gate.wait(10)
                return add_checkpoint(server.url, old, proof, note)

            results = list(pool.map(send, targets))
            winners = [t for t, r in zip(targets, results, strict=True) if isinstance(r, Cosigned)]
            assert len(winners) == 1, results
            assert all(
                r == SizeConflict(winners[0]) for r in results if not isinstance(r, Cosigned)
            )
            stored = winners[0]


def test_concurrent_requests_never_move_the_stored_size_backwards(server: Server) -> None:
    log = Log("study.example/busy", leaves=120)
    server.trust(log)
    witness_key = parse_vkey(server.vkey)
    seen: list[int] = []
    done = threading.Event()

    def monitor() -> None:
        while not done.is_set():
            r = latest_checkpoint(server.url, log.origin, [log.key.verifier], [witness_key])
            if isinstance(r, WitnessCheckpoint):
                seen.append(r.checkpoint.size)

    def worker(seed: int) -> list[int]:
        cosigned, known = [], 0
        for step in range(12):
            size = min(120, known + 1 + (seed * 7 + step * 3) % 9)
            r = add_checkpoint(server.url, known, log.proof(known, size), log.note(size))
            if isinstance(r, Cosigned):
                cosigned.append(size)
                known = size
            elif isinstance(r, SizeConflict):
                known = r.size
            else:
                raise AssertionError(r)
        return cosigned

    watcher = threading.Thread(target=monitor)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            cosigned = [s for sizes in pool.map(worker, range(6)) for s in sizes]
    finally:
        done.set()
        watcher.join(30)
    assert seen == sorted(seen), "the witness's latest size went backwards"
    final = latest_checkpoint(server.url, log.origin, [log.key.verifier], [witness_key])
    assert isinstance(final, WitnessCheckpoint)
    assert final.checkpoint.size == max(cosigned)


def test_unreachable_and_silent_witnesses_are_reported_in_bounded_time() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    log = Log("study.example/offline")
    result = add_checkpoint(f"http://127.0.0.1:{closed_port}", 0, [], log.note(1), timeout=2)
    assert isinstance(result, Unreachable)

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        started = time.monotonic()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = add_checkpoint(url, 0, [], log.note(1), timeout=0.5)
        assert isinstance(result, Unreachable) and "Timeout" in result.reason
        assert time.monotonic() - started < 5


def test_serve_with_the_wrong_passphrase_is_one_sentence(server: Server) -> None:
    env = {**_env(), "DERMLEDGER_WITNESS_PASSPHRASE": "wrong"}
    result = subprocess.run(
        [sys.executable, "-m", "dermledger.commands", "witness", "serve", "--home",
         str(server.home)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: the passphrase for witness does not unlock its key"
