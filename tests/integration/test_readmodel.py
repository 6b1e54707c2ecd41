"""The persistent read model, on a real SQLite file and on PostgreSQL, from real events.

One study, built step by step through the service with real generated images: two
patients, exact duplicates in two clusters, an edited field, a unanimous, a 2-of-3 and
a split panel, a superseded vote, discordant histology, duplicate decisions, an
exclusion and a checkpoint. Every test checks the tables against the ledger's own
queries (`list_images`, `audit_trail`) or against another way of filling them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.projections import readmodel_fold
from dermledger.projections import readmodel_tables as tables
from dermledger.projections.readmodel import ReadModel
from dermledger.projections.readmodel_rows import pack_state, unpack_state
from dermledger.projections.readmodel_sql import READMODEL_FILE
from dermledger.study.ledger import DermLedger
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, RawDB, open_handle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
}
NEVUS, SEBK, DF = "Nevus, NOS, Compound", "Seborrheic keratosis", "Dermatofibroma"
MEL = "Melanoma Invasive"
FAST_KDF = 10  # as in conftest: the real key format, a lower scrypt cost
SIZE = (320, 240)  # the SOP's minimum: small images keep the captures quick

Step = Callable[[], object]


def study_steps(team: LedgerHandle) -> Iterator[Step]:
    """The study, one service call (a few events) per step."""
    ledger, ada = team.ledger, team["ada"]
    ids: dict[str, str] = {}

    def capture(name: str, seed: int, patient: str, lesion: str) -> None:
        data = encode_jpeg(draw_image(seed, size=SIZE))
        ids[name] = ledger.capture.capture(
            ada, data, patient_id=patient, lesion_id=lesion, metadata=META
        ).image_id

    def panel(name: str, *labels: str) -> Iterator[Step]:
        for reader, label in zip(("sam", "sue", "sid"), labels, strict=True):
            yield lambda r=reader, x=label: ledger.confirmation.vote(team[r], ids[name], x)

    yield lambda: register_with_consent(
        team, "P1", {"age": "50", "sex": "male", "fitzpatrick_skin_type": "II"}
    )
    yield lambda: register_with_consent(team, "P2", {"age": "38", "sex": "female"})
    yield lambda: capture("a", 1, "P1", "L1")
    yield lambda: capture("b", 1, "P1", "L1")  # the same file again: suspects a
    yield lambda: capture("c", 2, "P2", "L2")
    yield lambda: capture("d", 2, "P2", "L2")  # suspects c: a second cluster
    yield lambda: capture("e", 3, "P2", "L3")
    yield lambda: capture("f", 1, "P1", "L1")  # suspects a and b: joins the first
    yield lambda: ledger.curation.edit_metadata(
        ada, ids["c"], "anatom_site", "Head and neck:Head", "corrected after review"
    )
    yield lambda: ledger.curation.edit_metadata(
        ada, ids["e"], "clin_size_long_diam_mm", "4.5", "measured"
    )
    for name in ("a", "c", "e"):
        yield lambda n=name: ledger.confirmation.annotate(team["ann"], ids[n], NEVUS, [])
    yield from panel("a", NEVUS, NEVUS, SEBK)
    yield lambda: ledger.confirmation.vote(
        team["sid"], ids["a"], NEVUS, supersede_reason="second look"
    )
    yield from panel("c", MEL, MEL, NEVUS)
    yield lambda: ledger.confirmation.record_histology(
        team["pat"], ids["c"], NEVUS, "PATH-1", "2026-11-20"
    )
    yield from panel("e", NEVUS, SEBK, DF)  # a three-way split: disputed
    yield lambda: ledger.curation.resolve_duplicate(
        ada, ids["b"], duplicate_of=ids["a"], distinct=False, reason="same file twice"
    )
    yield lambda: ledger.curation.resolve_duplicate(
        ada, ids["d"], duplicate_of=None, distinct=True, reason="second visit",
        override_exact=True,
    )  # fmt: skip
    yield lambda: ledger.curation.set_excluded(ada, ids["e"], excluded=True, reason="out of focus")
    yield lambda: ledger.audit.sign_checkpoint(ada)


@pytest.fixture
def readmodel(settings: Settings, team: LedgerHandle) -> Iterator[ReadModel]:
    model = ReadModel(settings)
    yield model
    model.close()


def run_study(team: LedgerHandle, after_each: Callable[[], object] = lambda: None) -> None:
    for step in study_steps(team):
        step()
        after_each()


def log_size(ledger: DermLedger) -> int:
    return sum(1 for _ in ledger.kernel.log())


def assert_agrees_with_ledger(model: ReadModel, ledger: DermLedger) -> None:
    """Every image's row says what `list_images` says."""
    rows = {r["image_id"]: r for r in model.dataset_rows()}
    summaries = {s["image_id"]: s for s in ledger.queries.list_images()}
    assert rows.keys() == summaries.keys()
    for image_id, summary in summaries.items():
        row, v = rows[image_id], summary
        assert row["status"] == summary["status"], image_id
        for name in (
            "verification_stage",
            "category",
            "diagnosis",
            "diagnosis_confirm_type",
            "melanocytic",
            "consensus",
            "discordant",
        ):
            assert row[name] == v[name], (image_id, name)
        for name in ("patient_id", "lesion_id", *tables.METADATA_COLUMNS):
            assert row[name] == summary["metadata"].get(name), (image_id, name)


