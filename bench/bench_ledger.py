"""The ledger's two hot paths, each beside the cheapest thing that does the same job.

- Signed append: `DermLedger.append` (fold the acting actor, role policy, payload
  validation, JCS hash, Ed25519 signature, eventsourcing save) beside plain
  `eventsourcing` saving one unsigned event of a trivial aggregate per save, on the same
  kind of store. The two alternate in blocks so drift (cache, disk, neighbours) hits both.
- Full-log verification: `DermLedger.verify()` over the log just written, beside raw
  Ed25519 verifications of the same signatures in one process and on every core.

The only event types the role policy lets a coordinator append without a domain module
are actor events, so the signed workload enrols actors with public keys made up front
(no key files): one new `actor:` stream per event, as the baseline's one event per save.
"""

from __future__ import annotations

import base64
import cProfile
import io
import multiprocessing
import os
import pstats
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import Environment, EnvType

from dermledger.bench.common import (
    MEMORY,
    PASSPHRASE,
    POSTGRES,
    Backend,
    BenchArgs,
    CpuWatch,
    PeakMemory,
    Row,
    Stopwatch,
    ensure_schema,
    location,
    persistence_env,
    rate,
    say,
)
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.signing import Signer, raw_public_key, verify_raw
from dermledger.study.kernel import Kernel, Proposal, actor_stream
from dermledger.study.ledger import DermLedger

BLOCK = 250  # appends per turn while ours and the baseline alternate
ROLES = ["annotator"]

APPEND_BASELINE = "plain eventsourcing: one unsigned Aggregate event per save, same store"
APPEND_CPU_BASELINE = (
    "the same runs in CPU seconds: this process's plus, on PostgreSQL, its pool's "
    "server backends' (/proc/PID/schedstat)"
)
RAW_BASELINE = (
    "libsodium (PyNaCl) Ed25519 verify of the same signatures and 32-byte digests alone, "
    "{n} process{es}"
)


class BenchNote(Aggregate):
    """The baseline's trivial aggregate; its event carries what an enrolment carries."""

    @event("Noted")
    def note(self, actor: str, roles: list[str], public_key: str) -> None:
        """Nothing to apply: the baseline measures storing the event, not using it."""


class Baseline(Application[UUID]):
    """Plain eventsourcing with its default mapper: no hash, no signature, no policy."""


