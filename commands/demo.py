"""`dermledger demo`: run the whole workflow on a synthetic study in a fresh home."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dermledger.commands.context import err, get, out, status
from dermledger.commands.output import Col, render
from dermledger.ledger.errors import Conflict, VerificationError
from dermledger.projections.release.cohort import CohortTable
from dermledger.projections.release.columns import DASH
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
    patients), reviews the duplicates, verifies every label in stages (annotation with
    dermoscopic structures, a three-reader panel, histology), publishes release v1,
    withdraws one patient's consent and erases another, publishes v2, verifies and
    exports the log. The cohort is then read back from the ledger: `stats` after the last
    step, and v2's datasheet. Uses SQLite in a fresh folder unless --db is given.

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
    render(pairs(result.steps), STEP_COLUMNS, title="DermLedger demo")
    render(pairs(ledger_rows(result.statistics)), MEASURE_COLUMNS, title=LEDGER_TITLE)
    if result.release is not None:
        title = RELEASE_TITLE.format(name=result.release_name)
        render(pairs(release_rows(result.release)), MEASURE_COLUMNS, title=title)
    hint = c.hint("audit", "verify", home=Path(result.home))
    out.print(f"Demo home: {result.home}  (try: {hint})", markup=False, highlight=False)
    if result.report is None or not result.report.ok:
        raise VerificationError("the demo ledger did not verify")
    if result.release_failures:
        raise VerificationError("a demo release did not verify")


STEP_COLUMNS = (Col("step", "key"), Col("what happened", "value"))
MEASURE_COLUMNS = (Col("measure", "key"), Col("value", "value"))
LEDGER_TITLE = "The ledger after the last step (as dermledger stats reads it)"
RELEASE_TITLE = "Release {name}: the published cohort (as its datasheet.md prints it)"


def pairs(rows: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """(key, value) rows as the output helper's row dicts."""
    return [{"key": key, "value": value} for key, value in rows]


def _counts(pairs: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{key} {n}" for key, n in pairs)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def ledger_rows(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The `stats` measures, named as `dermledger stats` names them."""
    keys = ("images", "included", "duplicate_suspected", "excluded")
    rows = [(key, str(stats[key])) for key in keys]
    rows.append(("categories", _counts(stats["categories"].items())))
    rows += [(key, str(stats[key])) for key in ("malignant", "malignant_with_histology",
                                                "discordant")]  # fmt: skip
    rows += [(key, _counts(stats[key].items())) for key in ("stages", "consensus")]
    agreement = stats["agreement"]
    rows += [
        ("Fleiss' kappa", _ratio(agreement.get("fleiss_kappa"))),
        ("Krippendorff's alpha (nominal)", _ratio(agreement.get("krippendorff_alpha"))),
        ("mean pairwise agreement", _ratio(agreement.get("percent_agreement"))),
    ]
    return rows


def release_rows(table: CohortTable) -> list[tuple[str, str]]:
    """The release's cohort table, the numbers its datasheet prints, in its order."""
    age = (
        "not recorded"
        if table.age_median is None
        else f"{table.age_median:g} ({table.age_min}{DASH}{table.age_max})"
    )
    return [
        ("images", str(table.images)),
        ("patients", str(table.patients)),
        ("lesions", str(table.lesions)),
        ("categories", _counts(table.categories)),
        ("malignant (MEL, BCC, SCC)",
         f"{table.malignant}, histologically verified {table.malignant_histology}"),
        ("verification stage", _counts(table.stages)),
        ("age, years: median (range), from age_approx", age),
        ("sex (patients)", _counts(table.sex_patients)),
    ]  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command()(demo)
