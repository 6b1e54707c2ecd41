"""What every route asks first: who is signed in, and may they be here now.

The actor's standing is read from the ledger on every request, never cached in the
session: a revocation recorded a moment ago signs the reader out on their next click.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dermledger.commands.web.sessions import Session, Sessions
from dermledger.ledger.errors import NotFound
from dermledger.study.authority import ActorRecord
from dermledger.study.ledger import DermLedger

MAX_BODY = 64 * 1024
# How the clinical fields are named on a page (their ISIC names stay in data and events).
FIELD_LABELS = {
    "age": "age", "sex": "sex", "anatom_site": "site", "clin_size_long_diam_mm": "size (mm)",
    "fitzpatrick_skin_type": "Fitzpatrick type", "image_type": "image type",
    "dermoscopic_type": "dermoscopy",
}  # fmt: skip


def ledger_of(request: Request) -> DermLedger:
    return request.app.state.ledger  # type: ignore[no-any-return]


def session_of(request: Request) -> Session:
    return request.state.session  # type: ignore[no-any-return]


def signed_in(request: Request, *roles: str) -> ActorRecord:
    """The signed-in actor, if active and holding one of `roles` (any role if none given).

    401 when nobody is signed in or the key was revoked (the session ends), 403 for a
    role that may not use this page.
    """
    session = session_of(request)
    if session.actor is None:
        raise HTTPException(401, "sign in first")
    try:
        record = ledger_of(request).kernel.get_actor(session.actor)
    except NotFound:
        record = None
    if record is None or record.revoked:
        sessions: Sessions = request.app.state.sessions
        sessions.end_actor(session.actor)
        raise HTTPException(401, "sign in first")
    if roles and not record.roles & set(roles):
        raise HTTPException(403, "this page is not for your role")
    return record


async def json_body(request: Request) -> dict[str, Any]:
    """A small JSON object from the request body, or 400."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, "request too large")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body is not a JSON object")
    return data


def text_field(data: dict[str, Any], name: str, *, limit: int = 512) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise HTTPException(400, f"{name} is missing or too long")
    return value.strip()


def render(request: Request, template: str, context: dict[str, Any]) -> Response:
    """A page, with the CSRF token and the signed-in actor every page shows."""
    session = session_of(request)
    full = {"csrf": session.csrf, "me": session.actor, "labels": FIELD_LABELS, **context}
    return request.app.state.templates.TemplateResponse(request, template, full)  # type: ignore[no-any-return]