class InMemoryKernel(Kernel):
    """The write kernel on eventsourcing's in-memory store: its CPU cost without any I/O."""

    name = "DermLedger"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        environment = super().construct_env(name, env)
        environment["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        return environment


class InMemoryLedger(DermLedger):
    """DermLedger over an `InMemoryKernel`. (Until issue 19 this overrode the ledger's
    `construct_env`, which no longer reached the kernel: the memory row timed SQLite.)"""

    kernel_class = InMemoryKernel


def run(args: BenchArgs) -> list[Row]:
    rows: list[Row] = []
    for backend in args.backends:
        rows += measure_backend(backend, args.events, args.workdir)
    return rows


def measure_backend(backend: Backend, events: int, workdir: Path) -> list[Row]:
    """Append `events` signed events beside the baseline, then verify the log they made."""
    peak = PeakMemory()
    with ExitStack() as stack:
        settings = stack.enter_context(location(backend, workdir, "ledger"))
        base_settings = stack.enter_context(location(backend, workdir, "baseline"))
        ledger, founder = open_ledger(backend, settings)
        stack.callback(ledger.close)
        baseline = open_baseline(backend, base_settings)
        stack.callback(baseline.close)

        say(f"  {backend.name}: {events:,} signed appends beside {events:,} unsigned saves")
        peak.reset()
        ours = CpuWatch(server_pids(ledger.kernel))
        theirs = CpuWatch(server_pids(baseline))
        append_side_by_side(ledger, founder, baseline, events, (ours, theirs))
        mib = peak.mib()
        rows = [
            Row("signed append", backend.name, events, rate(events, ours.seconds),
                rate(events, theirs.seconds), mib, APPEND_BASELINE),
            Row("signed append, CPU", backend.name, events, rate(events, ours.cpu_seconds),
                rate(events, theirs.cpu_seconds), mib, APPEND_CPU_BASELINE),
        ]  # fmt: skip
        # One checkpoint, so verification also checks a Merkle root and the witness copy.
        ledger.audit.sign_checkpoint(founder)
        say(f"  {backend.name}: verifying the log")
        rows += verify_side_by_side(ledger, backend, peak)
    return rows


def open_ledger(backend: Backend, settings: Settings) -> tuple[DermLedger, Signer]:
    """A founded ledger and its coordinator's key, unlocked from a real key file."""
    ledger = InMemoryLedger(settings) if backend.name == MEMORY else DermLedger(settings)
    ledger.actors.found("ada", PASSPHRASE)
    return ledger, ledger.actors.unlock("ada", PASSPHRASE)


def open_baseline(backend: Backend, settings: Settings) -> Baseline:
    if backend.name == POSTGRES:
        ensure_schema(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    return Baseline(env=persistence_env(backend, settings))


def enrolment(name: str, public_key: str) -> Callable[[], list[Proposal]]:
    """A decide function proposing one enrolment: a coordinator's event on a new stream."""
    payload = {"actor": name, "roles": ROLES, "public_key": public_key}
    proposals = [Proposal(actor_stream(name), "ActorEnrolled", payload)]
    return lambda: proposals


def new_public_keys(count: int) -> list[str]:
    """Real Ed25519 public keys (hex) for the actors to enrol, made outside the timing."""
    return [raw_public_key(Ed25519PrivateKey.generate().public_key()).hex() for _ in range(count)]


def server_pids(app: Application[Any]) -> list[int]:
    """The PostgreSQL backend process of each connection in the app's pool (none for
    SQLite or memory), whose CPU the append's statements cost on the server."""
    pool = getattr(getattr(app.recorder, "datastore", None), "pool", None)
    if pool is None or not hasattr(pool, "get_stats"):
        return []
    with ExitStack() as stack:
        size = max(1, pool.get_stats().get("pool_size", 1))
        connections = [stack.enter_context(pool.connection()) for _ in range(size)]
        return [conn.info.backend_pid for conn in connections]


def append_side_by_side(
    ledger: DermLedger,
    founder: Signer,
    baseline: Baseline,
    events: int,
    watches: tuple[Stopwatch, Stopwatch] | None = None,
) -> tuple[float, float]:
    """Seconds spent on `events` signed appends and on `events` baseline saves, also
    accumulated in `watches` (ours, theirs) when given.

    The two alternate in blocks of BLOCK, taking turns at going first.
    """
    ours, theirs = watches or (Stopwatch(), Stopwatch())
    note = BenchNote()
    baseline.save(note)
    for block, start in enumerate(range(0, events, BLOCK)):
        names = [f"bench-{i:07d}" for i in range(start, min(events, start + BLOCK))]
        keys = new_public_keys(len(names))
        turns = [
            partial(signed_block, ledger, founder, names, keys, ours),
            partial(unsigned_block, baseline, note, names, keys, theirs),
        ]
        for turn in turns if block % 2 == 0 else reversed(turns):
            turn()
    return ours.seconds, theirs.seconds


def signed_block(
    ledger: DermLedger, founder: Signer, names: list[str], keys: list[str], watch: Stopwatch
) -> None:
    decisions = [enrolment(name, key) for name, key in zip(names, keys, strict=True)]
    with watch:
        for decide in decisions:
            ledger.kernel.append(founder, decide)


def unsigned_block(
    baseline: Baseline, note: BenchNote, names: list[str], keys: list[str], watch: Stopwatch
) -> None:
    with watch:
        for name, key in zip(names, keys, strict=True):
            note.note(actor=name, roles=ROLES, public_key=key)
            baseline.save(note)


# ------------------------------------------------------------------ verification

Signature = tuple[bytes, bytes, bytes]  # (raw public key, signature, digest)


def timed_verify(ledger: DermLedger, workers: int, peak: PeakMemory) -> tuple[int, float, float]:
    """(events, seconds, peak MiB) of `DermLedger.verify(workers=...)`, which must pass."""
    peak.reset()
    with Stopwatch() as ours:
        report = ledger.audit.verify(workers=workers)
    if not report.ok:
        assert report.failure is not None
        raise RuntimeError(f"the benchmark log does not verify: {report.failure.sentence()}")
    return report.events, ours.seconds, peak.mib()


def abba(ours: Callable[[], float], theirs: Callable[[], float]) -> tuple[float, float]:
    """Seconds of two runs each, in the order ours, theirs, theirs, ours: drift in the load
    of a shared machine over the measure hits both sides alike."""
    first = ours()
    theirs_seconds = theirs() + theirs()
    return first + ours(), theirs_seconds


def verify_side_by_side(ledger: DermLedger, backend: Backend, peak: PeakMemory) -> list[Row]:
    """`DermLedger.verify()` in one process beside raw Ed25519 in one process, and with one
    worker per core beside raw Ed25519 on a pool of as many processes (its start counted
    for ours, not for the baseline's, which is warmed first). Each side runs twice, ABBA;
    the peak is ours's first run, before the baselines' signature list exists."""
    signatures: list[Signature] = []
    found: dict[str, float] = {}

    def ours(workers: int) -> float:
        events, seconds, mib = timed_verify(ledger, workers, peak)
        found["events"] = events
        found.setdefault(f"mib{workers}", mib)
        return seconds

    def theirs(verify: Callable[[list[Signature]], float]) -> Callable[[], float]:
        def run() -> float:
            if not signatures:
                signatures.extend(log_signatures(ledger))
            return verify(signatures)

        return run

    def raw_one(items: list[Signature]) -> float:
        with Stopwatch() as raw:
            verify_signatures(items)
        return raw.seconds

    ours_s, raw_s = abba(lambda: ours(1), theirs(raw_one))
    events = int(found["events"])
    rows = [
        Row(
            "verify log ÷ raw Ed25519, 1 core",
            backend.name,
            events,
            rate(2 * events, ours_s),
            rate(2 * len(signatures), raw_s),
            found["mib1"],
            RAW_BASELINE.format(n=1, es=""),
        )
    ]
    cores = os.cpu_count() or 1
    if cores > 1:
        signatures.clear()  # made again after ours's first run, so it is not in its peak
        ours_s, raw_s = abba(
            lambda: ours(cores), theirs(lambda items: verify_on_all_cores(items, cores))
        )
        rows.append(
            Row(
                f"verify log ÷ raw Ed25519, {cores} cores",
                backend.name,
                events,
                rate(2 * events, ours_s),
                rate(2 * len(signatures), raw_s),
                found[f"mib{cores}"],
                RAW_BASELINE.format(n=cores, es="es"),
            )
        )
    return rows


def log_signatures(ledger: DermLedger) -> Iterator[Signature]:
    """Every event's (public key, signature, digest), decoded before any timing."""
    keys: dict[str, bytes] = {}
    for entry in ledger.kernel.log():
        env = entry.envelope()
        if env.type == "ActorEnrolled":
            public = bytes.fromhex(env.payload["public_key"])
            keys.setdefault(env.payload["actor"], public)
        yield keys[env.actor], base64.b64decode(env.signature), bytes.fromhex(env.hash)


def verify_signatures(signatures: Sequence[Signature]) -> int:
    """Verify each signature with libsodium, the fastest drop-in implementation here
    (bench/bench_ed25519.py); raises on a bad one."""
    for public, signature, digest in signatures:
        if not verify_raw(public, signature, digest):
            raise RuntimeError("a signature of the benchmark log does not verify")
    return len(signatures)


def verify_on_all_cores(signatures: Sequence[Signature], cores: int) -> float:
    """Seconds to verify all signatures on a Pool of `cores` workers, started beforehand.

    Spawned, not forked: the parent holds database connections and pool threads.
    """
    chunk = max(1, -(-len(signatures) // (cores * 4)))
    chunks = [signatures[i : i + chunk] for i in range(0, len(signatures), chunk)]
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        pool.map(verify_signatures, [signatures[:1]] * cores)  # start and warm the workers
        with Stopwatch() as watch:
            verified = sum(pool.map(verify_signatures, chunks))
    if verified != len(signatures):
        raise RuntimeError(f"the pool verified {verified} of {len(signatures)} signatures")
    return watch.seconds


# ----------------------------------------------------------------------- profile


def profile_appends(backend: Backend, count: int, workdir: Path, top: int = 10) -> str:
    """cProfile of `count` signed appends, the `top` entries by cumulative time."""
    with location(backend, workdir, "profile") as settings:
        ledger, founder = open_ledger(backend, settings)
        try:
            names = [f"bench-{i:07d}" for i in range(count)]
            keys = new_public_keys(count)
            decisions = [enrolment(name, key) for name, key in zip(names, keys, strict=True)]
            profiler = cProfile.Profile()
            profiler.enable()
            for decide in decisions:
                ledger.kernel.append(founder, decide)
            profiler.disable()
        finally:
            ledger.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()
