"""The ledger's first commands as a user runs them.

Exact output, exit codes, and nothing written on refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from tests.independent_checker import check_export

PASS = "cli test passphrase"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DERMLEDGER_HOME", str(home))
    monkeypatch.setenv("DERMLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("DERMLEDGER_NEW_PASSPHRASE", PASS)
    monkeypatch.setenv("DERMLEDGER_KDF_LOG2_N", "10")  # real scrypt, lower cost
    monkeypatch.delenv("DERMLEDGER_DB", raising=False)
    monkeypatch.delenv("DERMLEDGER_ACTOR", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--quiet", *args])

    invoke.home = home  # type: ignore[attr-defined]
    return invoke


def event_count(cli) -> int:
    result = cli("audit", "verify", "--json")
    return json.loads(result.stdout)["events"]


def test_init_add_list_checkpoint_verify_export(cli, tmp_path: Path) -> None:
    result = cli("init", "--founder", "ada", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["founder"] == "ada"
    assert cli("--as", "ada", "actor", "add", "lee", "--role", "specialist").exit_code == 0
    assert (
        cli(
            "--as", "ada", "actor", "add", "kim", "--role", "annotator", "--role", "auditor"
        ).exit_code
        == 0
    )
    listing = json.loads(cli("actor", "list", "--json").stdout)
    assert [(a["actor"], a["roles"], a["status"]) for a in listing] == [
        ("ada", ["coordinator"], "active"),
        ("kim", ["annotator", "auditor"], "active"),
        ("lee", ["specialist"], "active"),
    ]
    cp = cli("--as", "ada", "checkpoint", "--json")
    assert cp.exit_code == 0 and json.loads(cp.stdout)["tree_size"] == 3
    verified = cli("audit", "verify")
    assert verified.exit_code == 0
    # The first checkpoint also enrols the log's checkpoint key (LogKeyEnrolled).
    assert verified.stdout.startswith("5 events in 4 streams, 3 actors, 1 checkpoints; root ")
    out = tmp_path / "log.jsonl"
    assert cli("audit", "export", "--out", str(out)).exit_code == 0
    assert len(out.read_text().splitlines()) == 5
    assert check_export(out) == []


def test_refusals_exit_1_and_write_nothing(cli) -> None:
    assert cli("init", "--founder", "ada").exit_code == 0
    cli("--as", "ada", "actor", "add", "lee", "--role", "specialist")
    before = event_count(cli)

    refused = cli("--as", "lee", "actor", "add", "eve", "--role", "coordinator")
    assert refused.exit_code == 1
    assert "Error: lee (specialist) may not append ActorEnrolled; it needs coordinator" in (
        refused.output
    )
    assert cli("init", "--founder", "bob").exit_code == 1
    assert cli("--as", "ada", "actor", "add", "Bad Name", "--role", "annotator").exit_code == 1
    assert cli("--as", "ada", "actor", "add", "eve", "--role", "surgeon").exit_code == 1
    assert cli("--as", "ada", "actor", "revoke", "nobody", "--reason", "x").exit_code == 1
    assert cli("actor", "add", "eve", "--role", "annotator").exit_code == 1  # no --as
    assert event_count(cli) == before
    assert not (cli.home / "keys" / "eve.key.json").exists()


def test_wrong_passphrase_and_revoked_key(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("init", "--founder", "ada")
    cli("--as", "ada", "actor", "add", "bea", "--role", "coordinator")
    monkeypatch.setenv("DERMLEDGER_PASSPHRASE", "wrong")
    locked = cli("--as", "ada", "checkpoint")
    assert locked.exit_code == 1 and "does not unlock" in locked.output
    monkeypatch.setenv("DERMLEDGER_PASSPHRASE", PASS)
    assert cli("--as", "ada", "actor", "revoke", "bea", "--reason", "left").exit_code == 0
    revoked = cli("--as", "bea", "checkpoint")
    assert revoked.exit_code == 1 and "revoked" in revoked.output


def test_usage_errors_exit_2(cli) -> None:
    assert cli("actor", "add", "x").exit_code == 2  # --role missing
    assert cli("no-such-command").exit_code == 2


def test_verify_names_the_tampered_event(cli) -> None:
    import sqlite3

    cli("init", "--founder", "ada")
    cli("--as", "ada", "actor", "add", "lee", "--role", "specialist")
    db = sqlite3.connect(cli.home / "ledger.sqlite")
    db.execute(
        "UPDATE stored_events SET state = replace(state, 'specialist', 'coordinator') "
        "WHERE originator_id = 'actor:lee'"
    )
    db.commit()
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert (
        "Error: event seq 2 (ActorEnrolled in stream actor:lee) fails verification: "
        "its hash does not match its contents" in result.output
    )


def test_every_command_has_help(cli) -> None:
    from typer.main import get_command

    def walk(command, path: list[str]):
        yield path, command
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    for path, command in walk(get_command(app), []):
        last = (command.help or "").strip().split("\n\n")[-1]
        assert last.lstrip().startswith("Example:"), f"{' '.join(path)}: help ends {last!r}"
        assert cli(*path, "--help").exit_code == 0


def test_import_help_lists_the_csv_columns(cli) -> None:
    from dermledger.policies.csv_rows import COLUMNS

    shown = " ".join(cli("import", "--help").stdout.split())
    for column in COLUMNS:
        assert f" {column}," in shown or f" {column} " in shown, column


MISSING_LEDGER_COMMANDS = (
    ("audit", "verify"),
    ("dataset",),
    ("stats",),
    ("actor", "list"),
    ("audit", "trail"),
    ("audit", "compliance"),
    ("release", "list"),
    ("duplicates", "list"),
    ("show", "IMG-0000000000000000"),
    ("--as", "ada", "checkpoint"),
    ("readmodel", "update"),
)


def test_only_init_creates_a_ledger(cli, tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    out = tmp_path / "log.jsonl"
    for args in (*MISSING_LEDGER_COMMANDS, ("audit", "export", "--out", str(out))):
        result = cli("--home", str(typo), *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output == (
            f"Error: there is no ledger at {typo / 'ledger.sqlite'}; check --home and --db, "
            "or create one with dermledger init\n"
        ), args
        assert not typo.exists(), args
    assert not out.exists()
    assert cli("--home", str(typo), "init", "--founder", "ada").exit_code == 0
    assert cli("--home", str(typo), "audit", "verify").exit_code == 0


@pytest.mark.postgres
def test_only_init_creates_a_ledger_on_postgresql(cli, tmp_path: Path) -> None:
    from dermledger.ledger.bootstrap import postgres_connect, postgres_schema
    from tests.conftest import postgres_settings

    settings = postgres_settings(tmp_path / "pg")
    url = settings.db_url or ""
    for args in MISSING_LEDGER_COMMANDS[:4]:
        result = cli("--home", str(tmp_path / "h"), "--db", url, *args)
        assert result.exit_code == 1 and "there is no ledger at postgresql://" in result.output
    assert not (tmp_path / "h").exists()
    with postgres_connect(settings) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
            (postgres_schema(url),),
        ).fetchone()
    assert found is None, "no schema is created for a missing ledger"


def test_hints_name_the_database_and_never_its_password() -> None:
    from dermledger.commands.context import Context, hint_url
    from dermledger.ledger.bootstrap import Settings

    url = "postgresql://dl:s3cret@db.example:5433/study?schema=dl_x"
    assert hint_url(url) == '"postgresql://dl:${PGPASSWORD}@db.example:5433/study?schema=dl_x"'
    plain = Context(Settings(home=Path("/tmp/a b"), db_url="postgresql://dl@db/study"))
    assert plain.hint("audit", "verify") == (
        "dermledger --home '/tmp/a b' --db postgresql://dl@db/study audit verify"
    )
    assert Context(Settings(home=Path("/h"))).hint("stats") == "dermledger --home /h stats"


@pytest.mark.postgres
def test_the_demo_hint_works_as_printed_on_postgresql(cli, tmp_path: Path) -> None:
    import re
    import shlex

    from tests.conftest import postgres_settings
    from tests.support import drop_schema

    settings = postgres_settings(tmp_path / "pg")
    try:
        demo = cli("--db", settings.db_url or "", "demo", "--demo-home", str(tmp_path / "demo"),
                   "--records", "24", "--duplicates", "2", "--patients", "8")  # fmt: skip
        assert demo.exit_code == 0, demo.output
        hint = re.search(r"\(try: (dermledger .*)\)\s*$", demo.stdout)
        assert hint and "--db" in hint.group(1)
        followed = cli(*shlex.split(hint.group(1))[1:])
        assert followed.exit_code == 0, followed.output
        assert "OK: every hash, signature" in followed.output
    finally:
        drop_schema(settings)
