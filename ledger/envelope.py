"""The signed event envelope (DESIGN section 5, a contract).

Event hash = SHA-256 of the JCS canonical JSON of the envelope without `seq`, `hash`
and `signature`; signature = Ed25519 over those 32 raw bytes. `prev_hash` chains
each stream. `seq` is a position in the global log, assigned by reading it, so it is
not part of what is signed: the Merkle checkpoints commit to positions instead.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from dermledger.ledger.canonical import (
    canonical_json,
    canonical_str,
    encode_plain,
    jcs_sha256,
    loads_plain,
)
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.signing import DigestSigner, verify_digest

EXPORT_ORDER = (
    "seq",
    "event_id",
    "stream_id",
    "stream_version",
    "type",
    "recorded_at",
    "actor",
    "key_id",
    "payload",
    "prev_hash",
    "hash",
    "signature",
)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the one timestamp form in the log."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class Envelope(BaseModel):
    """One signed, immutable event as stored and exported.

    It is also the domain event object handed to `eventsourcing`: the stream id and
    version are its originator id and version.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

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

    def __eq__(self, other: object) -> bool:
        """Equal fields make equal envelopes, sealed here or read from the store."""
        return isinstance(other, Envelope) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # the payload is a dict

    @property
    def originator_id(self) -> str:
        return self.stream_id

    @property
    def originator_version(self) -> int:
        return self.stream_version

    def hashed_fields(self) -> dict[str, Any]:
        """The part of the envelope the hash covers."""
        return self.model_dump(exclude={"hash", "signature"})

    def computed_hash(self) -> bytes:
        return jcs_sha256(self.hashed_fields())

    def storage_bytes(self) -> bytes:
        """What the event store keeps: JCS of the whole envelope (seq excluded)."""
        return canonical_json(self.model_dump())

    def exported(self, seq: int) -> dict[str, Any]:
        """The export line of DESIGN section 5, keys in the documented order."""
        data = self.model_dump()
        data["seq"] = seq
        return {key: data[key] for key in EXPORT_ORDER}

    def check_hash(self) -> None:
        """Raise VerificationError if the stored hash is not the hash of the fields."""
        if self.computed_hash().hex() != self.hash:
            raise VerificationError("its hash does not match its contents")

    def check_signature(self, public_raw: bytes) -> None:
        """Raise BadSignature if the signature is not by `public_raw` over the hash."""
        verify_digest(
            public_raw=public_raw, digest=bytes.fromhex(self.hash), signature_b64=self.signature
        )


class SealedEnvelope(Envelope):
    """An envelope just sealed, with its stored bytes made once by `seal`.

    A subclass, so that envelopes decoded from the store (the verifier reads every one)
    do not pay for a pydantic private attribute they never use.
    """

    _stored: bytes = PrivateAttr(default=b"")

    def storage_bytes(self) -> bytes:
        return self._stored or super().storage_bytes()


class PlainEnvelope(Envelope):
    """An envelope decoded by `decode_plain`: the C encoder writes the JCS of its fields,
    proven while parsing, so its hash is checked without `canonical_json`'s walk."""

    def computed_hash(self) -> bytes:
        fields = self.__dict__
        return hashlib.sha256(encode_plain({name: fields[name] for name in _HASHED_NAMES})).digest()


def decode_plain(state: bytes) -> Envelope | None:
    """The envelope of stored bytes without pydantic, or None to let pydantic decide.

    The verifier and the read model decode every event; pydantic's validation is half
    that cost. Here a JSON object whose members are exactly the fields, each of exactly
    its declared type (what pydantic would accept unchanged), becomes an Envelope
    directly; anything else (other types, missing or extra members, floats, non-ASCII
    bytes: see `loads_plain`) returns None, and pydantic decides as before.
    """
    value = loads_plain(state)
    if type(value) is not dict or value.keys() != _FIELDS_SET:
        return None
    for name in _STR_NAMES:
        if type(value[name]) is not str:
            return None
    prev = value["prev_hash"]
    if type(value["stream_version"]) is not int or type(value["payload"]) is not dict:
        return None
    if prev is not None and type(prev) is not str:
        return None
    return assemble({name: value[name] for name in _FIELD_ORDER}, plain=True)


