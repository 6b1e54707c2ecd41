"""C2SP `tlog-checkpoint` note bodies and the `tlog-witness` add-checkpoint request body.

A checkpoint's note text is the origin line, the tree size in decimal, the base64 root of
the RFC 6962 tree, then optional non-empty extension lines. The add-checkpoint request
is `old <size>`, up to 63 base64 consistency-proof hashes, a blank line and the signed
checkpoint. Both are parsed strictly so the witness and the ledger read the same bytes
the same way, and so a malformed request is told apart from a refused one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dermledger.ledger.notes import (
    MalformedNote,
    NoteSigner,
    NoteVerifier,
    OpenedNote,
    b64decode_strict,
    b64encode,
    open_note,
    sign_note,
)

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_TREE_SIZE",
    "TLOG_SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "Checkpoint",
    "format_size_body",
    "open_checkpoint",
    "parse_decimal",
    "parse_size_body",
    "sign_checkpoint",
]

HASH_SIZE = 32
MAX_PROOF_LINES = 63
MAX_TREE_SIZE = 2**63 - 1
"""Sizes are stored as SQLite/PostgreSQL signed 64-bit integers."""
TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def parse_decimal(text: str, what: str) -> int:
    """ASCII decimal without leading zeroes (`0` alone for zero), within int64."""
    if not _DECIMAL.fullmatch(text) or len(text) > 19 or int(text) > MAX_TREE_SIZE:
        raise MalformedNote(f"the {what} must be a decimal number without leading zeroes")
    return int(text)


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size, RFC 6962 root, opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedNote("a checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedNote("a checkpoint size must be between 0 and 2^63-1")
        if len(self.root) != HASH_SIZE:
            raise MalformedNote(f"a checkpoint root must be {HASH_SIZE} bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise MalformedNote("checkpoint extension lines must be single non-empty lines")

    def text(self) -> str:
        """The note text, ending in a newline."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint note text (signatures already split off)."""
        if not text.endswith("\n"):
            raise MalformedNote("a checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise MalformedNote("a checkpoint needs at least three non-empty lines")
        origin, size, root, *extensions = lines
        return cls(
            origin=origin,
            size=parse_decimal(size, "checkpoint size"),
            root=_hash(root, "checkpoint root"),
            extensions=tuple(extensions),
        )


def _hash(line: str, what: str) -> bytes:
    raw = b64decode_strict(line, what)
    if len(raw) != HASH_SIZE:
        raise MalformedNote(f"the {what} must be a {HASH_SIZE}-byte hash")
    return raw


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> bytes:
    """The signed checkpoint note, signed by each of `signers` (usually the log key)."""
    return sign_note(checkpoint.text(), signers)


def open_checkpoint(
    note: bytes, verifiers: Iterable[NoteVerifier]
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a checkpoint note against trusted keys and read its body."""
    opened = open_note(note, verifiers)
    return Checkpoint.parse(opened.text), opened


@dataclass(frozen=True)
class AddCheckpointRequest:
    """The body of `POST <prefix>/add-checkpoint` (c2sp.org/tlog-witness)."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes

    def to_bytes(self) -> bytes:
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedNote(f"a consistency proof may have at most {MAX_PROOF_LINES} lines")
        head = [f"old {self.old_size}", *(b64encode(h) for h in self.proof), ""]
        return "".join(line + "\n" for line in head).encode("ascii") + self.note

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpointRequest:
        """Split the request; the checkpoint note is left as bytes for `open_checkpoint`."""
        head_end = body.find(b"\n\n")
        if head_end < 0:
            raise MalformedNote("the request needs an old size line and a blank line")
        try:
            head = body[:head_end].decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise MalformedNote("the request's size and proof lines must be ASCII") from None
        first, proof_lines = head[0], head[1:]
        if not first.startswith("old "):
            raise MalformedNote("the request must start with 'old <size>'")
        old_size = parse_decimal(first[4:], "old size")
        if len(proof_lines) > MAX_PROOF_LINES:
            raise MalformedNote(f"a consistency proof may have at most {MAX_PROOF_LINES} lines")
        proof = tuple(_hash(line, "consistency proof line") for line in proof_lines)
        return cls(old_size=old_size, proof=proof, note=body[head_end + 2 :])


def format_size_body(size: int) -> bytes:
    """A `text/x.tlog.size` body: the size in decimal and a newline."""
    return b"%d\n" % size


def parse_size_body(body: bytes) -> int:
    """Read a `text/x.tlog.size` body as sent with a 409."""
    if not body.endswith(b"\n"):
        raise MalformedNote("a tlog size body must end with a newline")
    try:
        text = body[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedNote("a tlog size body must be ASCII") from None
    return parse_decimal(text, "reported size")
