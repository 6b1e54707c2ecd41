"""Read-only views: the dataset listing and one image's record and history.

With `--as` naming a reader (a specialist without an oversight role) both views are
blinded by the reading service, as the reading station is: no label, structures,
vote, consensus or histology of an image before that reader's own vote."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dermledger.commands.context import get, out, print_json
from dermledger.commands.options import AsOf, Json


def dataset(ctx: typer.Context, as_of: AsOf = None, json_: Json = False) -> None:
    """List every captured image with its lesion, site, stage, category and status.

    Example: dermledger dataset --as-of 2026-11-23T12:00:00Z --json
    """
    c = get(ctx)
    rows = c.ledger.reading.list_images(c.actor, as_of)
    if json_:
        print_json(rows)
        return
    table = Table("image", "patient", "lesion", "site", "stage", "category", "status")
    for r in rows:
        m, v = r["metadata"], r["verification"]
        table.add_row(
            r["image_id"], m.get("patient_id", ""), m.get("lesion_id", ""),
            str(m.get("anatom_site", "")), v.get("verification_stage") or "-",
            v.get("category") or "-", r["status"],
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(rows)} images")


def show(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Image id.")],
    as_of: AsOf = None,
    json_: Json = False,
) -> None:
    """Show one image's provenance: fields, stage, and every event that shaped it, with
    its signer, what the signature means, and an inclusion proof in the newest checkpoint.

    Example: dermledger show IMG-1a2b3c4d5e6f7a8b --as-of 1200
    """
    c = get(ctx)
    record = c.ledger.reading.show_image(c.actor, image, as_of)
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
    history = Table("seq", "event", "recorded at", "signed by", "as", "details", "proof",
                    title="History")  # fmt: skip
    for e in record["history"]:
        details = ", ".join(
            f"{k}={v}" for k, v in e["payload"].items()
            if k not in ("image_id", "signer_role", "signature_meaning")
        )  # fmt: skip
        proof = "-" if e["inclusion_proof"] is None else f"{len(e['inclusion_proof'])} hashes"
        history.add_row(str(e["seq"]), e["type"], e["recorded_at"], e["actor"],
                        e["meaning"] or e["role"], details, proof)  # fmt: skip
    out.print(history)
    cp = record["checkpoint"]
    out.print(
        "no checkpoint covers these events yet"
        if cp is None
        else f"proofs against checkpoint tree_size={cp['tree_size']} root={cp['root']}"
    )


def register(app: typer.Typer) -> None:
    app.command()(dataset)
    app.command()(show)
