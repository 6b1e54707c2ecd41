"""`dermledger serve`: the reading station for annotators, specialists and pathologists."""

from __future__ import annotations

import logging
import socket
from typing import Annotated

import typer
import uvicorn

from dermledger.commands.context import get, status
from dermledger.commands.web.app import create_app


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8000,
) -> None:
    """Serve the reading station over this ledger; prints the URL it listens on.

    Readers make their keys in their own browsers (/enrol); a coordinator enrols each
    public key with `actor add NAME --role specialist --public-key HEX`.

    Example: dermledger --home study serve --port 8000
    """
    ledger = get(ctx).ledger
    ledger.kernel.ledger_id()  # refuse early without a ledger
    status("Reading the log for the work lists …")
    ledger.live_images.current()  # caught up before the first reader, not during their page
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: a response's headers and body go out at once
    # rather than waiting on the client's delayed ACK (40 ms a small response).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    shown_host = f"[{host}]" if ":" in host else host
    status(f"Reading station on http://{shown_host}:{bound}/")
    config = uvicorn.Config(
        create_app(ledger), log_level="warning", access_log=False, server_header=False
    )
    uvicorn.Server(config).run(sockets=[sock])


def register(app: typer.Typer) -> None:
    app.command()(serve)
