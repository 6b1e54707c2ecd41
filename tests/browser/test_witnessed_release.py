"""A release cosigned by two real witnesses, checked by its own page in headless Chromium
and by `release verify --policy`: the same verdict in the same words."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.notes import Cosigner
from dermledger.projections.release.messages import say
from dermledger.projections.release.page import REPORT
from tests.browser.conftest import Opened
from tests.browser.driver import pick_folder, set_keys
from tests.integration.test_release import NEVUS, verified
from tests.integration.witness_support import Ledger, make_witness, running
from tests.support import PASSPHRASE, open_handle, register_with_consent

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A release whose manifest carries two witnesses' cosignatures; its ledger's policy."""
    work = tmp_path_factory.mktemp("witnessed")
    team = open_handle(Settings(home=work / "home", kdf_log2_n=10))
    register_with_consent(team, "P1", {"age": "47", "sex": "female", "fitzpatrick_skin_type": "II"})
    verified(team, 1, NEVUS)
    team.ledger.close()
    ledger = Ledger(Settings(home=work / "home", kdf_log2_n=10), PASSPHRASE)
    made = ledger.json("checkpoint", "--init-log-key")
    w1, w2 = make_witness(work, "ethics"), make_witness(work, "pathlab")
    with running(w1, w2):
        for w in (w1, w2):
            w.trust(made["origin"], made["vkey"])
            ledger.ok("witness", "add", w.name, w.url, w.vkey)
        ledger.ok("release", "create", "v1", "--out", str(work / "v1"))
    return work / "v1", ledger.ok("witness", "policy").stdout


def cli_failures(folder: Path, policy: Path) -> list[str]:
    result = CliRunner().invoke(app, ["release", "verify", str(folder), "--policy", str(policy),
                                      "--json"])  # fmt: skip
    return json.loads(result.stdout)["failures"]


def test_the_page_and_the_cli_agree_on_the_witnesses(
    witnessed: tuple[Path, str], offline_page: Callable[[Path], Opened], tmp_path: Path
) -> None:
    folder, policy_text = witnessed
    policy = tmp_path / "ledger.policy"
    policy.write_text(policy_text)
    opened = offline_page(folder / REPORT)
    set_keys(opened.page, policy_text)
    shown = pick_folder(opened.page, folder)
    assert shown.state == "ok" and shown.witnesses == "witnessed"
    assert cli_failures(folder, policy) == []
    assert opened.page.inner_text("#witness-state") == say("state_witnessed")

    stranger = Cosigner.generate("partner.example/w").verifier.vkey
    stricter = policy_text.replace("quorum ledger-quorum", "") + (
        f"witness partner {stranger}\ngroup everyone all ledger-quorum partner\nquorum everyone\n"
    )
    policy.write_text(stricter)
    set_keys(opened.page, stricter)
    opened.page.wait_for_selector("body[data-verdict=fail]", state="attached")
    failures = opened.page.locator("#failures li").all_inner_texts()
    assert failures == cli_failures(folder, policy) == [say("quorum", verified=2)]
