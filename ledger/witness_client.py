"""The ledger's side of c2sp.org/tlog-witness: ask one witness to cosign a checkpoint.

Every call has a bounded timeout and returns a typed result instead of raising, so a
checkpoint run can go on when a witness is down, slow or refuses, and report which:

- `Cosigned`: the signature lines of a 200 (not yet verified: check them against the
  witness keys you trust with `verify_cosignatures`);
- `SizeConflict`: a 409 with `text/x.tlog.size`; prove again from `size`;
- `Refused`: any other answer, with its status and first line;
- `Unreachable`: no answer in time (connection refused, timeout, reset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from dermledger.ledger.notes import (
    MalformedNote,
    NoteVerifier,
    OpenedNote,
    Signature,
    UntrustedNote,
    cosignature_timestamp,
    open_note,
    parse_note,
    parse_signature_line,
)
from dermledger.ledger.tlog import (
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Checkpoint,
    parse_size_body,
)
from dermledger.ledger.witness import origin_segment

__all__ = [
    "DEFAULT_TIMEOUT",
    "AddCheckpointResult",
    "Cosigned",
    "LatestResult",
    "Refused",
    "SizeConflict",
    "Unreachable",
    "WitnessCheckpoint",
    "add_checkpoint",
    "checkpoint_url",
    "latest_checkpoint",
    "verify_cosignatures",
]

DEFAULT_TIMEOUT = 10.0
"""Seconds for connecting, and again for each read: a slow witness costs at most this."""
_MAX_REPLY = 64 * 1024


@dataclass(frozen=True)
class Cosigned:
    signatures: tuple[Signature, ...]


@dataclass(frozen=True)
class SizeConflict:
    size: int


@dataclass(frozen=True)
class Refused:
    status: int
    message: str


@dataclass(frozen=True)
class Unreachable:
    reason: str


AddCheckpointResult = Cosigned | SizeConflict | Refused | Unreachable


def _client(client: httpx.Client | None, timeout: float) -> httpx.Client:
    return client if client is not None else httpx.Client(timeout=timeout)


def _first_line(body: bytes) -> str:
    return body[:300].decode("utf-8", "replace").split("\n", 1)[0].strip()


def add_checkpoint(
    url: str,
    old_size: int,
    proof: Sequence[bytes],
    note: bytes,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    client: httpx.Client | None = None,
) -> AddCheckpointResult:
    """POST `<url>/add-checkpoint`; `url` is the witness's submission prefix.

    Pass a long-lived `client` to reuse keep-alive connections across calls.
    """
    body = AddCheckpointRequest(old_size, tuple(proof), note).to_bytes()
    http = _client(client, timeout)
    try:
        response = http.post(
            url.rstrip("/") + "/add-checkpoint",
            content=body,
            timeout=timeout,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
    except httpx.HTTPError as exc:
        return Unreachable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        if client is None:
            http.close()
    return _interpret(response)


def _interpret(response: httpx.Response) -> AddCheckpointResult:
    content = response.content[:_MAX_REPLY]
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if response.status_code == 409 and media == TLOG_SIZE_CONTENT_TYPE:
        try:
            return SizeConflict(parse_size_body(content))
        except MalformedNote:
            return Refused(409, "the witness sent a malformed size")
    if response.status_code != 200:
        return Refused(response.status_code, _first_line(content) or response.reason_phrase)
    try:
        lines = content.decode("utf-8").split("\n")
        if lines[-1] != "" or len(lines) < 2:
            raise MalformedNote("the reply must end with a newline")
        return Cosigned(tuple(parse_signature_line(line) for line in lines[:-1]))
    except (UnicodeDecodeError, MalformedNote):
        return Refused(200, "the witness answered 200 without signature lines")


def verify_cosignatures(
    note: bytes, signatures: Iterable[Signature], witness_keys: Iterable[NoteVerifier]
) -> OpenedNote:
    """Check a witness's reply against the witness keys you trust (ignoring other lines).

    As the spec suggests: append the lines to the checkpoint and open it with the witness
    keys only. Raises UntrustedNote unless at least one trusted cosignature verifies and
    none fails.
    """
    parsed = parse_note(note)
    combined = parsed.text.encode() + b"\n"
    combined += "".join(s.line() for s in (*parsed.signatures, *signatures)).encode()
    return open_note(combined, witness_keys)


def checkpoint_url(url: str, origin: str) -> str:
    """The DermLedger extension route of a witness: its latest checkpoint of `origin`."""
    return f"{url.rstrip('/')}/checkpoint/{origin_segment(origin)}"


@dataclass(frozen=True)
class WitnessCheckpoint:
    """The latest checkpoint a witness cosigned, verified with the log's and its keys."""

    checkpoint: Checkpoint
    note: bytes
    cosigned_at: int


LatestResult = WitnessCheckpoint | Refused | Unreachable


def latest_checkpoint(
    url: str,
    origin: str,
    log_keys: Iterable[NoteVerifier],
    witness_keys: Iterable[NoteVerifier],
    timeout: float = DEFAULT_TIMEOUT,
) -> LatestResult:
    """GET the witness's latest cosigned checkpoint of `origin` and verify both signatures.

    A reply that does not verify with the log's key and with the witness's key is a
    `Refused(200, ...)`: the witness cannot vouch for it.
    """
    try:
        response = httpx.get(checkpoint_url(url, origin), timeout=timeout)
    except httpx.HTTPError as exc:
        return Unreachable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if response.status_code != 200:
        return Refused(response.status_code, _first_line(response.content))
    note = response.content[:_MAX_REPLY]
    try:
        opened = open_note(note, log_keys)
        cosigned = open_note(note, witness_keys)
        checkpoint = Checkpoint.parse(opened.text)
    except (MalformedNote, UntrustedNote) as exc:
        return Refused(200, f"the witness's checkpoint does not verify: {exc}")
    if checkpoint.origin != origin:
        return Refused(200, f"the witness answered with a checkpoint of {checkpoint.origin}")
    stamps = [cosignature_timestamp(s.signature) for s in cosigned.verified
              if len(s.signature) == 72]  # fmt: skip
    return WitnessCheckpoint(checkpoint, note, max(stamps, default=0))
