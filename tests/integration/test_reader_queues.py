"""A reader's queue followed incrementally equals the queue computed afresh, whatever
happens to the images: votes fill panels, images are excluded, new ones arrive."""

from __future__ import annotations

from dermledger.policies import blinding, confirmation
from dermledger.projections.live_images import LiveImages
from dermledger.projections.reader_queues import ReaderQueues
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.integration.test_remote_signing import Browser, start_reading
from tests.support import LedgerHandle, register_with_consent

META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}
NEVUS = "Nevus, NOS, Compound"


def new_image(team: LedgerHandle, n: int) -> str:
    image_id = team.ledger.capture.capture(
        team["ada"], encode_jpeg(draw_image(300 + n)), patient_id="P1", lesion_id=f"L{n}",
        metadata=META,
    ).image_id  # fmt: skip
    team.ledger.confirmation.annotate(team["ann"], image_id, NEVUS, [])
    return image_id


def expected(team: LedgerHandle, actor: str, seed: str) -> list[str]:
    """The queue by brute force: every image's stream, the vote rule, the order."""
    open_ = []
    for image_id in team.ledger.records.image_ids():
        image = team.ledger.records.get_image(image_id)
        if (
            not image.excluded
            and confirmation.check_vote(image.facts(), actor, supersede=False).allowed
        ):
            open_.append(image_id)
    return blinding.queue_order(seed, open_)


def test_incremental_queue_equals_a_fresh_one(team: LedgerHandle) -> None:
    register_with_consent(team, "P1", {"age": "61", "sex": "male"})
    images = [new_image(team, n) for n in range(5)]
    reading, rex = team.ledger.reading, Browser(team, "rex")
    start_reading(reading, rex)
    seed = reading.seed("rex")
    assert seed is not None

    def check() -> None:
        fresh = ReaderQueues(LiveImages(team.ledger.recorder)).queue("rex", seed)[0]
        assert reading.queue("rex").waiting == fresh == expected(team, "rex", seed)

    check()
    for reader in ("sam", "sue", "sid"):  # a full panel: the image leaves the queue
        team.ledger.confirmation.vote(team[reader], images[0], NEVUS)
    check()
    team.ledger.curation.set_excluded(team["ada"], images[1], excluded=True, reason="blurred")
    check()
    images.append(new_image(team, 9))
    check()
    prepared = reading.prepare_vote("rex", images[2], NEVUS)
    reading.complete("rex", prepared.token, rex.sign(prepared.envelope.hash))
    check()
    assert reading.queue("rex").read == 1
