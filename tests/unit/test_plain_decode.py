"""The verifier's one-parse path: `loads_plain` and `decode_plain` either step aside
(None) or give exactly what json/pydantic give, with exactly rfc8785's bytes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.canonical import encode_plain, loads_plain
from dermledger.ledger.envelope import Envelope, decode_plain, seal
from dermledger.ledger.signing import Signer
from dermledger.tests.unit.test_canonical import text, value


def encodings(v: Any) -> list[bytes]:
    """The same value written several ways: JCS, escaped ASCII, Python's defaults."""
    out = [json.dumps(v).encode(), json.dumps(v, ensure_ascii=False).encode("utf-8", "replace")]
    with contextlib.suppress(Exception):
        out.append(rfc8785.dumps(v))
    return out


def test_loads_plain_is_json_loads_with_rfc8785_bytes_or_none() -> None:
    rng = random.Random(11)
    taken = 0
    for n in range(3000):
        v = value(rng, odd=n % 2 == 1)
        for data in encodings(v):
            got = loads_plain(data)
            if got is None:
                continue
            taken += 1
            assert got == json.loads(data)
            assert encode_plain(got) == rfc8785.dumps(got)
    assert taken > 1000  # the fast path is the common one


def test_numbers_outside_the_plain_domain_step_aside() -> None:
    for data in (b"1.0", b"[1e3]", b'{"a":NaN}', b"9007199254740992", b"[-Infinity]", b"1.5"):
        assert loads_plain(data) is None
    assert loads_plain(b"[9007199254740991,-9007199254740991]") == [2**53 - 1, -(2**53 - 1)]
    for data in (b'"\\u00e9"', '"é"'.encode(), b"{", b'{"a":1,}'):
        assert loads_plain(data) is None


def test_decode_plain_matches_pydantic_and_the_reference_hash() -> None:
    rng = random.Random(5)
    signer = Signer("ada", Ed25519PrivateKey.generate())
    for n in range(400):
        payload = value(rng, odd=n % 2 == 1)
        payload = payload if isinstance(payload, dict) else {"v": payload}
        try:
            rfc8785.dumps(payload)
        except Exception:
            continue
        env = seal(
            event_id=f"id-{n}", stream_id=text(rng, surrogates=False), stream_version=n + 1,
            event_type="ActorEnrolled", recorded_at="2026-11-23T17:42:16.123456Z",
            signer=signer, payload=payload, prev_hash=None if n % 3 else "ab" * 32,
        )  # fmt: skip
        stored = env.storage_bytes()
        fast = decode_plain(stored)
        if fast is None:
            continue
        assert fast == Envelope.model_validate_json(stored)
        assert fast.computed_hash() == hashlib.sha256(rfc8785.dumps(fast.hashed_fields())).digest()
        assert fast.computed_hash().hex() == env.hash


def test_decode_plain_steps_aside_for_anything_pydantic_might_judge_otherwise() -> None:
    base = {
        "event_id": "e", "stream_id": "s", "stream_version": 1, "type": "T",
        "recorded_at": "r", "actor": "a", "key_id": "k", "payload": {}, "prev_hash": None,
        "hash": "h", "signature": "g",
    }  # fmt: skip
    assert decode_plain(json.dumps(base).encode()) is not None
    changes: list[dict[str, Any]] = [
        {"stream_version": "1"}, {"stream_version": True}, {"actor": 1}, {"payload": []},
        {"prev_hash": 5}, {"extra": 1}, {"payload": {"x": 1.5}},
    ]  # fmt: skip
    for change in changes:
        assert decode_plain(json.dumps(base | change).encode()) is None
    missing = dict(base)
    del missing["hash"]
    assert decode_plain(json.dumps(missing).encode()) is None
