"""report.html in real headless Chromium, offline: on a valid release and on each damage
`release verify` catches, the page's verdict and every named failure equal the CLI's."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.signing import Signer
from dermledger.projections.release.messages import say
from dermledger.projections.release.page import REPORT, build_report
from tests.browser import releases
from tests.browser.conftest import Opened
from tests.browser.driver import drop_zip, pick_folder, pick_zip, set_keys

pytestmark = pytest.mark.browser

Open = Callable[[Path], Opened]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Signer]:
    return releases.build_release(tmp_path_factory.mktemp("release"))


def check_like_cli(opened: Opened, folder: Path) -> None:
    """Pick the folder in the page; its verdict and failures are the CLI's, to the letter."""
    shown = pick_folder(opened.page, folder)
    cli = releases.cli_verify(folder)
    assert shown.failures == cli.failures
    assert shown.verdict == cli.verdict
    assert shown.state == ("ok" if cli.ok else "fail")
    assert opened.requests == [] and opened.errors == []


def test_a_valid_release_verifies_and_its_page_is_listed(
    release: tuple[Path, Signer], offline_page: Open
) -> None:
    folder, _ = release
    manifest = json.loads((folder / "manifest.json").read_text())
    assert REPORT in [f["path"] for f in manifest["files"]]
    assert (folder / REPORT).read_bytes() == build_report()
    opened = offline_page(folder / REPORT)
    check_like_cli(opened, folder)
    page = opened.page
    assert page.inner_text("#verdict").startswith("OK: release v1 (")
    assert page.locator("#witness-state").get_attribute("data-state") == "not witnessed"
    # The dataset: the gates with what each left out, the charts, the gallery.
    gates = page.locator("#datasheet table").filter(has_text="malignant-histology")
    assert "malignant-histology 1 1" in " ".join(gates.inner_text().split())
    assert page.locator("#datasheet img.chart").count() == 5
    assert page.inner_text("#gallery-count") == "4 of 4 images"
    page.select_option("#filter-category", "MEL")
    page.wait_for_selector("#gallery-count:text-matches('^1 of')")
    card = page.locator("#gallery .card")
    assert card.count() == 1 and "histology" in card.inner_text()
    card.locator("summary").click()
    details = card.locator("details").inner_text()
    assert "annotated by ann" in details and "histology by pat" in details
    assert "vote by sam" in details and "inclusion proved" in details
    page.select_option("#filter-category", "")
    page.fill("#search", "seborrheic")
    page.wait_for_selector("#gallery-count:text-matches('^1 of')")


@pytest.mark.parametrize("damage", sorted(releases.DAMAGE))
def test_each_damage_is_named_as_the_cli_names_it(
    damage: str, release: tuple[Path, Signer], offline_page: Open, tmp_path: Path
) -> None:
    folder = releases.copy_release(release[0], tmp_path / "v1")
    releases.DAMAGE[damage](folder)
    cli = releases.cli_verify(folder)
    assert not cli.ok and cli.failures  # the damage is one the CLI catches
    check_like_cli(offline_page(folder / REPORT), folder)


@pytest.mark.parametrize(("top", "method"), [(True, zipfile.ZIP_DEFLATED),
                                             (False, zipfile.ZIP_STORED)])  # fmt: skip
def test_a_zip_of_the_release_verifies(
    top: bool, method: int, release: tuple[Path, Signer], offline_page: Open, tmp_path: Path
) -> None:
    folder = release[0]
    archive = releases.zip_release(folder, tmp_path / "v1.zip", top=top, method=method)
    shown = pick_zip(offline_page(folder / REPORT).page, archive)
    assert (shown.state, shown.failures) == ("ok", [])
    assert shown.verdict == releases.cli_verify(folder).verdict


