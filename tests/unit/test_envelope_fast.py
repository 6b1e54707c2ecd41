"""msgspec's decode of stored envelopes: `decode_hashed` either steps aside (None) or gives
what pydantic gives and the SHA-256 of exactly rfc8785's bytes; `decode_envelope` either
steps aside or gives what pydantic gives."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import msgspec
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.envelope import Envelope, seal, with_payload
from dermledger.ledger.envelope_fast import DEPTH, decode_envelope, decode_fields, decode_hashed
from dermledger.ledger.signing import Signer
from dermledger.tests.unit.test_canonical import text, value
from dermledger.tests.unit.test_plain_decode import encodings

BASE: dict[str, Any] = {
    "event_id": "e", "stream_id": "s", "stream_version": 1, "type": "T",
    "recorded_at": "r", "actor": "a", "key_id": "k", "payload": {}, "prev_hash": None,
    "hash": "h", "signature": "g",
}  # fmt: skip


def reference_digest(env: Envelope) -> bytes:
    return hashlib.sha256(rfc8785.dumps(env.hashed_fields())).digest()


def check(data: bytes) -> bool:
    """Both fast decoders agree with pydantic and rfc8785 on `data`; True if taken."""
    try:
        slow: Envelope | None = Envelope.model_validate_json(data)
    except ValueError:
        slow = None
    loose = decode_envelope(data)
    if loose is not None:
        assert slow is not None and loose == slow
        assert list(loose.__dict__) == list(slow.__dict__)
    fast = decode_hashed(data)
    if fast is None:
        return False
    assert slow is not None and fast[0] == slow and loose == slow
    assert list(fast[0].__dict__) == list(slow.__dict__)
    assert fast[1] == reference_digest(slow) == fast[0].computed_hash()
    return True


def test_every_ascii_character_is_escaped_as_jcs_escapes_it() -> None:
    for code in range(128):
        payload = {chr(code): chr(code) * 3, "k": f"a{chr(code)}b"}
        data = json.dumps(BASE | {"payload": payload, "actor": chr(code)}).encode()
        assert check(data), repr(chr(code))


def test_generated_envelopes_hash_to_rfc8785_bytes() -> None:
    rng = random.Random(19)
    signer = Signer("ada", Ed25519PrivateKey.generate())
    taken = 0
    for n in range(1500):
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
        for data in [env.storage_bytes(), *encodings(env.model_dump())]:
            if check(data):
                taken += 1
                assert decode_hashed(data)[1].hex() == env.hash  # type: ignore[index]
    assert taken > 700  # the fast path is the common one


def test_what_a_c_encoder_would_write_otherwise_steps_aside() -> None:
    for payload in ({"x": 1.5}, {"x": 1.0}, {"x": [2**53]}, {"x": -(2**53)}, {"é": 1}, {"x": "é"}):
        data = json.dumps(BASE | {"payload": payload}, ensure_ascii=False).encode()
        assert decode_hashed(data) is None, payload
        assert decode_envelope(data) == Envelope.model_validate_json(data)
    deep: Any = "leaf"
    for _ in range(DEPTH + 1):
        deep = [deep]
    assert decode_hashed(json.dumps(BASE | {"payload": {"x": deep}}).encode()) is None
    assert check(json.dumps(BASE | {"payload": {"x": [[[["ok", 2**53 - 1]]]]}}).encode())


def test_anything_pydantic_might_judge_otherwise_steps_aside() -> None:
    changes: list[dict[str, Any]] = [
        {"stream_version": "1"}, {"stream_version": True}, {"stream_version": 1.0},
        {"actor": 1}, {"payload": []}, {"prev_hash": 5}, {"extra": 1}, {"hash": None},
    ]  # fmt: skip
    for change in changes:
        data = json.dumps(BASE | change).encode()
        assert decode_hashed(data) is None and decode_envelope(data) is None, change
    for name in ("hash", "signature", "payload"):
        data = json.dumps({k: v for k, v in BASE.items() if k != name}).encode()
        assert decode_hashed(data) is None and decode_envelope(data) is None, name
    for data in (b"[]", b"{", b'{"a":NaN}', b'"\\ud800"', b""):
        assert decode_hashed(data) is None and decode_envelope(data) is None
    assert isinstance(msgspec.UNSET, msgspec.UnsetType)


def test_repeated_members_mean_what_they_mean_to_pydantic() -> None:
    data = (
        b'{"event_id":"e","actor":"x","stream_id":"s","stream_version":1,"type":"T",'
        b'"recorded_at":"r","actor":"a","key_id":"k","payload":{"a":1,"a":2},'
        b'"prev_hash":null,"hash":"h","signature":"g"}'
    )
    assert check(data)


def test_floats_jcs_writes_as_msgspec_does_take_the_fast_path() -> None:
    """Floats: the fast path takes the non-integral ones from 1e-4 to 1e16 and hashes
    them to rfc8785's bytes; whatever else it takes (JCS writes an integral float as an
    integer) it hashes right too, and a float written otherwise steps aside."""
    rng = random.Random(1919)
    signer = Signer("ada", Ed25519PrivateKey.generate())
    floats = [2.3, 0.1, 1e-4 + 1e-19, 0.30000000000000004, 9999999999999998.5 / 1.0000001]
    floats += [rng.choice((-1, 1)) * 10 ** rng.uniform(-5, 17) for _ in range(3000)]
    floats += [round(rng.uniform(0, 100), rng.randint(1, 6)) for _ in range(1000)]
    floats += [2.0, -0.0, 1e16, 1e-5, 1e21, 123456789.0, 5e-324, 1.7976931348623157e308]
    for n, number in enumerate(floats):
        env = seal(
            event_id=f"id-{n}", stream_id="image:x", stream_version=1, event_type="T",
            recorded_at="2026-11-23T17:42:16.123456Z", signer=signer,
            payload={"x": number, "n": [1, {"y": number}]}, prev_hash=None,
        )  # fmt: skip
        taken = check(env.storage_bytes())  # if taken, the same envelope and digest
        if not number.is_integer() and 1e-4 <= abs(number) < 1e16:
            assert taken, number
        elif not number.is_integer():
            assert decode_fields(env.storage_bytes()) is None, number
    tampered = seal(
        event_id="t", stream_id="s", stream_version=1, event_type="T", recorded_at="r",
        signer=signer, payload={"x": 2.5}, prev_hash=None,
    ).storage_bytes().replace(b"2.5", b"2.75")
    assert decode_fields(tampered) is None  # the slow path names the mismatch


def test_an_opened_copy_is_what_model_copy_gives() -> None:
    """`with_payload` (the replay's opened envelope) equals pydantic's copy, field for
    field and in hash and stored bytes, and leaves the original as it was."""
    original = Envelope.model_validate(BASE | {"payload": {"sealed": {"x": "y"}}})
    opened = {"age": 83, "erased": False, "metadata": {"site": "Trunk"}}
    fast, slow = with_payload(original, opened), original.model_copy(update={"payload": opened})
    assert type(fast) is Envelope and fast == slow and fast.payload is opened
    assert list(fast.__dict__) == list(slow.__dict__)
    assert fast.computed_hash() == slow.computed_hash()
    assert fast.storage_bytes() == slow.storage_bytes()
    assert original.payload == {"sealed": {"x": "y"}}
