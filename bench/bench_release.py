"""Release creation: `DermLedger.create_release` beside the least work any release must do.

Ours is the real service path on a ledger of N verified images: replay the log to the as-of
position (keeping each image's folded state, not its envelopes), apply the six gates, check
each image's blob against its address once and hard-link it out of the blob store, write
metadata.csv, annotations.csv and provenance.jsonl image by image (every event of every
image with its RFC 6962 inclusion proof, hashed as written), the datasheet with its charts
and croissant.json (from metadata.csv read back), list every file in the manifest (the
images with the hash already checked), sign it. Releases are built and signed without
publishing (a rerun on a cached study must not change its log; the one append is
negligible). After an untimed warm-up release (lazy imports), the fastest of K full
releases gives ours; the fastest of K releases as of the seq where half the images were
verified, subtracted from it, gives the marginal cost per image, without the fixed part
(charts above all). K is 3 by default (`--repeats`).

Baselines, run on the same image files (the blob store's) just before and just after: the
SHA-256 of every file and a shutil.copyfile of it into a fresh folder, and SHA-256 alone.

On SQLite the study comes from `bench/release_study.py`: 320x240 images made and measured
on a worker process, every event through the real service and sealing, hundreds of events
a transaction, cached in the work folder (`--workdir DIR`: a rerun reuses it). On
PostgreSQL it is built outside the timing through the service one command at a time
(patients with consent, bulk import, an annotation and three unanimous consensus votes
per image, histology for every malignant one) from a cohort plan whose images are drawn
cheaply: one rendered base image per category, each capture that base under its own
smooth random shading and shift.

    .venv/bin/python bench/run.py --only bench_release   # size: $DERMLEDGER_BENCH_RELEASE_IMAGES
    .venv/bin/python bench/bench_release.py [--release-images N] [--postgres] [--profile]
        [--workdir DIR] [--repeats K]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dermledger.bench import release_study
from dermledger.bench.bench_cpu import cpu_seconds
from dermledger.bench.bench_ledger import open_ledger
from dermledger.bench.common import (
    MEMORY,
    PASSPHRASE,
    SQLITE,
    Backend,
    BenchArgs,
    PeakMemory,
    Row,
    Stopwatch,
    location,
    rate,
    say,
)
from dermledger.bench.sampler import Sampler
from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import read_topic
from dermledger.study.ledger import DermLedger
from dermledger.study.position import Position
from dermledger.study.sealing import keyed_blobs
from dermledger.synthetic.cohort import METADATA_COLUMNS, plan_cohort
from dermledger.synthetic.images import draw_image, encode_jpeg

IMAGES_ENV = "DERMLEDGER_BENCH_RELEASE_IMAGES"
DEFAULT_IMAGES = 500
BASELINES = {
    "release ÷ SHA-256+copy": "SHA-256 of every image file + shutil.copyfile to a fresh folder",
    "release ÷ SHA-256": "SHA-256 of every image file alone (1 MiB reads), same files",
}
MARGINAL = (
    "release, marginal ÷ SHA-256+copy",
    "the same hash+copy; ours = (N - N/2) / (t(N) - t(N/2)), t(N/2) a release as of the seq "
    "where half the images were verified: the cost per image, without the fixed part",
)
CPU = (
    "release ÷ SHA-256+copy, CPU",
    "the same, both sides in CPU seconds (getrusage of this process and its reaped "
    "children; every full release against both baseline runs): what the wall ratio tends "
    "to on free cores, and far steadier than it on a shared machine",
)
# Full and half releases are timed this many times each, alternating, and the fastest of
# each kept: on a shared machine the difference of two single runs is mostly noise.
REPEATS = 3
TEAM = {"ann": ["annotator"], "r1": ["specialist"], "r2": ["specialist"],
        "r3": ["specialist"], "pat": ["pathologist"]}  # fmt: skip
READERS = ("r1", "r2", "r3")
DISTINCT = "bench: distinct synthetic captures"


@dataclass(frozen=True)
class Cohort:
    """Planned rows with their images on disk, and each row's true diagnosis."""

    out_dir: Path
    images_dir: Path
    patients: list[dict[str, str]]
    header: list[str]
    rows: list[dict[str, str]]
    truth: dict[str, dict[str, str]]  # by filename


# ------------------------------------------------------------------ the study


