"""Canonical bytes and hashes: RFC 8785 (JCS) JSON and SHA-256.

Every hash and signature in DermLedger is over JCS bytes, so any verifier with an
RFC 8785 implementation reproduces them exactly, whatever its JSON library.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """JCS (RFC 8785) serialisation of a JSON-compatible value."""
    return rfc8785.dumps(value)


def sha256(data: bytes) -> bytes:
    """Raw 32-byte SHA-256 digest."""
    return hashlib.sha256(data).digest()


def jcs_sha256(value: Any) -> bytes:
    """SHA-256 of the JCS bytes of `value`: the digest that gets signed."""
    return hashlib.sha256(rfc8785.dumps(value)).digest()
