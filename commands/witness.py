"""`dermledger witness`: run a C2SP tlog-witness, and choose this ledger's witnesses.

Two sides in one group. `init`, `trust`, `logs`, `serve` are the witness operator's: the
witness has a home of its own (`--home`, not the ledger's), its own key sealed with
DERMLEDGER_WITNESS_PASSPHRASE (or a prompt), and the list of logs it witnesses. `add`,
`remove`, `list`, `quorum`, `policy`, `check` are the ledger's (global --home/--as).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.context import get, out, print_json, settings_from, status
from dermledger.commands.options import Json
from dermledger.commands.output import Col, emit
from dermledger.ledger.errors import InvalidInput, KeystoreError, VerificationError
from dermledger.ledger.witness_client import DEFAULT_TIMEOUT
from dermledger.ledger.witness_home import WitnessHome
from dermledger.policies.witness_quorum import parse_policy

app = typer.Typer(
    help="Run a witness that cosigns ledgers' checkpoints (C2SP tlog-witness).\n\n"
    "Example: dermledger witness logs --home ./w1",
    no_args_is_help=True,
)

PASSPHRASE_ENV = "DERMLEDGER_WITNESS_PASSPHRASE"

Home = Annotated[
    Path, typer.Option("--home", help="The witness's own home folder (not a ledger home).")
]


def _passphrase(*, confirm: bool = False) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise KeystoreError(f"set {PASSPHRASE_ENV} or run on a terminal to give the passphrase")
    return typer.prompt("Witness key passphrase", hide_input=True, confirmation_prompt=confirm)


@app.command("init")
def init(
    home: Home,
    name: Annotated[
        str, typer.Option("--name", help="The witness's key name, e.g. ethics.example.org/w1.")
    ],
) -> None:
    """Make a witness home with a new Ed25519 key; print its cosigner verifier key.

    Give the printed key to the ledgers you witness. The private key is sealed with
    DERMLEDGER_WITNESS_PASSPHRASE (or a prompt).

    Example: dermledger witness init --home ./w1 --name ethics.example.org/w1
    """
    kdf = settings_from(home, None).kdf_log2_n
    vkey = WitnessHome(home.expanduser()).init(name, _passphrase(confirm=True), kdf_log2_n=kdf)
    status(f"Witness {name} created in {home}; its verifier key:")
    typer.echo(vkey)


@app.command("trust")
def trust(
    home: Home,
    origin: Annotated[str, typer.Argument(help="The log's checkpoint origin line.")],
    vkey: Annotated[str, typer.Argument(help="The log's verifier key (name+id+base64).")],
) -> None:
    """Witness a log: cosign checkpoints of ORIGIN signed by VKEY.

    Run again with another key of the same origin to accept a rotated log key.

    Example: dermledger witness trust --home ./w1 study.example/derm "$(cat log.vkey)"
    """
    verifier = WitnessHome(home.expanduser()).trust(origin, vkey)
    status(f"Witnessing {origin} signed by {verifier.name}+{verifier.key_id.hex()}")


@app.command("logs")
def logs(home: Home, json_: Json = False) -> None:
    """List the logs this witness cosigns, with the latest size it cosigned.

    Example: dermledger witness logs --home ./w1 --json
    """
    rows = [
        {
            "origin": s.origin,
            "vkeys": list(s.vkeys),
            "size": s.size,
            "root": s.root.hex() if s.root is not None else None,
            "cosigned_at": s.cosigned_at,
        }
        for s in WitnessHome(home.expanduser()).store().logs()
    ]
    emit(rows, LOG_COLUMNS, json_=json_)


LOG_COLUMNS = (
    Col("origin", "origin", ident=True),
    Col("size", "size"),
    Col("cosigned at (POSIX)", "cosigned_at"),
    Col("keys", "vkeys", ident=True),
)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP; without it every keep-alive reply waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


@app.command("serve")
def serve(
    home: Home,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port; 0 picks a free one.")] = 0,
    prefix: Annotated[str, typer.Option("--prefix", help="URL prefix, e.g. /witness.")] = "",
) -> None:
    """Serve add-checkpoint until stopped; print the URL prefix on stdout first.

    Example: dermledger witness serve --home ./w1 --port 8080 --prefix /witness
    """
    import uvicorn

    from dermledger.commands.witness_app import create_app

    if prefix and not prefix.startswith("/"):
        raise InvalidInput("the prefix must start with '/', e.g. /witness")
    witness = WitnessHome(home.expanduser()).open(_passphrase())
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"http://{shown}:{bound}{prefix.rstrip('/')}")
    sys.stdout.flush()
    status(f"Witness {witness.cosigner.name} serving; stop with Ctrl-C")
    config = uvicorn.Config(
        create_app(witness, prefix), log_level="warning", access_log=False,
        timeout_graceful_shutdown=5,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


# ------------------------------------------------- the ledger's side: its witnesses

Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the event).")]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name for the witness, e.g. ethics.")],
    url: Annotated[str, typer.Argument(help="Its submission prefix, e.g. https://w.example/w")],
    vkey: Annotated[str, typer.Argument(help="Its cosignature verifier key (from witness init).")],
    json_: Json = False,
) -> None:
    """Ask a witness to cosign this ledger's checkpoints (an event; coordinator).

    The witness's operator must first trust this log (`witness trust` with the origin and
    key that `witness list` shows).

    Example: dermledger --as ada witness add ethics http://127.0.0.1:8080 "$(cat w1.vkey)"
    """
    c = get(ctx)
    env = c.ledger.witnesses.add(c.signer(), name, url, vkey)
    if json_:
        print_json(env.payload)
        return
    status(f"Added witness {name} ({env.payload['url']})")


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The witness's name on this ledger.")],
    reason: Reason,
) -> None:
    """Stop asking a witness to cosign (an event; its past cosignatures stay valid).

    Example: dermledger --as ada witness remove ethics --reason "replaced by ethics2"
    """
    c = get(ctx)
    c.ledger.witnesses.remove(c.signer(), name, reason)
    status(f"Removed witness {name}")


@app.command("list")
def list_(ctx: typer.Context, json_: Json = False) -> None:
    """The log's origin and key, its witnesses with the size each last cosigned, the quorum.

    Example: dermledger witness list --json
    """
    listing = get(ctx).ledger.witnesses.listing()
    title = f"origin {listing['origin'] or '(no log key yet: run dermledger checkpoint)'}"
    if listing["log_vkey"]:
        title += f"\nlog key {listing['log_vkey']}"
    footer = f"quorum: {listing['quorum']} of {len(listing['witnesses'])}"
    emit(listing, WITNESS_COLUMNS, json_=json_, rows=listing["witnesses"], title=title,
         footer=footer)  # fmt: skip


WITNESS_COLUMNS = (
    Col("name", "name", ident=True),
    Col("url", "url", ident=True),
    Col("last cosigned size", "last_cosigned_size"),
    Col("key", "vkey", ident=True),
)


@app.command("quorum")
def quorum(
    ctx: typer.Context,
    k: Annotated[int, typer.Argument(help="How many witnesses must cosign (0: none).")],
) -> None:
    """Require K of the ledger's witnesses to cosign each checkpoint (an event).

    Example: dermledger --as ada witness quorum 2
    """
    c = get(ctx)
    c.ledger.witnesses.set_quorum(c.signer(), k)
    status(f"Quorum set to {k}")


@app.command("policy")
def policy(
    ctx: typer.Context,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the ledger's policy to this file.")
    ] = None,
    import_file: Annotated[
        Path | None,
        typer.Option("--import", help="Enrol the witnesses and quorum of this policy file."),
    ] = None,
) -> None:
    """Export or import the witnesses and quorum as a C2SP tlog-policy file.

    Without options the policy is printed. An imported policy needs a URL on each witness
    line and a quorum of k of all its witnesses.

    Example: dermledger witness policy --out study.policy
    """
    c = get(ctx)
    if import_file is not None:
        text = read_text_file(import_file, "policy")
        added = c.ledger.witnesses.import_policy(c.signer(), parse_policy(text))
        status(f"Imported {import_file}: {len(added) - 1} witness(es) added, quorum set")
        return
    text = c.ledger.witnesses.policy_text()
    if out_file is None:
        sys.stdout.write(text)
        return
    out_file.write_text(text)
    status(f"Wrote {out_file}")


@app.command("check")
def check(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The witness's submission prefix URL.")],
    vkey: Annotated[
        str | None, typer.Option("--vkey", help="Its key, if it is not a witness of this ledger.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=120)] = DEFAULT_TIMEOUT,
    json_: Json = False,
) -> None:
    """Ask a witness for the latest checkpoint it cosigned for this log and prove the log
    still contains it. Exit 1 naming a log cut back or forked behind it.

    Example: dermledger witness check http://127.0.0.1:8080
    """
    row = get(ctx).ledger.witnesses.check(url, vkey, timeout=timeout)
    if json_:
        print_json(row)
    else:
        out.print(f"{row['witness']}: {row['status']}: {row['detail']}")
    if not row["ok"]:
        raise VerificationError(row["detail"])
    if row["status"] == "unreachable":
        raise InvalidInput(f"the witness at {url} cannot be reached: {row['detail']}")


def read_text_file(path: Path, what: str) -> str:
    """A small UTF-8 file, or one sentence why not."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the {what} file {path}: {exc}") from None
