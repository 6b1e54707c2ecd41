"""Signature checks for a batch of events, run in worker processes.

The verifier's main process parses each event once, recomputes its hash and decides
which key must have signed it; what is left, the Ed25519 verification (most of the
cost), comes here. Imports only base64 and the signing module (PyNaCl, cryptography),
so a spawned worker starts fast. Each item is (seq, raw public key, base64 signature,
32-byte digest); the result is the first failing (seq, problem) of the batch, or None,
worded as the one-process check words it, so both modes report the same failure.
"""

from __future__ import annotations

import base64
import binascii

from dermledger.ledger.signing import verify_raw

Item = tuple[int, bytes, str, bytes]
PROBLEM = "the Ed25519 signature does not verify"


def check_batch(items: list[Item]) -> tuple[int, str] | None:
    """The first item whose signature fails, as (seq, problem); None if all verify."""
    b64decode, verify = base64.b64decode, verify_raw
    for seq, public, signature_b64, digest in items:
        try:
            signature = b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError):
            return seq, PROBLEM
        if not verify(public, signature, digest):
            return seq, PROBLEM
    return None
