"""The reading station's web application: Starlette routes over the study's services.

Everything a route needs that is not its own business lives here: the session cookie,
the CSRF check on every POST, the signed-in actor's standing read from the ledger on
every request (a revoked key is out at once), security headers, errors that say
nothing about what does not exist, and a request log without personal data.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from dermledger.commands.web import auth, reader, work
from dermledger.commands.web.sessions import COOKIE, Session, Sessions, csrf_ok
from dermledger.ledger.errors import (
    BadSignature,
    Conflict,
    DermLedgerError,
    InvalidInput,
    NotFound,
    PolicyViolation,
    VerificationError,
)
from dermledger.study.ledger import DermLedger

HERE = Path(__file__).parent
log = logging.getLogger("dermledger.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class StationMiddleware(BaseHTTPMiddleware):
    """Session cookie, CSRF on POST, security headers and a log line per request."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        sessions: Sessions = request.app.state.sessions
        given = request.cookies.get(COOKIE)
        session = sessions.get_or_create(given)
        request.state.session = session
        if request.method == "POST" and not _same_origin_with_token(request, session):
            response: Response = JSONResponse({"error": "missing or wrong CSRF token"}, 403)
        else:
            response = await call_next(request)
        current: Session = request.state.session  # sign-in replaces it
        if current.sid != given:
            response.set_cookie(
                COOKIE, current.sid, httponly=True, samesite="strict", path="/",
                secure=request.url.scheme == "https",
            )  # fmt: skip
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        elapsed = (time.perf_counter() - started) * 1000
        # The path as sent (still percent-encoded: no line breaks), never the query string.
        path = request.scope.get("raw_path", b"").decode("ascii", "backslashreplace")
        log.info("%s %s %d %.1fms", request.method, path, response.status_code, elapsed)
        return response


def _same_origin_with_token(request: Request, session: Session) -> bool:
    """A POST must carry the session's CSRF token and, if it says, come from this origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    return csrf_ok(session, request.headers.get("x-csrf-token"))


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status)
    return PlainTextResponse(message, status)


async def on_error(request: Request, exc: Exception) -> Response:
    """Map refusals to responses that name no record and no other reader's judgement."""
    if isinstance(exc, NotFound):
        return _error(request, 404, "Not found")
    if isinstance(exc, BadSignature):
        return _error(request, 400, "the signature does not verify")
    if isinstance(exc, VerificationError):  # a stored image that does not match its hash
        return _error(request, 500, "the stored file does not match its recorded hash")
    if isinstance(exc, PolicyViolation):
        return _error(request, 403, f"refused by the {exc.policy or 'study'} policy")
    if isinstance(exc, InvalidInput | Conflict):
        return _error(request, 400 if isinstance(exc, InvalidInput) else 409, str(exc))
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return _error(request, 404, "Not found")
        if exc.status_code == 401 and not request.url.path.startswith("/api/"):
            return RedirectResponse("/signin", 303)
        return _error(request, exc.status_code, str(exc.detail))
    return _error(request, 400, "refused")


def make_templates() -> Jinja2Templates:
    """Jinja2 with autoescaping on for every template: free text is shown, never run."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env)


def create_app(ledger: DermLedger) -> Starlette:
    """The station over one open ledger."""
    routes: list[Any] = [
        *auth.routes(),
        *reader.routes(),
        *work.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(StationMiddleware)],
        exception_handlers={DermLedgerError: on_error, HTTPException: on_error},
    )
    app.state.ledger = ledger
    app.state.sessions = Sessions()
    app.state.templates = make_templates()
    return app
