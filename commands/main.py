"""The `dermledger` command line (DESIGN section 8).

Global options pick the ledger and the acting actor; each command group lives in its
own module and only parses, calls the service and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands import (
    actor,
    audit,
    capture,
    confirmation,
    consent,
    demo,
    ledger_cmds,
    readmodel,
    release,
    serve,
    views,
    witness,
)
from dermledger.commands.context import Context, settings_from
from dermledger.commands.errors import DermLedgerGroup

app = typer.Typer(
    name="dermledger",
    cls=DermLedgerGroup,
    help="Signed, event-sourced record of a clinically verified dermoscopic image study.\n\n"
    "Example: dermledger --home study init --founder ada",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Ledger home folder [env DERMLEDGER_HOME; ./.dermledger]."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="DERMLEDGER_DB",
            help="postgresql:// URL; default: SQLite file in the home [env DERMLEDGER_DB].",
        ),
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as", envvar="DERMLEDGER_ACTOR", help="Acting actor [env DERMLEDGER_ACTOR]."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Signed, event-sourced record of a clinically verified dermoscopic image study.

    Example: dermledger --home study init --founder ada
    """
    ctx.obj = Context(settings=settings_from(home, db), actor=as_, quiet=quiet)


ledger_cmds.register(app)
demo.register(app)
capture.register_commands(app)
views.register(app)
confirmation.register(app)
serve.register(app)
app.add_typer(actor.app, name="actor")
app.add_typer(audit.app, name="audit")
app.add_typer(release.app, name="release")
app.add_typer(consent.app, name="consent")
app.add_typer(readmodel.app, name="readmodel")
app.add_typer(witness.app, name="witness")


def run() -> None:
    """Console-script entry point."""
    app()
