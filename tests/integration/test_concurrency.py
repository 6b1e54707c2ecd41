"""Concurrent writers and killed commands, with real processes on SQLite and PostgreSQL.

Every writer is its own interpreter (a spawned worker process, or the CLI as a
subprocess) with its own connections, so what keeps the log whole is the recorders' own
locking and the optimistic concurrency of `DermLedger.append`, nothing shared in memory:

- four writers at once (captures, votes on one image by four specialists, edits of one
  image, enrolments, checkpoints) lose no event, fork no stream, keep seq dense, never
  show an IntegrityError or a locked database, and decide every event on the state it
  is chained to (three votes accepted and the fourth refused, per image);
- one specialist's vote cast twice at once is accepted once and refused once, both when
  the two are sealed on the same head and when one decided before the other committed;
- concurrent `init`s make one ledger with one founder; concurrent checkpoints keep the
  witness on the largest one;
- a command SIGKILLed at a chosen point (import, checkpoint, release create) leaves a log
  that `audit verify` accepts, and its re-run completes.

Races and kill points are arranged, not left to timing: barriers between the workers,
and for the CLI `cli_child`, which stops the command at the named point and tells the
test, which then sends SIGKILL. The hooks only wait; they change nothing the code does.

Four races these tests found (PostgreSQL openings colliding, a release published without
its folder, a key file lost to a concurrent enrolment, a shared blob discarded) are fixed;
the tests that found them now fail if any comes back (see OPENING_RACE and the three after).
"""

from __future__ import annotations

import csv
import importlib
import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.checkpoints import Checkpoint, WitnessedCheckpoint, WitnessFolder
from dermledger.ledger.errors import DermLedgerError, VerificationError
from dermledger.ledger.store import LogEntry
from dermledger.projections.release.verify import verify_release_dir
from dermledger.study.ledger import DermLedger
from dermledger.study.sealing import keyed_blobs
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import PASSPHRASE, LedgerHandle, open_handle, register_with_consent

SPAWN = multiprocessing.get_context("spawn")
# pytest's importlib mode names this module after the folder above the repository (whose
# root is the `dermledger` package itself), which a spawned process cannot import; the
# processes are given this file's functions under the name they can import.
IMPORTABLE = "tests.integration.test_concurrency"
ROOT = Path(__file__).resolve().parents[2]
WAIT = 120.0  # seconds a process may take before the test gives up on it
SMALL = (320, 240)  # the SOP's minimum size: the cheapest image that passes
META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
    "clin_size_long_diam_mm": "6.5",
}
PATIENT = {"age": "47", "sex": "female", "fitzpatrick_skin_type": "II"}
NEVUS = "Nevus, NOS, Compound"
SPECIALISTS = ("sam", "sue", "sid", "sol")
TEAM = {
    "ann": ["annotator"],
    **{name: ["specialist"] for name in SPECIALISTS},
    **{f"cy{i}": ["coordinator"] for i in range(4)},
}
ROUNDS = 3
WITNESS_COPIES = 300


@pytest.fixture
def founded(settings: Settings) -> Iterator[LedgerHandle]:
    """A founded ledger with coordinators cy0-cy3, specialists, an annotator, patient P1."""
    handle = open_handle(settings, team=TEAM)
    register_with_consent(handle, "P1", PATIENT)
    yield handle
    handle.ledger.close()


def image_bytes(seed: int) -> bytes:
    return encode_jpeg(draw_image(seed, size=SMALL))


def capture(handle: LedgerHandle, seed: int) -> str:
    return handle.ledger.capture.capture(
        handle["cy0"], image_bytes(seed), patient_id="P1", lesion_id=f"L{seed}", metadata=META
    ).image_id


def annotated(handle: LedgerHandle, seed: int) -> str:
    image = capture(handle, seed)
    handle.ledger.confirmation.annotate(handle["ann"], image, NEVUS, ["pigment_network=typical"])
    return image


def entries(ledger: DermLedger) -> list[LogEntry]:
    return list(ledger.kernel.log())


def check_log_shape(log: list[LogEntry]) -> None:
    """seq dense from 1, positions increasing, every stream versions 1..n chained by hash."""
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    positions = [e.position for e in log]
    assert positions == sorted(set(positions))
    heads: dict[str, tuple[int, str | None]] = {}
    for entry in log:
        envelope = entry.envelope()
        version, prev_hash = heads.get(envelope.stream_id, (0, None))
        assert (envelope.stream_version, envelope.prev_hash) == (version + 1, prev_hash), (
            f"stream {envelope.stream_id} forks or skips at seq {entry.seq}"
        )
        heads[envelope.stream_id] = (envelope.stream_version, envelope.hash)


# Races these tests found and the code now handles; the messages say what came back.
OPENING_RACE = (
    "eventsourcing runs CREATE OR REPLACE FUNCTION es_insert_events_text each time a "
    "PostgreSQL ledger is opened; an opening while another one's transaction is open fails "
    "with 'tuple concurrently updated' (two dermledger commands started together)"
)
RELEASE_WITHOUT_FOLDER = (
    "killed after ReleasePublished is appended and before the partial folder is renamed, "
    "the release is published with no folder, and `release create` with the same name "
    "refuses ('already published') instead of completing it"
)

ENROL_RACE = (
    "two coordinators enrolling the same new name at once with keys made in this home: "
    "Keystore.create writes one shared temporary file (FileNotFoundError for one of them), "
    "and the refused enrolment's clean-up removes the key file, which may be the enrolled "
    "actor's; the enrolled key can end up missing or replaced by the loser's"
)
SHARED_BLOB_DISCARDED = (
    "two captures of the same file under the same image id (two imports of one folder): "
    "the one that stored the blob first and is then refused ('already captured') discards "
    "the blob, which the other one's ImageCaptured refers to"
)


