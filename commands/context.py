"""What every command shares: settings, the open ledger, the acting actor's key, output.

Only this module reads the global options and environment (DERMLEDGER_HOME,
DERMLEDGER_DB, DERMLEDGER_ACTOR, DERMLEDGER_PASSPHRASE); commands get a `Context`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from dermledger.ledger.bootstrap import Settings, ledger_exists
from dermledger.ledger.errors import InvalidInput, KeystoreError, NotFound
from dermledger.ledger.signing import Signer
from dermledger.policies.free_text import printable
from dermledger.study.ledger import DermLedger

PASSPHRASE_ENV = "DERMLEDGER_PASSPHRASE"
NEW_PASSPHRASE_ENV = "DERMLEDGER_NEW_PASSPHRASE"


class SafeConsole(Console):
    """A console that shows control and bidi characters in the text it prints as escapes
    (policy free-text): events recorded before that rule, or by other tools, never drive
    the terminal. Line breaks are kept; in a table cell they only wrap the cell."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text, keep="\n"), **kwargs)


out = SafeConsole(soft_wrap=True, markup=False, highlight=False)
err = SafeConsole(stderr=True, soft_wrap=True, markup=False, highlight=False)


@dataclass
class Context:
    """Per-invocation state, built by the root callback."""

    settings: Settings
    actor: str | None = None
    quiet: bool = False
    _ledger: DermLedger | None = field(default=None, repr=False)
    _signer: Signer | None = field(default=None, repr=False)

    @property
    def ledger(self) -> DermLedger:
        """The existing ledger; refused in one sentence, creating nothing, when there is
        none (a mistyped --home must not become a new, empty ledger)."""
        if self._ledger is None:
            if not ledger_exists(self.settings):
                raise NotFound(no_ledger_sentence(self.settings))
            self._ledger = DermLedger(self.settings)
            if not self._ledger.kernel.is_initialised():
                raise NotFound(no_ledger_sentence(self.settings))
        return self._ledger

    def create_ledger(self) -> DermLedger:
        """The ledger at these settings, created if absent: for `init` only."""
        if self._ledger is None:
            self._ledger = DermLedger(self.settings)
        return self._ledger

    def signer(self) -> Signer:
        """The acting actor's unlocked key (from --as / DERMLEDGER_ACTOR)."""
        if self._signer is None:
            if not self.actor:
                raise InvalidInput("say who is acting with --as NAME or DERMLEDGER_ACTOR")
            self._signer = self.ledger.actors.unlock(self.actor, passphrase_for(self.actor))
        return self._signer

    def hint(self, *args: str, home: Path | None = None) -> str:
        """A `dermledger` command line for a hint that works as printed: it names this
        ledger's home and, on PostgreSQL, its --db URL (a password in the URL is left to
        the shell as ${PGPASSWORD}, never printed)."""
        parts = ["dermledger", "--home", shlex.quote(str(home or self.settings.home))]
        if self.settings.db_url:
            parts += ["--db", hint_url(self.settings.db_url)]
        return " ".join([*parts, *args])

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()


def hint_url(url: str) -> str:
    """A database URL quoted for a shell, its password (if any) as ${PGPASSWORD}."""
    parsed = urlsplit(url)
    if parsed.password is None:
        return shlex.quote(url)
    user = parsed.username or ""
    host = parsed.netloc.rsplit("@", 1)[-1]
    masked = urlunsplit(parsed._replace(netloc=f"{user}:${{PGPASSWORD}}@{host}"))
    return f'"{masked}"'


def passphrase_for(actor: str, *, env: str = PASSPHRASE_ENV, confirm: bool = False) -> str:
    """A passphrase from the environment, or a hidden prompt on a terminal."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise KeystoreError(f"set {env} or run on a terminal to give {actor}'s passphrase")
    return typer.prompt(f"Passphrase for {actor}", hide_input=True, confirmation_prompt=confirm)


def no_ledger_sentence(settings: Settings) -> str:
    """Why a command other than init refuses: where it looked, and what to do."""
    return (
        f"there is no ledger at {settings.describe()}; check --home and --db, or create one "
        "with dermledger init"
    )


def get(ctx: typer.Context) -> Context:
    return ctx.find_root().obj


def settings_from(home: Path | None, db: str | None) -> Settings:
    home = home or Path(os.environ.get("DERMLEDGER_HOME") or ".dermledger")
    settings = Settings(home=home.expanduser().resolve(), db_url=db or None)
    cost = os.environ.get("DERMLEDGER_KDF_LOG2_N")
    if cost:
        if not cost.isdigit() or not 10 <= int(cost) <= 22:
            raise InvalidInput("DERMLEDGER_KDF_LOG2_N must be a whole number from 10 to 22")
        settings = replace(settings, kdf_log2_n=int(cost))
    mask = os.environ.get("DERMLEDGER_UMASK")
    if mask:
        if not (len(mask) <= 4 and all(c in "01234567" for c in mask)):
            raise InvalidInput("DERMLEDGER_UMASK must be an octal mask such as 077 or 022")
        settings = replace(settings, umask=int(mask, 8))
    return settings


def print_json(value: Any) -> None:
    """Machine-readable output: JSON on stdout, sorted keys, one document."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def status(message: str) -> None:
    """A status line for people, on stderr so stdout stays data."""
    err.print(message, highlight=False)


@contextmanager
def progress_bar(
    description: str, total: int | None, *, quiet: bool = False
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields `advance_to(n)`. Silent with --quiet."""
    if quiet:
        yield lambda n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        step = max(1, (total or 0) // 200)

        def advance_to(done: int) -> None:
            if done % step == 0 or (total is not None and done >= total):
                bar.update(task, completed=done)

        yield advance_to
