"""Three specialists read blinded in three real browsers (headless Chromium).

Each makes their own non-extractable Ed25519 key in their own browser context, is
enrolled by a coordinator through the CLI, signs in with a signed challenge, draws
their queue order, and votes on every image, signing in the page. One image is split
three ways and becomes disputed; a coordinator orders histology (with a reason that
tries to run a script) and sees it waiting on their overview; a pathologist records
it in their browser; an annotator annotates a new image in theirs. The log then
verifies with `audit verify` and the independent checker, and no byte a reader
received before voting named another judgement.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dermledger.policies import blinding
from tests.e2e.station import Study, build_study, cli, serving
from tests.independent_checker import check_export

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")
# The README's screenshot is refreshed only when asked for (tests never write the tree):
# DERMLEDGER_SCREENSHOTS=1 pytest tests/e2e/test_reading_station_browser.py
SCREENSHOT = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "reading.png"
    if os.environ.get("DERMLEDGER_SCREENSHOTS") == "1"
    else None
)

ANNOTATIONS = ["Lentigo simplex", "Angiokeratoma", "Large cell acanthoma"]
VOTES = {  # per reader, per image: distinct labels, so every byte search is exact
    "rdr1": ["Mongolian spot", "Nevus of Ota", "Ink-spot lentigo"],
    "rdr2": ["Nevus of Ito", "Solar lentigo", "Lichen planus like keratosis"],
    "rdr3": ["Melanoacanthoma", "Dermatofibroma, Cellular", "Pigmented benign keratosis"],
}
HISTOLOGY = ("Glomus tumor", "PATH-SECRET-7")
STRUCTURE = "streaks"  # the annotator's structure name, never shown before a vote


# The private key as IndexedDB holds it: marked non-extractable, and export refused.
KEY_STAYS = """async (name) => {
  const db = await new Promise((ok) => { const r = indexedDB.open("dermledger-keys", 1);
                                         r.onsuccess = () => ok(r.result); });
  const pair = await new Promise((ok) => { const r = db.transaction("keys").objectStore("keys")
                                           .get(name); r.onsuccess = () => ok(r.result); });
  if (pair.privateKey.extractable) return "extractable";
  try { await crypto.subtle.exportKey("pkcs8", pair.privateKey); return "exported"; }
  catch (e) { return "non-extractable"; }
}"""


def forbidden_for(reader: str) -> list[str]:
    others = [label for name, labels in VOTES.items() if name != reader for label in labels]
    return [*ANNOTATIONS, *others, *HISTOLOGY, STRUCTURE]


class Reader:
    """One person at their own browser (a separate context: own IndexedDB, cookies)."""

    def __init__(self, browser: Any, url: str, name: str) -> None:
        self.name, self.url = name, url
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.received: list[tuple[str, bytes]] = []
        self.page.on("response", self._keep)

    def _keep(self, response: Any) -> None:
        try:
            self.received.append((response.url, response.body()))
        except Exception:  # redirects carry no body
            self.received.append((response.url, b""))

    def make_key(self) -> str:
        self.page.goto(f"{self.url}/enrol")
        self.page.fill("#enrol-name", self.name)
        self.page.click("#enrol-form button")
        self.page.wait_for_selector("#enrol-result:not([hidden])")
        assert self.page.evaluate(KEY_STAYS, self.name) == "non-extractable"
        return self.page.text_content("#public-key") or ""

    def sign_in(self, lands_on: str) -> None:
        self.page.goto(f"{self.url}/signin")
        self.page.fill("#signin-name", self.name)
        self.page.click("#signin-form button")
        self.page.wait_for_url(f"**{lands_on}")

    def sign_in_and_draw(self) -> list[str]:
        self.sign_in("/queue")
        self.page.click("#draw-seed")
        self.page.wait_for_selector("ol.queue")
        return [a.text_content() or "" for a in self.page.query_selector_all("ol.queue a")]

    def vote(
        self,
        image_id: str,
        label: str,
        screenshot: Path | None = None,
        meanwhile: Callable[[], object] | None = None,
    ) -> None:
        """Vote on one image; `meanwhile` runs after the page shows what it will sign
        and before the reader signs (another writer moving the image's stream)."""
        self.page.goto(f"{self.url}/read/{image_id}")  # waits for "load": the image too
        assert self.page.eval_on_selector("#image", "img => img.naturalWidth") > 0
        self.page.fill("#diagnosis", label)
        self.page.click("#vote-form button")
        self.page.wait_for_selector("#confirm:not([hidden])")
        assert (self.page.text_content("#c-diagnosis") or "").endswith(label)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(screenshot), full_page=True)
        if meanwhile is not None:
            meanwhile()
        self.page.click("#sign-vote")
        self.page.wait_for_selector("#status:has-text('Recorded, signed as')")

    def leaks(self) -> list[str]:
        """Every forbidden string in any response, but the static script, style and the
        label vocabulary (the same bytes for every reader, no judgement in them)."""
        found = []
        for url, body in self.received:
            if "/static/" in url or "/vocabulary/" in url:
                continue
            found += [f"{s} in {url}" for s in forbidden_for(self.name) if s.encode() in body]
        return found

    def judge(self, first_of: str, label: str, **fields: str) -> None:
        """Open the first image of a work list, fill the form, review and sign."""
        self.page.goto(f"{self.url}{first_of}")
        self.page.click("ol.queue a")
        self.page.fill("#diagnosis", label)
        for selector, value in fields.items():
            if selector.startswith("select"):
                self.page.select_option(selector, value)
            else:
                self.page.fill(selector, value)
        self.page.click("#judge-form button[type=submit]")
        self.page.wait_for_selector("#confirm:not([hidden])")
        self.page.click("#sign-judgement")
        self.page.wait_for_selector("#status:has-text('Recorded, signed as')")


