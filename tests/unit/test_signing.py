"""libsodium (the ledger's Ed25519) against OpenSSL (`cryptography`, the independent
checker's): the same signature bytes, the same verdict on honest and tampered inputs,
and on crafted ones a verdict never more lenient than OpenSSL's."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dermledger.ledger.errors import BadSignature
from dermledger.ledger.signing import Signer, raw_public_key, verify_digest, verify_raw

# The group order L; the identity point; a point of order 8 (both small-order keys).
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")
ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def openssl_accepts(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def test_signatures_are_the_same_bytes_as_openssl() -> None:
    for i in range(200):
        key = Ed25519PrivateKey.generate()
        digest = hashlib.sha256(b"%d" % i).digest()
        signed = Signer("someone", key).sign_digest(digest)
        assert base64.b64decode(signed) == key.sign(digest)


def test_same_verdict_on_honest_and_tampered_signatures() -> None:
    for i in range(200):
        key = Ed25519PrivateKey.generate()
        public = raw_public_key(key.public_key())
        digest = os.urandom(32)
        signature = key.sign(digest)
        flipped = bytearray(signature)
        flipped[i % 64] ^= 1 << (i % 8)
        other = os.urandom(32)
        for sig, msg in ((signature, digest), (bytes(flipped), digest), (signature, other)):
            assert verify_raw(public, sig, msg) == openssl_accepts(public, sig, msg)


def crafted() -> list[tuple[str, bytes, bytes, bytes]]:
    """(name, public key, signature, message) built to probe the edges."""
    key = Ed25519PrivateKey.generate()
    public = raw_public_key(key.public_key())
    message = os.urandom(32)
    signature = key.sign(message)
    s = int.from_bytes(signature[32:], "little")
    return [
        ("S + L", public, signature[:32] + (s + L).to_bytes(32, "little"), message),
        ("S = L", public, signature[:32] + L.to_bytes(32, "little"), message),
        ("identity key, R = identity, S = 0", IDENTITY, IDENTITY + bytes(32), message),
        ("order-8 key, R = identity, S = 0", ORDER_8, IDENTITY + bytes(32), message),
        ("63-byte signature", public, signature[:63], message),
        ("65-byte signature", public, signature + b"\0", message),
        ("31-byte key", public[:31], signature, message),
        ("33-byte key", public + b"\0", signature, message),
        ("empty key and signature", b"", b"", message),
        ("all-ones key (y >= p)", b"\xff" * 31 + b"\x7f", signature, message),
    ]


@pytest.mark.parametrize(("name", "public", "signature", "message"), crafted())
def test_crafted_inputs_never_more_lenient_than_openssl(
    name: str, public: bytes, signature: bytes, message: bytes
) -> None:
    ours = verify_raw(public, signature, message)
    assert not ours, f"libsodium accepted {name}"
    assert not ours or openssl_accepts(public, signature, message)
    with pytest.raises(BadSignature):
        verify_digest(
            public_raw=public, digest=message, signature_b64=base64.b64encode(signature).decode()
        )


def test_small_order_key_is_where_the_two_differ() -> None:
    """OpenSSL accepts (R = identity, S = 0) under the identity key for any message: one
    'signature' for everything. libsodium, and so the ledger, rejects it."""
    message = os.urandom(32)
    assert openssl_accepts(IDENTITY, IDENTITY + bytes(32), message)
    assert not verify_raw(IDENTITY, IDENTITY + bytes(32), message)


@pytest.mark.parametrize("text", ["not base64!", "é", "", "AAAA"])
def test_malformed_base64_is_a_bad_signature(text: str) -> None:
    with pytest.raises(BadSignature):
        verify_digest(public_raw=bytes(32), digest=bytes(32), signature_b64=text)
