"""`dermledger reference`: public collections a study must show it does not contain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.context import get, print_json, status
from dermledger.commands.options import Json
from dermledger.commands.output import Col, emit, when
from dermledger.ledger.errors import InvalidInput

app = typer.Typer(
    help="Public reference collections and the captures that overlap them.\n\n"
    "Example: dermledger --as ada reference add public-example reference-example.csv",
    no_args_is_help=True,
)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the collection, e.g. isic2019.")],
    file: Annotated[Path, typer.Argument(help="CSV with columns id, phash, dhash.")],
    json_: Json = False,
) -> None:
    """Record a collection's image ids and perceptual hashes, and flag every capture that
    near-duplicates one of them (by the internal duplicate rule).

    Example: dermledger --as ada reference add isic2019 isic2019-hashes.csv
    """
    c = get(ctx)
    try:
        data = file.read_bytes()
    except OSError:
        raise InvalidInput(f"cannot read {file}") from None
    result = c.ledger.references.add(c.signer(), name, data)
    if json_:
        print_json(result)
        return
    status(f"Recorded {name}: {result['entries']} images; {result['flagged']} captures flagged")


@app.command("scan")
def scan(ctx: typer.Context) -> None:
    """Flag captures made since the collections were added.

    Example: dermledger --as ada reference scan
    """
    c = get(ctx)
    status(f"{c.ledger.references.scan(c.signer())} new overlaps flagged")


@app.command("list")
def list_(ctx: typer.Context, json_: Json = False) -> None:
    """The recorded collections and how many captures each flags.

    Example: dermledger reference list --json
    """
    emit(get(ctx).ledger.references.list_collections(), COLUMNS, json_=json_)


COLUMNS = (
    Col("name", "name", ident=True),
    Col("images", "entries"),
    Col("captures flagged", "images_flagged"),
    Col("file sha256", "file_sha256", ident=True),
    Col("recorded at", lambda r: when(r["recorded_at"]), ident=True),
)