def enrol(study: Study, name: str, public_key: str, role: str = "specialist") -> None:
    done = cli(study.settings.home, "--as", "ada", "actor", "add", name,
               "--role", role, "--public-key", public_key)  # fmt: skip
    assert done.returncode == 0, done.stderr


def edit_size(study: Study, image_id: str) -> Callable[[], object]:
    """A coordinator's metadata edit on the image: the vote must be sealed again."""
    ada = study.handle["ada"]
    return lambda: study.handle.ledger.curation.edit_metadata(
        ada, image_id, "clin_size_long_diam_mm", "9", "measured again"
    )


def other_roles(browser: Any, url: str, study: Study) -> None:
    """The coordinator orders histology and sees it waiting (the reason's markup shown
    as text); the pathologist records it; an annotator annotates the new image."""
    reason = "<script>alert('x')</script> split three ways"
    home = study.settings.home
    done = cli(home, "--as", "ada", "order", study.images[1], "--histology", "--reason", reason)
    assert done.returncode == 0, done.stderr
    people = {}
    for name, role in (("cor", "coordinator"), ("pth", "pathologist"), ("an2", "annotator")):
        people[name] = Reader(browser, url, name)
        enrol(study, name, people[name].make_key(), role)
    dialogs: list[str] = []
    people["cor"].page.on("dialog", lambda d: dialogs.append(d.message))
    people["cor"].sign_in("/overview")
    waiting = people["cor"].page.text_content("#histology_waiting") or ""
    assert study.images[1] in waiting and reason in waiting and not dialogs
    people["pth"].sign_in("/histology")
    people["pth"].judge("/histology", HISTOLOGY[0], **{"#report-ref": HISTOLOGY[1]})
    people["an2"].sign_in("/annotate")
    people["an2"].judge(
        "/annotate", "Blue nevus", **{"select[data-structure=pigment_network]": "typical"}
    )


def test_three_readers_vote_blinded_in_their_browsers(tmp_path: Path) -> None:
    study = build_study(tmp_path / "home", ANNOTATIONS, unannotated=1)
    index = {image: n for n, image in enumerate(study.images)}
    edited: list[str] = []
    with serving(study.settings.home) as server, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            for number, name in enumerate(VOTES):
                reader = Reader(browser, server.url, name)
                enrol(study, name, reader.make_key())
                order = reader.sign_in_and_draw()
                seed = study.handle.ledger.reading.seed(name)
                assert seed is not None
                assert order == blinding.queue_order(seed, study.images[:3])
                for position, image in enumerate(order):
                    shot = SCREENSHOT if number == 1 and position == 0 and SCREENSHOT else None
                    edit = edit_size(study, image) if number == 0 and position == 0 else None
                    reader.vote(image, VOTES[name][index[image]], shot, edit)
                assert reader.leaks() == []
                if number == 0:  # the page was asked to re-sign, and did without a click
                    edited.append(order[0])
                    assert any(b'"resign"' in body for _, body in reader.received)
                reader.context.close()
            ledger = study.handle.ledger
            stages = [ledger.records.get_image(i).verification() for i in study.images[:3]]
            assert [(v.consensus, v.consensus_category) for v in stages] == [
                ("reached", "NV"), ("disputed", None), ("reached", "BKL"),
            ]  # fmt: skip
            other_roles(browser, server.url, study)
        finally:
            browser.close()
    assert ledger.records.get_image(study.images[1]).verification().stage == "histology"
    stream = ledger.kernel.stream(edited[0])
    edit = next(e for e in stream if e.type == "MetadataEdited")
    vote = next(e for e in stream if e.type == "ConsensusVoteCast" and e.actor == "rdr1")
    assert vote.prev_hash == edit.hash  # sealed again on the edit, and signed again
    annotated = ledger.records.get_image(study.images[3])
    assert annotated.structures == {"pigment_network": "typical"}
    home = study.settings.home
    assert cli(home, "audit", "verify").returncode == 0
    export = tmp_path / "log.jsonl"
    assert cli(home, "audit", "export", "--out", str(export)).returncode == 0
    assert check_export(export) == []
    ledger.close()


def test_a_browser_without_webcrypto_ed25519_says_so_and_signs_nothing(tmp_path: Path) -> None:
    study = build_study(tmp_path / "home", [])
    with serving(study.settings.home) as server, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            context = browser.new_context()
            context.add_init_script(  # a browser whose WebCrypto knows no Ed25519
                "const real = crypto.subtle.generateKey.bind(crypto.subtle);"
                "crypto.subtle.generateKey = (a, ...rest) => a && a.name === 'Ed25519'"
                " ? Promise.reject(new DOMException('unsupported', 'NotSupportedError'))"
                " : real(a, ...rest);"
            )
            page = context.new_page()
            for url in ("/enrol", "/signin"):
                page.goto(f"{server.url}{url}")
                page.wait_for_selector("#no-crypto:not([hidden])")
                assert "cannot make or use Ed25519 keys" in (page.text_content("#no-crypto") or "")
                assert page.is_disabled("form button")
        finally:
            browser.close()
    study.handle.ledger.close()
