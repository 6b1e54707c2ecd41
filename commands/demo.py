"""`dermledger demo`: run the whole workflow on a synthetic study in a fresh home."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dermledger.commands.context import get, out, status
from dermledger.ledger.errors import Conflict, VerificationError
from dermledger.synthetic.demo_study import run_demo


def demo(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--demo-home", help="Where to build the demo ledger (default: a new temp folder)."
        ),
    ] = None,
) -> None:
    """Build a demo study in a fresh ledger and print what happened.

    Uses the embedded SQLite default unless --db names PostgreSQL.

    Example: dermledger demo
    """
    c = get(ctx)
    target = home or Path(tempfile.mkdtemp(prefix="dermledger-demo-"))
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty; the demo needs a fresh folder")
    result = run_demo(replace(c.settings, home=target.resolve()), say=status)
    table = Table("step", "what happened", title="DermLedger demo")
    for what, detail in result.steps:
        table.add_row(what, detail)
    out.print(table)
    out.print(f"Demo home: {result.home}  (try: dermledger --home {result.home} audit verify)")
    if result.report is None or not result.report.ok:
        raise VerificationError("the demo ledger did not verify")


def register(app: typer.Typer) -> None:
    app.command()(demo)
