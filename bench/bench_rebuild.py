"""Read-model rebuild: `ReadModel.rebuild` beside merely reading and decoding the same log.

Ours: `ReadModel.rebuild(ledger)`: drop and recreate the tables, then read the log in
batches of 1000, fold every image with `apply_image_event`, derive its label with the
verification policy, build audit rows with `trail_rows`, merge duplicate clusters, and
upsert it all with the tracking position in one transaction per batch. Measured:

- rebuild, state cache: the default (per-image states kept across batches in a bounded
  LRU of 10,000 compact states);
- rebuild, no state cache: an image met again in a later batch is refolded from its
  own stream (`ledger.stream(image_id)`);
- catch-up, 1 event a transaction: the incremental path at its smallest step (what
  catching up after each command costs), with the cache and without it (every event of
  an image then refolds the image's stream).

Baseline, on the same log and store, run just before and just after ours: `read_log`
of the recorder plus `.envelope()` of every entry (fetch and decode, nothing else), the
least any projection of this log must do.

The log is built through the service in the order a study makes it: patients and
consent, captures of distinct generated 320x240 images (2% captured twice, so duplicate
suspicions and clusters exist), metadata corrections, initial annotations, three votes
each, histology for malignant labels, duplicate decisions. About 6 events per image.

    .venv/bin/python bench/run.py --only bench_rebuild  # size: $DERMLEDGER_BENCH_REBUILD_EVENTS
    .venv/bin/python bench/bench_rebuild.py [--rebuild-events N] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

from dermledger.bench.bench_ledger import open_ledger
from dermledger.bench.common import (
    MEMORY,
    PASSPHRASE,
    Backend,
    BenchArgs,
    PeakMemory,
    Row,
    Stopwatch,
    location,
    rate,
    say,
)
from dermledger.ledger.app import DermLedger
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import read_log
from dermledger.projections.readmodel import ReadModel
from dermledger.synthetic.images import draw_image, encode_jpeg

EVENTS_ENV = "DERMLEDGER_BENCH_REBUILD_EVENTS"
DEFAULT_EVENTS = 3000
EVENTS_PER_IMAGE = 6  # roughly: the patients' two events are shared by three images
SIZE = (320, 240)
META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
        "anatom_site": "Trunk:Posterior trunk"}  # fmt: skip
# (category drawn, diagnosis the readers give), in turn: mostly benign, as in the cohort.
LABELS = (
    ("NV", "Nevus, NOS, Compound"),
    ("BKL", "Seborrheic keratosis"),
    ("NV", "Nevus, NOS, Junctional"),
    ("DF", "Dermatofibroma"),
    ("MEL", "Melanoma Invasive"),
    ("NV", "Nevus, NOS, Compound"),
    ("VASC", "Hemangioma"),
    ("BCC", "Basal cell carcinoma"),
)
DISSENT = "Solar lentigo"  # the third reader's label on every fourth image: a 2-of-3 panel
MALIGNANT = ("MEL", "BCC")
TEAM = {"annotator": ["annotator"], "reader1": ["specialist"], "reader2": ["specialist"],
        "reader3": ["specialist"], "pathologist": ["pathologist"]}  # fmt: skip
BASELINE = "read_log + .envelope() of the same log, same store, run before and after"
MEASURES = (
    ("rebuild ÷ read+decode (state cache)", {"batch_size": 1000}, {}),
    ("rebuild ÷ read+decode (no cache: reload streams)", {"batch_size": 1000}, {"state_cache": 0}),
    ("catch-up 1 event/transaction ÷ read+decode", {"batch_size": 1}, {}),
    ("catch-up 1 event/transaction, no cache ÷ read+decode", {"batch_size": 1}, {"state_cache": 0}),
)


def run(args: BenchArgs, events: int | None = None) -> list[Row]:
    events = events or int(os.environ.get(EVENTS_ENV) or DEFAULT_EVENTS)
    images = ImageCache(args.workdir / "rebuild-images")
    rows: list[Row] = []
    for backend in args.backends:
        if backend.name == MEMORY:
            say("  memory: skipped (the read model is SQL tables; events in memory say nothing)")
            continue
        with location(backend, args.workdir, "rebuild") as settings:
            ledger, lead = open_ledger(backend, settings)
            try:
                say(f"  {backend.name}: building a study log of about {events:,} events")
                size = build_study(ledger, lead, events, images)
                rows += measure(ledger, backend, size)
            finally:
                ledger.close()
    return rows


def measure(ledger: DermLedger, backend: Backend, size: int) -> list[Row]:
    peak = PeakMemory()
    peak.reset()
    before = read_and_decode(ledger)
    say(f"  {backend.name}: baseline read+decode of {size:,} events, peak {peak.mib():.0f} MiB")
    timed: list[tuple[str, float, float]] = []
    for label, call, options in MEASURES:
        say(f"  {backend.name}: {label.split(' ÷ ')[0]}")
        with ReadModel(ledger.settings, **options) as model:
            peak.reset()
            with Stopwatch() as watch:
                applied = model.rebuild(ledger, **call)
            if applied != size:
                raise RuntimeError(f"{label}: applied {applied} of {size} events")
            stats = model.stats
            say(f"    {stats.batches:,} batches; image states: {stats.captured:,} captured, "
                f"{stats.cache_hits:,} from the cache, {stats.reloads:,} reloaded")  # fmt: skip
            timed.append((label, watch.seconds, peak.mib()))
    after = read_and_decode(ledger)
    baseline = rate(2 * size, before + after)
    return [
        Row(label, backend.name, size, rate(size, seconds), baseline, mib, BASELINE)
        for label, seconds, mib in timed
    ]


def read_and_decode(ledger: DermLedger) -> float:
    with Stopwatch() as watch:
        for entry in read_log(ledger.recorder):
            entry.envelope()
    return watch.seconds


# --------------------------------------------------------------------- the log


class ImageCache:
    """Rendered JPEGs on disk, so every backend (and a rerun) captures the same bytes
    without rendering them again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, seed: int, category: str) -> bytes:
        path = self.folder / f"{seed}-{category}.jpg"
        if not path.exists():
            path.write_bytes(encode_jpeg(draw_image(seed, category, size=SIZE)))
        return path.read_bytes()


