"""`dermledger consent` and `patient show`: consent, withdrawal, erasure, recorded access."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.capture import patient_app, read_file
from dermledger.commands.context import get, print_json, status
from dermledger.commands.options import Json
from dermledger.commands.output import cell, console
from dermledger.ledger.errors import InvalidInput

app = typer.Typer(
    help="Record, withdraw and erase consent.\n\n"
    'Example: dermledger --as ada consent withdraw P0001 --reason "patient request"',
    no_args_is_help=True,
)
Patient = Annotated[str, typer.Argument(help="The patient's pseudonym.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (required).")]


@app.command("record")
def record(
    ctx: typer.Context,
    patient: Patient,
    scope: Annotated[str, typer.Option("--scope", help="What the patient consented to.")],
    document: Annotated[Path, typer.Option("--document", help="The signed consent form.")],
) -> None:
    """Record consent; only the document's SHA-256 enters the ledger, never its content.

    Example: dermledger --as ada consent record P0001 --scope "study and publication"
             --document consent/P0001.pdf
    """
    c = get(ctx)
    env = c.ledger.patients.record_consent(c.signer(), patient, scope, read_file(document))
    digest = env.payload.get("document_hmac") or env.payload.get("document_sha256") or ""
    kind = "HMAC under the patient's key" if "document_hmac" in env.payload else "SHA-256"
    status(f"Consent recorded for {patient} (document {kind} {digest})")


@app.command("withdraw")
def withdraw(ctx: typer.Context, patient: Patient, reason: Reason) -> None:
    """Withdraw consent: the patient's images leave every later release, not earlier ones.

    Example: dermledger --as ada consent withdraw P0001 --reason "patient request"
    """
    c = get(ctx)
    c.ledger.patients.withdraw_consent(c.signer(), patient, reason)
    status(f"Consent withdrawn for {patient}")


@app.command("erase")
def erase(ctx: typer.Context, patient: Patient, reason: Reason) -> None:
    """Erase a patient: destroy their key, delete their images and read-model rows.

    Everything sealed under the key (personal data, clinical fields and image fingerprints
    of captures since erasure v2) becomes unreadable; every hash, signature, checkpoint
    and earlier release still verifies. Run it again to finish an interrupted erasure.

    Example: dermledger --as ada consent erase P0001 --reason "GDPR art. 17 request"
    """
    c = get(ctx)
    interrupted = c.ledger.patients.erasure_pending(patient)
    c.ledger.patients.erase_patient(c.signer(), patient, reason)
    done = c.ledger.patients.last_erasure
    counts = (
        f"{done.images if done else 0} images, {done.blobs_deleted if done else 0} blobs and "
        f"{done.readmodel_rows_deleted if done else 0} read-model rows deleted"
    )
    if interrupted:
        status(f"Completed the interrupted erasure of {patient}: key destroyed; {counts}")
    else:
        status(f"Erased {patient}: key destroyed; {counts}; every proof still verifies")


@patient_app.command("show")
def show(
    ctx: typer.Context,
    patient: Patient,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Decrypt personal data (coordinators; recorded).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, with --reveal.")] = None,
    json_: Json = False,
) -> None:
    """Show a patient's pseudonymous record; --reveal --reason decrypts the personal data
    and records that access in the ledger first.

    Example: dermledger --as ada patient show P0001 --reveal --reason "contact for follow-up"
    """
    c = get(ctx)
    state = c.ledger.records.get_patient(patient)
    record = {
        "patient_id": state.patient_id,
        **state.fields,
        "consent": state.consent_state,
        "consent_scope": state.consent_scope,
        "personal_data": "erased" if state.erased else (
            "held, encrypted" if state.personal else "none"),
    }  # fmt: skip
    if reveal:
        if not reason:
            raise InvalidInput("--reveal needs --reason")
        record["personal"] = c.ledger.patients.reveal_personal(c.signer(), patient, reason)
    elif reason:
        raise InvalidInput("--reason goes with --reveal")
    if json_:
        print_json(record)
        return
    for key, value in record.items():
        if isinstance(value, dict):
            for inner, shown in value.items():
                console().print(f"{key} {inner}: {cell(shown)}", markup=False)
        else:
            console().print(f"{key}: {cell(value)}", markup=False)
