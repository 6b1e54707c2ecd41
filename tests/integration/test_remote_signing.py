"""Votes signed by a key the server never holds, and the blinding of what readers see.

The "browser" here is a real Ed25519 key made outside the ledger and enrolled by its
public key, as `actor add --public-key` does; the server side is the real service.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.errors import BadSignature, NotFound, PolicyViolation
from dermledger.ledger.signing import raw_public_key
from dermledger.study.reading import ReadingService
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, register_with_consent

NEVUS, SEBK = "Nevus, NOS, Compound", "Seborrheic keratosis"
META = {"image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}


class Browser:
    """A reader's device: the private key stays in this object."""

    def __init__(self, team: LedgerHandle, name: str) -> None:
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        public = raw_public_key(self.key.public_key()).hex()
        team.ledger.actors.enrol(team["ada"], name, ["specialist"], public_key=public)

    def sign(self, digest_hex: str) -> str:
        return base64.b64encode(self.key.sign(bytes.fromhex(digest_hex))).decode()


def count(team: LedgerHandle) -> int:
    return sum(1 for _ in team.ledger.kernel.log())


def start_reading(reading: ReadingService, browser: Browser) -> None:
    prepared = reading.prepare_seed(browser.name)
    done = reading.complete(browser.name, prepared.token, browser.sign(prepared.envelope.hash))
    assert done.saved is not None and done.saved.type == "ReadingSeedDrawn"


@pytest.fixture
def image(team: LedgerHandle) -> str:
    register_with_consent(team, "P1", {"age": "50", "sex": "male"})
    image_id = team.ledger.capture.capture(
        team["ada"], encode_jpeg(draw_image(7)), patient_id="P1", lesion_id="L1", metadata=META
    ).image_id
    team.ledger.confirmation.annotate(team["ann"], image_id, NEVUS, ["pigment_network=typical"])
    return image_id


def test_a_browser_signed_vote_is_appended_and_verifies(team: LedgerHandle, image: str) -> None:
    reading, rex = team.ledger.reading, Browser(team, "rex")
    start_reading(reading, rex)
    assert reading.queue("rex").waiting == [image]
    prepared = reading.prepare_vote("rex", image, SEBK)
    assert prepared.envelope.signature == ""
    assert prepared.envelope.payload["shown"]["policy"] == "reader-blinding"
    done = reading.complete("rex", prepared.token, rex.sign(prepared.envelope.hash))
    assert done.saved is not None
    assert done.saved.hash == prepared.envelope.hash  # exactly what the page was shown
    assert done.saved.payload["shown"] == {
        "policy": "reader-blinding", "version": "1", "level": "blinded", "via": "web"
    }  # fmt: skip
    assert reading.queue("rex").read == 1 and reading.queue("rex").waiting == []
    assert team.ledger.audit.verify().ok


def test_forged_other_key_replayed_and_revoked_signatures_append_nothing(
    team: LedgerHandle, image: str
) -> None:
    reading, rex, eve = team.ledger.reading, Browser(team, "rex"), Browser(team, "eve")
    start_reading(reading, rex)
    before = count(team)
    other = reading.prepare_vote("rex", image, NEVUS)
    prepared = reading.prepare_vote("rex", image, SEBK)
    with pytest.raises(BadSignature):  # a signature over other content
        reading.complete("rex", prepared.token, rex.sign(other.envelope.hash))
    prepared = reading.prepare_vote("rex", image, SEBK)
    with pytest.raises(BadSignature):  # by another key
        reading.complete("rex", prepared.token, eve.sign(prepared.envelope.hash))
    prepared = reading.prepare_vote("rex", image, SEBK)
    with pytest.raises(NotFound):  # another actor's token
        reading.complete("eve", prepared.token, eve.sign(prepared.envelope.hash))
    assert count(team) == before
    signature = rex.sign(prepared.envelope.hash)
    assert reading.complete("rex", prepared.token, signature).saved is not None
    with pytest.raises(NotFound):  # replayed
        reading.complete("rex", prepared.token, signature)
    start_reading(reading, eve)
    prepared = reading.prepare_vote("eve", image, SEBK)
    team.ledger.actors.revoke(team["ada"], "eve", "left the study")
    before = count(team)
    with pytest.raises(PolicyViolation, match="revoked"):
        reading.complete("eve", prepared.token, eve.sign(prepared.envelope.hash))
    assert count(team) == before


def test_a_moved_stream_asks_for_a_new_signature_of_the_same_content(
    team: LedgerHandle, image: str
) -> None:
    reading, rex = team.ledger.reading, Browser(team, "rex")
    start_reading(reading, rex)
    prepared = reading.prepare_vote("rex", image, SEBK)
    team.ledger.confirmation.vote(team["sam"], image, NEVUS)  # lands first
    done = reading.complete("rex", prepared.token, rex.sign(prepared.envelope.hash))
    assert done.saved is None and done.resign is not None
    again = done.resign.envelope
    assert again.hash != prepared.envelope.hash
    assert again.payload["diagnosis"] == prepared.envelope.payload["diagnosis"]
    assert again.event_id == prepared.envelope.event_id
    assert again.payload["signature_meaning"] == "consensus reader 2 of 3"
    saved = reading.complete("rex", done.resign.token, rex.sign(again.hash)).saved
    assert saved is not None and saved.hash == again.hash
    assert team.ledger.audit.verify().ok


def test_a_reader_sees_no_other_judgement_before_voting(team: LedgerHandle, image: str) -> None:
    reading, rex = team.ledger.reading, Browser(team, "rex")
    start_reading(reading, rex)
    team.ledger.confirmation.vote(team["sam"], image, SEBK)
    before = [
        reading.reader_view("rex", image),
        reading.show_image("rex", image),
        reading.list_images("rex"),
    ]
    text = json.dumps(before)
    for secret in ("Nevus", "Seborrheic", "pigment_network", "NV", "BKL"):
        assert secret not in text
    assert reading.show_image(None, image)["diagnosis"].endswith(NEVUS)
    prepared = reading.prepare_vote("rex", image, NEVUS)
    reading.complete("rex", prepared.token, rex.sign(prepared.envelope.hash))
    after = reading.reader_view("rex", image)
    assert after["annotation"]["diagnosis"].endswith(NEVUS) and "verification" not in after
    with pytest.raises(NotFound):  # an unknown id: no detail
        reading.reader_view("rex", "IMG-0000000000000000")
