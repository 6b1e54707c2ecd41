"""`dermledger release`: publish point-in-time snapshots anyone can verify offline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dermledger.commands.context import err, get, out, print_json, status
from dermledger.commands.ledger_cmds import Timeout, log_passphrase
from dermledger.commands.options import AsOf, Json
from dermledger.commands.output import Col, emit, when
from dermledger.commands.witness import read_text_file
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.witness_client import DEFAULT_TIMEOUT
from dermledger.policies.witness_quorum import parse_policy
from dermledger.projections.release.messages import say
from dermledger.projections.release.partition_file import check_against
from dermledger.projections.release.verify import verify_release_dir
from dermledger.projections.release.witnessing import WitnessCheck, check_release_witnesses
from dermledger.study.release_witnessing import Witnessing

app = typer.Typer(
    help="Create, verify, list and compare releases.\n\n"
    "Example: dermledger release verify releases/v1",
    no_args_is_help=True,
)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Release name, e.g. v1.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write (must not exist).")],
    as_of: AsOf = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build and sign, but do not publish.")
    ] = False,
    partition: Annotated[
        str | None,
        typer.Option("--partition", help="Only this partition: train, validation, test."),
    ] = None,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="Why (required to cut the test partition).")
    ] = None,
    allow_unwitnessed: Annotated[
        bool,
        typer.Option(
            "--allow-unwitnessed",
            help="Publish without the witness quorum; the datasheet says so.",
        ),
    ] = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    json_: Json = False,
) -> None:
    """Build, sign and publish a release of the dataset as it was at a position.

    With witnesses, the manifest carries the checkpoint note of the release's position
    cosigned by them: the ledger's recorded one, or at the end of the log a checkpoint
    made now. Without the quorum the release is refused unless --allow-unwitnessed.

    Example: dermledger --as ada release create v1 --out releases/v1
    """
    c = get(ctx)
    from rich.progress import Progress

    signer = c.signer()
    witnessing = Witnessing(
        lambda: log_passphrase(signer.actor), allow_unwitnessed=allow_unwitnessed, timeout=timeout
    )

    with Progress(console=err, transient=True, disable=c.quiet) as bar:
        task = bar.add_task("Replaying the log", total=None)
        summary = c.ledger.releases.create_release(
            signer, name, out_dir, as_of=as_of, publish=not dry_run, witnessing=witnessing,
            partition=partition, purpose=purpose,
            progress=lambda what, done, total: bar.update(
                task, description=what, completed=done, total=total
            ),
        )  # fmt: skip
    if json_:
        print_json(summary)
        return
    report_created(name, summary, dry_run=dry_run)


def report_created(name: str, summary: dict[str, Any], *, dry_run: bool) -> None:
    """What `release create` did, for people: never "Published" for a dry run."""
    done = (
        f"Dry run, nothing published: built and signed {name} as a preview"
        if dry_run
        else f"Published {name}"
    )
    status(
        f"{done}: {summary['images']} images at seq {summary['as_of_seq']}, "
        f"root {summary['root']}, in {summary['out']}"
    )
    for gate, count in summary["left_out"].items():
        if count:
            status(f"  left out by {gate}: {count}")


@app.command("verify")
def verify(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="The release folder.")],
    ledger: Annotated[
        bool,
        typer.Option("--ledger", help="Also prove it consistent with this ledger's current log."),
    ] = False,
    against: Annotated[
        list[Path] | None,
        typer.Option("--against", help="Another partition's release: prove no shared patient."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A tlog-policy file: the witness keys and quorum you trust."),
    ] = None,
    json_: Json = False,
) -> None:
    """Verify a release offline: signature, every file, no extras, every inclusion proof,
    and with --policy the witnesses' cosignatures on its checkpoint and their quorum.

    Exit 1 naming each failure.

    Example: dermledger release verify releases/v1 --policy ethics.policy
    """
    trusted = parse_policy(read_text_file(policy, "policy")) if policy is not None else None
    manifest, failures = verify_release_dir(folder)
    witnesses = check_release_witnesses(manifest, trusted) if trusted is not None else None
    if witnesses is not None:
        failures += witnesses.failures
    if ledger:
        failures += get(ctx).ledger.releases.check_release_against_ledger(manifest, folder)
        failures += get(ctx).ledger.evidence.check_against_ledger(folder, manifest)
    failures += check_against(folder, manifest, against or [])  # issue 16
    if json_:
        print_json({"release": manifest.get("name"), "ok": not failures, "failures": failures,
                    "witnesses": None if witnesses is None else witnesses.__dict__})  # fmt: skip
    else:
        if witnesses is not None:
            print_witnesses(witnesses)
        for failure in failures:
            err.print(f"  FAIL {failure}", markup=False, highlight=False)
    if failures:
        raise VerificationError(say("fails", name=manifest.get("name"), count=len(failures)))
    status(
        say("ok", name=manifest["name"], files=len(manifest["files"]),
            tree_size=manifest["checkpoint"]["tree_size"])
        + (" against the ledger" if ledger else "")
    )  # fmt: skip


def print_witnesses(check: WitnessCheck) -> None:
    """The page's witness box, in its words: the state, then one line per witness."""
    key = {"not witnessed": "state_unwitnessed", "witnessed": "state_witnessed"}
    status(say(key.get(check.state, "state_failed")))
    for row in check.rows:
        when = f" at {datetime.fromtimestamp(row['time'], UTC).isoformat()}" if row["time"] else ""
        status(f"  {row['key_name']}: {row['status']}{when}")


@app.command("list")
def list_(ctx: typer.Context, json_: Json = False) -> None:
    """List published releases.

    Example: dermledger release list --json
    """
    emit(get(ctx).ledger.releases.list_releases(), RELEASE_COLUMNS, json_=json_)


RELEASE_COLUMNS = (
    Col("name", "name", ident=True),
    Col("as of seq", "as_of_seq"),
    Col("images", "images"),
    Col("root", "root", ident=True),
    Col("published by", "published_by", ident=True),
    Col("at", lambda r: when(r["recorded_at"]), ident=True),
)


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[Path, typer.Argument(help="The earlier release folder.")],
    new: Annotated[Path, typer.Argument(help="The later release folder.")],
    json_: Json = False,
) -> None:
    """Images added, removed and relabelled, and proof that the later release extends the
    earlier one (an RFC 6962 consistency proof between their checkpoints).

    Example: dermledger release diff releases/v1 releases/v2
    """
    result = get(ctx).ledger.releases.diff_releases(old, new)
    if json_:
        print_json(result)
    else:
        out.print(f"added {len(result['added'])}, removed {len(result['removed'])}, "
              f"relabelled {len(result['relabelled'])}")  # fmt: skip
        for image_id in result.get("erased", []):
            print(f"  {image_id}: erased (its patient was erased)")
        for r in result["relabelled"]:
            out.print(f"  {r['image_id']}: {r['from']} -> {r['to']}")
        out.print("extends: " + ("yes (consistency proof verifies)" if result["extends"] else "NO"))
    if not result["extends"]:
        raise VerificationError(f"{new} does not extend {old}: the log was rewritten between them")
