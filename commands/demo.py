"""`dermledger demo`: run the whole workflow on a synthetic study in a fresh home."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dermledger.commands.context import err, get, out, status
from dermledger.commands.output import Col, render
from dermledger.ledger.errors import Conflict, VerificationError
from dermledger.synthetic.demo_study import run_demo


def demo(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--demo-home", help="Where to build the demo (default: a new temp folder)."),
    ] = None,
    records: Annotated[int, typer.Option(help="Capture records to generate.")] = 1044,
    duplicates: Annotated[int, typer.Option(help="Planted duplicates among them.")] = 18,
    patients: Annotated[int, typer.Option(help="Patients.")] = 443,
) -> None:
    """Build a synthetic study shaped like the reference cohort and run the workflow.

    Enrols a team, generates and imports 1,044 captures (18 planted duplicates, 443
    patients), reviews the duplicates, signs a checkpoint, verifies and exports the log,
    and prints the cohort table. Uses SQLite in a fresh folder unless --db is given.

    Example: dermledger demo
    """
    c = get(ctx)
    target = (home or Path(tempfile.mkdtemp(prefix="dermledger-demo-"))).resolve()
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty; the demo needs a fresh folder")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=c.quiet) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total or None)
            if total == 0 or done % 10 == 0 or done == total:
                bar.update(tasks[what], completed=done)

        result = run_demo(
            replace(c.settings, home=target), records=records, duplicates=duplicates,
            patients=patients, say=status, progress=progress,
        )  # fmt: skip
    steps = [{"step": what, "detail": detail} for what, detail in result.steps]
    render(steps, (Col("step", "step"), Col("what happened", "detail")), title="DermLedger demo")
    render(cohort_rows(result.cohort), COHORT_COLUMNS, title="Cohort (included images)")
    hint = c.hint("audit", "verify", home=Path(result.home))
    out.print(f"Demo home: {result.home}  (try: {hint})", markup=False, highlight=False)
    if result.report is None or not result.report.ok:
        raise VerificationError("the demo ledger did not verify")
    if result.release_failures:
        raise VerificationError("a demo release did not verify")


COHORT_COLUMNS = (Col("cohort", "measure"), Col("value", "value"))


def cohort_rows(cohort: dict[str, Any]) -> list[dict[str, object]]:
    """The cohort table's rows, each value as a person writes it."""
    rows: list[dict[str, object]] = []
    for key in ("records", "unique_images", "patients", "categories", "malignant",
                "age_median", "age_range", "sex"):  # fmt: skip
        value = cohort.get(key)
        if key == "age_range" and isinstance(value, list | tuple) and len(value) == 2:
            value = f"{value[0]} to {value[1]}"
        rows.append({"measure": key.replace("_", " "), "value": value})
    stats = cohort.get("statistics") or {}
    for key in ("stages", "consensus", "malignant_with_histology", "discordant"):
        rows.append({"measure": key.replace("_", " "), "value": stats.get(key)})
    agreement = stats.get("agreement") or {}
    for key in ("fleiss_kappa", "krippendorff_alpha", "percent_agreement"):
        value = agreement.get(key)
        shown = "n/a" if value is None else f"{value:.3f}"
        rows.append({"measure": key.replace("_", " "), "value": shown})
    return rows


def register(app: typer.Typer) -> None:
    app.command()(demo)
