"""One batch of the read model folded in memory: the images it touches, the duplicate
edges, and what its audit rows need from earlier batches; and the states a rebuild holds
in memory between its batches.

The image fold is `study.state.apply_image_event`; this module only decides which state
each event continues (one the batch began, one an earlier batch left, or none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.projections.readmodel_rows import pack_state, unpack_state
from dermledger.study.state import ImageState, apply_image_event

# image -> (seq of the newest event its state includes, that state)
Stored = dict[str, tuple[int, ImageState]]

# A rebuild holds at most this many images' packed states (about 0.9 KB each in a study
# log) before it writes them to rm_dataset and continues those from the table.
HELD_MAX = 120_000


@dataclass
class Batch:
    """One batch's events folded: touched images as of the batch's end, the duplicate
    edges, and what the audit rows need from earlier batches."""

    entries: list[tuple[int, Envelope]]
    states: dict[str, ImageState] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (image, duplicate_of)
    suspects: set[str] = field(default_factory=set)  # images whose suspicions changed
    enrolments: dict[str, dict[str, Any]] = field(default_factory=dict)  # actor -> row
    votes: set[str] = field(default_factory=set)  # event ids of the batch's votes so far
    need_roles: list[int] = field(default_factory=list)  # rows whose role is earlier
    need_votes: list[int] = field(default_factory=list)  # rows superseding an earlier vote
    captured: int = 0  # states begun by an ImageCaptured in the batch

    def continued(self) -> list[str]:
        """Streams whose first event in the batch is not a capture: the ones that may
        continue an image state an earlier batch left."""
        first: dict[str, str] = {}  # stream -> type of its first event in the batch
        for _, env in self.entries:
            first.setdefault(env.stream_id, env.type)
        return [sid for sid, kind in first.items() if kind != "ImageCaptured"]


# One handler per event type for the read model's own bookkeeping (the image fold and
# the audit rows themselves come from study.state and audit_trail). Each gets the
# batch, the event's index in it, its seq and the envelope, in log order.
Handler = Callable[[Batch, int, int, Envelope], None]


def _on_actor_enrolled(batch: Batch, i: int, seq: int, env: Envelope) -> None:
    actor = env.payload["actor"]
    batch.enrolments[actor] = {
        "actor": actor,
        "roles": ", ".join(env.payload["roles"]),
        "enrolled_seq": seq,
    }


def _on_vote_cast(batch: Batch, i: int, seq: int, env: Envelope) -> None:
    supersedes = env.payload.get("supersedes")
    if supersedes and supersedes not in batch.votes:
        batch.need_votes.append(i)
    batch.votes.add(env.event_id)


def _on_duplicate_suspected(batch: Batch, i: int, seq: int, env: Envelope) -> None:
    if env.stream_id in batch.states:  # an edge of an image's stream, as the fold saw it
        batch.edges.append((env.stream_id, str(env.payload["duplicate_of"])))
        batch.suspects.add(env.stream_id)


def _on_duplicate_resolved(batch: Batch, i: int, seq: int, env: Envelope) -> None:
    if env.stream_id in batch.states:
        batch.suspects.add(env.stream_id)


HANDLERS: dict[str, Handler] = {
    "ActorEnrolled": _on_actor_enrolled,
    "ConsensusVoteCast": _on_vote_cast,
    "DuplicateSuspected": _on_duplicate_suspected,
    "DuplicateResolved": _on_duplicate_resolved,
}


def fold(batch: Batch, stored: Stored) -> None:
    """One pass over the batch in log order: fold the images it touches (StudyView's
    rule: an event belongs to an image if it captures one or its stream is a known
    image), then the event type's handler, then note rows whose role is earlier.
    `stored` holds the states earlier batches left for the streams it continues."""
    # image -> seq its stored state already includes: events up to it are in the
    # state (a replay after a lost tracking update) and are not folded twice
    applied = {sid: upto for sid, (upto, _) in stored.items()}
    states, last_seq, enrolments = batch.states, batch.last_seq, batch.enrolments
    for i, (seq, env) in enumerate(batch.entries):
        sid = env.stream_id
        state = states.get(sid)
        if state is None:
            if env.type == "ImageCaptured":
                batch.captured += 1
                applied.pop(sid, None)  # a fresh fold from the capture on
            elif sid in stored:
                state = stored[sid][1]
        if state is not None and seq <= applied.get(sid, 0):
            states[sid], last_seq[sid] = state, applied[sid]
        else:
            state = apply_image_event(state, env)
            if state is not None:  # None: not an image's stream, nothing to fold
                states[sid], last_seq[sid] = state, seq
        handler = HANDLERS.get(env.type)
        if handler:
            handler(batch, i, seq, env)
        # trail_rows shows the signer's roles at their newest enrolment so far; one
        # in an earlier batch is in rm_actors (an enrolment's own row counts itself).
        if not env.payload.get("signer_role") and env.actor not in enrolments:
            batch.need_roles.append(i)


@dataclass
class Held:
    """The image states a rebuild keeps in memory between its batches, packed exactly as
    `rm_dataset.fold_state` stores them, so continuing one costs an unpack instead of a
    query, and each image's row is written once instead of once per batch touching it.

    Each entry also keeps whether the live state's capture was erased: the row of the
    batch that last touched the image reads it, the packed state does not keep it.
    `spilled` says whether any state went to the table (then misses are looked up there).
    """

    states: dict[str, tuple[int, str, bool]] = field(default_factory=dict)
    spilled: bool = False

    def take(self, image_ids: list[str]) -> tuple[Stored, list[str]]:
        """The held states of `image_ids` (removed: the batch returns them), and the ids
        not held."""
        found: Stored = {}
        missing: list[str] = []
        held = self.states
        for sid in image_ids:
            entry = held.pop(sid, None)
            if entry is None:
                missing.append(sid)
            else:
                found[sid] = (entry[0], unpack_state(sid, entry[1]))
        return found, missing

    def keep(self, batch: Batch) -> None:
        """Hold the batch's states as they are at its end."""
        held = self.states
        for sid, state in batch.states.items():
            held[sid] = (batch.last_seq[sid], pack_state(state), bool(state.captured.get("erased")))

    def full(self) -> bool:
        return len(self.states) > HELD_MAX

    def drain(self) -> Iterator[tuple[str, ImageState, int, str]]:
        """Every held state as (image id, the state its row reads, last seq, packed),
        emptying the hold one at a time (memory stays that of the packed states)."""
        held = self.states
        while held:
            sid, (seq, packed, erased) = held.popitem()
            state = unpack_state(sid, packed)
            if erased:
                state.captured["erased"] = True
            yield sid, state, seq, packed
