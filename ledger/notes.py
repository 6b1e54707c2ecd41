"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 and cosignature/v1 keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
`— <key name> base64(4-byte key ID || signature)`. Checkpoints and witness cosignatures
are notes, so this is the wire format other transparency tools read: keep it exact.

Two signature types are implemented, chosen by the type byte in a verifier key:

- 0x01, Ed25519 over the note text (signed-note "Ed25519 signatures");
- 0x04, timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature):
  the signature is `u64 timestamp || ed25519(cosignature/v1 message)`.

Key encodings follow the Go reference (golang.org/x/mod/sumdb/note): a verifier key is
`<name>+<hex key ID>+base64(type || public key)`, a signer key is
`PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)`.

Parsing is strict where the spec leaves room, so one note has one reading: base64 must be
canonical, a trusted key may sign a note once, and a trusted signature that fails rejects
the whole note (the spec allows clients to do so).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from dermledger.ledger.errors import InvalidInput, VerificationError

__all__ = [
    "EM_DASH",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "CosignatureVerifier",
    "Cosigner",
    "Ed25519Signer",
    "Ed25519Verifier",
    "MalformedNote",
    "Note",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "Signature",
    "UntrustedNote",
    "cosignature_message",
    "cosignature_timestamp",
    "format_note",
    "key_id",
    "open_note",
    "parse_note",
    "parse_vkey",
    "sign_note",
]

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_NOTE_BYTES = 1 << 20
"""Largest note accepted: the spec asks verifiers for a limit; checkpoints are ~200 bytes."""
MAX_SIGNATURES = 100
"""Most signature lines accepted (the spec requires at least 16)."""
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_HEADER = b"cosignature/v1\n"

_HEX8 = re.compile(r"[0-9a-f]{8}")


class MalformedNote(InvalidInput):
    """A note, key or signature line that does not follow the signed-note syntax."""


