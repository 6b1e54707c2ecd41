"""Enrolment and sign-in pages: keys made in the browser, sign-in by a signed challenge."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from dermledger.commands.web.guard import (
    json_body,
    ledger_of,
    render,
    session_of,
    signed_in,
    text_field,
)
from dermledger.commands.web.sessions import (
    Sessions,
    new_challenge,
    signin_digest,
    take_challenge,
)
from dermledger.ledger.errors import BadSignature, DermLedgerError
from dermledger.ledger.signing import verify_digest

HOME_OF_ROLE = (
    ("specialist", "/queue"),
    ("annotator", "/annotate"),
    ("pathologist", "/histology"),
    ("coordinator", "/overview"),
)


def home_for(roles: frozenset[str]) -> str:
    return next((url for role, url in HOME_OF_ROLE if role in roles), "/signin")


async def index(request: Request) -> Response:
    if session_of(request).actor is None:
        return RedirectResponse("/signin", 303)
    return RedirectResponse(home_for(signed_in(request).roles), 303)


async def enrol_page(request: Request) -> Response:
    return render(request, "enrol.html", {"page": "enrol"})


async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", {"page": "signin"})


async def challenge(request: Request) -> Response:
    """A nonce to sign; given whether or not the name is enrolled (no enumeration)."""
    actor = text_field(await json_body(request), "actor", limit=64)
    nonce = new_challenge(session_of(request), actor)
    return JSONResponse({"nonce": nonce, "ledger_id": ledger_of(request).kernel.ledger_id()})


async def signin(request: Request) -> Response:
    """Check the challenge's signature against the actor's enrolled, unrevoked key."""
    signature = text_field(await json_body(request), "signature", limit=200)
    session = session_of(request)
    pending = take_challenge(session)
    if pending is None:
        return JSONResponse({"error": "the sign-in challenge expired; try again"}, 400)
    actor, nonce = pending
    ledger = ledger_of(request)
    try:
        record = ledger.kernel.get_actor(actor)
        if record.revoked:
            raise BadSignature("revoked")
        digest = signin_digest(ledger.kernel.ledger_id(), actor, nonce)
        verify_digest(
            public_raw=bytes.fromhex(record.public_key), digest=digest, signature_b64=signature
        )
    except DermLedgerError:
        return JSONResponse({"error": "sign-in refused"}, 403)
    sessions: Sessions = request.app.state.sessions
    request.state.session = sessions.sign_in(session, actor)
    return JSONResponse({"next": home_for(record.roles)})


async def signout(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    sessions.end(session_of(request))
    request.state.session = sessions.get_or_create(None)
    return JSONResponse({"next": "/signin"})


def routes() -> list[Route]:
    return [
        Route("/", index),
        Route("/enrol", enrol_page),
        Route("/signin", signin_page),
        Route("/api/signin/challenge", challenge, methods=["POST"]),
        Route("/api/signin", signin, methods=["POST"]),
        Route("/api/signout", signout, methods=["POST"]),
    ]
