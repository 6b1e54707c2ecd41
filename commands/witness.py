"""`dermledger witness`: run a C2SP tlog-witness for other institutions' ledgers.

The witness has a home of its own (`--home`, not the ledger's), its own key sealed with
DERMLEDGER_WITNESS_PASSPHRASE (or a prompt), and the list of logs it witnesses.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.context import settings_from, status
from dermledger.commands.options import Json
from dermledger.commands.output import Col, emit
from dermledger.ledger.errors import InvalidInput, KeystoreError
from dermledger.ledger.witness_home import WitnessHome

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
