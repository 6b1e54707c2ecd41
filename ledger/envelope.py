"""The signed event envelope (DESIGN section 5, a contract).

Event hash = SHA-256 of the JCS canonical JSON of the envelope without `seq`, `hash`
and `signature`; signature = Ed25519 over those 32 raw bytes. `prev_hash` chains
each stream. `seq` is a position in the global log, assigned by reading it, so it is
not part of what is signed: the Merkle checkpoints commit to positions instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dermledger.ledger.canonical import canonical_json, jcs_sha256
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.signing import Signer, verify_digest

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
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def seal(
    *,
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    recorded_at: str,
    signer: Signer,
    payload: dict[str, Any],
    prev_hash: str | None,
) -> Envelope:
    """Hash and sign a new event with the signer's key."""
    fields: dict[str, Any] = {
        "event_id": event_id,
        "stream_id": stream_id,
        "stream_version": stream_version,
        "type": event_type,
        "recorded_at": recorded_at,
        "actor": signer.actor,
        "key_id": signer.key_id,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    digest = jcs_sha256(fields)
    return Envelope(**fields, hash=digest.hex(), signature=signer.sign_digest(digest))
