"""The witness's HTTP routes: thin Starlette adapters over `ledger.witness.Witness`.

    POST <prefix>/add-checkpoint          c2sp.org/tlog-witness
    GET  <prefix>/checkpoint/<origin64>   DermLedger extension, not in the spec: the latest
                                          cosigned checkpoint of the log whose origin is
                                          <origin64> (unpadded URL-safe base64 of the
                                          origin's UTF-8), with the log's and the witness's
                                          signatures, so a ledger can check it still holds it
    GET  <prefix>/healthz                 does nothing: liveness, and the benchmark baseline

Handlers are plain functions: Starlette runs them in its thread pool, so concurrent
requests really reach the store at once and its transaction is what serialises them.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dermledger.ledger.errors import NotFound
from dermledger.ledger.witness import (
    MAX_REQUEST_BYTES,
    Reply,
    Witness,
    decode_origin_segment,
)

__all__ = ["NOTE_CONTENT_TYPE", "create_app"]

NOTE_CONTENT_TYPE = "text/plain; charset=utf-8"


def _reply(reply: Reply) -> Response:
    """The core's answer; its content type is sent exactly (Starlette would add a charset
    to `text/x.tlog.size`, which the spec names bare)."""
    return Response(
        reply.body, status_code=reply.status, headers={"content-type": reply.content_type}
    )


async def _read_limited(request: Request) -> bytes:
    """The body, cut off once it passes MAX_REQUEST_BYTES: the core refuses it (413)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_REQUEST_BYTES:
            break
    return b"".join(chunks)


def create_app(witness: Witness, prefix: str = "") -> Starlette:
    """The ASGI app for one witness under `prefix` (e.g. "" or "/witness")."""
    prefix = prefix.rstrip("/")

    async def add_checkpoint(request: Request) -> Response:
        body = await _read_limited(request)
        return _reply(await run_in_threadpool(witness.add_checkpoint, body))

    def latest(request: Request) -> Response:
        origin = decode_origin_segment(request.path_params["origin"])
        if origin is None:
            return PlainTextResponse("the origin is not URL-safe base64 of UTF-8\n", 400)
        try:
            note = witness.latest_note(origin)
        except NotFound as exc:
            return PlainTextResponse(f"{exc}\n", 404)
        return Response(note, media_type=NOTE_CONTENT_TYPE)

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    routes = [
        Route(f"{prefix}/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route(f"{prefix}/checkpoint/{{origin}}", latest, methods=["GET"]),
        Route(f"{prefix}/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes)
