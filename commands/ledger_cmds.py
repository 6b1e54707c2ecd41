"""Ledger-wide commands: init and checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from dermledger.commands.context import get, out, passphrase_for, print_json, progress_bar, status
from dermledger.commands.options import Json


def init(
    ctx: typer.Context,
    founder: Annotated[str, typer.Option("--founder", help="Name of the founding coordinator.")],
    json_: Json = False,
) -> None:
    """Create a ledger and its founding coordinator (a self-signed first event).

    The founder's new private key is encrypted with DERMLEDGER_PASSPHRASE (or a prompt).

    Example: DERMLEDGER_PASSPHRASE=... dermledger --home study init --founder ada
    """
    c = get(ctx)
    ledger = c.create_ledger()  # the one command that may create a ledger
    if ledger.kernel.is_initialised():
        # Refuse before asking for a passphrase or creating any key.
        ledger.actors.found(founder, "unused")
    ledger_id, envelope = ledger.actors.found(founder, passphrase_for(founder, confirm=True))
    result = {
        "ledger_id": ledger_id,
        "founder": founder,
        "key_id": envelope.key_id,
        "store": c.settings.describe(),
        "home": str(c.settings.home),
    }
    if json_:
        print_json(result)
        return
    status(f"Created ledger {ledger_id} in {c.settings.describe()}")
    status(f"Founding coordinator {founder}, key {envelope.key_id}")


def checkpoint(
    ctx: typer.Context,
    json_: Json = False,
) -> None:
    """Sign the Merkle tree head of the whole log and append it as a checkpoint.

    A copy is kept in <home>/checkpoints/ as a witness for `audit verify`.

    Example: dermledger --as ada checkpoint
    """
    c = get(ctx)
    signer = c.signer()
    total = c.ledger.kernel.recorder.max_notification_id() or 0
    with progress_bar("Hashing the log", total, quiet=c.quiet) as advance:
        envelope = c.ledger.audit.sign_checkpoint(signer, advance)
    payload = envelope.payload
    if json_:
        print_json({k: payload[k] for k in ("ledger_id", "tree_size", "root", "timestamp")})
        return
    out.print(f"checkpoint tree_size={payload['tree_size']} root={payload['root']}")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(checkpoint)