def build_study(ledger: DermLedger, lead: Signer, events: int, images: ImageCache) -> int:
    """A study log of about `events` events, made through the service; returns its size."""
    team = dict(enrol_team(ledger, lead))
    index = ledger.dedup_index()
    studied: list[tuple[str, str, str]] = []  # (image id, category, diagnosis)
    labels = cycle(LABELS)
    for i in range(max(3, events // EVENTS_PER_IMAGE)):
        patient = f"P{i // 3:05d}"
        if i % 3 == 0:
            ledger.register_patient(lead, patient, {"age": str(20 + i % 60), "sex": "female"})
            ledger.record_consent(lead, patient, "study", b"consent form v3")
        category, diagnosis = next(labels)
        reupload = i % 50 == 49 and bool(studied)
        seed, drawn = (i - 1, studied[-1][1]) if reupload else (i, category)
        result = ledger.capture(lead, images.get(seed, drawn), patient_id=patient,
                                lesion_id=f"L{i:06d}", metadata=META, index=index)  # fmt: skip
        if i % 7 == 0:
            ledger.edit_metadata(lead, result.image_id, "clin_size_long_diam_mm", "4.5",
                                 "measured at the second visit")  # fmt: skip
        if result.suspicions:
            first = result.suspicions[0].duplicate_of
            ledger.resolve_duplicate(lead, result.image_id,
                                     duplicate_of=first if reupload else None,
                                     distinct=not reupload, reason="reviewed")  # fmt: skip
        if not ledger.get_image(result.image_id).excluded:
            studied.append((result.image_id, category, diagnosis))
    for image_id, _, diagnosis in studied:
        ledger.annotate(team["annotator"], image_id, diagnosis, [])
    for n, reader in enumerate(("reader1", "reader2", "reader3")):
        for i, (image_id, _, diagnosis) in enumerate(studied):
            ledger.vote(team[reader], image_id, DISSENT if n == 2 and i % 4 == 0 else diagnosis)
    for image_id, category, diagnosis in studied:
        if category in MALIGNANT:
            ledger.record_histology(team["pathologist"], image_id, diagnosis, "PATH-1")
    return sum(1 for _ in read_log(ledger.recorder))


def enrol_team(ledger: DermLedger, lead: Signer) -> Iterator[tuple[str, Signer]]:
    for name, roles in TEAM.items():
        ledger.enrol(lead, name, roles, passphrase=PASSPHRASE)
        yield name, ledger.unlock(name, PASSPHRASE)


def main(argv: list[str] | None = None) -> int:
    from dermledger.bench import run as suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild-events", type=int, default=DEFAULT_EVENTS, metavar="N")
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=None)
    parser.set_defaults(memory=False)  # suite.backends reads it: no in-memory row here
    options = parser.parse_args(argv)
    if options.rebuild_events < 100:
        parser.error("--rebuild-events must be at least 100")
    if options.postgres and not os.environ.get(suite.POSTGRES_ENV):
        parser.error(f"--postgres needs ${suite.POSTGRES_ENV}")
    with tempfile.TemporaryDirectory(prefix="dermledger-bench-") as tmp:
        args = BenchArgs(options.rebuild_events, suite.backends(options), Path(tmp))
        started = time.perf_counter()
        rows = run(args, options.rebuild_events)
        suite.render(rows, args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