def assemble(fields: dict[str, Any], *, plain: bool) -> Envelope:
    """An envelope of fields already proven to be of exactly their declared types, in
    declaration order (as pydantic keeps `__dict__`), without validating them again;
    `plain` if the C encoder is proven to write their JCS (a `PlainEnvelope`)."""
    kind = PlainEnvelope if plain else Envelope
    envelope = kind.__new__(kind)
    object.__setattr__(envelope, "__dict__", fields)
    object.__setattr__(envelope, "__pydantic_fields_set__", set(_FIELDS_SET))
    object.__setattr__(envelope, "__pydantic_extra__", None)
    object.__setattr__(envelope, "__pydantic_private__", None)
    return envelope


def with_payload(envelope: Envelope, payload: dict[str, Any]) -> Envelope:
    """A copy of `envelope` with another payload (an opened one), built without pydantic:
    the other fields were validated when it was decoded, and the payload is a dict. A
    plain `Envelope` (its hash is no longer the stored one, and it holds no stored bytes),
    like `model_copy` but a fraction of its cost, paid once per sealed event a replay opens."""
    fields = dict(envelope.__dict__)
    fields["payload"] = payload
    return assemble(fields, plain=False)


def seal(
    *,
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    recorded_at: str,
    signer: DigestSigner,
    payload: dict[str, Any],
    prev_hash: str | None,
) -> Envelope:
    """Hash and sign a new event with the signer's key.

    The hashed bytes and the stored bytes are JCS of two objects that differ by two
    string members (`hash`, `signature`), so both are joined from one set of
    canonical members: each value is canonicalised once. All keys are ASCII, so
    sorting them as Python strings is the JCS (UTF-16) order.
    """
    members = {
        "actor": canonical_str(signer.actor),
        "event_id": canonical_str(event_id),
        "key_id": canonical_str(signer.key_id),
        "payload": canonical_json(payload),
        "prev_hash": b"null" if prev_hash is None else canonical_str(prev_hash),
        "recorded_at": canonical_str(recorded_at),
        "stream_id": canonical_str(stream_id),
        "stream_version": canonical_json(stream_version),
        "type": canonical_str(event_type),
    }
    digest = hashlib.sha256(_join(members, _HASHED)).digest()
    signature = signer.sign_digest(digest)
    digest_hex = digest.hex()
    members["hash"] = b'"%s"' % digest_hex.encode()
    members["signature"] = b'"%s"' % signature.encode()
    return _construct(
        {
            "event_id": event_id,
            "stream_id": stream_id,
            "stream_version": stream_version,
            "type": event_type,
            "recorded_at": recorded_at,
            "actor": signer.actor,
            "key_id": signer.key_id,
            "payload": payload,
            "prev_hash": prev_hash,
            "hash": digest_hex,
            "signature": signature,
        },
        _join(members, _STORED),
    )


_STORED = tuple((name, b'"%s":' % name.encode()) for name in sorted(Envelope.model_fields))
_HASHED = tuple(member for member in _STORED if member[0] not in ("hash", "signature"))
_FIELDS_SET = frozenset(Envelope.model_fields)
_FIELD_ORDER = tuple(Envelope.model_fields)  # declaration order, as pydantic keeps __dict__
_HASHED_NAMES = tuple(name for name in _FIELD_ORDER if name not in ("hash", "signature"))
_STR_NAMES = tuple(
    name for name, info in Envelope.model_fields.items() if info.annotation is str
)  # fmt: skip


def _join(members: dict[str, bytes], order: tuple[tuple[str, bytes], ...]) -> bytes:
    """A JCS object from canonical members; `order` is their keys sorted, all ASCII."""
    return b"{" + b",".join([prefix + members[name] for name, prefix in order]) + b"}"


def _construct(fields: dict[str, Any], stored: bytes) -> SealedEnvelope:
    """An Envelope of fields made here, without validation: what `model_construct` does
    (its four slots), without its per-field default handling, a tenth of an append."""
    envelope = SealedEnvelope.__new__(SealedEnvelope)
    object.__setattr__(envelope, "__dict__", fields)
    object.__setattr__(envelope, "__pydantic_fields_set__", set(_FIELDS_SET))
    object.__setattr__(envelope, "__pydantic_extra__", None)
    object.__setattr__(envelope, "__pydantic_private__", {"_stored": stored})
    return envelope
