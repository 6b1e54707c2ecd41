"""Clinical confirmation commands: annotate, vote, histology, order; and the study statistics.

The staged confirmation of each diagnosis (clinical, consensus, histology). "Verify"
is kept for cryptographic checks (`audit verify`, `release verify`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dermledger.commands.context import get, out, print_json, status
from dermledger.commands.options import AsOf, Json
from dermledger.ledger.errors import InvalidInput

Image = Annotated[str, typer.Argument(help="Image id.")]
Diagnosis = Annotated[
    str, typer.Option("--diagnosis", help="ISIC diagnosis label (full path or its last part).")
]


def annotate(
    ctx: typer.Context,
    image: Image,
    diagnosis: Diagnosis,
    structure: Annotated[
        list[str] | None,
        typer.Option("--structure", help="NAME=VALUE, 7-point or isic2018:NAME (repeatable)."),
    ] = None,
) -> None:
    """Record the initial clinical annotation (annotators), with dermoscopic structures.

    Example: dermledger --as dr-ann annotate IMG-1a… --diagnosis "Nevus, NOS, Compound"
             --structure pigment_network=typical --structure isic2018:globules=present
    """
    c = get(ctx)
    env = c.ledger.confirmation.annotate(c.signer(), image, diagnosis, structure or [])
    status(f"Annotated {image}: {env.payload['category']} ({env.payload['diagnosis']})")


def vote(
    ctx: typer.Context,
    image: Image,
    diagnosis: Diagnosis,
    supersede: Annotated[
        bool, typer.Option("--supersede", help="Replace your earlier vote (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the vote is replaced.")] = None,
) -> None:
    """Cast a consensus vote (specialists; not the initial annotator; one per reader).

    Example: dermledger --as dr-lee vote IMG-1a… --diagnosis "Melanoma in situ"
    """
    c = get(ctx)
    if supersede and not reason:
        raise InvalidInput("--supersede needs --reason")
    if reason and not supersede:
        raise InvalidInput("--reason goes with --supersede")
    env = c.ledger.confirmation.vote(c.signer(), image, diagnosis, supersede_reason=reason)
    status(f"Vote recorded as {env.payload['signature_meaning']}: {env.payload['category']}")


def histology(
    ctx: typer.Context,
    image: Image,
    diagnosis: Diagnosis,
    report: Annotated[str, typer.Option("--report", help="Pathology report reference.")],
    date: Annotated[str | None, typer.Option("--date", help="Report date, YYYY-MM-DD.")] = None,
) -> None:
    """Record a histology result (pathologists); it becomes the image's label.

    Example: dermledger --as dr-path histology IMG-1a… --diagnosis "Melanoma Invasive"
             --report PATH-2026-0042 --date 2026-11-20
    """
    c = get(ctx)
    env = c.ledger.confirmation.record_histology(c.signer(), image, diagnosis, report, date)
    status(f"Histology recorded for {image}: {env.payload['category']}")


def order(
    ctx: typer.Context,
    image: Image,
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    further_reader: Annotated[
        bool, typer.Option("--further-reader", help="Order one more consensus reader.")
    ] = False,
    histology_: Annotated[bool, typer.Option("--histology", help="Order histology.")] = False,
) -> None:
    """Decide a disputed image (coordinators): order histology or a further reader.

    Example: dermledger --as ada order IMG-1a… --further-reader --reason "three-way split"
    """
    if further_reader == histology_:
        raise InvalidInput("order either --histology or --further-reader")
    c = get(ctx)
    kind = "further-reader" if further_reader else "histology"
    c.ledger.confirmation.order_read(c.signer(), image, kind, reason)
    status(f"Ordered {kind} for {image}")


def stats(
    ctx: typer.Context,
    as_of: AsOf = None,
    json_: Json = False,
) -> None:
    """Stage, category and malignancy counts of included images, and panel agreement.

    Example: dermledger stats --as-of 5000 --json
    """
    result = get(ctx).ledger.queries.statistics(as_of)
    if json_:
        print_json(result)
        return
    table = Table("measure", "value", title="Study statistics")
    for key in ("images", "included", "excluded", "malignant", "malignant_with_histology",
                "discordant"):  # fmt: skip
        table.add_row(key, str(result[key]))
    for key in ("stages", "consensus", "categories"):
        table.add_row(key, ", ".join(f"{k} {v}" for k, v in result[key].items()))
    a = result["agreement"]
    table.add_row(
        "Fleiss' kappa", f"{_fmt(a.get('fleiss_kappa'))} ({a.get('fleiss_items')} images)"
    )
    table.add_row(
        "Krippendorff's alpha (nominal)",
        f"{_fmt(a.get('krippendorff_alpha'))} ({a.get('alpha_items')} images)",
    )
    out.print(table)


def _fmt(value: object) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    for command in (annotate, vote, histology, order, stats):
        app.command()(command)
