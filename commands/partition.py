"""`dermledger partition`: patient-level train/validation/test partitions and the
sequestered test set (issue 16)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dermledger.commands.context import get, print_json, status
from dermledger.commands.options import Json
from dermledger.commands.output import Col, emit, when
from dermledger.policies.partitions import Scheme, parse_ratios

app = typer.Typer(
    help="Assign patients to train, validation and test partitions, and read them.\n\n"
    "Example: dermledger --as ada partition assign --seed 7 --ratios 70:15:15",
    no_args_is_help=True,
)
Partition = Annotated[str, typer.Argument(help="train, validation or test.")]
Purpose = Annotated[
    str | None,
    typer.Option("--purpose", help="Why you read it (required for the test partition)."),
]


@app.command("assign")
def assign(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the recorded procedure.")],
    ratios: Annotated[
        str, typer.Option("--ratios", help="Percent train:validation:test.")
    ] = "70:15:15",
    stratify: Annotated[
        str | None, typer.Option("--stratify", help="Stratify by: category.")
    ] = None,
    json_: Json = False,
) -> None:
    """Place every included patient without a partition; a rerun places late additions
    by the same rule, and never moves anyone.

    Example: dermledger --as ada partition assign --seed 7 --ratios 70:15:15 --stratify category
    """
    c = get(ctx)
    placed = c.ledger.partitions.assign(c.signer(), Scheme(seed, parse_ratios(ratios), stratify))
    counts = {name: list(placed.values()).count(name) for name in sorted(set(placed.values()))}
    if json_:
        print_json({"assigned": len(placed), "per_partition": counts})
        return
    detail = ", ".join(f"{n} to {name}" for name, n in counts.items())
    status(f"Assigned {len(placed)} patients" + (f": {detail}" if detail else ""))


@app.command("reassign")
def reassign(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="The patient's pseudonym.")],
    to: Partition,
    reason: Annotated[str, typer.Option("--reason", help="Why (required; kept forever).")],
) -> None:
    """Move one patient to another partition; the old one and the reason stay visible.

    Example: dermledger --as ada partition reassign P0042 train --reason "sibling in train"
    """
    c = get(ctx)
    env = c.ledger.partitions.reassign(c.signer(), patient, to, reason)
    status(f"Moved {patient} from {env.payload['from_partition']} to {to}")


@app.command("list")
def list_(ctx: typer.Context, json_: Json = False) -> None:
    """The scheme and the patients and images per partition (no patient named).

    Example: dermledger partition list --json
    """
    summary = get(ctx).ledger.partitions.summary()
    rows = [{"partition": k, **v} for k, v in summary["partitions"].items()]
    footer = f"unassigned patients: {summary['unassigned_patients']}"
    emit(summary, LIST_COLUMNS, json_=json_, rows=rows, footer=footer)


LIST_COLUMNS = (
    Col("partition", "partition", ident=True),
    Col("patients", "patients"),
    Col("images", "images"),
)


@app.command("show")
def show(
    ctx: typer.Context, partition: Partition, purpose: Purpose = None, json_: Json = False
) -> None:
    """The patients and images of one partition; reading the test partition is recorded
    with who, when and the purpose, and refused without one.

    Example: dermledger --as aud partition show test --purpose "final evaluation" --json
    """
    c = get(ctx)
    signer = c.signer() if partition == "test" else None
    listing = c.ledger.partitions.read_partition(signer, partition, purpose)
    footer = f"{partition}: {len(listing['patients'])} patients, {len(listing['images'])} images"
    rows = [{"image": image} for image in listing["images"]]
    emit(listing, (Col("image", "image", ident=True),), json_=json_, rows=rows, footer=footer)


@app.command("history")
def history(ctx: typer.Context, json_: Json = False) -> None:
    """Every assignment and reassignment, with reasons.

    Example: dermledger partition history --json
    """
    emit(get(ctx).ledger.partitions.history(), HISTORY_COLUMNS, json_=json_)


def _detail(row: dict[str, Any]) -> str:
    if row["type"] == "PartitionsAssigned":
        return f"{row['patients']} patients, scheme {row['scheme']}"
    return f"{row['patient_id']}: {row['from_partition']} -> {row['to']} ({row['reason']})"


HISTORY_COLUMNS = (
    Col("when", lambda r: when(r["recorded_at"]), ident=True),
    Col("who", "actor", ident=True),
    Col("event", "type", ident=True),
    Col("detail", _detail),
)


def print_accesses(rows: list[dict[str, Any]], json_: bool) -> None:
    """The readings of the test set, for `audit trail --partition test`."""
    emit(rows, ACCESS_COLUMNS, json_=json_)


ACCESS_COLUMNS = (
    Col("when", lambda r: when(r["recorded_at"]), ident=True),
    Col("who", "actor", ident=True),
    Col("what", "what", ident=True),
    Col("release or image", lambda r: r.get("release") or r.get("subject"), ident=True),
    Col("purpose", "purpose"),
)