def test_a_damaged_zip_dropped_on_the_page_names_the_damage(
    release: tuple[Path, Signer], offline_page: Open, tmp_path: Path
) -> None:
    folder = releases.copy_release(release[0], tmp_path / "v1")
    releases.flip_image_byte(folder)
    releases.remove_file(folder)
    archive = releases.zip_release(folder, tmp_path / "v1.zip", top=True,
                                   method=zipfile.ZIP_DEFLATED)  # fmt: skip
    shown = drop_zip(offline_page(release[0] / REPORT).page, archive)
    cli = releases.cli_verify(folder)
    assert (shown.failures, shown.verdict) == (cli.failures, cli.verdict)


# ------------------------------------------------------------------ witness cosignatures

ORIGIN = "dermledger.example/study-log"


def cosigned(
    release: tuple[Path, Signer], target: Path, forge: bool = False
) -> tuple[Path, list[releases.Witness]]:
    """A copy whose manifest carries two witnesses' cosignatures (the second forged:
    one byte of its Ed25519 signature changed), signed again by the release's signer."""
    folder = releases.copy_release(release[0], target)
    manifest = json.loads((folder / "manifest.json").read_text())
    body = releases.checkpoint_body(manifest, ORIGIN)
    witnesses = [releases.Witness(f"witness.example/{n}", Ed25519PrivateKey.generate())
                 for n in ("ethics", "pathology")]  # fmt: skip
    lines = [w.cosign(body, 1_790_000_000 + i) for i, w in enumerate(witnesses)]
    if forge:
        name, blob = lines[1].rsplit(" ", 1)
        raw = bytearray(releases.base64.b64decode(blob))
        raw[20] ^= 0x01
        lines[1] = f"{name} {releases.base64.b64encode(bytes(raw)).decode()}"
    releases.add_cosignatures(folder, release[1], lines, body)
    return folder, witnesses


def test_cosignatures_from_trusted_witnesses_verify(
    release: tuple[Path, Signer], offline_page: Open, tmp_path: Path
) -> None:
    folder, witnesses = cosigned(release, tmp_path / "v1")
    opened = offline_page(folder / REPORT)
    set_keys(opened.page, "\n".join(w.vkey for w in witnesses))
    check_like_cli(opened, folder)
    assert opened.page.locator("#witness-state").get_attribute("data-state") == "witnessed"


def test_a_forged_cosignature_is_named(
    release: tuple[Path, Signer], offline_page: Open, tmp_path: Path
) -> None:
    folder, witnesses = cosigned(release, tmp_path / "v1", forge=True)
    opened = offline_page(folder / REPORT)
    page = opened.page
    shown = pick_folder(page, folder)  # no keys yet: present but not checked
    assert shown.state == "ok" and shown.witnesses == "not checked"
    set_keys(page, "\n".join(w.vkey for w in witnesses))
    page.wait_for_selector("body[data-verdict=fail]", state="attached")
    failures = page.locator("#failures li").all_inner_texts()
    # `release verify` does not check cosignatures until the witnesses work lands; the
    # page adds exactly the sentence the shared table gives for it.
    assert releases.cli_verify(folder).failures == []
    assert failures == [say("cosignature", witness=witnesses[1].name),
                        say("quorum", verified=1)]  # fmt: skip
    assert page.inner_text("#verdict") == say("fails", name="v1", count=2)


def test_a_policy_quorum_that_is_not_met_is_named(
    release: tuple[Path, Signer], offline_page: Open, tmp_path: Path
) -> None:
    folder, witnesses = cosigned(release, tmp_path / "v1")
    absent = releases.Witness("witness.example/partner", Ed25519PrivateKey.generate())
    policy = "\n".join([
        "# tlog-policy: both institutions and the partner site",
        *(f"witness w{i} {w.vkey}" for i, w in enumerate([*witnesses, absent])),
        "group everyone all w0 w1 w2",
        "quorum everyone",
    ])  # fmt: skip
    opened = offline_page(folder / REPORT)
    set_keys(opened.page, policy)
    shown = pick_folder(opened.page, folder)
    assert shown.failures == [say("quorum", verified=2)]
    set_keys(opened.page, policy.replace("group everyone all", "group everyone 2"))
    opened.page.wait_for_selector("body[data-verdict=ok]", state="attached")
