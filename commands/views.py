"""Read-only views: the dataset listing and one image's record and history.

With `--as` naming a reader (a specialist without an oversight role) both views are
blinded by the reading service, as the reading station is: no label, structures,
vote, consensus or histology of an image before that reader's own vote."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from dermledger.commands.context import get, print_json
from dermledger.commands.options import AsOf, Json
from dermledger.commands.output import Col, cell, console, emit, render, when


class Awaiting(StrEnum):
    """What `dataset --awaiting` can filter on (a worklist per step still to be done)."""

    histology = "histology"


DATASET_COLUMNS = (
    Col("image", "image_id", ident=True),
    Col("patient", lambda r: r["metadata"].get("patient_id"), ident=True),
    Col("lesion", lambda r: r["metadata"].get("lesion_id"), ident=True),
    Col("stage", "verification_stage"),
    Col("category", "category"),
    Col("status", "status"),
    Col("consent", "consent"),
    Col("release", lambda r: release_note(r)),
)
AWAITING_COLUMNS = (
    *DATASET_COLUMNS[:5],
    Col("why", lambda r: "ordered" if r.get("histology_ordered") else "malignant label"),
)


def release_note(row: dict[str, Any]) -> str:
    """The release column in words: what the next release would do with the image (or
    that a reader's blinding withholds it)."""
    if "release_gate_failed" not in row:
        return "withheld"
    gate = row["release_gate_failed"]
    return "would be released" if gate is None else f"fails {gate}"


def dataset(
    ctx: typer.Context,
    as_of: AsOf = None,
    awaiting: Annotated[
        Awaiting | None,
        typer.Option(
            "--awaiting",
            help="Only images waiting for this: 'histology' lists every image not excluded "
            "whose histology a coordinator ordered, or whose malignant label needs it, and "
            "which has no result yet (the pathologists' worklist).",
        ),
    ] = None,
    json_: Json = False,
) -> None:
    """List every captured image with its stage, category, status, consent and release
    gate: `status` is included, duplicate-suspected or excluded (one definition, as in
    `stats`); `release` names the first release gate the image would fail today.

    Example: dermledger dataset --awaiting histology --json
    """
    c = get(ctx)
    rows = c.ledger.reading.list_images(
        c.actor, as_of, awaiting_histology=awaiting is Awaiting.histology
    )
    columns = AWAITING_COLUMNS if awaiting else DATASET_COLUMNS
    noun = "images awaiting histology" if awaiting else "images"
    emit(rows, columns, json_=json_, footer=f"{len(rows)} {noun}")


HISTORY_COLUMNS = (
    Col("seq", "seq", ident=True),
    Col("event", "type", ident=True),
    Col("recorded at", lambda e: when(e["recorded_at"]), ident=True),
    Col("signed by", "actor", ident=True),
    Col("meaning", lambda e: e["meaning"] or e["role"]),
    Col("details", lambda e: details(e["payload"])),
    Col("proof", lambda e: proof(e["inclusion_proof"])),
)
SHOWN_ELSEWHERE = {"image_id", "metadata", "capture", "structures", "sop_deviations",
                   "history", "checkpoint", "as_of_seq"}  # fmt: skip


def details(payload: dict[str, Any]) -> str:
    """An event's payload on one line, without what the other columns already say."""
    hidden = ("image_id", "signer_role", "signature_meaning")
    return "; ".join(f"{k} {cell(v)}" for k, v in payload.items() if k not in hidden)


def proof(hashes: list[str] | None) -> str:
    """How long the inclusion proof is, or that no checkpoint covers the event yet."""
    return "not yet in a checkpoint" if hashes is None else f"{len(hashes)} hashes"


def shown(key: str, value: object) -> str:
    """A field of the record as people read it (a time to the second, in UTC)."""
    return when(value) if key == "captured_at" and isinstance(value, str) else cell(value)


def deviation(d: dict[str, Any]) -> str:
    """An accepted SOP deviation: the rule, what was measured, and why it was accepted."""
    return f"{d['rule']}: measured {cell(d.get('measured'))}; reason: {cell(d.get('reason'))}"


def show(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Image id.")],
    as_of: AsOf = None,
    json_: Json = False,
) -> None:
    """Show one image's provenance: fields, stage, consent, release gate, SOP deviations,
    and every event that shaped it, with its signer, what the signature means, and an
    inclusion proof in the newest checkpoint.

    Example: dermledger show IMG-1a2b3c4d5e6f7a8b --as-of 1200
    """
    c = get(ctx)
    record = c.ledger.reading.show_image(c.actor, image, as_of)
    if json_:
        print_json(record)
        return
    out = console()
    lines = [f"{record['image_id']} ({record['status']})"]
    lines += [f"{k}: {cell(v)}" for k, v in record["metadata"].items()]
    lines += [f"{k}: {cell(v)}" for k, v in record["capture"].items()]
    lines += [f"{k}: {shown(k, v)}" for k, v in record.items() if k not in SHOWN_ELSEWHERE]
    lines += [f"structure {k}: {cell(v)}" for k, v in record["structures"].items()]
    deviations = record["sop_deviations"]
    lines += [f"SOP deviation {deviation(d)}" for d in deviations] or ["SOP deviations: none"]
    for line in lines:
        out.print(line, markup=False)
    out.print("")
    render(record["history"], HISTORY_COLUMNS, title="History")
    cp = record["checkpoint"]
    out.print(
        "no checkpoint covers these events yet"
        if cp is None
        else f"proofs against checkpoint tree_size={cp['tree_size']} root={cp['root']}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(dataset)
    app.command()(show)
