"""The study as it stood at any position of the log: a deterministic replay.

Folding the log from seq 1 up to a position gives exactly the state every command saw
then, because the service decides with the same folds. Point-in-time queries (`--as-of
SEQ|TIME`), the audit trail and the compliance report are all read from this view, so
the same position gives the same bytes of output wherever and whenever it is run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.store import LogEntry
from dermledger.study.state import (
    ImageState,
    PatientState,
    apply_image_event,
    apply_patient_event,
)


@dataclass
class ActorView:
    roles: list[str]
    key_id: str | None = None
    revoked_at_seq: int | None = None


@dataclass
class StudyView:
    """Everything the log says, up to and including `seq`."""

    seq: int = 0
    recorded_at: str | None = None
    ledger_id: str = ""
    images: dict[str, ImageState] = field(default_factory=dict)
    patients: dict[str, PatientState] = field(default_factory=dict)
    captured_without_consent: set[str] = field(default_factory=set)
    actors: dict[str, ActorView] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    revoked_key_events: list[tuple[int, str, str]] = field(default_factory=list)

    def apply(self, seq: int, env: Envelope) -> None:
        self.seq, self.recorded_at = seq, env.recorded_at
        p = env.payload
        actor = self.actors.get(env.actor)
        if actor is not None and actor.revoked_at_seq is not None:
            self.revoked_key_events.append((seq, env.actor, env.type))
        if env.type == "ActorEnrolled":
            from dermledger.ledger.signing import key_id_of

            if seq == 1:
                self.ledger_id = p.get("ledger_id") or ""
            self.actors[p["actor"]] = ActorView(
                list(p["roles"]), key_id_of(bytes.fromhex(p["public_key"]))
            )
        elif env.type == "ActorRevoked" and p["actor"] in self.actors:
            self.actors[p["actor"]].revoked_at_seq = seq
        elif env.stream_id.startswith("patient:"):
            state = apply_patient_event(self.patients.get(p["patient_id"]), env)
            if state is not None:
                self.patients[state.patient_id] = state
        elif env.type == "CheckpointSigned":
            self.checkpoints.append({"seq": seq, **p})
        if env.type == "ImageCaptured":
            patient = self.patients.get(p["patient_id"])
            if patient is None or not patient.consent:
                self.captured_without_consent.add(env.stream_id)
        if env.stream_id in self.images or env.type == "ImageCaptured":
            state = apply_image_event(self.images.get(env.stream_id), env)
            if state is not None:
                self.images[env.stream_id] = state

    def roles_of(self, actor: str) -> list[str]:
        view = self.actors.get(actor)
        return view.roles if view else []


def replay(entries: Iterable[LogEntry], *, upto: int | None = None) -> StudyView:
    """Fold the log up to seq `upto` (the whole log if None)."""
    view = StudyView()
    for seq, env in iter_envelopes(entries, upto):
        view.apply(seq, env)
    return view


def position_at_time(entries: Iterable[LogEntry], moment: str) -> int:
    """The last seq of the longest prefix of the log recorded at or before `moment`
    (an RFC 3339 UTC string, compared in its canonical form)."""
    position = 0
    for entry in entries:
        if entry.envelope().recorded_at > moment:
            break
        position = entry.seq
    return position


def iter_envelopes(entries: Iterable[LogEntry], upto: int | None) -> Iterator[tuple[int, Envelope]]:
    """(seq, envelope) of the log up to seq `upto` (all of it if None): the one loop that
    stops a replay at a position."""
    for entry in entries:
        if upto is not None and entry.seq > upto:
            return
        yield entry.seq, entry.envelope()
