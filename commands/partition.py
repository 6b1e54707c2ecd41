"""`dermledger partition`: patient-level train/validation/test partitions and the
sequestered test set (issue 16)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from dermledger.commands.context import get, out, print_json, status
from dermledger.commands.options import Json
from dermledger.policies.partitions import Scheme, parse_ratios

app = typer.Typer(help="Assign patients to partitions and read them.", no_args_is_help=True)
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
    if json_:
        print_json(summary)
        return
    table = Table("partition", "patients", "images")
    for name, n in summary["partitions"].items():
        table.add_row(name, str(n["patients"]), str(n["images"]))
    out.print(table)
    status(f"scheme: {summary['scheme']}; unassigned patients: {summary['unassigned_patients']}")


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
    if json_:
        print_json(listing)
        return
    for image in listing["images"]:
        out.print(image)
    status(f"{partition}: {len(listing['patients'])} patients, {len(listing['images'])} images")


@app.command("history")
def history(ctx: typer.Context, json_: Json = False) -> None:
    """Every assignment and reassignment, with reasons.

    Example: dermledger partition history --json
    """
    rows = get(ctx).ledger.partitions.history()
    if json_:
        print_json(rows)
        return
    table = Table("when", "who", "event", "detail")
    for r in rows:
        table.add_row(r["recorded_at"], r["actor"], r["type"], _detail(r))
    out.print(table)


def _detail(row: dict[str, Any]) -> str:
    if row["type"] == "PartitionsAssigned":
        return f"{row['patients']} patients, scheme {row['scheme']}"
    return f"{row['patient_id']}: {row['from_partition']} -> {row['to']} ({row['reason']})"


def print_accesses(rows: list[dict[str, Any]], json_: bool) -> None:
    """The readings of the test set, for `audit trail --partition test`."""
    if json_:
        print_json(rows)
        return
    table = Table("when", "who", "what", "release", "purpose")
    for r in rows:
        table.add_row(r["recorded_at"], r["actor"], r["what"], r["release"] or "", r["purpose"])
    out.print(table)
