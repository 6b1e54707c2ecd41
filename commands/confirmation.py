"""Clinical confirmation commands: annotate, vote, histology, order; and the study statistics.

The staged confirmation of each diagnosis (clinical, consensus, histology). "Verify"
is kept for cryptographic checks (`audit verify`, `release verify`)."""

from __future__ import annotations

from typing import Annotated

import typer

from dermledger.commands.context import get, status
from dermledger.commands.options import AsOf, Json
from dermledger.commands.output import Col, emit
from dermledger.ledger.errors import InvalidInput
from dermledger.policies.confirmation import PANEL_SIZE, Verification

Image = Annotated[str, typer.Argument(help="Image id.")]
Diagnosis = Annotated[
    str, typer.Option("--diagnosis", help="ISIC diagnosis label (full path or its last part).")
]
Correct = Annotated[
    bool,
    typer.Option("--correct", help="Correct the recorded diagnosis (needs --reason); the old "
                 "one stays in the audit trail."),
]  # fmt: skip
CorrectionReason = Annotated[
    str | None, typer.Option("--reason", help="Why the diagnosis is corrected.")
]


def _correct(ctx: typer.Context, image: str, kind: str, diagnosis: str, reason: str | None) -> None:
    """Record a correction of the annotation or the histology and say what it changed."""
    if not reason:
        raise InvalidInput("--correct needs --reason")
    c = get(ctx)
    env = c.ledger.confirmation.correct(c.signer(), image, kind, diagnosis, reason)
    p = env.payload
    status(f"Corrected the {kind} of {image}: {p['old_diagnosis']} -> {p['diagnosis']} "
           f"({p['category']}); the old diagnosis stays in the audit trail")  # fmt: skip


def annotate(
    ctx: typer.Context,
    image: Image,
    diagnosis: Diagnosis,
    structure: Annotated[
        list[str] | None,
        typer.Option("--structure", help="NAME=VALUE, 7-point or isic2018:NAME (repeatable)."),
    ] = None,
    correct: Correct = False,
    reason: CorrectionReason = None,
) -> None:
    """Record the initial clinical annotation (annotators), with dermoscopic structures;
    with --correct --reason, correct its diagnosis.

    Example: dermledger --as dr-ann annotate IMG-1a… --diagnosis "Nevus, NOS, Compound"
             --structure pigment_network=typical --structure isic2018:globules=present
    """
    if correct and structure:
        raise InvalidInput("--correct changes the diagnosis only; leave out --structure")
    if reason and not correct:
        raise InvalidInput("--reason goes with --correct")
    if correct:
        return _correct(ctx, image, "annotation", diagnosis, reason)
    c = get(ctx)
    env = c.ledger.confirmation.annotate(c.signer(), image, diagnosis, structure or [])
    status(f"Annotated {image}: {env.payload['category']} ({env.payload['diagnosis']})")


def vote(
    ctx: typer.Context,
    image: Image,
    diagnosis: Diagnosis,
    supersede: Annotated[
        bool, typer.Option("--supersede", help="Replace your earlier vote (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the vote is replaced.")] = None,
) -> None:
    """Cast a consensus vote (specialists; not the initial annotator; one per reader).

    Example: dermledger --as dr-lee vote IMG-1a… --diagnosis "Melanoma in situ"
    """
    c = get(ctx)
    if supersede and not reason:
        raise InvalidInput("--supersede needs --reason")
    if reason and not supersede:
        raise InvalidInput("--reason goes with --supersede")
    env = c.ledger.confirmation.vote(c.signer(), image, diagnosis, supersede_reason=reason)
    status(f"Vote recorded as {env.payload['signature_meaning']}: {env.payload['category']}")
    status(panel_sentence(c.ledger.confirmation.verification(image)))


