"""`dermledger audit`: verify the log, export it for independent checkers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dermledger.commands.context import get, out, print_json, progress_bar, status
from dermledger.commands.options import AsOf, Json, Since, Until
from dermledger.commands.output import Col, emit, when
from dermledger.commands.witness import read_text_file
from dermledger.ledger.errors import PolicyViolation, VerificationError
from dermledger.ledger.verify import Report
from dermledger.policies.witness_quorum import parse_policy
from dermledger.study.witness_audit import WitnessSummary

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
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A tlog-policy file: the witness keys and quorum you trust."),
    ] = None,
    json_: Json = False,
) -> None:
    """Recompute every hash, signature, stream chain, role permission and checkpoint,
    every checkpoint note and every recorded witness cosignature.

    Exit 1 naming the first bad event (seq, stream, type) if anything fails. With
    --policy, cosignatures are checked against your keys, the newest checkpoint must meet
    your quorum, and each witness with a URL is asked whether the log still contains the
    checkpoint it cosigned.

    Example: dermledger audit verify --policy ethics.policy
    """
    c = get(ctx)
    trusted = parse_policy(read_text_file(policy, "policy")) if policy is not None else None
    total = c.ledger.kernel.recorder.max_notification_id() or 0
    with progress_bar("Verifying", total, quiet=c.quiet) as advance:
        report, witnessing = c.ledger.audit.verify_all(advance, workers=workers, policy=trusted)
    summary = report_summary(report) | {"witnesses": witnessing.as_dict()}
    summary["ok"] = report.ok and witnessing.ok
    if json_:
        print_json(summary)
    else:
        out.print(
            f"{report.events} events in {report.streams} streams, {report.actors} actors, "
            f"{report.checkpoints} checkpoints; root {report.root}"
        )
        print_witnessing(witnessing)
    if report.failure is not None:
        raise VerificationError(report.failure.sentence())
    if not witnessing.ok:
        raise VerificationError(witnessing.failures[0])
    status("OK: every hash, signature, chain, permission and checkpoint verifies")


def report_summary(report: Report) -> dict[str, Any]:
    """`audit verify --json`: what the pass saw and the first failure, if any."""
    return {
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


def print_witnessing(summary: WitnessSummary) -> None:
    """The newest cosigned checkpoint's quorum, each witness's view, every failure."""
    if summary.checkpoints:
        newest = summary.checkpoints[-1]
        verdict = "met" if newest["quorum_met"] else f"NOT met ({newest['reason']})"
        out.print(f"witnesses ({summary.source}): newest checkpoint tree_size "
              f"{newest['tree_size']} cosigned by {', '.join(newest['cosigned']) or 'nobody'}; "
              f"quorum {verdict}")  # fmt: skip
    for view in summary.views:
        out.print(f"  witness {view['witness']}: {view['status']}: {view['detail']}")
    for failure in summary.failures:
        out.print(f"  FAIL {failure}")


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
