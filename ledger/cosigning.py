"""Witness cosignatures as the log records them, and what they prove about the log.

The ledger records its witnesses, its log key and every cosignature as events; this
module folds those events (`WitnessLedger`), checks every checkpoint note against the
log key and every recorded cosignature against the key of the witness it names, and
tells a witness's view of the log apart from the log itself (`view_problem`: cut back
or forked). It knows event types and payload fields, nothing of what the log is about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.merkle import MerkleTree, verify_consistency
from dermledger.ledger.notes import (
    CosignatureVerifier,
    Ed25519Verifier,
    MalformedNote,
    Signature,
    UntrustedNote,
    cosignature_timestamp,
    open_note,
    parse_note,
    parse_signature_line,
    parse_vkey,
)
from dermledger.ledger.tlog import Checkpoint

LOG_KEY_ENROLLED = "LogKeyEnrolled"
WITNESS_ADDED = "WitnessAdded"
WITNESS_REMOVED = "WitnessRemoved"
WITNESS_QUORUM_SET = "WitnessQuorumSet"
CHECKPOINT_SIGNED = "CheckpointSigned"
CHECKPOINT_COSIGNED = "CheckpointCosigned"


def cosigner_key(vkey: str) -> CosignatureVerifier:
    """A witness's vkey, which must be a cosignature/v1 key (type 0x04)."""
    verifier = parse_vkey(vkey)
    if not isinstance(verifier, CosignatureVerifier):
        raise MalformedNote(f"{verifier.name} is not a witness (cosignature/v1) key")
    return verifier


def log_key(vkey: str) -> Ed25519Verifier:
    """A log's vkey, which must be a plain Ed25519 note key (type 0x01)."""
    verifier = parse_vkey(vkey)
    if isinstance(verifier, CosignatureVerifier):
        raise MalformedNote(f"{verifier.name} is a witness key, not a log key")
    return verifier


@dataclass(frozen=True)
class WitnessEntry:
    """A witness as the ledger enrolled it."""

    name: str
    url: str
    vkey: str

    @property
    def verifier(self) -> CosignatureVerifier:
        return cosigner_key(self.vkey)


def cosignature_problem(text: str, line: str, verifier: CosignatureVerifier) -> str | None:
    """Why `line` is not `verifier`'s valid cosignature of the note `text` (None: it is)."""
    try:
        sig = parse_signature_line(line.rstrip("\n"))
    except MalformedNote as exc:
        return f"its cosignature line is malformed ({exc})"
    if (sig.name, sig.key_id) != (verifier.name, verifier.key_id):
        return f"it is signed by {sig.name}+{sig.key_id.hex()}, not the witness's key"
    if not verifier.verify(text.encode("utf-8"), sig.signature):
        return "its cosignature does not verify over the checkpoint"
    return None


def cosigned_at(line: str) -> int | None:
    """The POSIX time in a cosignature line, if it has one."""
    try:
        return cosignature_timestamp(parse_signature_line(line.rstrip("\n")).signature)
    except MalformedNote:
        return None


def with_cosignatures(note: bytes, lines: Iterable[str]) -> bytes:
    """The checkpoint note with witness cosignature lines after the log's signature."""
    parsed = parse_note(note)
    extra = [parse_signature_line(line.rstrip("\n")) for line in lines]
    sigs: list[Signature] = [*parsed.signatures, *(s for s in extra if s not in parsed.signatures)]
    return (parsed.text + "\n" + "".join(s.line() for s in sigs)).encode("utf-8")


@dataclass
class CheckpointRecord:
    """One checkpoint note of the log and the cosignatures recorded for it."""

    seq: int
    size: int
    root: str
    note: bytes
    cosignatures: dict[str, str] = field(default_factory=dict)  # witness name -> line
    gaps: dict[str, str] = field(default_factory=dict)  # witness name -> why missing
    quorum: int | None = None  # the ledger's k when it was cosigned
    witnesses: tuple[str, ...] = ()  # the ledger's witnesses when it was cosigned

    @property
    def text(self) -> str:
        return parse_note(self.note).text

    def cosigned_note(self) -> bytes:
        return with_cosignatures(self.note, self.cosignatures.values())


_HANDLERS = {
    LOG_KEY_ENROLLED: "_log_key", WITNESS_ADDED: "_added", WITNESS_REMOVED: "_removed",
    WITNESS_QUORUM_SET: "_quorum", CHECKPOINT_SIGNED: "_signed", CHECKPOINT_COSIGNED: "_cosigned",
}  # fmt: skip


