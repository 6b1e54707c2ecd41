"""Read-only views: the dataset listing and one image's record and history."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dermledger.commands.context import get, out, print_json

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def dataset(ctx: typer.Context, json_: Json = False) -> None:
    """List every captured image with its lesion, site and status.

    Example: dermledger dataset --json
    """
    rows = get(ctx).ledger.list_images()
    if json_:
        print_json(rows)
        return
    table = Table("image", "patient", "lesion", "site", "stage", "category", "status")
    for r in rows:
        m, v = r["metadata"], r["verification"]
        table.add_row(
            r["image_id"], m.get("patient_id", ""), m.get("lesion_id", ""),
            str(m.get("anatom_site", "")), v["verification_stage"] or "-",
            v["category"] or "-", r["status"],
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(rows)} images")


def show(
    ctx: typer.Context, image: Annotated[str, typer.Argument(help="Image id.")], json_: Json = False
) -> None:
    """Show one image: its fields, status and every event in its history.

    Example: dermledger show IMG-1a2b3c4d5e6f7a8b
    """
    record = get(ctx).ledger.show_image(image)
    if json_:
        print_json(record)
        return
    fields = Table("field", "value", title=f"{record['image_id']} ({record['status']})")
    for name, value in record["metadata"].items():
        fields.add_row(name, str(value))
    for name, value in record["capture"].items():
        fields.add_row(name, str(value))
    for name, value in record["verification"].items():
        fields.add_row(name, str(value))
    for name, value in record["structures"].items():
        fields.add_row(name, value)
    out.print(fields)
    history = Table("v", "event", "recorded at", "by", "details", title="History")
    for e in record["history"]:
        details = ", ".join(f"{k}={v}" for k, v in e["payload"].items() if k != "image_id")
        history.add_row(str(e["stream_version"]), e["type"], e["recorded_at"], e["actor"], details)
    out.print(history)


def register(app: typer.Typer) -> None:
    app.command()(dataset)
    app.command()(show)
