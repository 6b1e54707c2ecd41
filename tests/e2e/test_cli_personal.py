"""Personal data off the command line (issue 18 item 31).

`patient register --personal-from FILE` (`-` for standard input) and `--ask-personal`
seal the same data as the flags, print none of it, store none of it in plain text, and a
malformed file is one sentence, exit 1, with nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from tests.e2e.test_cli_ledger import PASS, event_count

NAME, MRN, BORN = "Zelda Quackenbush", "MRN-778812", "1961-04-09"
SEALED = {"name": NAME, "record_number": MRN, "birth_date": BORN}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The `cli` of test_cli_ledger, with standard input, for a ledger founded by ada."""
    home = tmp_path / "home"
    monkeypatch.setenv("DERMLEDGER_HOME", str(home))
    monkeypatch.setenv("DERMLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("DERMLEDGER_NEW_PASSPHRASE", PASS)
    monkeypatch.setenv("DERMLEDGER_KDF_LOG2_N", "10")
    monkeypatch.delenv("DERMLEDGER_DB", raising=False)
    monkeypatch.delenv("DERMLEDGER_ACTOR", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None):
        return runner.invoke(app, ["--quiet", *args], input=input)

    invoke.home = home  # type: ignore[attr-defined]
    assert invoke("init", "--founder", "ada").exit_code == 0
    return invoke


def revealed(cli, patient: str) -> dict[str, str]:
    shown = cli("--as", "ada", "patient", "show", patient, "--reveal", "--reason", "test",
                "--json")  # fmt: skip
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)["personal"]


def home_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def register(cli, patient: str, *args: str, input: str | None = None):
    return cli("--as", "ada", "patient", "register", patient, "--age", "60", *args, input=input)


def test_file_stdin_prompt_and_flags_seal_the_same_data(cli, tmp_path: Path) -> None:
    lines = tmp_path / "p1.env"
    lines.write_text(f"# P1\nname = {NAME}\nrecord-number={MRN}\n\nbirth_date={BORN}\n")
    as_json = json.dumps(SEALED)
    runs = {
        "P1": register(cli, "P1", "--personal-from", str(lines)),
        "P2": register(cli, "P2", "--personal-from", "-", input=as_json),
        "P3": register(cli, "P3", "--personal-from", "-", input=lines.read_text()),
        "P4": register(cli, "P4", "--ask-personal", input=f"{NAME}\n{MRN}\n{BORN}\n"),
        "P5": register(cli, "P5", "--name", NAME, "--record-number", MRN, "--birth-date", BORN),
    }
    for patient, result in runs.items():
        assert result.exit_code == 0, (patient, result.output)
        # CliRunner echoes what is typed at the prompts, as a terminal would; beyond that
        # nothing personal is printed.
        printed = [line for line in result.output.splitlines() if ":" not in line]
        assert not any(v in line for v in SEALED.values() for line in printed), result.output
        assert revealed(cli, patient) == SEALED, patient
    stored = home_bytes(cli.home)
    assert not any(value.encode() in stored for value in SEALED.values())


def test_the_flags_say_they_are_visible_to_other_users(cli) -> None:
    helped = cli("patient", "register", "--help")
    assert helped.exit_code == 0
    text = " ".join(helped.output.split())
    assert text.count("Visible to every user of this machine") == 3
    assert "--personal-from" in text and "--ask-personal" in text


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (f'["{NAME}"]', "is not a JSON object"),
        (f'{{"name": "{NAME}", ', "starts like JSON but is not valid JSON"),
        (json.dumps({"name": NAME, "birth_date": 1961}), "birth_date as something other"),
        (json.dumps({NAME: MRN}), "unknown key (the object's key number 1)"),
        (f"name={NAME}\n{MRN}\n", "line 2 has no ="),
        (f"name={NAME}\n{MRN}={BORN}\n", "unknown key on line 2"),
        (f"name={NAME}\nname={NAME}\n", "gives name twice"),
        (f"name={NAME}\nbirth_date=09/04/1961\n", "birth date is not a YYYY-MM-DD date"),
        ("# nothing\n\n", "holds no field"),
        (b"name=Zelda \xff\n", "is not UTF-8 text"),
    ],
)
def test_a_malformed_file_is_one_sentence_and_writes_nothing(
    cli, tmp_path: Path, content: str | bytes, says: str
) -> None:
    before = event_count(cli)
    stored_before = sorted(p.name for p in cli.home.rglob("*"))
    path = tmp_path / "bad.env"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for result in (
        register(cli, "P1", "--personal-from", str(path)),
        register(cli, "P1", "--personal-from", "-", input=path.read_bytes()),
    ):
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.output.count("Error:") == 1 and len(result.output.splitlines()) == 1
        assert says in result.output
        assert not any(v in result.output for v in (NAME, MRN, "Zelda", "09/04"))
    assert event_count(cli) == before
    assert sorted(p.name for p in cli.home.rglob("*")) == stored_before  # no key file left


def test_one_way_only_and_a_missing_file(cli, tmp_path: Path) -> None:
    both = register(cli, "P1", "--personal-from", "-", "--name", NAME, input="name=x\n")
    assert both.exit_code == 1 and "one way only" in both.output and NAME not in both.output
    missing = register(cli, "P1", "--personal-from", str(tmp_path / "nope.env"))
    assert missing.exit_code == 1 and "cannot read the personal-data file" in missing.output
    assert cli("patient", "show", "P1").exit_code == 1
