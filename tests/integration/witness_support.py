"""Real witnesses and real ledgers for the witness tests: `dermledger witness serve`
processes on 127.0.0.1 (ports picked at run time), and the ledger driven through its CLI
in this process, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from dermledger.commands.main import app
from dermledger.ledger.bootstrap import Settings
from tests.support import RawDB

WITNESS_PASS = "witness test passphrase"
LEDGER_PASS = "ledger test passphrase"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def witness_env() -> dict[str, str]:
    return {**os.environ, "DERMLEDGER_WITNESS_PASSPHRASE": WITNESS_PASS,
            "DERMLEDGER_KDF_LOG2_N": "10"}  # fmt: skip


@dataclass
class WitnessProcess:
    name: str
    home: Path
    vkey: str
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dermledger.commands", "witness", *args, "--home",
             str(self.home)],
            env=witness_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def trust(self, origin: str, log_vkey: str) -> None:
        done = self.cli("trust", origin, log_vkey)
        assert done.returncode == 0, done.stderr

    def start(self, port: int = 0) -> None:
        """Serve on `port` (0: any free one); the URL is the one it prints."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dermledger.commands", "witness", "serve", "--home",
             str(self.home), "--host", "127.0.0.1", "--port", str(port), "--prefix", "/w"],
            env=witness_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT):
                self.stop()
                raise AssertionError("the witness did not print its URL in time")
        self.url = self.process.stdout.readline().decode().strip()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self.process = None


def make_witness(folder: Path, name: str) -> WitnessProcess:
    home = folder / name
    made = subprocess.run(
        [sys.executable, "-m", "dermledger.commands", "witness", "init", "--home", str(home),
         "--name", f"{name}.example/w"],
        env=witness_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return WitnessProcess(name, home, made.stdout.strip())


@contextmanager
def running(*witnesses: WitnessProcess) -> Iterator[tuple[WitnessProcess, ...]]:
    try:
        for w in witnesses:
            w.start()
        yield witnesses
    finally:
        for w in witnesses:
            w.stop()


class Ledger:
    """A ledger driven through the real CLI, in this process."""

    def __init__(self, settings: Settings, passphrase: str = LEDGER_PASS) -> None:
        self.settings = settings
        self.passphrase = passphrase
        self.runner = CliRunner()

    def env(self) -> dict[str, str | None]:
        return {
            "DERMLEDGER_HOME": str(self.settings.home),
            "DERMLEDGER_PASSPHRASE": self.passphrase,
            "DERMLEDGER_KDF_LOG2_N": "10",
            "DERMLEDGER_ACTOR": "ada",
            "DERMLEDGER_NEW_PASSPHRASE": self.passphrase,
            "DERMLEDGER_LOG_PASSPHRASE": None,
            "DERMLEDGER_DB": self.settings.db_url,
        }

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--quiet", *args], env=self.env())

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def found(self) -> tuple[str, str]:
        """init, enrol the log key; (origin, log vkey)."""
        self.ok("init", "--founder", "ada")
        made = self.json("checkpoint", "--init-log-key")
        return made["origin"], made["vkey"]

    def enrol(self, name: str) -> None:
        self.ok("actor", "add", name, "--role", "annotator")

    def events(self) -> int:
        return int(self.json("audit", "verify")["events"])


@dataclass
class StoreCopy:
    """What an operator's backup holds: the home folder and, on PostgreSQL, the events up
    to a position. Restoring it is the rollback an attacker would do."""

    home: Path
    position: int


def copy_store(ledger: Ledger, where: Path) -> StoreCopy:
    shutil.copytree(ledger.settings.home, where)
    return StoreCopy(where, ledger.events())


def restore_store(ledger: Ledger, copy: StoreCopy) -> None:
    shutil.rmtree(ledger.settings.home)
    shutil.copytree(copy.home, ledger.settings.home)
    if ledger.settings.db_url:
        delete_after(ledger.settings, copy.position)


def delete_after(settings: Settings, position: int) -> None:
    """Delete every event after the first `position` ones, straight in the database."""
    raw = RawDB(settings)
    try:
        for row in raw.rows()[position:]:
            raw.delete(row[0])
    finally:
        raw.close()
