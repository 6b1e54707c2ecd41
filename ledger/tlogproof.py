"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): one event's offline proof of logging.

    c2sp.org/tlog-proof@v1
    extra <base64 of the exported event, JSON>
    index <zero-based leaf index>
    <base64 inclusion proof hashes, one a line>

    <the checkpoint note, with the log's signature and the witnesses' cosignatures>

The `extra` line carries the event as `audit export` writes it, so the proof stands alone:
a verifier recomputes the event hash from it (never trusting it as given), the leaf hash
from that, and checks the inclusion proof against the checkpoint the log key signed and
the witnesses cosigned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.merkle import hash_leaf, verify_inclusion
from dermledger.ledger.notes import (
    MalformedNote,
    NoteVerifier,
    UntrustedNote,
    b64decode_strict,
    b64encode,
    open_note,
)
from dermledger.ledger.tlog import Checkpoint, parse_decimal

HEADER = "c2sp.org/tlog-proof@v1"
EXTENSION = ".tlog-proof"


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    note: bytes
    extra: bytes | None = None


def format_proof(proof: TlogProof) -> bytes:
    """The proof's bytes, exactly as the spec lays them out."""
    lines = [HEADER]
    if proof.extra is not None:
        lines.append(f"extra {b64encode(proof.extra)}")
    lines.append(f"index {proof.index}")
    lines += [b64encode(h) for h in proof.proof]
    return ("\n".join(lines) + "\n\n").encode("ascii") + proof.note


def parse_proof(data: bytes) -> TlogProof:
    """Read a tlog-proof; MalformedNote naming what is wrong."""
    head_end = data.find(b"\n\n")
    if head_end < 0:
        raise MalformedNote("a tlog-proof needs a blank line before its checkpoint")
    try:
        lines = data[:head_end].decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise MalformedNote("a tlog-proof's header must be ASCII") from None
    if lines[0] != HEADER:
        raise MalformedNote(f"a tlog-proof must start with {HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = b64decode_strict(rest.pop(0)[6:], "extra data")
    if not rest or not rest[0].startswith("index "):
        raise MalformedNote("a tlog-proof needs an 'index' line")
    index = parse_decimal(rest.pop(0)[6:], "index")
    hashes = tuple(b64decode_strict(line, "proof hash") for line in rest)
    if any(len(h) != 32 for h in hashes):
        raise MalformedNote("every inclusion proof line must be a 32-byte hash")
    return TlogProof(index, hashes, data[head_end + 2 :], extra)


def event_proof(envelope: Envelope, seq: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The tlog-proof of event `seq` with the event itself as its extra data."""
    exported = json.dumps(envelope.exported(seq), sort_keys=True, separators=(",", ":"))
    return format_proof(TlogProof(seq - 1, tuple(proof), note, exported.encode("utf-8")))


def verify_event_proof(
    data: bytes, log_keys: Iterable[NoteVerifier]
) -> tuple[dict[str, Any], Checkpoint]:
    """Check a proof made by `event_proof`: the checkpoint is signed by one of `log_keys`,
    the event in `extra` hashes to the leaf at `index`, and the path leads to the root.
    Returns the event and the checkpoint; the cosignatures are the caller's to judge."""
    try:
        proof = parse_proof(data)
        opened = open_note(proof.note, log_keys)
        checkpoint = Checkpoint.parse(opened.text)
        exported = json.loads((proof.extra or b"").decode("utf-8"))
        envelope = Envelope.model_validate({k: v for k, v in exported.items() if k != "seq"})
    except (MalformedNote, UntrustedNote) as exc:
        raise VerificationError(f"the proof does not verify: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise VerificationError("the proof's extra data is not an exported event") from None
    envelope.check_hash()
    if exported.get("seq") != proof.index + 1:
        raise VerificationError("the proof's index is not the event's position")
    verify_inclusion(
        index=proof.index, size=checkpoint.size, leaf_hash=hash_leaf(bytes.fromhex(envelope.hash)),
        proof=proof.proof, root=checkpoint.root,
    )  # fmt: skip
    return exported, checkpoint
