"""`dermledger actor`: enrol, revoke and list the people who sign events."""

from __future__ import annotations

from typing import Annotated

import typer

from dermledger.commands.context import (
    NEW_PASSPHRASE_ENV,
    get,
    passphrase_for,
    status,
)
from dermledger.commands.options import Json
from dermledger.commands.output import Col, emit, when

app = typer.Typer(
    help="Enrol, revoke and list actors.\n\n"
    "Example: dermledger --as ada actor add dr-lee --role specialist",
    no_args_is_help=True,
)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new actor's handle, e.g. dr-lee.")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            help="coordinator, annotator, specialist, pathologist or auditor (repeatable).",
        ),
    ],
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="Enrol an Ed25519 public key (64 hex) made elsewhere."),
    ] = None,
) -> None:
    """Enrol an actor with one or more roles (coordinators only).

    Without --public-key a key pair is made in this home's keystore, encrypted with
    DERMLEDGER_NEW_PASSPHRASE (or a prompt).

    Example: dermledger --as ada actor add dr-lee --role specialist
    """
    c = get(ctx)
    signer = c.signer()
    passphrase = None if public_key else passphrase_for(name, env=NEW_PASSPHRASE_ENV, confirm=True)
    envelope = c.ledger.actors.enrol(
        signer, name, role, passphrase=passphrase, public_key=public_key
    )
    status(
        f"Enrolled {name} as {', '.join(envelope.payload['roles'])} "
        f"(key {c.ledger.kernel.get_actor(name).key_id})"
    )


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The actor to revoke.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")],
) -> None:
    """Revoke an actor's key: it signs nothing from now on; earlier events stay valid.

    Example: dermledger --as ada actor revoke dr-lee --reason "left the study"
    """
    c = get(ctx)
    c.ledger.actors.revoke(c.signer(), name, reason)
    status(f"Revoked {name}")


@app.command("list")
def list_(
    ctx: typer.Context,
    json_: Json = False,
) -> None:
    """List enrolled actors with their roles, keys and status.

    Example: dermledger actor list --json
    """
    emit(get(ctx).ledger.actors.list_actors(), ACTOR_COLUMNS, json_=json_)


ACTOR_COLUMNS = (
    Col("actor", "actor", ident=True),
    Col("roles", "roles"),
    Col("key id", "key_id", ident=True),
    Col("status", "status"),
    Col("enrolled at", lambda a: when(a["enrolled_at"]), ident=True),
    Col("by", "enrolled_by", ident=True),
)
