"""The CLI blinds a reader as the reading station does: `show` and `dataset` with `--as`
naming a specialist who has not voted name no label, structure, vote or histology."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.station import build_study, cli
from tests.support import PASSPHRASE

ANNOTATION, OTHER_VOTE, OWN_VOTE = "Lentigo simplex", "Solar lentigo", "Nevus of Ota"
SECRETS = (ANNOTATION, OTHER_VOTE, "streaks", '"NV"', '"BKL"')


def test_show_and_dataset_are_blinded_for_a_reader_until_their_vote(tmp_path: Path) -> None:
    study = build_study(tmp_path / "home", [ANNOTATION])
    handle, image = study.handle, study.images[0]
    for name in ("sam", "sue"):
        handle.ledger.actors.enrol(handle["ada"], name, ["specialist"], passphrase=PASSPHRASE)
    sue = handle.ledger.actors.unlock("sue", PASSPHRASE)
    handle.ledger.confirmation.vote(sue, image, OTHER_VOTE)
    handle.ledger.close()
    home = study.settings.home

    def output(*args: str) -> str:
        done = cli(home, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    for args in (("show", image), ("show", image, "--json"), ("dataset", "--json")):
        blinded = output("--as", "sam", *args)
        assert not [s for s in SECRETS if s in blinded], args
        assert ANNOTATION in output("--as", "ada", *args)  # a coordinator sees all
    record = json.loads(output("--as", "sam", "show", image, "--json"))
    assert record["blinding"] == {"policy": "reader-blinding", "version": "1", "level": "blinded"}
    done = cli(home, "--as", "sam", "vote", image, "--diagnosis", OWN_VOTE)
    assert done.returncode == 0, done.stderr
    after = json.loads(output("--as", "sam", "show", image, "--json"))
    assert "withheld" in after and "diagnosis" not in after
    assert after["blinding"]["level"] == "own-vote"
    votes = [e for e in after["history"] if e["type"] == "ConsensusVoteCast"]
    assert [e["actor"] for e in votes] == ["sam"]  # own vote only, panel still open
    assert votes[0]["payload"]["shown"]["via"] == "cli"