def histology(
    ctx: typer.Context,
    image: Image,
    diagnosis: Diagnosis,
    report: Annotated[
        str | None, typer.Option("--report", help="Pathology report reference (required).")
    ] = None,
    date: Annotated[str | None, typer.Option("--date", help="Report date, YYYY-MM-DD.")] = None,
    correct: Correct = False,
    reason: CorrectionReason = None,
) -> None:
    """Record a histology result (pathologists); it becomes the image's label. With
    --correct --reason, correct the recorded result's diagnosis.

    Example: dermledger --as dr-path histology IMG-1a… --diagnosis "Melanoma Invasive"
             --report PATH-2026-0042 --date 2026-11-20
    """
    if correct and (report or date):
        raise InvalidInput("--correct changes the diagnosis only; leave out --report and --date")
    if reason and not correct:
        raise InvalidInput("--reason goes with --correct")
    if correct:
        return _correct(ctx, image, "histology", diagnosis, reason)
    if not report:
        raise InvalidInput("a histology result needs --report")
    c = get(ctx)
    env = c.ledger.confirmation.record_histology(c.signer(), image, diagnosis, report, date)
    status(f"Histology recorded for {image}: {env.payload['category']}")
    after = c.ledger.confirmation.verification(image)
    if after.discordant:
        status(
            f"Discordant: histology says {after.category}, the consensus said "
            f"{after.consensus_category} ({after.consensus_support}); both are kept"
        )


def panel_sentence(v: Verification) -> str:
    """What the panel's votes now amount to."""
    if v.consensus == "reached":
        return f"Consensus reached: {v.consensus_category} ({v.consensus_support} votes)"
    if v.consensus == "disputed":
        return (
            "Disputed: no category has a majority; a coordinator orders histology or a "
            "further reader (order --histology or --further-reader)"
        )
    return f"Consensus pending: {len(v.readers)} of {PANEL_SIZE} votes in"


def order(
    ctx: typer.Context,
    image: Image,
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    further_reader: Annotated[
        bool, typer.Option("--further-reader", help="Order one more consensus reader.")
    ] = False,
    histology_: Annotated[bool, typer.Option("--histology", help="Order histology.")] = False,
) -> None:
    """Decide a disputed image (coordinators): order histology or a further reader.

    Example: dermledger --as ada order IMG-1a… --further-reader --reason "three-way split"
    """
    if further_reader == histology_:
        raise InvalidInput("order either --histology or --further-reader")
    c = get(ctx)
    kind = "further-reader" if further_reader else "histology"
    c.ledger.confirmation.order_read(c.signer(), image, kind, reason)
    status(f"Ordered {kind} for {image}")
    if kind == "histology":
        worklist = c.hint("dataset", "--awaiting", "histology")
        status(f"Awaited until a pathologist records it; the worklist: {worklist}")


def stats(
    ctx: typer.Context,
    as_of: AsOf = None,
    json_: Json = False,
) -> None:
    """How many images are included, duplicate-suspected and excluded (the definition
    `dataset` uses); stage, category and malignancy counts of the included ones; and the
    consensus panel's agreement.

    Example: dermledger stats --as-of 5000 --json
    """
    result = get(ctx).ledger.queries.statistics(as_of)
    a = result["agreement"]
    rows = [
        *({"measure": k.replace("_", " "), "value": result[k]} for k in STAT_KEYS),
        *({"measure": k, "value": result[k]} for k in ("stages", "consensus", "categories")),
        {"measure": "Fleiss' kappa",
         "value": f"{_fmt(a.get('fleiss_kappa'))} ({a.get('fleiss_items')} images)"},
        {"measure": "Krippendorff's alpha (nominal)",
         "value": f"{_fmt(a.get('krippendorff_alpha'))} ({a.get('alpha_items')} images)"},
    ]  # fmt: skip
    emit(result, STAT_COLUMNS, json_=json_, rows=rows, title="Study statistics")


STAT_KEYS = ("images", "included", "duplicate_suspected", "excluded", "erased", "malignant",
             "malignant_with_histology", "discordant")  # fmt: skip
STAT_COLUMNS = (Col("measure", "measure"), Col("value", "value"))


def _fmt(value: object) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    for command in (annotate, vote, histology, order, stats):
        app.command()(command)