class UntrustedNote(VerificationError):
    """No trusted signature verifies, or a trusted signature fails."""


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard padded base64 with one encoding per value (no stray bits or whitespace)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNote(f"the {what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedNote(f"the {what} is not canonical base64")
    return raw


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_key_name(name: str) -> str:
    """Key names are non-empty, without Unicode spaces, '+' or control characters."""
    if not name or "+" in name or any(c.isspace() or ord(c) < 0x20 for c in name):
        raise MalformedNote(f"{name[:80]!r} is not a valid key name")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


# ----------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID and the algorithm's signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as it appears in a note, with its final newline."""
        return f"{EM_DASH} {self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text (ending in a newline) and its signatures, unverified."""

    text: str
    signatures: tuple[Signature, ...]

    def to_bytes(self) -> bytes:
        return format_note(self.text, self.signatures)


def _check_characters(text: str) -> None:
    bad = next((c for c in text if ord(c) < 0x20 and c != "\n"), None)
    if bad is not None:
        raise MalformedNote(f"a note may not contain the control character {ord(bad):#04x}")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNote("the note text must end with a newline")
    _check_characters(text)


def parse_signature_line(line: str) -> Signature:
    """Parse one `— <name> <base64>` line (without its newline)."""
    prefix = EM_DASH + " "
    if not line.startswith(prefix):
        raise MalformedNote("a signature line must start with an em dash and a space")
    name, sep, encoded = line[len(prefix) :].partition(" ")
    if not sep or not encoded or " " in encoded:
        raise MalformedNote("a signature line must be '— <key name> <base64 signature>'")
    raw = b64decode_strict(encoded, f"signature by {check_key_name(name)}")
    if len(raw) < 5:
        raise MalformedNote(f"the signature by {name} is shorter than a key ID and a signature")
    return Signature(name=name, key_id=raw[:4], signature=raw[4:])


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines; check the syntax only."""
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedNote(f"the note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNote("the note is not valid UTF-8") from None
    _check_characters(whole)
    split = whole.rfind("\n\n")
    if split < 0:
        raise MalformedNote("the note has no blank line before its signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("the note must end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"the note has more than {MAX_SIGNATURES} signatures")
    return Note(text=text, signatures=tuple(parse_signature_line(line) for line in lines))


def format_note(text: str, signatures: Iterable[Signature]) -> bytes:
    """The note's bytes: text, blank line, signature lines."""
    _check_text(text)
    lines = [s.line() for s in signatures]
    if not lines:
        raise MalformedNote("a signed note needs at least one signature")
    return (text + "\n" + "".join(lines)).encode("utf-8")


# ------------------------------------------------------------------------------ keys


class NoteVerifier(Protocol):
    """A trusted key: it names itself by (name, key ID) and checks one signature."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def verify(self, text: bytes, signature: bytes) -> bool: ...


class NoteSigner(Protocol):
    """A private key that can add its signature line to a note."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def sign(self, text: bytes) -> bytes: ...


def _load_public(raw: bytes, name: str) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise MalformedNote(f"the Ed25519 key {name} is not 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise MalformedNote(f"the Ed25519 key {name} is not a valid public key") from None


def _ed25519_ok(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Ed25519Verifier:
    """A signed-note Ed25519 key (type 0x01): a log's checkpoint key."""

    name: str
    public_key: bytes
    sig_type = SIG_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _load_public(self.public_key, self.name)

    @cached_property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    @cached_property
    def _public(self) -> Ed25519PublicKey:
        return _load_public(self.public_key, self.name)

    @property
    def vkey(self) -> str:
        """The verifier key string `<name>+<hex id>+base64(type || key)`."""
        material = b64encode(bytes([self.sig_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        return _ed25519_ok(self._public, signature, text)


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header line, `time T` line, then the note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedNote("a cosignature timestamp must be between 0 and 2^63-1")
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


def cosignature_timestamp(signature: bytes) -> int:
    """The POSIX time inside a cosignature/v1 signature (without its key ID)."""
    if len(signature) != 72:
        raise MalformedNote("a cosignature/v1 signature is 8 timestamp and 64 signature bytes")
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise MalformedNote("a cosignature timestamp must not exceed 2^63-1")
    return timestamp


@dataclass(frozen=True)
class CosignatureVerifier(Ed25519Verifier):
    """A witness's cosignature/v1 key (type 0x04, c2sp.org/tlog-cosignature)."""

    sig_type = SIG_COSIGNATURE_V1

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            timestamp = cosignature_timestamp(signature)
        except MalformedNote:
            return False
        return _ed25519_ok(self._public, signature[8:], cosignature_message(text, timestamp))


def _private_from_seed(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise MalformedNote("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _seed_of(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _public_of(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Ed25519Signer:
    """A log's signing key (type 0x01). Never printed: repr hides the key."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        return cls(name, _private_from_seed(seed))

    @classmethod
    def from_skey(cls, skey: str) -> Ed25519Signer:
        """Read a Go-style `PRIVATE+KEY+<name>+<hex id>+base64(0x01 || seed)`."""
        name, seed = _parse_skey(skey)
        return cls.from_seed(name, seed)

    @cached_property
    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, _public_of(self.private_key))

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def skey(self) -> str:
        """The Go-style private key string (secret: for export only)."""
        material = b64encode(bytes([SIG_ED25519]) + _seed_of(self.private_key))
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{material}"

    def sign(self, text: bytes) -> bytes:
        return self.private_key.sign(text)


@dataclass(frozen=True)
class Cosigner(Ed25519Signer):
    """A witness's cosignature/v1 key; `clock` gives the POSIX time it signs with."""

    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    @cached_property
    def verifier(self) -> CosignatureVerifier:  # type: ignore[override]
        return CosignatureVerifier(self.name, _public_of(self.private_key))

    @property
    def skey(self) -> str:
        """As transparency-dev's cosigners: the plain 0x01 signer key of the same seed."""
        return Ed25519Signer(self.name, self.private_key).skey

    @classmethod
    def from_skey(cls, skey: str) -> Cosigner:
        name, seed = _parse_skey(skey)
        return cls(name, _private_from_seed(seed))

    def sign_at(self, text: bytes, timestamp: int) -> bytes:
        """8-byte big-endian timestamp || Ed25519 over the cosignature/v1 message."""
        signed = self.private_key.sign(cosignature_message(text, timestamp))
        return timestamp.to_bytes(8, "big") + signed

    def sign(self, text: bytes) -> bytes:
        return self.sign_at(text, int(self.clock()))


def _split_key(encoded: str, what: str) -> tuple[str, bytes, bytes]:
    """`<name>+<8 hex>+<base64>` -> name, key ID, decoded key material."""
    name, _, rest = encoded.partition("+")
    hex_id, _, material = rest.partition("+")
    if not _HEX8.fullmatch(hex_id) or not material:
        raise MalformedNote(f"the {what} must be '<name>+<8 hex digits>+<base64 key>'")
    raw = b64decode_strict(material, f"{what} material")
    if not raw:
        raise MalformedNote(f"the {what} has no key material")
    return check_key_name(name), bytes.fromhex(hex_id), raw


def parse_vkey(vkey: str) -> Ed25519Verifier:
    """Read a verifier key of type 0x01 (note signer) or 0x04 (cosigner)."""
    name, claimed, raw = _split_key(vkey.strip(), "verifier key")
    kinds: dict[int, type[Ed25519Verifier]] = {
        SIG_ED25519: Ed25519Verifier,
        SIG_COSIGNATURE_V1: CosignatureVerifier,
    }
    kind = kinds.get(raw[0])
    if kind is None:
        raise MalformedNote(f"the verifier key {name} has unknown signature type {raw[0]:#04x}")
    verifier = kind(name, raw[1:])
    if verifier.key_id != claimed:
        raise MalformedNote(f"the key ID of the verifier key {name} does not match its key")
    return verifier


def _parse_skey(skey: str) -> tuple[str, bytes]:
    head, _, rest = skey.strip().partition("+KEY+")
    if head != "PRIVATE":
        raise MalformedNote("a signer key must start with 'PRIVATE+KEY+'")
    name, claimed, raw = _split_key(rest, "signer key")
    if raw[0] != SIG_ED25519 or len(raw) != 33:
        raise MalformedNote(f"the signer key {name} is not an Ed25519 seed")
    signer = Ed25519Signer.from_seed(name, raw[1:])
    if signer.key_id != claimed:
        raise MalformedNote(f"the key ID of the signer key {name} does not match its key")
    return name, raw[1:]


# ------------------------------------------------------------------ signing, opening


def sign_note(text: str, signers: Sequence[NoteSigner], *, keep: Iterable[Signature] = ()) -> bytes:
    """Sign `text` with each signer; `keep` are existing signature lines put first."""
    _check_text(text)
    body = text.encode("utf-8")
    new = [Signature(s.name, s.key_id, s.sign(body)) for s in signers]
    return format_note(text, [*keep, *new])


@dataclass(frozen=True)
class OpenedNote:
    """A note whose trusted signatures all verified; unknown keys' lines kept apart."""

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def _index(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    index: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in index:
            raise MalformedNote(f"two trusted keys share the name {v.name} and key ID")
        index[(v.name, v.key_id)] = v
    return index


def open_note(data: bytes | Note, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Verify a note against trusted keys, per signed-note's rules.

    Lines whose (name, key ID) match no trusted key are ignored (returned as unverified).
    Raises MalformedNote for bad syntax, UntrustedNote when a trusted key signs twice, a
    trusted signature fails, or no trusted signature is present.
    """
    note = data if isinstance(data, Note) else parse_note(data)
    index = _index(verifiers)
    body = note.text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in note.signatures:
        verifier = index.get((sig.name, sig.key_id))
        if verifier is None:
            unverified.append(sig)
        elif any(v.name == sig.name and v.key_id == sig.key_id for v in verified):
            raise UntrustedNote(f"the trusted key {sig.name} signs the note more than once")
        elif not verifier.verify(body, sig.signature):
            raise UntrustedNote(f"the signature by the trusted key {sig.name} does not verify")
        else:
            verified.append(sig)
    if not verified:
        raise UntrustedNote("no signature on the note is by a trusted key")
    return OpenedNote(note.text, tuple(verified), tuple(unverified))
