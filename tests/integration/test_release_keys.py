"""A release reads each patient's key once, shared by its replay and its image reader,
for that release only: an erasure after it is seen by the next release (issue 19)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from dermledger.ledger.errors import InvalidInput, VerificationError
from dermledger.ledger.store import read_topic
from dermledger.projections.release.opened import place_opened
from dermledger.study.erasure import checked_blob_opener
from dermledger.study.personal_data import FilePatientKeyStore
from dermledger.study.sealing import ReleaseKeys, keyed_blobs
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.integration.test_erasure import META, OTHER, verified
from tests.support import LedgerHandle, register_with_consent


class CountingKeyStore(FilePatientKeyStore):
    """The home's key store, counting the key reads (the files are read as ever)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.reads: Counter[str] = Counter()

    def get(self, patient_id: str) -> bytes:
        self.reads[patient_id] += 1
        return super().get(patient_id)


def test_a_release_reads_each_patients_key_once_and_drops_it(
    team: LedgerHandle, tmp_path: Path
) -> None:
    ledger = team.ledger
    register_with_consent(team, "P0042", {"age": "83"})
    register_with_consent(team, "P0043", {"age": "40"})
    mine = [verified(team, "P0042", seed, META) for seed in (31, 32)]
    other = verified(team, "P0043", 33, OTHER)
    counting = CountingKeyStore(ledger.settings.home / "patient-keys")
    ledger.kernel.sealer.keys = counting
    ledger.releases.create_release(team["ada"], "v1", tmp_path / "v1")
    assert counting.reads == {"P0042": 1, "P0043": 1}
    assert (tmp_path / "v1" / "images" / f"{mine[0]}.jpg").read_bytes() == encode_jpeg(
        draw_image(31)
    )

    ledger.patients.erase_patient(team["ada"], "P0042", "GDPR art. 17 request")
    counting.reads.clear()
    ledger.releases.create_release(team["ada"], "v2", tmp_path / "v2")
    assert counting.reads == {"P0042": 1, "P0043": 1}  # a new release looks again: gone
    v2 = (tmp_path / "v2" / "metadata.csv").read_text()
    assert other in v2 and not any(i in v2 for i in mine)

    # The image reader of a release refuses the erased patient's captures
    captured = next(
        e.payload for e in read_topic(ledger.kernel.recorder, "ImageCaptured")
        if e.payload["image_id"] == mine[0]
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="images of patient P0042 were erased"):
        checked_blob_opener(ledger.kernel, ReleaseKeys(ledger.kernel.sealer))(captured)


def test_the_sealed_read_gives_the_digest_the_release_checks(
    team: LedgerHandle, tmp_path: Path
) -> None:
    register_with_consent(team, "P0060", {"age": "30"})
    data = encode_jpeg(draw_image(61))
    team.ledger.capture.capture(
        team["ada"], data, patient_id="P0060", lesion_id="L1", metadata=META
    )
    captured = next(iter(read_topic(team.ledger.kernel.recorder, "ImageCaptured"))).payload
    opened, digest = checked_blob_opener(
        team.ledger.kernel, ReleaseKeys(team.ledger.kernel.sealer)
    )(captured)
    assert opened == data and digest == hashlib.sha256(data).hexdigest()
    assert keyed_blobs(team.ledger.settings).has(captured["blob_ref"])
    with pytest.raises(VerificationError, match="does not match its capture"):
        place_opened(opened, digest, "0" * 64, tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()
    assert place_opened(opened, digest, digest, tmp_path / "y.jpg") == len(data)
