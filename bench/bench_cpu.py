"""CPU-accounted ratios for `audit verify` and the read-model rebuild on a shared machine.

On two cores shared with other jobs (load 5-10), the same wall-clock comparison moved by
2x between runs minutes apart. CPU seconds (`getrusage` of this process plus its reaped
pool workers) move far less, and on free cores the wall ratio of two CPU-bound sides
converges to their CPU ratio. So beside `bench_ledger`/`bench_rebuild`'s wall ratios:

- verify: `audit.verify(workers=W)` against raw libsodium (`crypto_sign_open`) of the same
  signatures on a fresh spawned pool of W, in the order ours, raw, raw, ours; the pool's
  start is inside both timings, as `verify` starts its own.
- rebuild: `ReadModel.rebuild` (or a catch-up from empty tables, `--catch-up`) against
  `read_log` + msgspec's decode (the fastest), and + pydantic's, before and after.

Both use the cached study logs of `bench_rebuild` (`$DERMLEDGER_BENCH_CACHE`).

    .venv/bin/python bench/bench_cpu.py --verify 100000 --rebuild 100000 [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

from nacl.bindings import crypto_sign_open

from dermledger.bench import study_log
from dermledger.bench.bench_rebuild import cache_folder
from dermledger.bench.common import PeakMemory, say
from dermledger.ledger.envelope_fast import decode_envelope
from dermledger.ledger.store import read_log
from dermledger.projections.readmodel import ReadModel
from dermledger.study.ledger import DermLedger

Signature = tuple[bytes, bytes, bytes]  # (public key, signature, digest)


def cpu_split() -> tuple[float, float]:
    """User and system CPU of this process, and of every child it has reaped."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def cpu_seconds() -> float:
    """User and system CPU of this process and of every child it has reaped."""
    return sum(cpu_split())


def measured(work: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of `work()`."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    work()
    return cpu_seconds() - cpu, time.perf_counter() - wall


def sodium(items: list[Signature]) -> int:
    for public, signature, digest in items:
        crypto_sign_open(signature + digest, public)
    return len(items)


def signatures(ledger: DermLedger) -> Iterator[Signature]:
    """Every event's (key, signature, digest), the key as enrolled when it signed."""
    keys: dict[str, bytes] = {}
    for entry in ledger.kernel.log():
        env = entry.envelope()
        if env.type == "ActorEnrolled":
            keys[env.payload["actor"]] = bytes.fromhex(env.payload["public_key"])
        yield keys[env.actor], base64.b64decode(env.signature), bytes.fromhex(env.hash)


def raw_pool(items: list[Signature], workers: int) -> None:
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        chunk = -(-len(items) // (workers * 4))
        pool.map(sodium, [items[i : i + chunk] for i in range(0, len(items), chunk)])
        pool.close()
        pool.join()  # reaped, so their CPU is counted


def verify(events: int, workers: int) -> None:
    settings, _ = study_log.cached_log(cache_folder(), events)
    ledger = DermLedger(settings)
    try:
        items = list(signatures(ledger))

        main: list[float] = []  # this process's own CPU in each of our runs
        peak = PeakMemory()

        def ours() -> None:
            before = cpu_split()[0]
            peak.reset()
            if not ledger.audit.verify(workers=workers).ok:
                raise RuntimeError("the benchmark log does not verify")
            main.append(cpu_split()[0] - before)

        runs = [measured(ours), *(measured(lambda: raw_pool(items, workers)) for _ in "ab")]
        runs.append(measured(ours))
    finally:
        ledger.close()
    n = len(items)
    ours_cpu, ours_wall = runs[0][0] + runs[3][0], runs[0][1] + runs[3][1]
    raw_cpu, raw_wall = runs[1][0] + runs[2][0], runs[1][1] + runs[2][1]
    say(f"verify, {n:,} events, {workers} workers: CPU {ours_cpu / 2 / n * 1e6:.1f} µs an event, "
        f"raw {raw_cpu / 2 / n * 1e6:.1f}: CPU ratio {raw_cpu / ours_cpu:.2f}; wall "
        f"{2 * n / ours_wall:,.0f}/s, raw {2 * n / raw_wall:,.0f}/s: ratio "
        f"{raw_wall / ours_wall:.2f}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    say(f"  of which the main process {sum(main) / 2 / n * 1e6:.1f} µs an event (reading, "
        f"decoding, hashing, chains, roles, Merkle; the rest is the workers' signatures); "
        f"peak {peak.mib():.0f} MiB (main process, second pass; the signatures kept for the "
        f"raw side are in it: a fresh process shows what verifying alone takes)")  # fmt: skip


def rebuild(events: int, batch_size: int, catch_up: bool = False) -> None:
    """`ReadModel.rebuild` (or, `catch_up`, emptying the tables and catching up in
    transactions of `batch_size`) against reading and decoding the same log, the fastest
    way (msgspec's `decode_envelope`), and with pydantic as the older baseline did."""
    settings, _ = study_log.cached_log(cache_folder(), events)
    ledger = DermLedger(settings)

    def baseline(fast: bool) -> Callable[[], None]:
        def run() -> None:
            for entry in read_log(ledger.kernel.recorder):
                (decode_envelope(entry.state) or entry.envelope()) if fast else entry.envelope()

        return run

    def ours(model: ReadModel) -> None:
        if catch_up:
            model.clear()
            model.catch_up(ledger, batch_size=batch_size)
        else:
            model.rebuild(ledger, batch_size=batch_size)

    try:
        before = measured(baseline(True)), measured(baseline(False))
        peak = PeakMemory()
        peak.reset()
        with ReadModel(settings) as model:
            mine = measured(lambda: ours(model))
        mib = peak.mib()
        after = measured(baseline(False)), measured(baseline(True))
    finally:
        ledger.close()
    fast_cpu, fast_wall = (before[0][0] + after[1][0]) / 2, (before[0][1] + after[1][1]) / 2
    slow_cpu = (before[1][0] + after[0][0]) / 2
    what = f"catch-up in transactions of {batch_size}" if catch_up else f"batches of {batch_size}"
    say(f"rebuild, {events:,}-event log, {what}: CPU {mine[0] / events * 1e6:.1f} µs an event, "
        f"baseline (msgspec) {fast_cpu / events * 1e6:.1f}: CPU ratio {fast_cpu / mine[0]:.2f} "
        f"(pydantic's {slow_cpu / events * 1e6:.1f}: {slow_cpu / mine[0]:.2f}); wall ratio "
        f"{fast_wall / mine[1]:.2f} ({mine[1]:.1f} s); peak {mib:.0f} MiB; "
        f"load {os.getloadavg()[0]:.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify", type=int, metavar="N", help="study log size to verify")
    parser.add_argument("--rebuild", type=int, metavar="N", help="study log size to rebuild")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=5000, help="rebuild batch size")
    parser.add_argument("--catch-up", action="store_true",
                        help="empty the tables and catch up in --batch transactions")  # fmt: skip
    options = parser.parse_args(argv)
    if options.verify:
        verify(options.verify, options.workers)
    if options.rebuild:
        rebuild(options.rebuild, options.batch, options.catch_up)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
