"""Hash and signature checks for a batch of stored events, run in worker processes.

Imports only hashlib, json, base64, the canonicaliser (json, rfc8785) and cryptography,
so a spawned worker starts fast. Each item is (seq, stored bytes, raw public key); the
result is the first failing (seq, problem) of the batch, or None. The problems are worded
as the one-process checks word them, so both modes report the same failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dermledger.ledger.canonical import canonical_json

Item = tuple[int, bytes, bytes]
_keys: dict[bytes, Ed25519PublicKey] = {}  # loaded once per worker, kept across batches


def check_batch(items: list[Item]) -> tuple[int, str] | None:
    sha256, b64decode, keys = hashlib.sha256, base64.b64decode, _keys
    for seq, state, public in items:
        envelope = json.loads(state)
        stored, signature = envelope.pop("hash"), envelope.pop("signature")
        digest = sha256(canonical_json(envelope)).digest()
        if digest.hex() != stored:
            return seq, "its hash does not match its contents"
        key = keys.get(public)
        if key is None:
            key = keys[public] = Ed25519PublicKey.from_public_bytes(public)
        try:
            key.verify(b64decode(signature, validate=True), digest)
        except (InvalidSignature, ValueError, binascii.Error):
            return seq, "the Ed25519 signature does not verify"
    return None
