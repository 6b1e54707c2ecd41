"""Sessions, sign-in challenges and CSRF tokens for the reading station.

No passwords: a visitor gets an anonymous session (a random id in an HttpOnly,
SameSite=Strict cookie, and a CSRF token for every POST); signing in proves
possession of the enrolled key by signing a challenge in the browser, after which
the session id is replaced. Sessions live in this process's memory only: restarting
the server signs everyone out, which is the safe failure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "dl_session"
IDLE_SECONDS = 30 * 60
CHALLENGE_SECONDS = 120
SIGNIN_CONTEXT = "dermledger sign-in v1"


@dataclass
class Session:
    """One browser's session: who (once signed in), its CSRF token, a pending challenge."""

    sid: str
    csrf: str
    actor: str | None = None
    challenge: tuple[str, str, float] | None = None  # (actor, nonce, expires)
    seen: float = field(default_factory=time.monotonic)


def signin_digest(ledger_id: str, actor: str, nonce: str) -> bytes:
    """What a browser signs to sign in: domain-separated, so it can never be an event
    hash (the page computes it itself from these three strings)."""
    return hashlib.sha256(f"{SIGNIN_CONTEXT}\n{ledger_id}\n{actor}\n{nonce}".encode()).digest()


class Sessions:
    """The process's sessions, by id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get_or_create(self, sid: str | None) -> Session:
        """The live session with this id, or a new anonymous one."""
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(sid or "")
            if session is not None and now - session.seen < IDLE_SECONDS:
                session.seen = now
                return session
            if session is not None:
                del self._by_id[session.sid]
            return self._new(None)

    def _new(self, actor: str | None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), actor)
        self._by_id[session.sid] = session
        return session

    def sign_in(self, old: Session, actor: str) -> Session:
        """A new session for `actor`, replacing the anonymous one (no fixation)."""
        with self._lock:
            self._by_id.pop(old.sid, None)
            return self._new(actor)

    def end(self, session: Session) -> None:
        with self._lock:
            self._by_id.pop(session.sid, None)

    def end_actor(self, actor: str) -> None:
        """Sign an actor out everywhere (their key was revoked)."""
        with self._lock:
            for sid in [s.sid for s in self._by_id.values() if s.actor == actor]:
                del self._by_id[sid]


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf, given)


def new_challenge(session: Session, actor: str) -> str:
    nonce = secrets.token_urlsafe(24)
    session.challenge = (actor, nonce, time.monotonic() + CHALLENGE_SECONDS)
    return nonce


def take_challenge(session: Session) -> tuple[str, str] | None:
    """The pending (actor, nonce), spent: a challenge answers once."""
    pending, session.challenge = session.challenge, None
    if pending is None or pending[2] < time.monotonic():
        return None
    return pending[0], pending[1]
