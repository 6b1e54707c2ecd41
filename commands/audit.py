"""`dermledger audit`: verify the log, export it for independent checkers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.context import get, out, print_json, progress_bar, status
from dermledger.commands.options import AsOf, Json, Since, Until
from dermledger.commands.output import Col, emit, when
from dermledger.ledger.errors import PolicyViolation, VerificationError

app = typer.Typer(
    help="Verify and export the signed log, read its audit trail, check compliance.\n\n"
    "Example: dermledger audit verify",
    no_args_is_help=True,
)


@app.command("verify")
def verify(
    ctx: typer.Context,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes for hashes and signatures (default: "
            "all cores for logs of 20,000 events or more).",
        ),
    ] = None,
    json_: Json = False,
) -> None:
    """Recompute every hash, signature, stream chain, role permission and checkpoint.

    Exit 1 naming the first bad event (seq, stream, type) if anything fails.

    Example: dermledger audit verify
    """
    c = get(ctx)
    total = c.ledger.kernel.recorder.max_notification_id() or 0
    with progress_bar("Verifying", total, quiet=c.quiet) as advance:
        report = c.ledger.audit.verify(advance, workers=workers)
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
        out.print(
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
    total = c.ledger.kernel.recorder.max_notification_id() or 0
    with progress_bar("Exporting", total, quiet=c.quiet) as advance:
        count = c.ledger.audit.export(out, advance)
    status(f"Wrote {count} events to {out}")


@app.command("trail")
def trail(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Argument(help="Only this image's events.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor's events.")] = None,
    since: Since = None,
    until: Until = None,
    json_: Json = False,
) -> None:
    """The audit trail: who did what, when and why, old and new values side by side.

    Example: dermledger audit trail IMG-1a2b… --since 2026-11-01 --json
    """
    rows = get(ctx).ledger.queries.audit_trail(image=image, actor=actor, since=since, until=until)
    emit(rows, TRAIL_COLUMNS, json_=json_)


TRAIL_COLUMNS = (
    Col("seq", "seq", ident=True),
    Col("when", lambda r: when(r["recorded_at"]), ident=True),
    Col("who", "actor", ident=True),
    Col("meaning", "meaning"),
    Col("event", "type", ident=True),
    Col("image", lambda r: r["image_id"] or r["stream"], ident=True),
    Col("field", "field", ident=True),
    Col("old", "old_value"),
    Col("new", "new_value"),
    Col("why", "reason"),
)


@app.command("compliance")
def compliance(
    ctx: typer.Context,
    as_of: AsOf = None,
    json_: Json = False,
) -> None:
    """Every rule breach the study would be asked about; exit 1 when there is any.

    Example: dermledger audit compliance || echo "do not release"
    """
    report = get(ctx).ledger.queries.compliance(as_of)
    breaches = report["breaches"]
    if json_ or breaches:
        emit(report, BREACH_COLUMNS, json_=json_, rows=breaches)
    if breaches:
        raise PolicyViolation(
            f"{len(breaches)} compliance rule(s) breached: "
            + ", ".join(f"{b['rule']} ({b['count']})" for b in breaches)
        )
    status(f"OK: no breach of {len(report['rules_checked'])} rules at seq {report['as_of_seq']}")


BREACH_COLUMNS = (
    Col("rule", "rule", ident=True),
    Col("count", "count"),
    Col("what", "description"),
    Col("images / events", lambda b: ", ".join(b["subjects"])),
)