# ------------------------------------------------------------- worker processes


class Workers:
    """Four spawned processes kept for the whole module: starting one costs about 1.5 s
    of imports, so the tests hand plans to the same four instead of starting their own.
    Each task opens its own ledger (its own connections) and closes it again."""

    SIZE = 4

    def __init__(self) -> None:
        self.results = SPAWN.Queue()
        self.opening = SPAWN.Lock()
        self.barriers = {n: SPAWN.Barrier(n) for n in range(1, self.SIZE + 1)}
        self.tasks = [SPAWN.Queue() for _ in range(self.SIZE)]
        serve_ = importlib.import_module(IMPORTABLE).serve
        self.procs = [
            SPAWN.Process(
                target=serve_,
                args=(i, self.tasks[i], self.results, self.barriers, self.opening),
                daemon=True,
            )
            for i in range(self.SIZE)
        ]
        for proc in self.procs:
            proc.start()
        self.task_id = 0

    def start(self, function: Callable[..., dict[str, Any]], plans: list[dict]) -> int:
        """Hand plan i to worker i; they meet at one barrier of len(plans) parties."""
        self.task_id += 1
        self.barriers[len(plans)].reset()
        for i, plan in enumerate(plans):
            self.tasks[i].put((self.task_id, function.__name__, plan, len(plans)))
        return self.task_id

    def collect(self, task_id: int, count: int) -> list[dict[str, Any]]:
        reports: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + WAIT
        while len(reports) < count:
            try:
                got_id, index, got = self.results.get(timeout=1)
            except queue.Empty:
                if time.monotonic() > deadline or not all(p.is_alive() for p in self.procs):
                    codes = [p.exitcode for p in self.procs]
                    pytest.fail(f"workers stopped reporting; exit codes {codes}")
                continue
            if got_id == task_id:
                reports[index] = got
        crashes = [r["crash"] for r in reports.values() if "crash" in r]
        assert not crashes, "\n".join(crashes)
        return [reports[i] for i in range(count)]

    def run(self, function: Callable[..., dict[str, Any]], plans: list[dict]) -> list[dict]:
        """Run `function(plan, barrier, opening)` in len(plans) workers at once."""
        return self.collect(self.start(function, plans), len(plans))

    def close(self) -> None:
        for tasks in self.tasks:
            tasks.put(None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    pool = Workers()
    yield pool
    pool.close()


def serve(index: int, tasks: Any, results: Any, barriers: Any, opening: Any) -> None:
    """A worker's loop: run each task it is handed and report what happened."""
    for task in iter(tasks.get, None):
        task_id, name, plan, parties = task
        function = globals()[name]
        try:
            got = function(plan, barriers[parties], opening)
        except BaseException:
            got = {"crash": traceback.format_exc()}
        results.put((task_id, index, got))


def open_in_worker(settings: Settings, opening: Any) -> DermLedger:
    """Open the ledger in a worker, one worker at a time: on PostgreSQL two openings at
    once can fail inside eventsourcing's table setup, which is a finding of its own
    (test_opening_a_postgres_ledger_while_another_process_opens_it), not the subject here."""
    with opening:
        return DermLedger(settings)


def instrument(ledger: DermLedger) -> dict[str, int]:
    """Count appends, decisions (one per attempt: retries = decisions - appends) and the
    IntegrityErrors the recorder raised inside `append`."""
    stats = {"appends": 0, "decisions": 0, "integrity_errors": 0}
    append, save = ledger.kernel.append, ledger.kernel.save

    def counted_append(signer: Any, decide: Callable[[], list[Any]]) -> list[Any]:
        stats["appends"] += 1

        def counted_decide() -> list[Any]:
            stats["decisions"] += 1
            return decide()

        return append(signer, counted_decide)

    def counted_save(*items: Any, **kwargs: Any) -> Any:
        try:
            return save(*items, **kwargs)
        except IntegrityError:
            stats["integrity_errors"] += 1
            raise

    ledger.kernel.append = counted_append  # type: ignore[method-assign]
    ledger.kernel.save = counted_save  # type: ignore[method-assign]
    return stats


def attempt(op: str, call: Callable[[], list[Any]]) -> dict[str, Any]:
    """Run one write; a refusal is an outcome, anything else (IntegrityError, a locked
    database, a crash) is an error with its traceback."""
    try:
        return {"op": op, "outcome": "ok", "hashes": [e.hash for e in call()]}
    except DermLedgerError as exc:
        return {"op": op, "outcome": "refused", "kind": type(exc).__name__, "message": str(exc)}
    except Exception:
        return {"op": op, "outcome": "error", "traceback": traceback.format_exc()}


OPS = ("vote", "edit", "capture", "enrol", "checkpoint")


def writer(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """A coordinator and a specialist at one desk: each round, in step with the others,
    a vote on the round's shared image, an edit of the shared image, a capture of an
    image of its own, an enrolment and a checkpoint."""
    ledger = open_in_worker(plan["settings"], opening)
    stats = instrument(ledger)
    me = ledger.actors.unlock(plan["coordinator"], PASSPHRASE)
    reader = ledger.actors.unlock(plan["specialist"], PASSPHRASE)
    i = plan["index"]
    images = [image_bytes(seed) for seed in plan["seeds"]]

    def write(op: str, r: int) -> list[Any]:
        if op == "vote":
            return [ledger.confirmation.vote(reader, plan["panels"][r], NEVUS)]
        if op == "edit":
            value = f"{i + 1}.{r + 1}"  # a value of its own: never 'already that value'
            return [
                ledger.curation.edit_metadata(
                    me, plan["edited"], "clin_size_long_diam_mm", value, "re-measured"
                )
            ]
        if op == "capture":
            return ledger.capture.capture(
                me, images[r], patient_id="P1", lesion_id=f"L{i}-{r}", metadata=META
            ).envelopes
        if op == "enrol":
            return [ledger.actors.enrol(me, f"new{i}-{r}", ["annotator"], passphrase=PASSPHRASE)]
        return [ledger.audit.sign_checkpoint(me)]

    log = []
    for r in range(ROUNDS):
        for op in OPS:
            barrier.wait(timeout=WAIT)
            log.append({"round": r, **attempt(op, lambda op=op, r=r: write(op, r))})
    ledger.close()
    return {"log": log, **stats}


@contextmanager
def patched(obj: Any, name: str, replacement: Any) -> Iterator[None]:
    setattr(obj, name, replacement)
    try:
        yield
    finally:
        delattr(obj, name)


def race(ledger: DermLedger, kind: str, role: str, barrier: Any) -> Any:
    """Arrange one interleaving of two processes casting the same vote.

    same-head: both decide and seal on the same head, then save together; one save
    conflicts. stale-head: the 'late' process decides, the 'first' one commits, and only
    then does the late one seal and save, on whatever it reads next.
    """
    step = lambda: barrier.wait(timeout=WAIT)  # noqa: E731
    first_call: list[bool] = []

    def once(real: Callable[..., Any], before: Any, after: Any) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            hook = not first_call
            first_call.append(True)
            if hook and before:
                before()
            result = real(*args, **kwargs)
            if hook and after:
                after()
            return result

        return hooked

    if kind == "same-head":
        return patched(ledger.kernel, "save", once(ledger.kernel.save, step, None))
    if role == "first":
        return patched(ledger.kernel, "save", once(ledger.kernel.save, step, step))
    both = lambda: (step(), step())  # noqa: E731
    confirmation = ledger.confirmation
    return patched(confirmation, "_open_image", once(confirmation._open_image, None, both))


def double_voter(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """Specialist sam, in one of two processes, votes on each trial's image."""
    ledger = open_in_worker(plan["settings"], opening)
    stats = instrument(ledger)
    sam = ledger.actors.unlock("sam", PASSPHRASE)
    log = []
    for trial in plan["trials"]:
        barrier.wait(timeout=WAIT)
        before = dict(stats)
        with race(ledger, trial["race"], plan["role"], barrier):
            outcome = attempt(
                "vote", lambda t=trial: [ledger.confirmation.vote(sam, t["image"], NEVUS)]
            )
        log.append({**outcome, **{k: stats[k] - before[k] for k in stats}})
    ledger.close()
    return {"log": log}


def founder(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    ledger = open_in_worker(plan["settings"], opening)
    barrier.wait(timeout=WAIT)
    outcome = attempt("found", lambda: [ledger.actors.found(plan["name"], PASSPHRASE)[1]])
    ledger.close()
    return {"log": [outcome]}


def witness_writer(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """Write witness copies of checkpoints i, i+n, i+2n, ... (i: this worker's index)."""
    folder = WitnessFolder(plan["folder"])
    n, i = plan["workers"], plan["index"]
    barrier.wait(timeout=WAIT)
    for size in range(i, WITNESS_COPIES * n, n):
        checkpoint = Checkpoint("ledger-id", size, "00" * 32, "2026-11-23T00:00:00.000000Z")
        folder.record(WitnessedCheckpoint(checkpoint, "signature", "ada", "key", "public"))
    return {}


def enroller(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """Coordinator cy<i> enrols each name, with a key made here under its own passphrase."""
    ledger = open_in_worker(plan["settings"], opening)
    me = ledger.actors.unlock(f"cy{plan['index']}", PASSPHRASE)
    log = []
    for name in plan["names"]:
        barrier.wait(timeout=WAIT)
        passphrase = f"{PASSPHRASE} {plan['index']}"
        log.append(
            attempt(
                "enrol",
                lambda n=name, pw=passphrase: [
                    ledger.actors.enrol(me, n, ["annotator"], passphrase=pw)
                ],
            )
        )
    ledger.close()
    return {"log": log}


def importer(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """Capture one file under the image id an import derives for it. 'early' stores the
    blob first and is held before its append; 'late' finds the blob stored, captures and
    commits; then 'early' goes on."""
    ledger = open_in_worker(plan["settings"], opening)
    step = lambda: barrier.wait(timeout=WAIT)  # noqa: E731
    append = ledger.kernel.append

    def held(signer: Any, decide: Any) -> Any:
        if plan["role"] == "early":
            step(), step()  # blob stored; the late capture committed
            return append(signer, decide)
        envelopes = append(signer, decide)
        step()
        return envelopes

    ledger.kernel.append = held  # type: ignore[method-assign]
    if plan["role"] == "late":
        step()
    outcome = attempt(
        "capture",
        lambda: (
            ledger.capture.capture(
                ledger.actors.unlock("cy0", PASSPHRASE),
                image_bytes(plan["seed"]),
                patient_id="P1",
                lesion_id="L1",
                metadata=META,
                image_id=plan["image_id"],
            ).envelopes
        ),
    )
    ledger.close()
    return {"log": [outcome]}


def held_save(ledger: DermLedger, hold: Callable[[], Any]) -> None:
    """Make the first save of this ledger wait for `hold` (the other process's commit)
    after the decision, the sealing and the signing are done; later saves go straight on."""
    save = ledger.kernel.save
    calls: list[bool] = []

    def hooked(*items: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(True)
            hold()
        return save(*items, **kwargs)

    ledger.kernel.save = hooked  # type: ignore[method-assign]


def stale_writer(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """cy1 decides one write (an enrolment, or a capture for P1), then waits while the
    other process commits a revocation of cy1 or a withdrawal of P1's consent, then saves.
    With `burst`, it writes enrolments as fast as it can instead, unhooked."""
    if plan["op"] in ("revoke", "withdraw", "rival-capture"):
        return interrupter(plan, barrier, opening)
    ledger = open_in_worker(plan["settings"], opening)
    stats = instrument(ledger)
    step = lambda: barrier.wait(timeout=WAIT)  # noqa: E731
    me = ledger.actors.unlock("cy1", PASSPHRASE)
    log = []
    if plan.get("burst"):
        step()
        for n, key in enumerate(plan["keys"]):
            outcome = attempt(
                "enrol",
                lambda n=n, key=key: [
                    ledger.actors.enrol(me, f"burst{n}", ["annotator"], public_key=key)
                ],
            )
            log.append(outcome)
            if outcome["outcome"] != "ok":
                break
    else:
        held_save(ledger, lambda: (step(), step()))
        if plan["op"] == "enrol":
            call = lambda: [  # noqa: E731
                ledger.actors.enrol(me, "late-hire", ["annotator"], public_key=plan["keys"][0])
            ]
        else:
            call = lambda: (  # noqa: E731
                ledger.capture.capture(
                    me,
                    image_bytes(plan["seed"]),
                    patient_id="P1",
                    lesion_id="L-late",
                    metadata=META,
                ).envelopes
            )
        log.append(attempt(plan["op"], call))
    ledger.close()
    return {"log": log, **stats}


def interrupter(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    """cy0 revokes cy1, withdraws P1's consent, or captures the same photograph, once the
    writer has decided."""
    ledger = open_in_worker(plan["settings"], opening)
    me = ledger.actors.unlock("cy0", PASSPHRASE)
    barrier.wait(timeout=WAIT)
    if plan["op"] == "revoke":
        outcome = attempt("revoke", lambda: [ledger.actors.revoke(me, "cy1", "laptop stolen")])
    elif plan["op"] == "rival-capture":
        outcome = attempt(
            "capture",
            lambda: (
                ledger.capture.capture(
                    me,
                    image_bytes(plan["seed"]),
                    patient_id="P1",
                    lesion_id="L-rival",
                    metadata=META,
                ).envelopes
            ),
        )
    else:
        outcome = attempt(
            "withdraw", lambda: [ledger.patients.withdraw_consent(me, "P1", "the patient asked")]
        )
    if not plan.get("burst"):
        barrier.wait(timeout=WAIT)
    ledger.close()
    return {"log": [outcome]}


def opener(plan: dict[str, Any], barrier: Any, opening: Any) -> dict[str, Any]:
    try:
        DermLedger(plan["settings"]).close()
    except Exception:
        return {"error": traceback.format_exc()}
    return {}


# --------------------------------------------------------------- concurrent writers


def test_concurrent_writers_lose_nothing_and_fork_nothing(
    founded: LedgerHandle, workers: Workers
) -> None:
    ledger = founded.ledger
    panels = [annotated(founded, 100 + r) for r in range(ROUNDS)]
    edited = capture(founded, 200)
    before = entries(ledger)
    plans = [
        {
            "settings": ledger.settings,
            "index": i,
            "coordinator": f"cy{i}",
            "specialist": SPECIALISTS[i],
            "panels": panels,
            "edited": edited,
            "seeds": [300 + 10 * i + r for r in range(ROUNDS)],
        }
        for i in range(4)
    ]
    reports = workers.run(writer, plans)
    outcomes = [o for r in reports for o in r["log"]]

    errors = [o["traceback"] for o in outcomes if o["outcome"] == "error"]
    assert not errors, "\n".join(errors)  # no IntegrityError, no 'database is locked'
    refused = [o for o in outcomes if o["outcome"] == "refused"]
    # Four specialists vote on each round's image at once: the panel takes three.
    assert sorted(o["round"] for o in refused) == list(range(ROUNDS)), refused
    for o in refused:
        assert (o["op"], o["kind"]) == ("vote", "PolicyViolation")
        assert "panel already has 3 of 3 votes" in o["message"]

    # Not one event lost, not one extra: the new log is exactly what the writers were told.
    after = entries(ledger)
    assert [e.state for e in after[: len(before)]] == [e.state for e in before]
    written = [h for o in outcomes if o["outcome"] == "ok" for h in o["hashes"]]
    new = [e.envelope().hash for e in after[len(before) :]]
    assert len(new) == len(written) == len(set(written))
    assert sorted(new) == sorted(written)
    check_log_shape(after)
    assert ledger.audit.verify().ok

    # Each decision saw the state its event is chained to.
    for panel in panels:
        votes = [e for e in ledger.kernel.stream(panel) if e.type == "ConsensusVoteCast"]
        assert [v.payload["reader_slot"] for v in votes] == [1, 2, 3]
        assert len({v.actor for v in votes}) == 3
        assert ledger.records.get_image(panel).verification().stage == "consensus"
    stream = ledger.kernel.sealer.open_all(ledger.kernel.stream(edited))  # values are sealed
    edits = [e.payload for e in stream if e.type == "MetadataEdited"]
    assert len(edits) == 4 * ROUNDS
    assert [e["old_value"] for e in edits] == [6.5] + [e["new_value"] for e in edits[:-1]]
    sizes = [e.payload["tree_size"] for e in ledger.kernel.stream("ledger")]
    assert len(sizes) == 4 * ROUNDS and sizes == sorted(set(sizes))
    latest = ledger.kernel.witness.latest()
    assert latest is not None and latest.checkpoint.tree_size == sizes[-1]
    for i in range(4):
        for r in range(ROUNDS):
            name = f"new{i}-{r}"
            assert (
                ledger.actors.unlock(name, PASSPHRASE).key_id
                == ledger.kernel.get_actor(name).key_id
            )

    # The writers really did collide: some decisions had to be taken again.
    retries = sum(r["decisions"] - r["appends"] for r in reports)
    assert retries > 0, reports


def test_one_vote_cast_twice_at_once_is_accepted_once(
    founded: LedgerHandle, workers: Workers
) -> None:
    ledger = founded.ledger
    trials = [
        {"race": "same-head", "image": annotated(founded, 400)},
        {"race": "stale-head", "image": annotated(founded, 401)},
    ]
    plans = [
        {"settings": ledger.settings, "index": i, "role": role, "trials": trials}
        for i, role in enumerate(("first", "late"))
    ]
    first, late = (r["log"] for r in workers.run(double_voter, plans))
    for trial, a, b in zip(trials, first, late, strict=True):
        outcomes = sorted([a, b], key=lambda o: o["outcome"])
        accepted, refused = outcomes
        assert (accepted["outcome"], refused["outcome"]) == ("ok", "refused"), (trial, a, b)
        assert refused["kind"] == "PolicyViolation"
        assert "sam has already voted on this image" in refused["message"]
        assert refused["decisions"] == 2 and accepted["decisions"] == 1  # the loser re-decided
        votes = [e for e in ledger.kernel.stream(trial["image"]) if e.type == "ConsensusVoteCast"]
        assert [v.actor for v in votes] == ["sam"]
        if trial["race"] == "same-head":
            assert refused["integrity_errors"] == 1  # its first save hit the winner's event
        else:
            assert b is refused  # the late decision never reaches the log
    check_log_shape(entries(ledger))
    assert ledger.audit.verify().ok


def test_concurrent_inits_make_one_ledger(settings: Settings, workers: Workers) -> None:
    names = ["ada", "ada", "bob"]
    plans = [{"settings": settings, "index": i, "name": n} for i, n in enumerate(names)]
    outcomes = [r["log"][0] for r in workers.run(founder, plans)]
    won = [names[i] for i, o in enumerate(outcomes) if o["outcome"] == "ok"]
    assert len(won) == 1, outcomes
    for o in outcomes:
        if o["outcome"] != "ok":
            assert o["kind"] == "Conflict" and "a ledger already exists" in o["message"], o
    ledger = DermLedger(settings)
    try:
        log = entries(ledger)
        assert len(log) == 1 and log[0].stream_id == f"actor:{won[0]}"
        assert ledger.audit.verify().ok
        assert (
            ledger.actors.unlock(won[0], PASSPHRASE).key_id
            == ledger.kernel.get_actor(won[0]).key_id
        )
        assert sorted(p.name for p in settings.keys_dir.glob("*.json")) == [f"{won[0]}.key.json"]
    finally:
        ledger.close()


def test_one_name_enrolled_twice_at_once_keeps_a_usable_key(
    founded: LedgerHandle, workers: Workers
) -> None:
    ledger = founded.ledger
    names = [f"eve{n}" for n in range(6)]
    plans = [{"settings": ledger.settings, "index": i, "names": names} for i in range(2)]
    first, second = (r["log"] for r in workers.run(enroller, plans))
    broken = []
    for name, a, b in zip(names, first, second, strict=True):
        winners = [i for i, o in enumerate((a, b)) if o["outcome"] == "ok"]
        assert len(winners) == 1, (name, a, b)
        loser = (a, b)[1 - winners[0]]
        try:
            key = ledger.actors.unlock(name, f"{PASSPHRASE} {winners[0]}")
            usable = key.key_id == ledger.kernel.get_actor(name).key_id
        except DermLedgerError:
            usable = False
        if loser["outcome"] == "error" or not usable:
            broken.append((name, loser.get("traceback", "")[-200:], usable))
            continue
        assert loser["kind"] == "Conflict", loser
    check_log_shape(entries(ledger))
    assert not broken, f"{ENROL_RACE}: {broken[0]}"


def test_one_file_captured_twice_at_once_keeps_its_blob(
    founded: LedgerHandle, workers: Workers
) -> None:
    ledger = founded.ledger
    image_id = ledger.capture.new_image_id("import:same.jpg:one file")
    plans = [
        {"settings": ledger.settings, "role": role, "seed": 700, "image_id": image_id}
        for role in ("early", "late")
    ]
    early, late = (r["log"][0] for r in workers.run(importer, plans))
    assert late["outcome"] == "ok", late
    assert early["outcome"] == "refused" and "already captured" in early["message"], early
    ref = ledger.records.get_image(image_id).captured["blob_ref"]  # erasure v2: sealed blob
    assert keyed_blobs(ledger.settings).has(ref), SHARED_BLOB_DISCARDED


def test_witness_copies_written_at_once_keep_the_largest(tmp_path: Path, workers: Workers) -> None:
    """Concurrent `checkpoint` runs finish in any order: no run fails writing its witness
    copy, and latest.json ends on the largest checkpoint, never an older one."""
    plans = [{"folder": tmp_path / "checkpoints", "index": i, "workers": 2} for i in range(2)]
    workers.run(witness_writer, plans)
    latest = WitnessFolder(tmp_path / "checkpoints").latest()
    assert latest is not None and latest.checkpoint.tree_size == 2 * WITNESS_COPIES - 1
    assert len(list((tmp_path / "checkpoints").glob("*.json"))) == 2 * WITNESS_COPIES + 1
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


# ------------------------------------------------ decisions read other streams


def public_keys(count: int) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dermledger.ledger.signing import raw_public_key

    return [raw_public_key(Ed25519PrivateKey.generate().public_key()).hex() for _ in range(count)]


def seq_of(log: list[LogEntry], event_type: str, stream_id: str) -> int:
    (seq,) = [e.seq for e in log if e.topic == event_type and e.stream_id == stream_id]
    return seq


@pytest.mark.parametrize("op", ["enrol", "capture"])
def test_a_revocation_between_decision_and_save_stops_the_event(
    founded: LedgerHandle, workers: Workers, op: str
) -> None:
    """cy1 decides (its actor stream says: not revoked), cy0 revokes cy1 and commits, then
    cy1's signed event reaches the store: the insert must see that cy1's stream moved on,
    and the append, deciding again, must refuse. The event streams written (a new actor, a
    new image) are not the revoked actor's, so only the read set can catch this."""
    ledger = founded.ledger
    plans = [
        {"settings": ledger.settings, "op": op, "keys": public_keys(1), "seed": 900},
        {"settings": ledger.settings, "op": "revoke"},
    ]
    writer_report, revoker_report = workers.run(stale_writer, plans)
    (late,), (revoked,) = writer_report["log"], revoker_report["log"]
    assert revoked["outcome"] == "ok", revoked
    log = entries(ledger)
    revocation = seq_of(log, "ActorRevoked", "actor:cy1")
    after = [e.seq for e in log if e.seq > revocation and e.envelope().actor == "cy1"]
    assert not after, f"events by cy1 after its revocation at seq {revocation}: {after}"
    assert (late["outcome"], late.get("kind")) == ("refused", "PolicyViolation"), late
    assert "revoked" in late["message"]
    assert writer_report["integrity_errors"] == 1  # the stale decision's insert was refused
    check_log_shape(log)
    assert ledger.audit.verify().ok


def test_a_capture_between_decision_and_save_reaches_the_duplicate_check(
    founded: LedgerHandle, workers: Workers
) -> None:
    """cy1 decides a capture while its duplicate index has not seen cy0's capture of the
    same photograph; cy0's commits first. The captures read by cy1's decision are part of
    its read set, so its insert fails, and its decision, made again, suspects cy0's image:
    two captures of one photograph at once are never both recorded unsuspected."""
    ledger = founded.ledger
    plans = [
        {"settings": ledger.settings, "op": "capture", "keys": [], "seed": 902},
        {"settings": ledger.settings, "op": "rival-capture", "seed": 902},
    ]
    writer_report, rival_report = workers.run(stale_writer, plans)
    (late,), (rival,) = writer_report["log"], rival_report["log"]
    assert (rival["outcome"], late["outcome"]) == ("ok", "ok"), (rival, late)
    log = entries(ledger)
    first, second = [e.envelope().stream_id for e in log if e.topic == "ImageCaptured"]
    suspected = [e.envelope().payload for e in log if e.topic == "DuplicateSuspected"]
    assert [(p["image_id"], p["duplicate_of"], p["kind"]) for p in suspected] == [
        (second, first, "exact-bytes")
    ]
    assert writer_report["integrity_errors"] == 1  # the decision without the rival failed
    check_log_shape(log)
    assert ledger.audit.verify().ok


def test_a_consent_withdrawal_between_decision_and_save_stops_the_capture(
    founded: LedgerHandle, workers: Workers
) -> None:
    """The capture's decision read P1's stream (consent in force); the withdrawal commits
    before the capture's insert, which must then fail, and the capture be refused."""
    ledger = founded.ledger
    plans = [
        {"settings": ledger.settings, "op": "capture", "keys": [], "seed": 901},
        {"settings": ledger.settings, "op": "withdraw"},
    ]
    writer_report, withdrawer_report = workers.run(stale_writer, plans)
    (late,), (withdrawn,) = writer_report["log"], withdrawer_report["log"]
    assert withdrawn["outcome"] == "ok", withdrawn
    log = entries(ledger)
    withdrawal = seq_of(log, "ConsentWithdrawn", "patient:P1")
    captured = [e.seq for e in log if e.topic == "ImageCaptured" and e.seq > withdrawal]
    assert not captured, f"captures for P1 after the withdrawal at seq {withdrawal}"
    assert (late["outcome"], late.get("kind")) == ("refused", "PolicyViolation"), late
    assert "no consent in force" in late["message"]
    assert writer_report["integrity_errors"] == 1
    check_log_shape(log)
    assert ledger.audit.verify().ok


def test_a_revocation_racing_a_burst_of_appends_is_never_overtaken(
    founded: LedgerHandle, workers: Workers
) -> None:
    """Unarranged: cy1 enrols as fast as it can while cy0 revokes it. Wherever the
    revocation lands, no event by cy1 follows it, and cy1's burst ends refused."""
    ledger = founded.ledger
    plans = [
        {"settings": ledger.settings, "op": "enrol", "burst": True, "keys": public_keys(150)},
        {"settings": ledger.settings, "op": "revoke", "burst": True},
    ]
    writer_report, revoker_report = workers.run(stale_writer, plans)
    assert revoker_report["log"][0]["outcome"] == "ok", revoker_report
    burst = writer_report["log"]
    errors = [o["traceback"] for o in burst if o["outcome"] == "error"]
    assert not errors, errors[0]
    log = entries(ledger)
    revocation = seq_of(log, "ActorRevoked", "actor:cy1")
    assert not [e.seq for e in log if e.seq > revocation and e.envelope().actor == "cy1"]
    if burst[-1]["outcome"] == "refused":  # the revocation landed inside the burst
        assert "revoked" in burst[-1]["message"]
    check_log_shape(log)
    assert ledger.audit.verify().ok


def test_opening_a_postgres_ledger_while_another_process_opens_it(
    settings: Settings, workers: Workers
) -> None:
    if not settings.is_postgres:
        pytest.skip("only PostgreSQL sets up tables and functions on opening")
    import psycopg

    from dermledger.ledger.bootstrap import eventsourcing_env

    ledger = DermLedger(settings)
    statement = ledger.kernel.recorder.sql_create_pg_function_insert_events  # type: ignore[attr-defined]
    env = eventsourcing_env(settings)
    where = {
        "dbname": env["POSTGRES_DBNAME"],
        "host": env["POSTGRES_HOST"],
        "port": int(env["POSTGRES_PORT"]),
        "user": env["POSTGRES_USER"],
    }
    with psycopg.connect(**where) as conn, psycopg.connect(**where, autocommit=True) as watch:
        conn.execute(statement)  # another process opening the ledger, its transaction open
        task = workers.start(opener, [{"settings": settings}])
        deadline = time.monotonic() + 10  # the worker's opening waits for this transaction
        while time.monotonic() < deadline:
            waiting = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                ("%es_insert_events%",),
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.05)
        conn.commit()
        (got,) = workers.collect(task, 1)
    ledger.close()
    error = got.get("error", "")
    assert "tuple concurrently updated" not in error, OPENING_RACE
    assert not error, error


# ------------------------------------------------------------ killed commands


def cli_env(settings: Settings) -> dict[str, str | None]:
    return {
        "DERMLEDGER_HOME": str(settings.home),
        "DERMLEDGER_DB": settings.db_url,
        "DERMLEDGER_PASSPHRASE": PASSPHRASE,
        "DERMLEDGER_KDF_LOG2_N": "10",
        "DERMLEDGER_ACTOR": "cy0",
    }


def cli(env: dict[str, str | None], *args: str) -> Any:
    """The CLI in this process (re-runs and checks; the killed runs are subprocesses)."""
    from typer.testing import CliRunner  # here, not at the top: spawned workers skip the CLI

    from dermledger.commands.main import app

    return CliRunner().invoke(app, ["--quiet", *args], env=env)


def audit_ok(env: dict[str, str | None]) -> dict[str, Any]:
    result = cli(env, "audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    return summary


def kill_at(point: str, env: dict[str, str | None], tmp_path: Path, *args: str) -> None:
    """Run `dermledger ARGS` in a subprocess, SIGKILL it once it reaches `point`."""
    marker = tmp_path / f"{point}.reached"
    child_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    child_env |= {"DLTEST_PAUSE": point, "DLTEST_MARKER": str(marker)}
    command = [sys.executable, "-c", f"import {IMPORTABLE} as t; t.cli_child()", "--quiet", *args]
    with (tmp_path / f"{point}.stderr").open("w+") as stderr:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=child_env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        deadline = time.monotonic() + WAIT
        while not marker.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                stderr.seek(0)
                pytest.fail(
                    f"{args[0]} never reached {point} (exit {proc.returncode}): "
                    f"{stderr.read()[-2000:]}"
                )
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL


def cli_child() -> None:
    """Entry point of a killed CLI run: the real command, stopped at DLTEST_PAUSE."""
    point, marker = os.environ["DLTEST_PAUSE"], Path(os.environ["DLTEST_MARKER"])

    def stop() -> None:
        marker.write_text(point)
        time.sleep(WAIT)
        os._exit(3)  # never reached: the test kills the process while it sleeps

    import dermledger.projections.release.writer as writer_module
    import dermledger.study.audit as app_module
    from dermledger.ledger.checkpoints import WitnessFolder
    from dermledger.study.kernel import Kernel

    seen: list[object] = []
    if point == "import-blob-without-event":  # a batch's blobs are stored, its events not
        save = Kernel.save

        def save_hook(self: Kernel, *items: Any, **kwargs: Any) -> Any:
            if any(getattr(i, "type", "") == "ImageCaptured" for i in items):
                stop()
            return save(self, *items, **kwargs)

        Kernel.save = save_hook  # type: ignore[method-assign]
    elif point == "checkpoint-hashing":  # half-way through the tree of a 2,000-event log
        hash_leaf = app_module.hash_leaf

        def leaf_hook(data: bytes) -> bytes:
            seen.append(data)
            if len(seen) == 1000:
                stop()
            return hash_leaf(data)

        app_module.hash_leaf = leaf_hook
    elif point == "checkpoint-appended":  # CheckpointSigned committed, no witness copy yet
        WitnessFolder.record = lambda self, witnessed: stop()  # type: ignore[method-assign]
    elif point == "checkpoint-witness-half":  # the numbered copy written, latest.json not
        replace = os.replace

        def replace_hook(src: Any, dst: Any, **kwargs: Any) -> None:
            if Path(dst).name == "latest.json":
                stop()
            replace(src, dst, **kwargs)

        os.replace = replace_hook
    elif point == "release-writing":  # the first image placed in the partial folder
        place = writer_module.place_blob

        def place_hook(blobs: Any, sha: str, target: Path) -> None:
            seen.append(sha)
            if len(seen) == 2:
                stop()
            place(blobs, sha, target)

        writer_module.place_blob = place_hook
        opened = writer_module.place_opened  # erasure v2: sealed images are opened, then placed

        def opened_hook(data: bytes, digest: str, sha: str, target: Path) -> int:
            seen.append(sha)
            if len(seen) == 2:
                stop()
            return opened(data, digest, sha, target)

        writer_module.place_opened = opened_hook
    elif point == "release-published":  # ReleasePublished committed, folder not renamed
        append = Kernel.append

        def append_hook(self: Kernel, signer: Any, decide: Any) -> Any:
            envelopes = append(self, signer, decide)
            if any(e.type == "ReleasePublished" for e in envelopes):
                stop()
            return envelopes

        Kernel.append = append_hook  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown pause point {point}")
    from dermledger.commands.main import run

    run()


def blob_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.blobs_dir.rglob("*") if p.is_file())


def test_import_killed_between_blob_and_event_completes_on_rerun(
    founded: LedgerHandle, tmp_path: Path
) -> None:
    settings, env = founded.ledger.settings, cli_env(founded.ledger.settings)
    folder = tmp_path / "incoming"
    folder.mkdir()
    names = [f"img{n}.jpg" for n in range(6)]
    for n, name in enumerate(names):
        (folder / name).write_bytes(image_bytes(500 + n))
    metadata = tmp_path / "metadata.csv"
    with metadata.open("w", newline="") as handle:
        rows = csv.DictWriter(handle, ["filename", "patient_id", "lesion_id", *META])
        rows.writeheader()
        rows.writerows(
            {"filename": f, "patient_id": "P1", "lesion_id": f"L{f}", **META} for f in names
        )
    before = len(entries(founded.ledger))
    kill_at(
        "import-blob-without-event",
        env,
        tmp_path,
        "import",
        str(folder),
        "--metadata",
        str(metadata),
    )
    # Import appends a batch of captures in one transaction once all their blobs are
    # stored: killed there, the six blobs are on disk and no event is in the log.
    assert len(entries(founded.ledger)) == before
    assert len(blob_files(settings)) == 6
    audit_ok(env)

    rerun = cli(env, "import", str(folder), "--metadata", str(metadata), "--json")
    assert rerun.exit_code == 0, rerun.output
    summary = json.loads(rerun.stdout)
    assert (summary["captured"], summary["already_present"]) == (6, 0)
    refs = [  # erasure v2: blobs are stored encrypted at their keyed address
        e.envelope().payload["blob_ref"]
        for e in entries(founded.ledger)
        if e.topic == "ImageCaptured"
    ]
    assert len(refs) == len(set(refs)) == 6
    assert [p.parent.name + p.name for p in blob_files(settings)] == sorted(refs)  # no orphan
    audit_ok(env)


def test_checkpoint_killed_at_each_step_leaves_a_verifiable_log(
    founded: LedgerHandle, tmp_path: Path
) -> None:
    ledger, env = founded.ledger, cli_env(founded.ledger.settings)
    for batch in range(4):  # a log of a few thousand events, appended in bulk
        patients = [f"Q{batch}{n:03d}" for n in range(500)]
        ledger.kernel.append(
            founded["cy0"],
            lambda ids=patients: [
                ledger.kernel.proposal(f"patient:{p}", "PatientRegistered", {"patient_id": p})
                for p in ids
            ],
        )
    ledger.audit.sign_checkpoint(founded["cy0"])
    witnessed = ledger.kernel.witness.latest()
    assert witnessed is not None and witnessed.checkpoint.tree_size > 2000

    size = len(entries(ledger))
    kill_at("checkpoint-hashing", env, tmp_path, "checkpoint")
    assert len(entries(ledger)) == size  # nothing was appended
    assert ledger.kernel.witness.latest() == witnessed

    kill_at("checkpoint-appended", env, tmp_path, "checkpoint")
    log = entries(ledger)
    # The first checkpoint from the CLI also enrols the log's key, in the same append.
    assert len(log) == size + 2 and [e.topic for e in log[-2:]] == [
        "LogKeyEnrolled", "CheckpointSigned"]  # fmt: skip
    assert log[-1].envelope().payload["tree_size"] == size
    size += 1
    assert ledger.kernel.witness.latest() == witnessed  # the witness is older than the log: fine
    assert audit_ok(env)["witnessed_tree_size"] == witnessed.checkpoint.tree_size

    kill_at("checkpoint-witness-half", env, tmp_path, "checkpoint")
    assert len(entries(ledger)) == size + 2
    assert (ledger.settings.checkpoints_dir / f"{size + 1:012d}.json").exists()
    assert (
        ledger.kernel.witness.latest() == witnessed
    )  # what `audit verify` reads: as checked above

    rerun = cli(env, "checkpoint", "--json")
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.stdout)["tree_size"] == size + 2
    assert audit_ok(env)["witnessed_tree_size"] == size + 2


@pytest.mark.parametrize("point", ["release-writing", "release-published"])
def test_release_create_killed_then_rerun_publishes_it(
    founded: LedgerHandle, tmp_path: Path, point: str
) -> None:
    ledger, env = founded.ledger, cli_env(founded.ledger.settings)
    for seed in (600, 601, 602):
        image = annotated(founded, seed)
        for reader in ("sam", "sue", "sid"):
            ledger.confirmation.vote(founded[reader], image, NEVUS)
    target = tmp_path / "releases" / "v1"
    kill_at(point, env, tmp_path, "release", "create", "v1", "--out", str(target))

    assert not target.exists()
    partials = list(target.parent.glob(".v1.partial-*"))
    assert len(partials) == 1  # left behind, hidden: found by nothing that lists releases
    published = [r["name"] for r in ledger.releases.list_releases()]
    if point == "release-writing":
        assert published == []
        with pytest.raises(VerificationError, match=r"no manifest\.json"):
            verify_release_dir(partials[0])  # not a release: nothing signed yet
    else:
        assert published == ["v1"]
        assert verify_release_dir(partials[0])[1] == []  # complete, under a hidden name
    audit_ok(env)

    rerun = cli(env, "release", "create", "v1", "--out", str(target), "--json")
    assert "already published" not in rerun.output, RELEASE_WITHOUT_FOLDER
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.stdout)["images"] == 3
    checked = cli(env, "release", "verify", str(target), "--ledger", "--json")
    assert checked.exit_code == 0, checked.output
    assert [r["name"] for r in ledger.releases.list_releases()] == ["v1"]
    audit_ok(env)
