"""What every benchmark module shares: the row it reports, where it runs, how it is timed.

A benchmark module exposes `run(args: BenchArgs) -> list[Row]`; `bench/run.py` collects
the rows of all modules into one table. Each row pairs our rate with a baseline measured
in the same process on the same backend, so the ratio holds across machines even where
the absolute rates do not. Rates are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import gc
import resource
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import LiteralString

from dermledger.ledger.bootstrap import (
    Settings,
    eventsourcing_env,
    postgres_connect,
    postgres_schema,
)

# Key files use the real cipher and format with a lower scrypt cost: key unlocking is not
# what the benchmarks measure (the tests do the same).
FAST_KDF = 10
PASSPHRASE = "benchmark passphrase"

SQLITE = "sqlite"
POSTGRES = "postgresql"
MEMORY = "memory"


@dataclass(frozen=True)
class Row:
    """One measure on one backend: our rate beside its baseline's."""

    measure: str
    backend: str
    n: int
    ours_per_s: float
    baseline_per_s: float
    peak_mib: float
    baseline: str  # what the baseline is, printed under the table

    @property
    def ratio(self) -> float:
        return self.ours_per_s / self.baseline_per_s if self.baseline_per_s else float("nan")


@dataclass(frozen=True)
class Backend:
    """Where events are stored: `url` is set for PostgreSQL only."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class BenchArgs:
    """What `run.py` hands every benchmark module."""

    events: int
    backends: tuple[Backend, ...]
    workdir: Path


def say(message: str) -> None:
    """Progress on stderr, so stdout carries only the table."""
    print(message, file=sys.stderr, flush=True)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


class Stopwatch:
    """Accumulates the time spent inside `with watch:` blocks (for interleaved runs)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._started


class CpuWatch(Stopwatch):
    """A Stopwatch that also accumulates CPU seconds: this process's (all threads) plus
    those of the server processes `pids` (PostgreSQL backends, from /proc/PID/schedstat,
    nanoseconds). On a shared machine the wall clock moves by 2x between identical runs;
    CPU moves far less, and a server's CPU is work a round trip costs, which the client's
    CPU alone would not show."""

    def __init__(self, pids: Sequence[int] = ()) -> None:
        super().__init__()
        self.pids = list(pids)
        self.cpu_seconds = 0.0
        self._cpu_started = 0.0

    def cpu_now(self) -> float:
        total = time.process_time()
        for pid in self.pids:
            # no /proc (not Linux) or the backend is gone: client CPU only
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        return total

    def __enter__(self) -> CpuWatch:
        self._cpu_started = self.cpu_now()
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.cpu_seconds += self.cpu_now() - self._cpu_started


# ------------------------------------------------------------------- peak memory

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


class PeakMemory:
    """Peak resident memory of this process over a measure.

    ru_maxrss only ever grows, so after the first large measure it would repeat the same
    number; on Linux writing 5 to /proc/self/clear_refs resets the high-water mark
    (VmHWM), which gives each measure its own peak. Elsewhere it falls back to ru_maxrss
    (the process-wide peak). Worker processes are not counted.
    """

    def __init__(self) -> None:
        self.resettable = False

    def reset(self) -> None:
        gc.collect()  # so garbage of an earlier measure is not counted against this one
        try:
            _CLEAR_REFS.write_text("5")
            self.resettable = True
        except OSError:
            self.resettable = False

    def mib(self) -> float:
        if self.resettable:
            for line in _STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ------------------------------------------------------------------ locations


def persistence_env(backend: Backend, settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for a backend, identical for ours and the baseline."""
    if backend.name == MEMORY:
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    return eventsourcing_env(settings)


@contextmanager
def location(backend: Backend, workdir: Path, tag: str) -> Iterator[Settings]:
    """A fresh, empty ledger location; a PostgreSQL schema is dropped afterwards."""
    suffix = uuid.uuid4().hex[:12]
    home = workdir / f"{tag}-{backend.name}-{suffix}"
    if backend.url is None:
        try:
            yield Settings(home=home, kdf_log2_n=FAST_KDF)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return
    sep = "&" if "?" in backend.url else "?"
    settings = Settings(
        home=home, db_url=f"{backend.url}{sep}schema=bench_{suffix}", kdf_log2_n=FAST_KDF
    )
    try:
        yield settings
    finally:
        drop_schema(settings)
        shutil.rmtree(home, ignore_errors=True)


def ensure_schema(settings: Settings) -> None:
    """Create the schema a Settings names (for baselines, which do not do it themselves)."""
    _execute(settings, "CREATE SCHEMA IF NOT EXISTS {}")


def drop_schema(settings: Settings) -> None:
    _execute(settings, "DROP SCHEMA IF EXISTS {} CASCADE")


def _execute(settings: Settings, statement: LiteralString) -> None:
    from psycopg import sql

    schema = postgres_schema(settings.db_url or "")
    if not schema:
        return
    with postgres_connect(settings) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(schema)))
