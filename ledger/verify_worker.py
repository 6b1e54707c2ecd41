"""Hash and signature checks for a batch of stored events, run in worker processes.

Imports only hashlib, json, base64, rfc8785 and cryptography, so a spawned worker starts
fast. Each item is (seq, stored bytes, raw public key); the result is the first failing
(seq, problem) of the batch, or None.
"""

from __future__ import annotations

import base64
import hashlib
import json

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Item = tuple[int, bytes, bytes]


def check_batch(items: list[Item]) -> tuple[int, str] | None:
    keys: dict[bytes, Ed25519PublicKey] = {}
    for seq, state, public in items:
        envelope = json.loads(state)
        stored, signature = envelope.pop("hash"), envelope.pop("signature")
        digest = hashlib.sha256(rfc8785.dumps(envelope)).digest()
        if digest.hex() != stored:
            return seq, "its hash does not match its contents"
        key = keys.get(public)
        if key is None:
            key = keys[public] = Ed25519PublicKey.from_public_bytes(public)
        try:
            key.verify(base64.b64decode(signature), digest)
        except (InvalidSignature, ValueError):
            return seq, "the Ed25519 signature does not verify"
    return None
