"""`dermledger readmodel`: keep the SQL read models current, or rebuild them from the log."""

from __future__ import annotations

from typing import Annotated

import typer

from dermledger.commands.context import get, print_json, progress_bar, status
from dermledger.commands.options import Json
from dermledger.projections.readmodel import ReadModel
from dermledger.projections.readmodel_sql import ReadModelDamaged, damaged_readmodel

app = typer.Typer(
    help="SQL read models for auditors' own queries.\n\nExample: dermledger readmodel update",
    no_args_is_help=True,
)


@app.command("update")
def update(
    ctx: typer.Context,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the tables and rebuild them from seq 1.")
    ] = False,
    json_: Json = False,
) -> None:
    """Apply new events to the read-model tables (rm_dataset, rm_audit_trail,
    rm_duplicate_clusters), exactly once: the tracking position is saved in the same
    transaction as the rows. They live beside the events, for SQL queries of your own.

    Example: dermledger readmodel update && sqlite3 .dermledger/readmodel.sqlite
             "select category, count(*) from rm_dataset group by 1"
    """
    c = get(ctx)
    total = c.ledger.kernel.recorder.max_notification_id() or 0
    try:
        with (
            damaged_readmodel(c.settings),
            ReadModel(c.settings) as model,
            progress_bar("Projecting", total, quiet=c.quiet) as bar,
        ):
            applied = (model.rebuild if rebuild else model.catch_up)(c.ledger, progress=bar)
            seq, _ = model.position()
            rows = len(model.dataset_rows())
    except ReadModelDamaged as exc:
        raise ReadModelDamaged(
            exc.path,
            f"delete it (with any {exc.path}-wal and -shm beside it) and run "
            f"`{c.hint('readmodel', 'update')}`, which rebuilds it from the log",
        ) from exc
    if json_:
        print_json({"applied": applied, "seq": seq, "images": rows, "rebuilt": rebuild})
        return
    status(f"Read models at seq {seq}: {applied} events applied, {rows} images")
