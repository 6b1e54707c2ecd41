"""`dermledger audit`: verify the log, export it for independent checkers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.context import get, print_json, progress_bar, status
from dermledger.ledger.errors import VerificationError

app = typer.Typer(help="Verify and export the signed log.", no_args_is_help=True)


@app.command("verify")
def verify(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recompute every hash, signature, stream chain, role permission and checkpoint.

    Exit 1 naming the first bad event (seq, stream, type) if anything fails.

    Example: dermledger audit verify
    """
    c = get(ctx)
    total = c.ledger.recorder.max_notification_id() or 0
    with progress_bar("Verifying", total, quiet=c.quiet) as advance:
        report = c.ledger.verify(advance)
    summary = {
        "ok": report.ok,
        "ledger_id": report.ledger_id,
        "events": report.events,
        "streams": report.streams,
        "actors": report.actors,
        "checkpoints": report.checkpoints,
        "witnessed_tree_size": report.witnessed_size,
        "root": report.root,
        "failure": None
        if report.failure is None
        else {
            "seq": report.failure.seq,
            "stream_id": report.failure.stream_id,
            "type": report.failure.event_type,
            "problem": report.failure.problem,
        },
    }
    if json_:
        print_json(summary)
    else:
        print(
            f"{report.events} events in {report.streams} streams, {report.actors} actors, "
            f"{report.checkpoints} checkpoints; root {report.root}"
        )
    if report.failure is not None:
        raise VerificationError(report.failure.sentence())
    status("OK: every hash, signature, chain, permission and checkpoint verifies")


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="JSON-lines file to write.")],
) -> None:
    """Write the whole log as JSON lines in seq order (DESIGN section 5).

    Example: dermledger audit export --out log.jsonl
    """
    c = get(ctx)
    total = c.ledger.recorder.max_notification_id() or 0
    with progress_bar("Exporting", total, quiet=c.quiet) as advance:
        count = c.ledger.export(out, advance)
    status(f"Wrote {count} events to {out}")
