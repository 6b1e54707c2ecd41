"""The specialist's pages: a blinded queue, the image viewer, and votes signed in the
browser. Routes only parse and render; the reading service decides what is shown."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dermledger.commands.web.guard import json_body, ledger_of, render, signed_in, text_field
from dermledger.policies.categories import diagnosis_labels
from dermledger.study.remote_signing import Prepared

QUEUE_SHOWN = 50  # the next images in the reader's order; the rest follow as they read
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff"}


@cache
def vocabulary_bytes() -> bytes:
    """The ISIC diagnosis labels with their categories: the same bytes for every reader,
    served apart from any page so pages carry no label but the reader's own."""
    return json.dumps([{"label": label, "category": c} for label, c in diagnosis_labels()]).encode()


async def vocabulary(request: Request) -> Response:
    signed_in(request)
    return Response(vocabulary_bytes(), media_type="application/json")


def prepared_json(prepared: Prepared) -> dict[str, Any]:
    """What the page shows and signs: the envelope's hashed fields and their hash."""
    envelope = prepared.envelope
    payload = envelope.payload
    return {
        "token": prepared.token,
        "hash": envelope.hash,
        "fields": envelope.hashed_fields(),
        "summary": {
            "type": envelope.type,
            "image_id": payload.get("image_id"),
            "diagnosis": payload.get("diagnosis"),
            "structures": payload.get("structures"),
            "report_ref": payload.get("report_ref"),
            "meaning": payload.get("signature_meaning") or "the seed of your reading order",
        },
    }


async def queue_page(request: Request) -> Response:
    me = signed_in(request, "specialist")
    queue = ledger_of(request).reading.queue(me.name, limit=QUEUE_SHOWN)
    return render(request, "queue.html", {"page": "queue", "queue": queue, "shown": QUEUE_SHOWN})


async def read_page(request: Request) -> Response:
    me = signed_in(request, "specialist")
    reading = ledger_of(request).reading
    view = reading.reader_view(me.name, request.path_params["image_id"])
    queue = reading.queue(me.name, limit=2)
    rest = [i for i in queue.waiting if i != view["image_id"]]
    return render(
        request,
        "read.html",
        {
            "page": "read",
            "view": view,
            "queue": queue,
            "next_image": rest[0] if rest else None,
        },
    )


async def image_file(request: Request) -> Response:
    """The image bytes, checked against their SHA-256 in the blob store."""
    me = signed_in(request)
    data, fmt = ledger_of(request).reading.image_file(me.name, request.path_params["image_id"])
    return Response(data, media_type=MEDIA_TYPES.get(fmt.upper(), "application/octet-stream"))


async def prepare_seed(request: Request) -> Response:
    me = signed_in(request, "specialist")
    return JSONResponse(prepared_json(ledger_of(request).reading.prepare_seed(me.name)))


async def prepare_vote(request: Request) -> Response:
    me = signed_in(request, "specialist")
    data = await json_body(request)
    prepared = ledger_of(request).reading.prepare_vote(
        me.name, text_field(data, "image_id", limit=64), text_field(data, "diagnosis")
    )
    return JSONResponse(prepared_json(prepared))


async def complete(request: Request) -> Response:
    """Append a prepared event with the browser's signature, or hand back the same
    content sealed again for the page to re-sign (the stream moved)."""
    me = signed_in(request)
    data = await json_body(request)
    done = ledger_of(request).reading.complete(
        me.name, text_field(data, "token", limit=64), text_field(data, "signature", limit=200)
    )
    if done.resign is not None:
        return JSONResponse({"resign": prepared_json(done.resign)})
    assert done.saved is not None
    return JSONResponse({"saved": {"type": done.saved.type, "hash": done.saved.hash}})


def routes() -> list[Route]:
    return [
        Route("/queue", queue_page),
        Route("/read/{image_id}", read_page),
        Route("/images/{image_id}/file", image_file),
        Route("/vocabulary/diagnoses.json", vocabulary),
        Route("/api/seed/prepare", prepare_seed, methods=["POST"]),
        Route("/api/vote/prepare", prepare_vote, methods=["POST"]),
        Route("/api/sign/complete", complete, methods=["POST"]),
    ]