def test_incremental_equals_rebuild(
    team: LedgerHandle, readmodel: ReadModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catching up after every step, in batches of 3 that split images across batches,
    fills the same tables as one rebuild; so does a rebuild one event a transaction, in
    which every image continues from the state the previous batch stored."""
    run_study(team, lambda: readmodel.catch_up(team.ledger, batch_size=3))
    incremental = readmodel.dump()
    assert readmodel.position()[0] == log_size(team.ledger)
    assert len(incremental["rm_audit_trail"]) == log_size(team.ledger)

    assert readmodel.rebuild(team.ledger) == log_size(team.ledger)
    assert readmodel.stats.batches == 1 and readmodel.stats.loaded == 0
    assert readmodel.dump() == incremental

    with ReadModel(team.ledger.settings) as stepwise:
        stepwise.rebuild(team.ledger, batch_size=1)  # every state held between batches
        assert stepwise.stats.held > 0 and stepwise.stats.batches == log_size(team.ledger)
        assert stepwise.dump() == incremental
        stepwise.clear()  # one event a transaction, every state held between them
        assert stepwise.catch_up(team.ledger, batch_size=1) == log_size(team.ledger)
        assert stepwise.stats.held > 0 and stepwise.stats.loaded == 0
        assert stepwise.dump() == incremental
    monkeypatch.setattr(readmodel_fold, "CATCH_UP_LIVE_MAX", 0)
    with ReadModel(team.ledger.settings) as stepwise:  # every state stored and loaded again
        stepwise.clear()
        assert stepwise.catch_up(team.ledger, batch_size=1) == log_size(team.ledger)
        assert stepwise.stats.loaded > 0 and stepwise.stats.held == 0
        assert stepwise.dump() == incremental


def test_rebuild_spilling_held_states_to_the_table_is_the_same(
    team: LedgerHandle, readmodel: ReadModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild that holds more images than its bound writes them to rm_dataset and
    continues them from there: the same tables as holding them all."""
    run_study(team)
    readmodel.rebuild(team.ledger, batch_size=4)
    whole = readmodel.dump()
    monkeypatch.setattr(readmodel_fold, "LIVE_MAX", 1)  # the rest packed,
    monkeypatch.setattr(readmodel_fold, "HELD_MAX", 1)  # and the packed ones spilled
    assert readmodel.rebuild(team.ledger, batch_size=4) == log_size(team.ledger)
    assert readmodel.stats.loaded > 0 and readmodel.stats.held > 0
    assert readmodel.dump() == whole
    assert_agrees_with_ledger(readmodel, team.ledger)


def test_a_catch_up_during_a_rebuild_stops_the_rebuild(
    team: LedgerHandle, readmodel: ReadModel
) -> None:
    """A rebuild writes the tracking position only at its end; a catch-up that moved it
    meanwhile makes the rebuild stop with a Conflict, and the next rebuild repairs all."""
    run_study(team)
    readmodel.rebuild(team.ledger)
    whole = readmodel.dump()
    other = ReadModel(team.ledger.settings)
    try:
        with pytest.raises(Conflict, match="during the rebuild"):
            readmodel.rebuild(
                team.ledger, batch_size=5, progress=lambda _: other.catch_up(team.ledger)
            )
    finally:
        other.close()
    readmodel.rebuild(team.ledger, batch_size=5)
    assert readmodel.dump() == whole


@pytest.mark.parametrize("seed", [1, 2])
def test_catch_up_in_random_steps_equals_rebuild(
    team: LedgerHandle, readmodel: ReadModel, seed: int
) -> None:
    """The study made in random slices of service calls, each followed by a catch-up in
    random batch sizes (so batches end anywhere in an image's history and the stored
    fold states are carried across every kind of split), gives byte for byte the tables
    of one rebuild: the same rows and the same stored states."""
    rng = random.Random(seed)
    steps = list(study_steps(team))
    done = 0
    while done < len(steps):
        take = rng.randint(1, 4)
        for step in steps[done : done + take]:
            step()
        done += take
        readmodel.catch_up(team.ledger, batch_size=rng.randint(1, 6))
    incremental = readmodel.dump()
    with ReadModel(team.ledger.settings) as fresh:
        assert fresh.rebuild(team.ledger) == log_size(team.ledger)
        assert fresh.dump() == incremental
    assert_agrees_with_ledger(readmodel, team.ledger)
    assert readmodel.audit_rows() == team.ledger.queries.audit_trail()


def test_fold_state_round_trips(team: LedgerHandle, readmodel: ReadModel) -> None:
    """Every stored fold state unpacks to the image's own fold (`get_image`) in all the
    fields the rows read, and packs back to the same text."""
    run_study(team, lambda: readmodel.catch_up(team.ledger, batch_size=2))
    with readmodel.engine.connect() as conn:
        query = select(tables.dataset.c.image_id, tables.dataset.c.fold_state)
        stored = {row[0]: row[1] for row in conn.execute(query)}
    assert stored
    for image_id, text in stored.items():
        state, own = unpack_state(image_id, text), team.ledger.records.get_image(image_id)
        assert pack_state(state) == text
        assert pack_state(own) == text
        assert (state.facts(), state.metadata, state.suspicions, state.excluded) == (
            own.facts(),
            own.metadata,
            own.suspicions,
            own.excluded,
        )


def test_dataset_agrees_with_list_images_after_every_step(
    team: LedgerHandle, readmodel: ReadModel
) -> None:
    def check() -> None:
        readmodel.catch_up(team.ledger, batch_size=2)
        assert_agrees_with_ledger(readmodel, team.ledger)

    run_study(team, check)
    rows = {r["image_id"]: r for r in readmodel.dataset_rows()}
    stages = sorted((r["verification_stage"] or "-", r["status"]) for r in rows.values())
    assert stages == [
        ("-", "duplicate-suspected"),
        ("-", "excluded"),
        ("-", "included"),
        ("clinical", "excluded"),
        ("consensus", "included"),
        ("histology", "included"),
    ]
    histology = next(r for r in rows.values() if r["verification_stage"] == "histology")
    assert histology["discordant"] is True and histology["anatom_site"] == "Head and neck:Head"
    assert any(r["clin_size_long_diam_mm"] == 4.5 for r in rows.values())
    assert {r["sex"] for r in rows.values()} == {"male", "female"}


def test_audit_rows_equal_the_audit_trail(team: LedgerHandle, readmodel: ReadModel) -> None:
    """Built batch by batch (so enrolments and superseded votes lie in earlier batches),
    the table holds exactly the rows `trail_rows` gives for the whole log."""
    run_study(team, lambda: readmodel.catch_up(team.ledger, batch_size=2))
    assert readmodel.audit_rows() == team.ledger.queries.audit_trail()
    image = team.ledger.queries.list_images()[0]["image_id"]
    assert readmodel.audit_rows(image=image) == team.ledger.queries.audit_trail(image=image)
    assert readmodel.audit_rows(actor="sid") == team.ledger.queries.audit_trail(actor="sid")
    superseding = [r for r in readmodel.audit_rows() if r["field"] == "vote" and r["old_value"]]
    assert [
        (r["old_value"].rsplit(":", 1)[-1], r["new_value"].rsplit(":", 1)[-1]) for r in superseding
    ] == [(SEBK, NEVUS)]
    roles = {r["actor"]: r["role"] for r in readmodel.audit_rows()}
    assert roles["ada"] == "coordinator" and roles["sam"] == "specialist"


def test_duplicate_clusters_are_the_connected_components(
    team: LedgerHandle, readmodel: ReadModel
) -> None:
    run_study(team, lambda: readmodel.catch_up(team.ledger, batch_size=4))
    ledger = team.ledger
    # The components, computed here from the images' own suspicions.
    edges = [
        (r["image_id"], r["duplicate_of"])
        for r in ledger.curation.list_duplicates(include_resolved=True)
    ]
    components: list[set[str]] = []
    for a, b in edges:
        touching = [c for c in components if a in c or b in c]
        merged = {a, b}.union(*touching)
        components = [c for c in components if c not in touching] + [merged]
    expected = {}
    for component in components:
        resolved = all(not ledger.records.get_image(i).unresolved for i in component)
        for image_id in component:
            open_ = len(ledger.records.get_image(image_id).unresolved)
            expected[image_id] = (min(component), open_, resolved)
    found = {
        r["image_id"]: (r["cluster_id"], r["open_suspicions"], r["resolved"])
        for r in readmodel.duplicate_clusters()
    }
    assert found == expected
    assert sorted(len(c) for c in components) == [2, 3]
    assert sorted({v[2] for v in found.values()}) == [False, True]  # d resolved, f still open


def test_catch_up_is_idempotent(team: LedgerHandle, readmodel: ReadModel) -> None:
    run_study(team)
    seen: list[int] = []
    assert readmodel.catch_up(team.ledger, batch_size=10, progress=seen.append) == log_size(
        team.ledger
    )
    assert seen == sorted(seen) and seen[-1] == log_size(team.ledger)
    first = readmodel.dump()
    assert readmodel.catch_up(team.ledger) == 0
    assert readmodel.dump() == first
    with ReadModel(team.ledger.settings) as fresh:  # no cached states
        assert fresh.catch_up(team.ledger) == 0
    # Replaying events already applied (as after a lost tracking update) changes nothing:
    # the upserts are keyed by image id, seq and actor, and never regress a row.
    middle = next(e for e in team.ledger.kernel.log() if e.seq == log_size(team.ledger) // 2)
    with readmodel.engine.begin() as conn:
        conn.execute(
            update(tables.tracking).values(last_seq=middle.seq, last_position=middle.position)
        )
    assert readmodel.catch_up(team.ledger, batch_size=3) == log_size(team.ledger) - middle.seq
    assert readmodel.dump() == first


def test_deleting_the_read_model_and_rebuilding_gives_identical_tables(
    settings: Settings, team: LedgerHandle
) -> None:
    run_study(team)
    with ReadModel(settings) as model:
        model.catch_up(team.ledger, batch_size=7)
        before = model.dump()
    if settings.db_url is None:
        for suffix in ("", "-wal", "-shm"):
            settings.home.joinpath(READMODEL_FILE + suffix).unlink(missing_ok=True)
    else:
        raw = RawDB(settings)
        schema = raw.table.split(".")[0]
        for name in tables.TABLES:
            raw.execute(f"DROP TABLE {schema}.{name}")
        raw.close()
    with ReadModel(settings) as model:
        assert model.position() == (0, 0)
        model.catch_up(team.ledger)
        assert model.dump() == before
    assert team.ledger.audit.verify().ok  # the events were never touched


def test_concurrent_catch_ups_apply_each_event_once(
    team: LedgerHandle, readmodel: ReadModel
) -> None:
    run_study(team)
    models = [ReadModel(team.ledger.settings) for _ in range(3)]
    errors: list[BaseException] = []

    def work(model: ReadModel) -> None:
        try:
            model.catch_up(team.ledger, batch_size=2)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for model in models:
        model.close()
    assert errors == []
    assert sum(m.stats.events for m in models) == log_size(team.ledger)
    together = readmodel.dump()
    readmodel.rebuild(team.ledger)
    assert readmodel.dump() == together
    assert_agrees_with_ledger(readmodel, team.ledger)


def test_refuses_tables_of_another_ledger(
    team: LedgerHandle, readmodel: ReadModel, tmp_path: Path
) -> None:
    readmodel.catch_up(team.ledger)
    other = open_handle(Settings(home=tmp_path / "other", kdf_log2_n=FAST_KDF), team={})
    try:
        with pytest.raises(Conflict, match="another ledger"):
            readmodel.catch_up(other.ledger)
        readmodel.rebuild(other.ledger)
        assert readmodel.position()[0] == log_size(other.ledger)
    finally:
        other.ledger.close()
    with pytest.raises(InvalidInput):
        readmodel.catch_up(team.ledger, batch_size=0)
