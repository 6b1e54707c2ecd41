"""`dermledger reference`: public collections a study must show it does not contain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dermledger.commands.context import get, out, print_json, status
from dermledger.commands.options import Json
from dermledger.ledger.errors import InvalidInput

app = typer.Typer(help="Public reference collections and their overlap.", no_args_is_help=True)


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
    rows = get(ctx).ledger.references.list_collections()
    if json_:
        print_json(rows)
        return
    table = Table("name", "images", "captures flagged", "file sha256", "recorded at")
    for r in rows:
        table.add_row(r["name"], str(r["entries"]), str(r["images_flagged"]),
                      r["file_sha256"][:16] + "…", r["recorded_at"])  # fmt: skip
    out.print(table)
