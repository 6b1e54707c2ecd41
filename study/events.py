"""Event payloads: one pydantic model per event type (the facts of DESIGN section 3).

Type names are schema: never rename one; evolve a payload with a new optional field
or a new type. The service validates every payload against its model before it is
signed, so the log holds only well-formed facts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Fields added to an event type later, left out of the stored payload while None, so
    # events that do not use them keep the bytes they had before the field existed.
    omit_when_none: ClassVar[frozenset[str]] = frozenset()


class ActorEnrolled(Payload):
    actor: str
    roles: list[str]
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    ledger_id: str | None = None  # only on the founding enrolment, seq 1


class ActorRevoked(Payload):
    actor: str
    key_id: str
    reason: str


class CheckpointSigned(Payload):
    ledger_id: str
    tree_size: int
    root: str
    timestamp: str
    checkpoint_signature: str
    # Since issue 13: the same tree head as a C2SP signed note by the log key (absent on
    # checkpoints made before the log had a key of its own).
    origin: str | None = None
    note: str | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "ActorEnrolled": ActorEnrolled,
    "ActorRevoked": ActorRevoked,
    "CheckpointSigned": CheckpointSigned,
}


def register(model: type[Payload]) -> type[Payload]:
    """Add a payload model under its class name (used by later event families)."""
    PAYLOADS[model.__name__] = model
    return model


def validated(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as JSON-ready data after validation against its model."""
    try:
        model = PAYLOADS[event_type]
    except KeyError:
        raise ValueError(f"unknown event type {event_type}") from None
    data = model.model_validate(payload).model_dump(mode="json")
    return {k: v for k, v in data.items() if v is not None or k not in model.omit_when_none}


# ----------------------------------------------------------------- patients and capture


@register
class PatientRegistered(Payload):
    patient_id: str
    age: int | None = None
    sex: str | None = None
    fitzpatrick_skin_type: str | None = None
    personal_hx_mm: bool | None = None
    family_hx_mm: bool | None = None
    personal: dict[str, str] | None = None  # AES-256-GCM under the patient's own key
    sealed: dict[str, str] | None = None  # erasure v2: the fields above, sealed (sealing.py)


@register
class ConsentRecorded(Payload):
    patient_id: str
    scope: str = Field(min_length=1, max_length=200)
    # before erasure v2 the form's SHA-256; since, an HMAC of it under the patient's key
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    document_hmac: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


@register
class ConsentWithdrawn(Payload):
    patient_id: str
    reason: str = Field(min_length=1)


@register
class PatientErased(Payload):
    patient_id: str
    reason: str = Field(min_length=1)
    key_destroyed: bool = True


@register
class PersonalDataAccessed(Payload):
    patient_id: str
    reason: str = Field(min_length=1)


@register
class ImageCaptured(Payload):
    image_id: str
    patient_id: str
    lesion_id: str
    # Plain on events before erasure v2; since then inside `sealed` (study/sealing.py).
    blob_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    pixel_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    phash: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    dhash: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    # 192-bit hash of the frame's centre (duplicate-detection v2); absent on older events
    region_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{48}$")
    width: int | None = None
    height: int | None = None
    format: str
    size_bytes: int | None = None
    device: str | None = None
    focus: float | None = None
    sop: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    # erasure v2: HMAC address of the encrypted blob, and the sealed fields above
    blob_ref: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sealed: dict[str, str] | None = None

    @model_validator(mode="after")
    def _plain_or_sealed(self) -> ImageCaptured:
        """Either the plain fields (before erasure v2) or a blob_ref with the sealed ones."""
        plain = self.blob_sha256 is not None and self.metadata is not None
        if plain == (self.sealed is not None and self.blob_ref is not None):
            raise ValueError("an image capture carries either plain or sealed fields")
        return self


@register
class MetadataEdited(Payload):
    image_id: str
    field: str
    old_value: Any = None
    new_value: Any = None
    reason: str = Field(min_length=1)
    patient_id: str | None = None  # erasure v2: whose key seals the values
    sealed: dict[str, str] | None = None  # erasure v2: old_value and new_value, sealed


@register
class DuplicateSuspected(Payload):
    image_id: str
    duplicate_of: str
    kind: str  # exact-bytes, exact-pixels or near
    distance: int
    threshold: int
    policy: str
    version: str


@register
class DuplicateResolved(Payload):
    image_id: str
    duplicate_of: str
    outcome: str  # duplicate or distinct
    reason: str = Field(min_length=1)
    # Since issue 18: True when an exact copy was cleared as distinct under the
    # duplicate-resolution policy's override; absent otherwise.
    override_exact: bool | None = None
    omit_when_none: ClassVar[frozenset[str]] = frozenset({"override_exact"})


