"""A release's witness cosignatures, checked offline against a tlog-policy the reader trusts.

The same rules, in the same order and the same words, as the page's cosign.js: the
manifest's `checkpoint.note` is the checkpoint as a C2SP signed note; each witness of the
policy is "cosigned", "bad" or "absent" by its key name and key ID; the quorum is the
policy's. Beyond the page, a policy's `log` lines are checked too: the note must carry a
valid signature by one of those log keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dermledger.ledger.cosigning import cosigner_key, log_key
from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.notes import (
    MalformedNote,
    Note,
    UntrustedNote,
    cosignature_timestamp,
    open_note,
    parse_note,
)
from dermledger.ledger.tlog import Checkpoint
from dermledger.policies.witness_quorum import NONE, TlogPolicy
from dermledger.projections.release.messages import say

COSIGNATURE_BYTES = 4 + 8 + 64


@dataclass
class WitnessCheck:
    """The page's report: state, failures, one row per trusted witness."""

    state: str
    failures: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _note(manifest: dict[str, Any]) -> Note | None:
    text = (manifest.get("checkpoint") or {}).get("note")
    if not isinstance(text, str):
        return None
    try:
        return parse_note(text.encode("utf-8"))
    except MalformedNote:
        return None


def _matches(note: Note, checkpoint: dict[str, Any]) -> bool:
    try:
        body = Checkpoint.parse(note.text)
    except MalformedNote:
        return False
    return body.size == checkpoint.get("tree_size") and body.root.hex() == checkpoint.get("root")


def check_release_witnesses(manifest: dict[str, Any], policy: TlogPolicy) -> WitnessCheck:
    """Check the manifest's cosigned note against `policy`; failures use MESSAGES."""
    note = _note(manifest)
    cosignatures = [s for s in note.signatures if len(s.key_id + s.signature) == COSIGNATURE_BYTES
                    ] if note else []  # fmt: skip
    if note is None or not cosignatures:
        required = policy.quorum != NONE
        return WitnessCheck("not witnessed", [say("unwitnessed")] if required else [])
    if not _matches(note, manifest.get("checkpoint") or {}):
        return WitnessCheck("failed", [say("note_mismatch")])
    failures: list[str] = []
    if policy.logs:
        try:
            open_note(note, [log_key(v) for v, _ in policy.logs])
        except (UntrustedNote, MalformedNote):
            failures.append(say("log_signature"))
    rows, cosigned = [], set()
    body = note.text.encode("utf-8")
    for name, witness in policy.witnesses.items():
        try:
            key = cosigner_key(witness.vkey)
        except MalformedNote as exc:
            raise InvalidInput(f"the policy's witness {name}: {exc}") from None
        mine = [s for s in cosignatures if (s.name, s.key_id) == (key.name, key.key_id)]
        status, time = "absent", None
        if mine:
            good = all(key.verify(body, s.signature) for s in mine)
            status = "cosigned" if good else "bad"
            time = cosignature_timestamp(mine[-1].signature) if good else None
        rows.append({"name": name, "key_name": key.name, "status": status, "time": time})
        if status == "bad":
            failures.append(say("cosignature", witness=key.name))
        elif status == "cosigned":
            cosigned.add(name)
    if not policy.met(cosigned):
        failures.append(say("quorum", verified=len(cosigned)))
    return WitnessCheck("failed" if failures else "witnessed", failures, rows)
