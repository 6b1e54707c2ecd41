"""Canonical bytes and hashes: RFC 8785 (JCS) JSON and SHA-256.

Every hash and signature in DermLedger is over JCS bytes, so any verifier with an
RFC 8785 implementation reproduces them exactly, whatever its JSON library.

`rfc8785` is the reference; it is pure Python and was half the CPU of an append. For
the values the ledger signs (strings, safe integers, booleans, null, lists and objects
with ASCII keys) the standard library's C encoder, with sorted keys and no ASCII
escaping, writes the same bytes: the same escapes (`\\"`, `\\\\`, `\\b \\f \\n \\r \\t`,
other controls as lowercase `\\u00xx`, everything else as UTF-8), and for ASCII keys
code-point order is UTF-16 order. Anything else (floats, non-ASCII keys, integers
beyond ±(2^53-1), other types, lone surrogates) goes to `rfc8785`, which decides, or
raises. tests/unit/test_canonical.py checks byte equality over many generated values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1
_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False,
    check_circular=False,
).encode  # fmt: skip
_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


def is_plain(value: Any) -> bool:
    """True if the C encoder writes exactly the JCS bytes of `value`."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_SAFE_INT <= value <= _SAFE_INT
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not is_plain(item):
                return False
        return True
    if kind is list:
        return all(is_plain(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """JCS (RFC 8785) serialisation of a JSON-compatible value."""
    if type(value) is int and -_SAFE_INT <= value <= _SAFE_INT:
        return b"%d" % value
    if is_plain(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, rfc8785 says what happens
            pass
    kind = type(value)
    if kind is dict and all(type(key) is str and key.isascii() for key in value):
        # JCS of an object is its members' JCS in key order: only the parts that need
        # it (a float, say, in an otherwise plain payload) go to the pure-Python rfc8785.
        members = [canonical_str(key) + b":" + canonical_json(value[key]) for key in sorted(value)]
        return b"{" + b",".join(members) + b"}"
    if kind is list:
        return b"[" + b",".join([canonical_json(item) for item in value]) + b"]"
    return rfc8785.dumps(value)


class _NotPlain(Exception):
    """A float, a non-finite constant or an unsafe integer: not for the C encoder."""


def _safe_int(text: str) -> int:
    value = int(text)
    if -_SAFE_INT <= value <= _SAFE_INT:
        return value
    raise _NotPlain


def _refuse(text: str) -> Any:
    raise _NotPlain


_decode_plain = json.JSONDecoder(
    parse_float=_refuse, parse_int=_safe_int, parse_constant=_refuse
).decode  # fmt: skip


def loads_plain(data: bytes) -> Any | None:
    """The JSON value of `data` if the C encoder writes its JCS bytes, else None.

    A verifier parses every stored envelope and hashes its JCS: this proves plainness
    while parsing, instead of walking the value again with `is_plain`. ASCII bytes with
    no `\\u` escape give ASCII strings only (so no key-order or surrogate question);
    the hooks refuse floats, NaN and Infinity, and integers beyond ±(2^53-1), and are
    called only for numbers. None means "decide the slow way", not "invalid".
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        return None  # a tampered row may hold text: the slow path names what is wrong
    data = bytes(data)
    if not data.isascii() or b"\\u" in data:
        return None
    try:
        return _decode_plain(data.decode("ascii"))
    except (_NotPlain, ValueError, RecursionError):
        return None


def encode_plain(value: Any) -> bytes:
    """JCS bytes of a value `loads_plain` returned (or a part of one): the C encoder's."""
    return _encode(value).encode("utf-8")  # type: ignore[no-any-return]


def canonical_str(text: str) -> bytes:
    """JCS of one string (a shortcut for the envelope's many string fields)."""
    if type(text) is str:
        try:
            return _encode_str(text).encode("utf-8")  # type: ignore[no-any-return]
        except UnicodeEncodeError:
            pass
    return rfc8785.dumps(text)


def sha256(data: bytes) -> bytes:
    """Raw 32-byte SHA-256 digest."""
    return hashlib.sha256(data).digest()


def jcs_sha256(value: Any) -> bytes:
    """SHA-256 of the JCS bytes of `value`: the digest that gets signed."""
    return hashlib.sha256(canonical_json(value)).digest()