def shaded(base: np.ndarray, seed: int) -> np.ndarray:
    """`base` under a smooth random shading (a 6x8 grid of gains, bicubic-upsampled, about
    ±25%) and a random shift: cheap, and distinct enough for the duplicate detector (of 150
    siblings, no pair is within both its pHash and dHash thresholds); a pair it still flags
    at larger N is resolved as distinct while the study is built."""
    rng = np.random.default_rng(seed)
    height, width = base.shape[:2]
    grid = Image.fromarray(rng.normal(0.0, 1.0, (6, 8)).astype(np.float32), mode="F")
    gain = 1.0 + 0.25 * np.asarray(grid.resize((width, height), Image.Resampling.BICUBIC))
    shifted = np.roll(base, (int(rng.integers(-40, 41)), int(rng.integers(-40, 41))), (0, 1))
    return np.clip(shifted * gain[..., None], 0, 255).astype(np.uint8)


def make_cohort(n: int, workdir: Path) -> Cohort:
    """A cohort plan of n records (no planted duplicates), its images drawn cheaply."""
    say(f"  planning a {n:,}-image cohort and drawing its images")
    plan = plan_cohort(records=n, duplicates=0, patients=max(1, n * 2 // 5))
    out = workdir / f"release-cohort-{uuid.uuid4().hex[:8]}"
    images = out / "images"
    images.mkdir(parents=True)
    bases: dict[str, np.ndarray] = {}
    for number, record in enumerate(plan.records):
        category = record.truth["category"]
        if category not in bases:
            bases[category] = draw_image(len(bases) + 1, category)
        (images / record.filename).write_bytes(encode_jpeg(shaded(bases[category], number)))
    rows = [{c: r.metadata[c] for c in METADATA_COLUMNS} for r in plan.records]
    truth = {r.filename: r.truth for r in plan.records}
    return Cohort(out, images, plan.patients, list(METADATA_COLUMNS), rows, truth)


@dataclass(frozen=True)
class Study:
    ledger: DermLedger
    lead: Signer
    half_seq: int  # the log's size once the first half of the images is in and verified
    half: int  # so a release as of half_seq holds this many images


def log_size(ledger: DermLedger) -> int:
    return sum(1 for _ in ledger.kernel.log())


def build_study(backend: Backend, settings: Settings, cohort: Cohort) -> Study:
    """A ledger where every image of the cohort passes every release gate."""
    ledger, lead = open_ledger(backend, settings)
    keys = {}
    for name, roles in TEAM.items():
        ledger.actors.enrol(lead, name, roles, passphrase=PASSPHRASE)
        keys[name] = ledger.actors.unlock(name, PASSPHRASE)
    for row in cohort.patients:
        ledger.patients.register_patient(lead, row["patient_id"], row)
        ledger.patients.record_consent(lead, row["patient_id"], "study", b"consent form v3")
    # In two halves, each imported then verified, so that the log as of the end of the
    # first half holds exactly the images of a release of half the size.
    half = len(cohort.rows) // 2
    half_seq = 0
    for part in (cohort.rows[:half], cohort.rows[half:]):
        report = ledger.imports.import_folder(lead, cohort.images_dir, cohort.header, part)
        if report.captured != len(part):
            raise RuntimeError(f"captured {report.captured} of {len(part)} images")
        for suspicion in ledger.curation.list_duplicates():  # rare; resolved as distinct captures
            ledger.curation.resolve_duplicate(
                lead, suspicion["image_id"], duplicate_of=None, distinct=True, reason=DISTINCT
            )
        for image_id, row in zip(report.image_ids, part, strict=True):
            truth = cohort.truth[row["filename"]]
            ledger.confirmation.annotate(keys["ann"], image_id, truth["diagnosis"], [])
            for reader in READERS:
                ledger.confirmation.vote(keys[reader], image_id, truth["diagnosis"])
            if truth["malignant"] == "true":
                ledger.confirmation.record_histology(keys["pat"], image_id, truth["diagnosis"],
                                        f"PATH-{row['filename']}", "2026-11-20")  # fmt: skip
        half_seq = half_seq or log_size(ledger)
    return Study(ledger, lead, half_seq, half)


def blob_paths(ledger: DermLedger) -> list[Path]:
    """The blob-store file of every captured image: what create_release copies out. A
    sealed capture's (erasure v2, the default) is its encrypted file at its keyed
    address (`blob_ref`, 28 bytes longer than the image), which the release opens."""
    blobs, sealed = BlobStore(ledger.settings.blobs_dir), keyed_blobs(ledger.settings)
    return [
        sealed.path(p["blob_ref"]) if p.get("blob_ref") else blobs.path(p["blob_sha256"])
        for p in (env.payload for env in read_topic(ledger.kernel.recorder, "ImageCaptured"))
    ]


# ------------------------------------------------------------------ measures


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Clock(Stopwatch):
    """A Stopwatch that also adds up CPU seconds (`getrusage` of this process and its
    reaped children), which a shared machine's other jobs move far less than wall time."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu = 0.0
        self._cpu_started = 0.0

    def __enter__(self) -> Clock:
        self._cpu_started = cpu_seconds()
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.cpu += cpu_seconds() - self._cpu_started


def baseline(paths: list[Path], copy_to: Path | None) -> Clock:
    """Time (wall and CPU) to hash every file, and copy each into `copy_to` (created,
    then removed)."""
    if copy_to is not None:
        copy_to.mkdir()
    try:
        with Clock() as watch:
            for number, path in enumerate(paths):
                sha256_file(path)
                if copy_to is not None:
                    shutil.copyfile(path, copy_to / f"{number:06d}.jpg")
    finally:
        if copy_to is not None:
            shutil.rmtree(copy_to, ignore_errors=True)
    return watch


def baselines(paths: list[Path], workdir: Path) -> list[Clock]:
    """Both baselines, in BASELINES order."""
    fresh = workdir / f"baseline-copy-{uuid.uuid4().hex[:8]}"
    return [baseline(paths, fresh), baseline(paths, None)]


def run(args: BenchArgs, images: int | None = None, repeats: int = REPEATS) -> list[Row]:
    images = images or int(os.environ.get(IMAGES_ENV) or DEFAULT_IMAGES)
    return measure(args, images, repeats)


@contextmanager
def studies(backend: Backend, workdir: Path, n: int) -> Iterator[Study]:
    """The study of `n` verified images on `backend`: on SQLite from `release_study` (fast,
    cached in `workdir`), elsewhere built through the per-command path of `build_study`."""
    if backend.name == SQLITE:
        large = release_study.open_or_build(workdir, n)
        try:
            yield Study(large.ledger, large.lead, large.half_seq, large.half)
        finally:
            large.ledger.close()
        return
    cohort = make_cohort(n, workdir)
    try:
        with location(backend, workdir, "release") as settings:
            study = build_study(backend, settings, cohort)
            try:
                yield study
            finally:
                study.ledger.close()
    finally:
        shutil.rmtree(cohort.out_dir, ignore_errors=True)


def release(
    study: Study,
    workdir: Path,
    *,
    as_of: int | None = None,
    publish: bool | None = None,
    sizes: dict[str, int] | None = None,
    clock: Clock | None = None,
) -> tuple[float, int]:
    """(seconds, images) of one create_release into a fresh folder, removed afterwards. By
    default a full release is published, a partial one (as of an earlier seq) built and
    signed only; a second full release must not publish (its name is taken). `sizes`, when
    given, receives the bytes of each top-level file of the release; `clock`, when given,
    adds the release's wall and CPU time."""
    out = workdir / f"release-{uuid.uuid4().hex[:8]}"
    watch = Clock()
    try:
        with watch:
            summary = study.ledger.releases.create_release(
                study.lead,
                "bench" if as_of is None else f"bench-{as_of}",
                out,
                as_of=None if as_of is None else Position.at_seq(as_of),
                publish=as_of is None if publish is None else publish,
            )
        if clock is not None:
            clock.seconds += watch.seconds
            clock.cpu += watch.cpu
        if sizes is not None:
            sizes.update({p.name: p.stat().st_size for p in out.iterdir() if p.is_file()})
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return watch.seconds, int(summary["images"])


def warm_up(study: Study, workdir: Path) -> None:
    """An untimed release of half the study first: a release's lazy imports (matplotlib;
    statsmodels, and with it scipy and pandas, once two images have votes to compare) and
    its first chart are paid once per process (about 3 s here), not once per release."""
    release(study, workdir, as_of=study.half_seq)


def rss_mib() -> float:
    """This process's resident memory now (Linux; NaN elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(args: BenchArgs, n: int, repeats: int = REPEATS) -> list[Row]:
    rows: list[Row] = []
    for backend in args.backends:
        if backend.name == MEMORY:
            say("  memory: skipped (a release reads a ledger on disk; nothing to compare)")
            continue
        say(f"  {backend.name}: the study ({n:,} verified images)")
        started = time.perf_counter()
        with studies(backend, args.workdir, n) as study:
            say(f"    ready in {time.perf_counter() - started:.0f} s; warm-up, baselines, "
                f"{repeats} x (release, half release), baselines")  # fmt: skip
            warm_up(study, args.workdir)
            paths = blob_paths(study.ledger)
            before = baselines(paths, args.workdir)
            peak, sizes = PeakMemory(), {}
            peak.reset()
            resident = rss_mib()
            spent = Clock()  # every full release's wall and CPU time, for the CPU ratio
            seconds, released = release(
                study, args.workdir, sizes=sizes, publish=False, clock=spent
            )
            mib = peak.mib()
            half_seconds, half = release(study, args.workdir, as_of=study.half_seq)
            for _ in range(repeats - 1):  # alternating, keeping the fastest of each
                again, _ = release(study, args.workdir, publish=False, clock=spent)
                seconds = min(seconds, again)
                again, _ = release(study, args.workdir, as_of=study.half_seq)
                half_seconds = min(half_seconds, again)
            after = baselines(paths, args.workdir)
        if released != n or half != study.half:
            raise RuntimeError(f"released {released} of {n} and {half} of {study.half}")
        say(f"    release of {released:,}: {seconds:.2f} s, of {half:,}: {half_seconds:.2f} s; "
            f"resident {resident:.0f} MiB before, peak {mib:.0f} MiB during; bytes per image: "
            + ", ".join(f"{name} {size / released:,.0f}" for name, size in sorted(sizes.items())
                        if name.endswith((".csv", ".jsonl", ".json"))))  # fmt: skip
        full = rate(released, seconds)
        marginal = rate(released - half, seconds - half_seconds)
        theirs = [
            rate(2 * len(paths), a.seconds + b.seconds)
            for a, b in zip(before, after, strict=True)
        ]
        for (label, what), baseline_rate in zip(BASELINES.items(), theirs, strict=True):
            rows.append(Row(label, backend.name, released, full, baseline_rate, mib, what))
        label, what = CPU
        copy_cpu = rate(2 * len(paths), before[0].cpu + after[0].cpu)
        rows.append(Row(label, backend.name, released, rate(repeats * released, spent.cpu),
                        copy_cpu, mib, what))  # fmt: skip
        label, what = MARGINAL
        rows.append(Row(label, backend.name, released - half, marginal, theirs[0], mib, what))
    return rows


def profile_release(images: int, workdir: Path, top: int = 12) -> str:
    """One SQLite study, after `warm_up`: a full release under cProfile (its `top` entries
    by cumulative time), then one under `Sampler` (its `top` by cumulative wall time)."""
    sampler = Sampler("ReleaseService.create_release")
    with studies(Backend(SQLITE), workdir, images) as study:
        warm_up(study, workdir)
        profiler = cProfile.Profile()
        profiler.runcall(release, study, workdir, publish=False)
        sampler.run(release, study, workdir, publish=False)
        plain, _ = release(study, workdir, publish=False)
    text = io.StringIO()
    text.write(f"cProfile of a release of {images:,} images, top {top} by cumulative time:\n")
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    text.write(f"Sampled every 1 ms (wall clock), top {top}:\n")
    text.write(sampler.report(top))
    text.write(f"\n(the same release unprofiled: {plain:.2f} s)\n")
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    from dermledger.bench import run as suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release-images", type=int, default=None, metavar="N",
                        help=f"verified images in the study (default ${IMAGES_ENV} or "
                        f"{DEFAULT_IMAGES})")  # fmt: skip
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=None)
    parser.set_defaults(memory=False)  # suite.backends reads it: no in-memory row here
    parser.add_argument("--profile", action="store_true", help="cProfile a SQLite release, top 12")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where studies are built and cached for reruns (default: a tmp)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=REPEATS,
        metavar="K",
        help=f"timed (release, half release) pairs, fastest kept ({REPEATS})",
    )
    options = parser.parse_args(argv)
    images = options.release_images or int(os.environ.get(IMAGES_ENV) or DEFAULT_IMAGES)
    if images < 20:
        parser.error("--release-images must be at least 20")
    if options.postgres and not os.environ.get(suite.POSTGRES_ENV):
        parser.error(f"--postgres needs ${suite.POSTGRES_ENV}")
    with tempfile.TemporaryDirectory(prefix="dermledger-bench-") as tmp:
        workdir = options.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if options.profile:
            print(profile_release(images, workdir))
            return 0
        args = BenchArgs(images, suite.backends(options), workdir)
        started = time.perf_counter()
        rows = run(args, images, options.repeats)
        suite.render(rows, args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
