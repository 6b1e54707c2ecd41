"""An auditor's own verifier for `dermledger audit export`, written from DESIGN section 5 only.

It imports nothing from dermledger: just json, hashlib, base64, `cryptography` and
`rfc8785`, as a third party would. Returns a list of problems (empty = verified).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over leaf data (here: raw event hashes)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def check_export(path: Path) -> list[str]:
    problems: list[str] = []
    keys: dict[str, tuple[str, bytes]] = {}  # key_id -> (actor, raw public key)
    revoked: set[str] = set()
    heads: dict[str, tuple[int, str]] = {}
    hashes: list[bytes] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        event = json.loads(line)
        where = f"seq {event.get('seq')}"
        if event["seq"] != number:
            problems.append(f"{where}: seq is not dense (line {number})")
        body = {k: v for k, v in event.items() if k not in ("seq", "hash", "signature")}
        digest = hashlib.sha256(rfc8785.dumps(body)).digest()
        if digest.hex() != event["hash"]:
            problems.append(f"{where}: hash mismatch")
        payload = event["payload"]
        if number == 1:
            raw = bytes.fromhex(payload["public_key"])
            keys[hashlib.sha256(raw).hexdigest()] = (payload["actor"], raw)
        owner = keys.get(event["key_id"])
        if owner is None or event["key_id"] in revoked:
            problems.append(f"{where}: key not enrolled or revoked")
        else:
            try:
                Ed25519PublicKey.from_public_bytes(owner[1]).verify(
                    base64.b64decode(event["signature"]), digest
                )
            except InvalidSignature:
                problems.append(f"{where}: bad signature")
            if owner[0] != event["actor"]:
                problems.append(f"{where}: actor does not own the key")
        version, prev = heads.get(event["stream_id"], (0, None))
        if event["stream_version"] != version + 1 or event["prev_hash"] != prev:
            problems.append(f"{where}: stream chain broken")
        heads[event["stream_id"]] = (event["stream_version"], event["hash"])
        if event["type"] == "ActorEnrolled" and number > 1:
            raw = bytes.fromhex(payload["public_key"])
            keys[hashlib.sha256(raw).hexdigest()] = (payload["actor"], raw)
        if event["type"] == "ActorRevoked":
            revoked.add(payload["key_id"])
        if event["type"] == "CheckpointSigned":
            size = payload["tree_size"]
            if mth(hashes[:size]).hex() != payload["root"]:
                problems.append(f"{where}: checkpoint root does not match the log")
        hashes.append(bytes.fromhex(event["hash"]))
    return problems