@register
class ImageExcluded(Payload):
    image_id: str
    reason: str = Field(min_length=1)


@register
class ImageReinstated(Payload):
    image_id: str
    reason: str = Field(min_length=1)


# ------------------------------------------------------------------------ verification


class SignedAs(Payload):
    """What a signature on a clinical judgement means, recorded with it."""

    signer_role: str
    signature_meaning: str


@register
class AnnotationRecorded(SignedAs):
    image_id: str
    diagnosis: str
    category: str
    structures: dict[str, str] = Field(default_factory=dict)


@register
class ConsensusVoteCast(SignedAs):
    image_id: str
    diagnosis: str
    category: str
    reader_slot: int
    supersedes: str | None = None  # event_id of the voter's earlier vote
    reason: str | None = None
    # What the reader was shown when voting: blinding policy, version, level, channel.
    shown: dict[str, str] | None = None


@register
class ReadingSeedDrawn(Payload):
    """The seed a reader's queue order is drawn from, so the order can be reproduced."""

    actor: str
    seed: str = Field(pattern=r"^[0-9a-f]{32}$")
    policy: str
    version: str


@register
class HistologyRecorded(SignedAs):
    image_id: str
    diagnosis: str
    category: str
    report_ref: str | None = Field(default=None, min_length=1, max_length=128)
    report_date: str | None = None
    patient_id: str | None = None  # erasure v2: whose key seals report_ref and report_date
    sealed: dict[str, str] | None = None  # erasure v2: report_ref and report_date, sealed


@register
class AnnotationCorrected(SignedAs):
    """Since issue 18: the initial annotation's diagnosis corrected; the old one is kept."""

    image_id: str
    diagnosis: str
    category: str
    old_diagnosis: str
    reason: str = Field(min_length=1)


@register
class HistologyCorrected(SignedAs):
    """Since issue 18: a histology result's diagnosis corrected; the old one is kept."""

    image_id: str
    diagnosis: str
    category: str
    old_diagnosis: str
    reason: str = Field(min_length=1)


@register
class FurtherReadOrdered(Payload):
    image_id: str
    kind: str  # histology or further-reader
    reason: str = Field(min_length=1)


# ---------------------------------------------------------------------------- releases


@register
class ReleasePublished(Payload):
    name: str
    as_of_seq: int
    tree_size: int
    root: str
    manifest_sha256: str
    images: int


# ------------------------------------------------------- witnesses (C2SP tlog-witness)


@register
class LogKeyEnrolled(Payload):
    """The key that signs the log's checkpoint notes; a later one rotates it."""

    origin: str = Field(min_length=1, max_length=200)
    vkey: str = Field(min_length=1, max_length=400)
    reason: str = Field(min_length=1)


@register
class WitnessAdded(Payload):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    url: str = Field(min_length=1, max_length=500)
    vkey: str = Field(min_length=1, max_length=400)


@register
class WitnessRemoved(Payload):
    name: str
    reason: str = Field(min_length=1)


@register
class WitnessQuorumSet(Payload):
    k: int = Field(ge=0)
    policy: str
    version: str


class Cosignature(Payload):
    witness: str
    line: str  # "— <key name> base64(key ID || timestamp || signature)"


class WitnessGap(Payload):
    witness: str
    reason: str


@register
class CheckpointCosigned(Payload):
    """The cosignatures the witnesses returned for the checkpoint note of `tree_size`."""

    origin: str
    tree_size: int
    root: str
    cosignatures: list[Cosignature] = Field(default_factory=list)
    missing: list[WitnessGap] = Field(default_factory=list)


# ------------------------------------------------------- partitions and the test set


@register
class PartitionsAssigned(Payload):
    """Patients placed by the recorded scheme (seed, ratios, stratification, policy)."""

    scheme: dict[str, Any]
    assignments: dict[str, str]  # patient_id -> train, validation or test


@register
class PartitionReassigned(Payload):
    patient_id: str
    from_partition: str
    to: str
    reason: str = Field(min_length=1)


@register
class TestSetAccessed(Payload):
    """Someone read the sequestered test partition, and said why."""

    partition: str
    purpose: str = Field(min_length=1, max_length=500)
    what: str  # release, listing, or image (one image's record and label)
    release: str | None = None
    subject: str | None = None  # the image read, for what == "image"


# ------------------------------------------------------------ public reference collections


@register
class ReferenceCollectionAdded(Payload):
    """Identifiers and perceptual hashes of a public collection's images (never pixels)."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    entries: list[dict[str, str]]  # {"id", "phash", "dhash"}


@register
class ReferenceOverlapFound(Payload):
    """A capture near-duplicates a reference image, by the internal duplicate rule."""

    image_id: str
    reference: str
    reference_id: str
    kind: str
    distance: int
    policy: str
    version: str
