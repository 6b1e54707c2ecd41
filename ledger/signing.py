"""Ed25519 signing and verification over 32-byte digests.

A `Signer` is an actor's unlocked private key; it never leaves memory and is
never printed. Verification raises `BadSignature` and returns None otherwise.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dermledger.ledger.errors import BadSignature, SignatureRequired


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte encoding of an Ed25519 public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_raw: bytes) -> str:
    """Key identifier: hex SHA-256 of the raw 32-byte public key (DESIGN section 5)."""
    return hashlib.sha256(public_raw).hexdigest()


class DigestSigner(Protocol):
    """What sealing needs of a signer: who signs, with which key, and a signature over a
    32-byte digest. A `Signer` holds the key here; an `ExternalSigner` holds a signature
    made elsewhere (a reader's browser) for one digest."""

    @property
    def actor(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign_digest(self, digest: bytes) -> str: ...


@dataclass(frozen=True)
class Signer:
    """An actor's unlocked signing key."""

    actor: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @cached_property
    def public_raw(self) -> bytes:
        return raw_public_key(self.private_key.public_key())

    @cached_property
    def public_hex(self) -> str:
        return self.public_raw.hex()

    @cached_property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    def sign_digest(self, digest: bytes) -> str:
        """Base64 Ed25519 signature over the raw digest bytes."""
        return base64.b64encode(self.private_key.sign(digest)).decode("ascii")


@dataclass(frozen=True)
class ExternalSigner:
    """A key that never leaves its holder: "signs" only the one digest it was handed a
    signature for, after checking that signature under the public key.

    Any other digest (the envelope was sealed on a newer stream head) raises
    SignatureRequired, so the holder is asked again rather than an envelope being
    saved with a signature over different content. Without a signature (`signature`
    empty) it seals a draft whose signature is empty: for showing, never for saving.
    """

    actor: str
    public_raw: bytes = field(repr=False)
    digest: bytes = b""
    signature: str = field(default="", repr=False)

    @cached_property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    def sign_digest(self, digest: bytes) -> str:
        if not self.signature:
            return ""
        if digest != self.digest:
            raise SignatureRequired(digest)
        verify_digest(public_raw=self.public_raw, digest=digest, signature_b64=self.signature)
        return self.signature


@lru_cache(maxsize=4096)
def _public_key(public_raw: bytes) -> Ed25519PublicKey:
    """A loaded key, kept: loading one costs a tenth of a verification, and a log has few
    signers for many events."""
    return Ed25519PublicKey.from_public_bytes(public_raw)


def verify_digest(*, public_raw: bytes, digest: bytes, signature_b64: str) -> None:
    """Check an Ed25519 signature over `digest`; raise BadSignature if it fails."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        _public_key(public_raw).verify(signature, digest)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("the Ed25519 signature does not verify") from exc
