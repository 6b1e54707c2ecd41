"""Ed25519 signing and verification over 32-byte digests.

A `Signer` is an actor's unlocked private key; it never leaves memory and is
never printed. Verification raises `BadSignature` and returns None otherwise.

Both go through libsodium (PyNaCl), which verifies 2 to 2.5 times faster than
OpenSSL (`cryptography`) here (bench/bench_ed25519.py). Ed25519 is deterministic:
the signatures are the same bytes either way (tests/unit/test_signing.py). On crafted
inputs libsodium is the stricter of the two: besides what OpenSSL rejects (S not below
the group order, wrong lengths, non-canonical encodings) it rejects public keys and R
points of small order, with which a signature can be made to verify for many messages
at once. So the ledger guarantees: every signature it accepts, OpenSSL (and so the
independent checker) accepts too; the converse fails only for such crafted keys.
Key files stay in `cryptography`'s format: the `Signer` keeps that key and derives
the libsodium one from its 32-byte seed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError

from dermledger.ledger.errors import BadSignature, SignatureRequired

PUBLIC_BYTES = 32
SIGNATURE_BYTES = 64


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

    @cached_property
    def _sodium_secret(self) -> bytes:
        """libsodium's 64-byte secret key (seed || public), made once from the seed."""
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return crypto_sign_seed_keypair(seed)[1]

    def sign_digest(self, digest: bytes) -> str:
        """Base64 Ed25519 signature over the raw digest bytes."""
        return base64.b64encode(sign_raw(self._sodium_secret, digest)).decode("ascii")


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


def sign_raw(secret: bytes, message: bytes) -> bytes:
    """The 64-byte detached signature of `message` under libsodium's 64-byte secret key."""
    return crypto_sign(message, secret)[:SIGNATURE_BYTES]


def verify_raw(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """True if `signature` is a valid Ed25519 signature of `message` by `public_raw`.

    Lengths are checked here: libsodium reads 32 key bytes whatever it is given.
    """
    if len(public_raw) != PUBLIC_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, public_raw)
    except BadSignatureError:
        return False
    return True


def verify_digest(*, public_raw: bytes, digest: bytes, signature_b64: str) -> None:
    """Check an Ed25519 signature over `digest`; raise BadSignature if it fails."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("the Ed25519 signature does not verify") from exc
    if not verify_raw(public_raw, signature, digest):
        raise BadSignature("the Ed25519 signature does not verify")


# Ed25519 curve constants (RFC 8032 section 5.1), for checking keys someone else made.
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
PUBLIC_KEY_HEX = re.compile(r"^[0-9a-f]{64}$")


def _decode_point(raw: bytes) -> tuple[int, int] | None:
    """The affine point a 32-byte encoding names (RFC 8032 5.1.3), None if it names none."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return None
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        x = (x * _SQRT_M1) % _P
        if (v * x * x - u) % _P != 0:
            return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int]) -> tuple[int, int]:
    """2P on the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 (affine, unified law)."""
    x, y = point
    t = (_D * x * x * y * y) % _P
    return (
        (2 * x * y * pow(1 + t, _P - 2, _P)) % _P,
        ((y * y + x * x) * pow(1 - t, _P - 2, _P)) % _P,
    )


def public_key_problem(public_hex: str) -> str | None:
    """Why `public_hex` cannot be an actor's Ed25519 public key, or None if it can.

    Any 32 bytes load as a key, but a key that is not a curve point, or a point of small
    order (the all-zero key among them), lets signatures be forged or verify for any
    message: such a key must never be enrolled.
    """
    if not PUBLIC_KEY_HEX.match(public_hex):
        return "a public key is 64 lowercase hexadecimal digits (the raw 32-byte Ed25519 key)"
    point = _decode_point(bytes.fromhex(public_hex))
    if point is None:
        return "that public key is not a point of the Ed25519 curve"
    for _ in range(3):  # 8P is the neutral element exactly when P has small order
        point = _double(point)
    if point == (0, 1):
        return "that public key is a small-order point, which would accept forged signatures"
    return None