@dataclass
class WitnessLedger:
    """The log key, witnesses, quorum and cosigned checkpoints, folded from events.

    `observe` raises VerificationError for a note the log key did not sign or a recorded
    cosignature that does not verify with the key of the witness it names.
    """

    origin: str | None = None
    log_vkey: str | None = None
    witnesses: dict[str, WitnessEntry] = field(default_factory=dict)
    quorum: int | None = None
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    last_cosigned: dict[str, int] = field(default_factory=dict)
    _by_head: dict[tuple[int, str], CheckpointRecord] = field(default_factory=dict)

    @classmethod
    def fold(cls, envelopes: Iterable[tuple[int, Envelope]]) -> WitnessLedger:
        state = cls()
        for seq, env in envelopes:
            state.observe(env, seq)
        return state

    def observe(self, env: Envelope, seq: int) -> None:
        # Called for every event of a verification pass: most types are none of these.
        name = _HANDLERS.get(env.type)
        if name is not None:
            try:
                getattr(self, name)(env.payload, seq)
            except MalformedNote as exc:
                raise VerificationError(str(exc)) from None

    def latest(self) -> CheckpointRecord | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def at_size(self, size: int) -> CheckpointRecord | None:
        """The newest checkpoint note of exactly `size` events."""
        return next((c for c in reversed(self.checkpoints) if c.size == size), None)

    def _log_key(self, p: dict, seq: int) -> None:
        key = log_key(p["vkey"])
        if key.name != p["origin"]:
            raise VerificationError("the log key's name is not the log's origin")
        if self.origin is not None and p["origin"] != self.origin:
            raise VerificationError(f"the log's origin changed from {self.origin}")
        self.origin, self.log_vkey = p["origin"], p["vkey"]

    def _added(self, p: dict, seq: int) -> None:
        cosigner_key(p["vkey"])
        self.witnesses[p["name"]] = WitnessEntry(p["name"], p["url"], p["vkey"])

    def _removed(self, p: dict, seq: int) -> None:
        self.witnesses.pop(p["name"], None)

    def _quorum(self, p: dict, seq: int) -> None:
        self.quorum = int(p["k"])

    def _signed(self, p: dict, seq: int) -> None:
        note = p.get("note")
        if self.log_vkey is None:
            if note:
                raise VerificationError("the checkpoint note precedes any enrolled log key")
            return
        if not note:
            raise VerificationError("the checkpoint carries no note signed by the log key")
        try:
            opened = open_note(note.encode("utf-8"), [log_key(self.log_vkey)])
            body = Checkpoint.parse(opened.text)
        except (MalformedNote, UntrustedNote) as exc:
            raise VerificationError(f"its note is not signed by the log key: {exc}") from None
        if (body.origin, body.size, body.root.hex()) != (self.origin, p["tree_size"], p["root"]):
            raise VerificationError("its note names another origin, size or root than it does")
        record = CheckpointRecord(seq, body.size, p["root"], note.encode("utf-8"))
        self.checkpoints.append(record)
        self._by_head[(record.size, record.root)] = record

    def _cosigned(self, p: dict, seq: int) -> None:
        record = self._by_head.get((p["tree_size"], p["root"]))
        if record is None or p["origin"] != self.origin:
            raise VerificationError("the cosignatures are for a checkpoint the log never signed")
        for item in p.get("cosignatures", []):
            name, line = item["witness"], item["line"]
            entry = self.witnesses.get(name)
            if entry is None:
                raise VerificationError(f"a cosignature names {name}, who is not a witness")
            problem = cosignature_problem(record.text, line, entry.verifier)
            if problem:
                raise VerificationError(
                    f"the cosignature of {name} on the checkpoint of size {record.size} is "
                    f"rejected: {problem}"
                )
            record.cosignatures[name] = line
            self.last_cosigned[name] = max(self.last_cosigned.get(name, 0), record.size)
        for gap in p.get("missing", []):
            record.gaps[gap["witness"]] = gap["reason"]
        record.quorum = self.quorum
        record.witnesses = tuple(sorted(self.witnesses))


def view_problem(tree: MerkleTree, witnessed: Checkpoint, who: str) -> str | None:
    """Why the log in `tree` does not contain the checkpoint `who` cosigned (None: it
    does, proven by an RFC 6962 consistency proof from its size to the log's)."""
    size = tree.size
    if witnessed.size > size:
        return (
            f"{who} cosigned a checkpoint of {witnessed.size} events but the log holds {size}: "
            "the log was cut back (rolled back) behind a witnessed checkpoint"
        )
    if witnessed.size == 0:
        return None
    try:
        verify_consistency(
            old_size=witnessed.size,
            new_size=size,
            old_root=witnessed.root,
            new_root=tree.root(),
            proof=tree.consistency_proof(witnessed.size) if 0 < witnessed.size < size else [],
        )
    except VerificationError:
        return (
            f"the log's first {witnessed.size} events do not have the root {who} cosigned: "
            "the log was forked (rewritten) behind a witnessed checkpoint"
        )
    return None
