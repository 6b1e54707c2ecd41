"""The reading station's refusals, over real HTTP to a real `dermledger serve`.

The "browser" is an HTTP client with its own Ed25519 key, enrolled by its public key;
it signs what the page would sign. Every refusal must leave the log as it was.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.canonical import jcs_sha256
from dermledger.ledger.signing import raw_public_key
from dermledger.study.sealing import keyed_blobs
from tests.e2e.station import Server, Study, build_study, serving

LENTIGO, SOLAR = "Lentigo simplex", "Solar lentigo"


class Client:
    """A reader's browser: a key that stays here, and an HTTP session with the station."""

    def __init__(self, server: Server, study: Study, name: str) -> None:
        self.name, self.study = name, study
        self.key = Ed25519PrivateKey.generate()
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
        self.csrf = ""

    def enrol(self) -> None:
        public = raw_public_key(self.key.public_key()).hex()
        self.study.handle.ledger.actors.enrol(
            self.study.handle["ada"], self.name, ["specialist"], public_key=public
        )

    def page(self, url: str) -> httpx.Response:
        response = self.http.get(url)
        found = re.search(r'data-csrf="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, url: str, body: dict[str, str], **headers: str) -> httpx.Response:
        return self.http.post(url, json=body, headers={"X-CSRF-Token": self.csrf} | headers)

    def sign(self, digest: bytes) -> str:
        return base64.b64encode(self.key.sign(digest)).decode()

    def sign_in(self) -> None:
        self.page("/signin")
        challenge = self.post("/api/signin/challenge", {"actor": self.name}).json()
        text = f"dermledger sign-in v1\n{challenge['ledger_id']}\n{self.name}\n{challenge['nonce']}"
        signed = self.post(
            "/api/signin", {"signature": self.sign(hashlib.sha256(text.encode()).digest())}
        )
        assert signed.status_code == 200, signed.text
        self.page("/queue")

    def signed_prepared(self, prepared: dict) -> str:
        """Sign as the page does: only if the shown fields hash to the given hash."""
        digest = jcs_sha256(prepared["fields"])
        assert digest.hex() == prepared["hash"]
        return self.sign(digest)

    def draw_seed(self) -> None:
        prepared = self.post("/api/seed/prepare", {}).json()
        done = self.post(
            "/api/sign/complete",
            {"token": prepared["token"], "signature": self.signed_prepared(prepared)},
        )
        assert done.json()["saved"]["type"] == "ReadingSeedDrawn"

    def prepare_vote(self, image_id: str, diagnosis: str) -> dict:
        response = self.post("/api/vote/prepare", {"image_id": image_id, "diagnosis": diagnosis})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[tuple[Study, Server]]:
    study = build_study(tmp_path / "home", [LENTIGO])
    with serving(study.settings.home) as server:
        yield study, server
    study.handle.ledger.close()


def log_size(study: Study) -> int:
    return sum(1 for _ in study.handle.ledger.kernel.log())


def test_forged_foreign_replayed_and_csrf_less_signatures_append_nothing(
    station: tuple[Study, Server],
) -> None:
    study, server = station
    rex, eve = Client(server, study, "rex"), Client(server, study, "eve")
    rex.enrol()
    eve.enrol()
    rex.sign_in()
    rex.draw_seed()
    image = study.images[0]
    before = log_size(study)
    other = rex.prepare_vote(image, LENTIGO)
    prepared = rex.prepare_vote(image, SOLAR)
    good = rex.signed_prepared(prepared)
    complete = {"token": prepared["token"], "signature": good}
    assert rex.http.post("/api/sign/complete", json=complete).status_code == 403  # no CSRF token
    assert rex.post("/api/sign/complete", complete, Origin="http://evil.example").status_code == 403
    forged = {"token": prepared["token"], "signature": rex.signed_prepared(other)}
    assert rex.post("/api/sign/complete", forged).status_code == 400  # over other content
    prepared = rex.prepare_vote(image, SOLAR)
    foreign = {"token": prepared["token"], "signature": eve.signed_prepared(prepared)}
    assert rex.post("/api/sign/complete", foreign).status_code == 400  # another key
    assert log_size(study) == before
    prepared = rex.prepare_vote(image, SOLAR)
    complete = {"token": prepared["token"], "signature": rex.signed_prepared(prepared)}
    assert rex.post("/api/sign/complete", complete).json()["saved"]["hash"] == prepared["hash"]
    assert rex.post("/api/sign/complete", complete).status_code == 404  # replayed
    assert log_size(study) == before + 1
    assert study.handle.ledger.audit.verify().ok


def test_a_revoked_reader_is_out_at_once_and_unknown_ids_say_nothing(
    station: tuple[Study, Server],
) -> None:
    study, server = station
    rex = Client(server, study, "rex")
    rex.enrol()
    first = httpx.get(f"{server.url}/signin").headers["set-cookie"].lower()
    assert "httponly" in first and "samesite=strict" in first
    rex.sign_in()
    rex.draw_seed()
    for url in (
        "/read/IMG-00000000deadbeef",
        "/images/IMG-00000000deadbeef/file",
        "/read/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ):
        response = rex.page(url)
        assert response.status_code == 404 and response.text == "Not found"
    image = study.handle.ledger.records.get_image(study.images[0])
    assert rex.page(f"/images/{image.image_id}/file").status_code == 200
    blob = keyed_blobs(study.settings).path(image.captured["blob_ref"])  # erasure v2: sealed
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")  # a damaged file is never served
    damaged = rex.page(f"/images/{image.image_id}/file")
    assert damaged.status_code == 500 and "does not match" in damaged.text
    prepared = rex.prepare_vote(study.images[0], SOLAR)
    study.handle.ledger.actors.revoke(study.handle["ada"], "rex", "left the study")
    before = log_size(study)
    complete = {"token": prepared["token"], "signature": rex.signed_prepared(prepared)}
    assert rex.post("/api/sign/complete", complete).status_code == 401
    assert rex.page("/queue").status_code == 303
    assert log_size(study) == before
    assert not any("rex" in line for line in server.log)  # no names in the server's log
