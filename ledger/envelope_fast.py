"""Stored envelope bytes to (Envelope, hash) in a few microseconds, proven JCS.

The verifier and the read model decode every event; with the standard library, parsing
the ~1 kB envelope and writing its JCS to hash it were 20 of the main process's 26 µs an
event, more than a third of a libsodium verification. msgspec's C decoder and encoder
take a tenth of that; the proof that the bytes hashed are exactly RFC 8785's is:

1. The typed decode accepts only a JSON object with exactly the envelope's members,
   each of exactly its declared type, and a payload whose values are strings, booleans,
   null, integers within ±(2^53-1), lists and objects (nested at most `DEPTH` deep): no
   NaN or unsafe integer ever reaches the encoder (those are where JCS's number form
   differs from any C encoder's). Floats are taken only where both write them alike
   (`_floats_agree`: non-integral, 1e-4 ≤ |x| < 1e16), and their digest must equal the
   stored hash, else the slow path judges. Anything else raises and the caller decides
   the slow way (`decode_plain`, pydantic, rfc8785).
2. The hashed members (all but `hash` and `signature`) are encoded with every key
   sorted. The result must be ASCII: then every key and string is ASCII, so code-point
   order is JCS's UTF-16 order, and msgspec's escapes for ASCII (`\\"`, `\\\\`, `\\b \\f
   \\n \\r \\t`, other controls as lowercase `\\u00xx`, nothing else) are JCS's.
   Non-ASCII text (rare in the log) steps aside too.

tests/unit/test_envelope_fast.py checks every ASCII character's escape and generated
values against rfc8785 and pydantic.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec

from dermledger.ledger.envelope import Envelope, assemble

DEPTH = 6  # payload nesting the fast path takes (the study's is 3); deeper steps aside
_SAFE = 2**53 - 1


def _plain_type(depth: int, *, floats: bool = False) -> Any:
    """The JSON values of depth ≤ `depth` that JCS writes as a C encoder does (with
    `floats`, also floats: which of those it does is checked value by value)."""
    scalar: Any = str | bool | None | Annotated[int, msgspec.Meta(ge=-_SAFE, le=_SAFE)]
    if floats:
        scalar = scalar | float
    kind = scalar
    for _ in range(depth):
        kind = scalar | list[kind] | dict[str, kind]  # type: ignore[valid-type]
    return kind


_Plain = _plain_type(DEPTH)
_WithFloats = _plain_type(DEPTH, floats=True)


class _Stored(msgspec.Struct, forbid_unknown_fields=True):
    """The stored envelope, fields in `Envelope`'s order (`asdict` keeps it; the sorted
    encoder sorts them). `hash` and `signature` are cleared (UNSET: not encoded) while
    the hashed members are encoded; missing from the bytes, they stay UNSET."""

    event_id: str
    stream_id: str
    stream_version: int
    type: str
    recorded_at: str
    actor: str
    key_id: str
    payload: dict[str, _Plain]  # type: ignore[valid-type]
    prev_hash: str | None
    hash: str | msgspec.UnsetType = msgspec.UNSET
    signature: str | msgspec.UnsetType = msgspec.UNSET


class _StoredFloats(_Stored, forbid_unknown_fields=True):
    """`_Stored` whose payload may hold floats (a MetadataEdited's lesion size: 2% of a
    study's events, which took the slow path at 30 times the cost)."""

    payload: dict[str, _WithFloats]  # type: ignore[valid-type]


def _floats_agree(value: Any) -> bool:
    """Whether every float in `value` is one msgspec writes exactly as JCS does: finite,
    not integral (JCS writes 2.0 as `2`), 1e-4 ≤ |x| < 1e16. There both write the
    shortest round-trip digits in fixed notation (ECMAScript's Number::toString uses it
    from 1e-7 to 1e21; msgspec from 1e-4 to 1e16, as Python's repr):
    tests/unit/test_envelope_fast.py compares them on generated values."""
    kind = type(value)
    if kind is float:
        return not value.is_integer() and 1e-4 <= abs(value) < 1e16
    if kind is dict:
        return all(map(_floats_agree, value.values()))
    if kind is list:
        return all(map(_floats_agree, value))
    return True


class _Any(msgspec.Struct, forbid_unknown_fields=True):
    """The stored envelope for reading only (nothing hashed): any JSON payload."""

    event_id: str
    stream_id: str
    stream_version: int
    type: str
    recorded_at: str
    actor: str
    key_id: str
    payload: dict[str, Any]
    prev_hash: str | None
    hash: str
    signature: str


_decode = msgspec.json.Decoder(_Stored).decode
_decode_floats = msgspec.json.Decoder(_StoredFloats).decode
_decode_any = msgspec.json.Decoder(_Any).decode
_as_dict = msgspec.structs.asdict
_encode = msgspec.json.Encoder(order="sorted").encode
_UNSET = msgspec.UNSET
_sha256 = hashlib.sha256


StoredEnvelope = _Stored
"""The typed struct `decode_fields` gives: every `Envelope` field as an attribute (no
methods); what the verifier hands the key authority and its observers."""


def decode_fields(state: bytes) -> tuple[StoredEnvelope, bytes] | None:
    """The fields of stored bytes and the SHA-256 of its hashed members' JCS, or None to
    let the slow path decide (which is not a verdict: it may still be valid). No
    pydantic shell: making one was a third of this function's cost."""
    found = _decoded(state)
    return None if found is None else (found[0], found[1])


def _decoded(state: bytes) -> tuple[StoredEnvelope, bytes, bool] | None:
    """`decode_fields`, and whether the payload holds floats."""
    floats = False
    try:
        stored = _decode(state)
    except (msgspec.ValidationError, msgspec.DecodeError):
        try:
            stored = _decode_floats(state)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if not _floats_agree(stored.payload):
            return None
        floats = True
    digest, signature = stored.hash, stored.signature
    if digest is _UNSET or signature is _UNSET:
        return None
    stored.hash = stored.signature = _UNSET
    hashed = _encode(stored)
    if not hashed.isascii():
        return None
    stored.hash, stored.signature = digest, signature
    hashed_digest = _sha256(hashed).digest()
    if floats and hashed_digest.hex() != digest:
        return None  # the slow path names the fault (its float parser is Python's own)
    return stored, hashed_digest, floats


def decode_hashed(state: bytes) -> tuple[Envelope, bytes] | None:
    """`decode_fields` as an `Envelope` (one the C encoder writes as JCS only if it
    holds no float)."""
    found = _decoded(state)
    if found is None:
        return None
    return assemble(_as_dict(found[0]), plain=not found[2]), found[1]


def decode_envelope(state: bytes) -> Envelope | None:
    """The envelope of stored bytes (not checked against its hash), or None to let
    pydantic decide: what pydantic makes of a JSON object with exactly the envelope's
    members, each of exactly its declared type (the read model decodes every event)."""
    try:
        return assemble(_as_dict(_decode_any(state)), plain=False)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
