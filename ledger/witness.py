"""A C2SP `tlog-witness`: cosign a log's checkpoint only if it extends the last one cosigned.

Domain-agnostic: the witness knows logs by origin and verifier key, nothing of a study.
State is its own SQLite file, one row per log with the latest cosigned size, root and
note. `Witness.add_checkpoint` implements c2sp.org/tlog-witness `add-checkpoint`:

- 400 malformed request, or old size greater than the checkpoint's size;
- 404 unknown origin; 403 no trusted signature verifies (or a trusted one fails);
- 409 + `text/x.tlog.size` when the old size is not the latest cosigned size, or when
  the sizes are equal and the roots differ (a fork);
- 422 when the consistency proof from the stored root does not verify;
- 200 with the cosignature/v1 line otherwise, after the new state is committed.

The old-size check and the update run in one `BEGIN IMMEDIATE` transaction, so two
concurrent requests can never move the stored size backwards (the spec's race). Every
refusal is appended to `refusals.jsonl`: possible evidence that a log misbehaved.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from dermledger.ledger.errors import Conflict, NotFound, ProofError, RootMismatch
from dermledger.ledger.merkle import verify_consistency
from dermledger.ledger.notes import (
    Cosigner,
    Ed25519Verifier,
    MalformedNote,
    Signature,
    UntrustedNote,
    format_note,
    open_note,
    parse_note,
    parse_vkey,
)
from dermledger.ledger.tlog import (
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Checkpoint,
    format_size_body,
)

__all__ = [
    "MAX_REQUEST_BYTES",
    "LogState",
    "RefusalLog",
    "Reply",
    "Witness",
    "WitnessStore",
    "decode_origin_segment",
    "origin_segment",
]

MAX_REQUEST_BYTES = 64 * 1024
"""Largest add-checkpoint body: 63 proof lines and a checkpoint with 16+ signatures fit."""
EMPTY_ROOT = sha256(b"").digest()
_ORIGIN_LOGGED = 200  # characters of an untrusted origin kept in the refusal log

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL DEFAULT 0,
    root BLOB,
    note BLOB,
    cosigned_at INTEGER
);
CREATE TABLE IF NOT EXISTS log_keys (
    origin TEXT NOT NULL REFERENCES logs(origin),
    vkey TEXT NOT NULL,
    PRIMARY KEY (origin, vkey)
);
"""


def origin_segment(origin: str) -> str:
    """An origin as one URL path segment: unpadded URL-safe base64 of its UTF-8.

    Used by the DermLedger extension route `GET <prefix>/checkpoint/<segment>`.
    """
    return base64.urlsafe_b64encode(origin.encode()).rstrip(b"=").decode("ascii")


def decode_origin_segment(segment: str) -> str | None:
    """The origin in a path segment, or None if it is not URL-safe base64 of UTF-8."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class LogState:
    """What the witness holds for one log: latest cosigned size, root and note."""

    origin: str
    vkeys: tuple[str, ...]
    size: int
    root: bytes | None
    note: bytes | None
    cosigned_at: int | None


class WitnessStore:
    """The witness's SQLite file. One connection per thread; WAL; full fsync on commit."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)  # idempotent; commits by itself

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock at BEGIN, before anything is read."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def trust(self, origin: str, vkey: str) -> Ed25519Verifier:
        """Add a log (or another key of a known log); refuse a cosigner (0x04) key."""
        verifier = parse_vkey(vkey)
        if verifier.sig_type != 0x01:
            raise MalformedNote("a log's verifier key must be an Ed25519 note key (type 0x01)")
        if not origin or "\n" in origin:
            raise MalformedNote("a log origin must be one non-empty line")
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO logs (origin) VALUES (?)", (origin,))
            added = db.execute(
                "INSERT OR IGNORE INTO log_keys (origin, vkey) VALUES (?, ?)",
                (origin, verifier.vkey),
            ).rowcount
        if not added:
            raise Conflict(f"the witness already trusts this key for {origin}")
        return verifier

    def verifiers(self, origin: str) -> list[Ed25519Verifier] | None:
        """The keys trusted for `origin`, or None if the witness does not know it."""
        rows = (
            self._connection()
            .execute("SELECT vkey FROM log_keys WHERE origin = ?", (origin,))
            .fetchall()
        )
        return [parse_vkey(vkey) for (vkey,) in rows] or None

    def logs(self) -> list[LogState]:
        db = self._connection()
        rows = db.execute(
            "SELECT origin, size, root, note, cosigned_at FROM logs ORDER BY origin"
        ).fetchall()
        return [self._state(db, *row) for row in rows]

    def latest(self, origin: str) -> LogState:
        db = self._connection()
        row = db.execute(
            "SELECT origin, size, root, note, cosigned_at FROM logs WHERE origin = ?", (origin,)
        ).fetchone()
        if row is None:
            raise NotFound(f"the witness does not know the log {origin[:_ORIGIN_LOGGED]}")
        return self._state(db, *row)

    @staticmethod
    def _state(
        db: sqlite3.Connection,
        origin: str,
        size: int,
        root: bytes | None,
        note: bytes | None,
        cosigned_at: int | None,
    ) -> LogState:
        keys = db.execute(
            "SELECT vkey FROM log_keys WHERE origin = ? ORDER BY vkey", (origin,)
        ).fetchall()
        vkeys = tuple(k for (k,) in keys)
        return LogState(origin, vkeys, size, root, note, cosigned_at)


