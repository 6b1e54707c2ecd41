"""The fast canonicaliser writes exactly what `rfc8785.dumps` writes, or fails as it does.

A differential test over many generated values (seeded, so a failure reproduces): strings
with every escape, control characters, DEL, U+2028/9, non-BMP characters and lone
surrogates; keys ordered differently in UTF-16 and in code points; integers at and past
±(2^53-1); floats; booleans, null, nested objects and arrays, tuples.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest
import rfc8785

from dermledger.ledger.canonical import canonical_json, canonical_str, is_plain
from dermledger.ledger.envelope import Envelope, seal
from dermledger.ledger.signing import Signer

CHARS = (
    [chr(c) for c in range(0x20)]
    + list('"\\/ abcXYZ019-_.:{}[],')
    + ["\x7f", "\x80", "\xe9", "\u00ff", "\u2028", "\u2029", "\ufeff", "\ufffd", "\uffff"]
    + ["\ue000", "\uf8ff", "\u4e2d", "\U0001f600", "\U00010000", "\U0010ffff"]
)
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
INTS = [0, 1, -1, 2**31, -(2**31), 2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 2**64, -(10**30)]
FLOATS = [0.0, -0.0, 1.0, 1.5, -2.5e-7, 1e21, 1e-7, 123456789.125, 5e-324, float("inf")]


def text(rng: random.Random, *, surrogates: bool) -> str:
    pool = CHARS + (SURROGATES if surrogates else [])
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))


def value(rng: random.Random, depth: int = 0, *, odd: bool) -> Any:
    """A random JSON-ish value; `odd` also draws floats, tuples, lone surrogates."""
    kinds = ["str", "int", "bool", "none", "list", "dict"] + (["float", "tuple"] if odd else [])
    kind = rng.choice(kinds if depth < 4 else kinds[:4])
    if kind == "str":
        return text(rng, surrogates=odd and rng.random() < 0.1)
    if kind == "int":
        return rng.choice(INTS) if rng.random() < 0.5 else rng.randint(-(10**6), 10**6)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "float":
        return rng.choice(FLOATS)
    items = [value(rng, depth + 1, odd=odd) for _ in range(rng.randint(0, 5))]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    names = ["a", "b", "B", "_", "aa"]
    keys = [text(rng, surrogates=False) if rng.random() < 0.3 else rng.choice(names) for _ in items]
    return dict(zip(keys, items, strict=True))


def reference(v: Any) -> bytes | type[BaseException]:
    try:
        return rfc8785.dumps(v)
    except Exception as exc:
        return type(exc)


def ours(v: Any) -> bytes | type[BaseException]:
    try:
        return canonical_json(v)
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("odd", [False, True])
def test_byte_equal_to_rfc8785_over_generated_values(odd: bool) -> None:
    rng = random.Random(8785 + odd)
    plain = 0
    for _ in range(20_000):
        v = value(rng, odd=odd)
        plain += is_plain(v)
        assert ours(v) == reference(v), repr(v)
    assert plain > 5_000  # the fast path really was exercised


def test_fast_path_is_taken_only_where_it_is_proven() -> None:
    assert is_plain({"a": [1, "x\n", None, True, {"b": 2**53 - 1}]})
    for v in [1.0, 2**53, -(2**53), {"é": 1}, {"\U0001f600": 1}, (1,), {1: 2}, b"x"]:
        assert not is_plain(v), v


def test_keys_ordered_by_utf16_not_code_points() -> None:
    v = {"\U0001f600": 1, "\uff61": 2, "a": 3}  # U+1F600 is D83D DE00 in UTF-16: before FF61
    assert canonical_json(v) == rfc8785.dumps(v)
    assert canonical_json(v).index("\U0001f600".encode()) < canonical_json(v).index(b"\xef\xbd\xa1")


def test_strings_and_large_integers() -> None:
    rng = random.Random(7)
    for _ in range(5_000):
        s = text(rng, surrogates=rng.random() < 0.2)
        expected = reference(s)
        try:
            got: bytes | type[BaseException] = canonical_str(s)
        except Exception as exc:
            got = type(exc)
        assert got == expected, repr(s)
    for n in (2**53, -(2**53), 10**20):
        with pytest.raises(rfc8785.IntegerDomainError):
            canonical_json({"n": n})


def test_sealed_envelope_bytes_are_rfc8785() -> None:
    """The hash covers rfc8785 bytes of the fields and the store keeps rfc8785 bytes of the
    whole envelope, whichever path made them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = Signer("ada\u00e9\U0001f600", Ed25519PrivateKey.generate())
    rng = random.Random(3)
    for n in range(300):
        payload = value(rng, odd=n % 2 == 1)
        if not isinstance(payload, dict):
            payload = {"v": payload}
        try:
            rfc8785.dumps(payload)
        except Exception:
            continue
        env = seal(
            event_id=f"id-{n}", stream_id=text(rng, surrogates=False), stream_version=n + 1,
            event_type="ActorEnrolled", recorded_at="2026-11-23T17:42:16.123456Z",
            signer=signer, payload=payload, prev_hash=None if n % 3 else "ab" * 32,
        )  # fmt: skip
        fields = env.model_dump(exclude={"hash", "signature"})
        assert env.computed_hash().hex() == env.hash
        assert hashlib.sha256(rfc8785.dumps(fields)).hexdigest() == env.hash
        assert env.storage_bytes() == rfc8785.dumps(env.model_dump())
        if is_plain(payload):  # floats and tuples do not survive a JSON round trip as such
            assert Envelope.model_validate_json(env.storage_bytes()) == env
