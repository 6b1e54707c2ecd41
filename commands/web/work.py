"""Annotators', pathologists' and coordinators' pages: their work queues, and
annotations and histology results signed in the browser."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dermledger.commands.web.guard import json_body, ledger_of, render, signed_in, text_field
from dermledger.commands.web.reader import prepared_json
from dermledger.policies.structures import VOCABULARY

ROLE_OF = {"annotate": "annotator", "histology": "pathologist"}
TITLES = {"annotate": "Images awaiting the initial annotation", "histology": "Histology to record"}


async def worklist_page(request: Request) -> Response:
    kind = request.url.path.strip("/")
    signed_in(request, ROLE_OF[kind])
    worklists = ledger_of(request).worklists
    items = (
        worklists.awaiting_annotation() if kind == "annotate" else worklists.awaiting_histology()
    )
    context = {"page": "worklist", "title": TITLES[kind], "items": items, "prefix": f"/{kind}"}
    return render(request, "worklist.html", context)


async def judge_page(request: Request) -> Response:
    """One image to annotate or report on: the viewer and the form to sign."""
    kind = request.url.path.split("/")[1]
    role = ROLE_OF[kind]
    signed_in(request, role)
    ledger = ledger_of(request)
    image = ledger.worklists.image_for(role, request.path_params["image_id"])
    waiting = (
        ledger.worklists.awaiting_annotation()
        if kind == "annotate"
        else ledger.worklists.awaiting_histology()
    )
    rest = [i for i in waiting if i != image.image_id]
    context = {
        "page": "judge",
        "kind": "annotation" if kind == "annotate" else "histology",
        "title": "Annotate" if kind == "annotate" else "Histology for",
        "image_id": image.image_id,
        "width": image.captured["width"],
        "height": image.captured["height"],
        "clinical": ledger.reading.clinical_fields(image),
        "verification": image.verification().as_dict() if kind == "histology" else None,
        "structures": VOCABULARY,
        "back": f"/{kind}",
        "next_image": rest[0] if rest else None,
    }
    return render(request, "judge.html", context)


async def prepare_annotation(request: Request) -> Response:
    me = signed_in(request, "annotator")
    data = await json_body(request)
    items = data.get("structures") or []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise HTTPException(400, "structures must be a list of NAME=VALUE")
    prepared = ledger_of(request).worklists.prepare_annotation(
        me.name, text_field(data, "image_id", limit=64), text_field(data, "diagnosis"), items
    )
    return JSONResponse(prepared_json(prepared))


async def prepare_histology(request: Request) -> Response:
    me = signed_in(request, "pathologist")
    data = await json_body(request)
    report_date = data.get("report_date") or None
    if report_date is not None and not isinstance(report_date, str):
        raise HTTPException(400, "report_date must be YYYY-MM-DD")
    prepared = ledger_of(request).worklists.prepare_histology(
        me.name,
        text_field(data, "image_id", limit=64),
        text_field(data, "diagnosis"),
        text_field(data, "report_ref", limit=128),
        report_date,
    )
    return JSONResponse(prepared_json(prepared))


async def overview_page(request: Request) -> Response:
    signed_in(request, "coordinator")
    lists = ledger_of(request).worklists.overview()
    return render(request, "overview.html", {"page": "overview", "lists": lists})


def routes() -> list[Route]:
    return [
        Route("/annotate", worklist_page),
        Route("/annotate/{image_id}", judge_page),
        Route("/histology", worklist_page),
        Route("/histology/{image_id}", judge_page),
        Route("/overview", overview_page),
        Route("/api/annotation/prepare", prepare_annotation, methods=["POST"]),
        Route("/api/histology/prepare", prepare_histology, methods=["POST"]),
    ]