class RefusalLog:
    """`refusals.jsonl`: one JSON line per refused request, appended, never rewritten.

    Holds the refusal's time, origin, status, reason and sizes; never the body or the
    client's address. Each record is one `write` to a file opened with O_APPEND, so
    concurrent writers do not interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, refusal: Reply) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "origin": refusal.origin[:_ORIGIN_LOGGED] if refusal.origin else None,
            "status": refusal.status,
            "reason": refusal.reason,
            "old_size": refusal.old_size,
            "size": refusal.size,
            "stored_size": refusal.stored_size,
        }
        line = (json.dumps(entry, ensure_ascii=True, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


@dataclass(frozen=True)
class Reply:
    """The HTTP answer to an add-checkpoint request, with what the refusal log keeps."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    reason: str = ""
    origin: str | None = None
    old_size: int | None = None
    size: int | None = None
    stored_size: int | None = None


@dataclass(frozen=True)
class _Submission:
    request: AddCheckpointRequest
    checkpoint: Checkpoint
    log_signatures: tuple[Signature, ...] = ()


class _Refused(Exception):
    """A refusal on its way to the log; `latest` set for a 409 (sent as text/x.tlog.size)."""

    def __init__(
        self, status: int, reason: str, *, latest: int | None = None, **sizes: int
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.latest = latest
        self.sizes = sizes


class Witness:
    """The add-checkpoint logic over a store, a cosigner key and a refusal log."""

    def __init__(self, store: WitnessStore, cosigner: Cosigner, refusals: RefusalLog) -> None:
        self.store = store
        self.cosigner = cosigner
        self.refusals = refusals

    def add_checkpoint(self, body: bytes) -> Reply:
        """Check, cosign and record a checkpoint; refusals are logged and returned."""
        origin: str | None = None
        try:
            if len(body) > MAX_REQUEST_BYTES:
                raise _Refused(413, f"the request is larger than {MAX_REQUEST_BYTES} bytes")
            submission = _parse_request(body)
            origin = submission.checkpoint.origin
            return self._commit(_verify_log_signatures(self.store, submission))
        except _Refused as refused:
            return self._refuse(refused, origin)
        except sqlite3.OperationalError as exc:  # e.g. locked past busy_timeout, disk full
            return self._refuse(_Refused(503, f"the witness state is unavailable: {exc}"), origin)

    def _refuse(self, refused: _Refused, origin: str | None) -> Reply:
        if refused.latest is not None:
            body, content_type = format_size_body(refused.latest), TLOG_SIZE_CONTENT_TYPE
        else:
            body, content_type = (refused.reason + "\n").encode(), Reply.content_type
        reply = Reply(
            status=refused.status,
            body=body,
            content_type=content_type,
            reason=refused.reason,
            origin=origin,
            old_size=refused.sizes.get("old_size"),
            size=refused.sizes.get("size"),
            stored_size=refused.sizes.get("stored_size"),
        )
        self.refusals.record(reply)
        return reply

    def _commit(self, sub: _Submission) -> Reply:
        """Check the sizes and proof against the stored state and store it, in one step."""
        cp, old = sub.checkpoint, sub.request.old_size
        sizes = {"old_size": old, "size": cp.size}
        if old > cp.size:
            raise _Refused(400, "the old size is greater than the checkpoint size", **sizes)
        if old == 0 and sub.request.proof:
            raise _Refused(400, "a consistency proof from size 0 must be empty", **sizes)
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT size, root FROM logs WHERE origin = ?", (cp.origin,)
            ).fetchone()
            stored_size, stored_root = (row[0], row[1]) if row else (0, None)
            sizes["stored_size"] = stored_size
            if old != stored_size:
                reason = "the old size is not the latest cosigned size"
                raise _Refused(409, reason, latest=stored_size, **sizes)
            _check_extends(sub, stored_root, sizes)
            text = cp.text()
            timestamp = int(self.cosigner.clock())
            signature = self.cosigner.sign_at(text.encode(), timestamp)
            line = Signature(self.cosigner.name, self.cosigner.key_id, signature)
            note = format_note(text, [*sub.log_signatures, line])
            db.execute(
                "UPDATE logs SET size = ?, root = ?, note = ?, cosigned_at = ? WHERE origin = ?",
                (cp.size, cp.root, note, timestamp, cp.origin),
            )
        return Reply(status=200, body=line.line().encode(), origin=cp.origin, size=cp.size)

    def latest_note(self, origin: str) -> bytes:
        """The latest cosigned checkpoint of `origin` with the log's and our signatures."""
        state = self.store.latest(origin)
        if state.note is None:
            raise NotFound(f"the witness has not cosigned a checkpoint of {origin[:80]}")
        return bytes(state.note)


