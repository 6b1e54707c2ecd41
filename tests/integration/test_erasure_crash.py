"""SIGKILL during an erasure, then run it again: the erasure completes, nothing half-done.

The child process erases for real and kills itself with SIGKILL at a chosen step (a real
kill of a real process over real files and databases); the parent then runs the same
command again and checks that the key, the blobs and the read-model rows are all gone.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dermledger.projections.readmodel import ReadModel
from dermledger.study.sealing import keyed_blobs
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import PASSPHRASE, LedgerHandle, register_with_consent

META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized",
        "anatom_site": "Trunk:Posterior trunk"}  # fmt: skip

CHILD = """
import os, signal, sys
from pathlib import Path
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.keyed_blobs import KeyedBlobStore
from dermledger.study import erasure
from dermledger.study.ledger import DermLedger
from dermledger.study.personal_data import FilePatientKeyStore

home, url, point, passphrase = sys.argv[1:5]
die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
if point == "before-key":
    FilePatientKeyStore.destroy = die
elif point == "mid-blobs":
    delete = KeyedBlobStore.delete
    KeyedBlobStore.delete = lambda self, address: (delete(self, address), die())[0]
elif point == "before-rows":
    erasure.purge_patient = die
ledger = DermLedger(Settings(home=Path(home), db_url=url or None, kdf_log2_n=10))
ledger.patients.erase_patient(ledger.actors.unlock("ada", passphrase), "P0070", "request")
"""


@pytest.mark.parametrize("point", ["before-key", "mid-blobs", "before-rows"])
def test_sigkill_during_erasure_then_rerun_completes_it(team: LedgerHandle, point: str) -> None:
    ledger = team.ledger
    register_with_consent(team, "P0070", {"age": "71"})
    register_with_consent(team, "P0071", {"age": "22"})
    refs = []
    for seed in (71, 72, 73):
        image = ledger.capture.capture(
            team["ada"], encode_jpeg(draw_image(seed)), patient_id="P0070",
            lesion_id=f"L{seed}", metadata=META,
        ).image_id  # fmt: skip
        refs.append(ledger.records.get_image(image).captured["blob_ref"])
    kept = ledger.capture.capture(
        team["ada"], encode_jpeg(draw_image(74)), patient_id="P0071", lesion_id="L1", metadata=META
    ).image_id
    with ReadModel(ledger.settings) as model:
        model.catch_up(ledger)
    store = keyed_blobs(ledger.settings)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(ledger.settings.home), ledger.settings.db_url or "",
         point, PASSPHRASE],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr
    assert ledger.records.get_patient("P0070").erased  # the intent is durable
    assert any(store.has(r) for r in refs) or point != "before-key"

    ledger.patients.erase_patient(team["ada"], "P0070", "request")
    assert not ledger.kernel.patient_keys.exists("P0070")
    assert not any(store.has(r) for r in refs)
    with ReadModel(ledger.settings) as model:
        rows = {r["image_id"]: r for r in model.dataset_rows()}
    assert set(rows) == {kept}
    assert [e.type for e in ledger.kernel.stream("patient:P0070")].count("PatientErased") == 1
    assert ledger.audit.verify().ok
    assert ledger.records.get_image(kept).metadata["age"] == 22
