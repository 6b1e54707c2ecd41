"""Events signed by a key that never reaches the server (a reader's browser).

The server prepares: it decides and seals the event as `Kernel.append` would, and
hands out the 32-byte hash with a one-time token. The holder signs that hash. On
completion the signature is checked against the actor's enrolled key and the same
decision goes through `Kernel.append` with an `ExternalSigner`, which re-checks the
read set in the insert's transaction. If the stream moved meanwhile, the envelope is
sealed again on the new head and the holder is asked to sign the new hash: the same
content, no new question to the person.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from dermledger.ledger.envelope import Envelope, format_timestamp
from dermledger.ledger.errors import NotFound, PolicyViolation, SignatureRequired
from dermledger.ledger.signing import ExternalSigner, verify_digest
from dermledger.study.kernel import Kernel, Proposal

TOKEN_SECONDS = 600.0
MAX_PENDING = 10_000


@dataclass(frozen=True)
class Prepared:
    """A sealed, unsigned event awaiting its holder's signature."""

    token: str
    actor: str
    envelope: Envelope  # signature empty: what the holder is shown and signs
    decide: Callable[[], list[Proposal]]
    expires: float

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.envelope.hash)


@dataclass(frozen=True)
class Completed:
    """The outcome of a completion: the saved event, or the event to sign again."""

    saved: Envelope | None = None
    resign: Prepared | None = None


class RemoteSigning:
    """One-time tokens for events prepared here and signed elsewhere."""

    def __init__(self, kernel: Kernel, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.kernel = kernel
        self.clock = clock
        self._pending: dict[str, Prepared] = {}
        self._lock = threading.Lock()

    def prepare(self, actor: str, decide: Callable[[], list[Proposal]]) -> Prepared:
        """Decide and seal one event for `actor`'s enrolled key; nothing is saved."""
        fixed = _fixed(decide, str(uuid.uuid4()), format_timestamp(self.kernel.clock()))
        return self._prepare(actor, fixed)

    def _prepare(self, actor: str, decide: Callable[[], list[Proposal]]) -> Prepared:
        draft = ExternalSigner(actor, self._enrolled_key(actor))
        envelopes = self.kernel.prepare(draft, decide)
        if len(envelopes) != 1:
            raise PolicyViolation("a remotely signed request must make exactly one event")
        prepared = Prepared(
            secrets.token_urlsafe(24), actor, envelopes[0], decide, self.clock() + TOKEN_SECONDS
        )
        with self._lock:
            self._expire()
            self._pending[prepared.token] = prepared
        return prepared

    def pending(self, token: str, actor: str) -> Prepared:
        """A prepared event of this actor (NotFound otherwise, without saying why)."""
        with self._lock:
            prepared = self._pending.get(token)
        if prepared is None or prepared.actor != actor or prepared.expires < self.clock():
            raise NotFound("there is no such prepared event")
        return prepared

    def complete(self, token: str, actor: str, signature_b64: str) -> Completed:
        """Check the signature over the prepared hash, then append through the kernel.

        The token is spent first: a replayed signature finds nothing. A bad signature
        raises BadSignature and nothing is appended.
        """
        with self._lock:
            prepared = self._pending.get(token)
            if prepared is None or prepared.actor != actor or prepared.expires < self.clock():
                raise NotFound("there is no such prepared event")
            del self._pending[token]
        public_raw = self._enrolled_key(actor)
        verify_digest(public_raw=public_raw, digest=prepared.digest, signature_b64=signature_b64)
        signer = ExternalSigner(actor, public_raw, prepared.digest, signature_b64)
        try:
            return Completed(saved=self.kernel.append(signer, prepared.decide)[0])
        except SignatureRequired:
            return Completed(resign=self._prepare(actor, prepared.decide))

    def _enrolled_key(self, actor: str) -> bytes:
        """The actor's enrolled public key, read now (a revoked key is refused later by
        the kernel, which reads the actor's standing in the same transaction)."""
        return bytes.fromhex(self.kernel.get_actor(actor).public_key)

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, p in self._pending.items() if p.expires < now]:
            del self._pending[token]
        while len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]


def _fixed(
    decide: Callable[[], list[Proposal]], event_id: str, recorded_at: str
) -> Callable[[], list[Proposal]]:
    """`decide` with its one proposal's id and time fixed, so sealing it again on the
    same head reproduces the hash the holder signed."""

    def fixed() -> list[Proposal]:
        return [replace(p, event_id=event_id, recorded_at=recorded_at) for p in decide()]

    return fixed