def _check_extends(sub: _Submission, stored_root: bytes | None, sizes: dict[str, int]) -> None:
    """Same size: same root (else 409, a fork). Larger: a consistency proof (else 422)."""
    cp, old, proof = sub.checkpoint, sub.request.old_size, sub.request.proof
    if old == cp.size:
        if stored_root is not None and cp.root != stored_root:
            reason = "the checkpoint has the latest cosigned size but another root"
            raise _Refused(409, reason, latest=old, **sizes)
        if stored_root is None and cp.root != EMPTY_ROOT:
            raise _Refused(422, "a tree of size 0 must have the empty root", **sizes)
        if proof:
            raise _Refused(422, "equal sizes need an empty consistency proof", **sizes)
        return
    if old == 0:
        return  # nothing cosigned before, or the empty tree: nothing to be consistent with
    try:
        verify_consistency(
            old_size=old, new_size=cp.size, old_root=stored_root or b"", new_root=cp.root,
            proof=proof,
        )  # fmt: skip
    except (ProofError, RootMismatch) as exc:
        raise _Refused(422, f"the consistency proof does not verify: {exc}", **sizes) from exc


def _parse_request(body: bytes) -> _Submission:
    """The request's syntax, and the checkpoint read from the still untrusted note (400)."""
    try:
        request = AddCheckpointRequest.parse(body)
        checkpoint = Checkpoint.parse(parse_note(request.note).text)
    except MalformedNote as exc:
        raise _Refused(400, str(exc)) from exc
    return _Submission(request, checkpoint)


def _verify_log_signatures(store: WitnessStore, sub: _Submission) -> _Submission:
    """Keep the log's verified signature lines: 404 unknown origin, 403 untrusted note."""
    cp = sub.checkpoint
    sizes = {"old_size": sub.request.old_size, "size": cp.size}
    verifiers = store.verifiers(cp.origin)
    if verifiers is None:
        raise _Refused(404, "the witness does not know this log origin", **sizes)
    try:
        opened = open_note(sub.request.note, verifiers)
    except UntrustedNote as exc:
        raise _Refused(403, str(exc), **sizes) from exc
    return _Submission(sub.request, cp, opened.verified)
