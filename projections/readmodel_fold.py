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

# Image states held between batches: this many live (about 2 KB each in a study log),
# and in a rebuild up to HELD_MAX more packed (about 0.9 KB each); images beyond those
# are written to rm_dataset and continued from the table (a 1M study log has 160k).
LIVE_MAX = 5_000
HELD_MAX = 40_000
# A catch-up holds only live states (its rows are in the table): at most this many.
CATCH_UP_LIVE_MAX = 20_000


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
    erased: frozenset[str] = frozenset()  # patients erased in the log when it was read

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
    """Image states kept in memory between batches, so continuing one costs a dict
    lookup instead of a query and an unpack.

    The newest `live_max` are live states, trimmed to what a state unpacked from
    `rm_dataset.fold_state` holds (no event list, the capture reduced to its patient),
    so a held state folds exactly as a stored one would. Older ones are either packed
    (a rebuild, whose rows are written only at its end: `packed_max` bounds them, and
    `keep` returns the states beyond it for the table) or dropped (a catch-up, whose
    rows are in the table already: `packed_max` None). Each entry also keeps whether the
    live state's capture was erased: the row of the batch that last touched the image
    reads it. `spilled` says whether states went to the table (misses are looked up).
    """

    live_max: int = field(default_factory=lambda: LIVE_MAX)
    packed_max: int | None = field(default_factory=lambda: HELD_MAX)
    live: dict[str, tuple[int, ImageState, bool]] = field(default_factory=dict)
    packed: dict[str, tuple[int, str, bool]] = field(default_factory=dict)
    spilled: bool = False
    erased: frozenset[str] | None = None  # patients erased when the first batch was read

    @classmethod
    def for_catch_up(cls) -> Held:
        return cls(live_max=CATCH_UP_LIVE_MAX, packed_max=None)

    def take(self, image_ids: list[str]) -> tuple[Stored, list[str]]:
        """The held states of `image_ids` (removed: the batch returns them), and the ids
        not held."""
        found: Stored = {}
        missing: list[str] = []
        live, packed = self.live, self.packed
        for sid in image_ids:
            entry = live.pop(sid, None)
            if entry is not None:
                found[sid] = (entry[0], entry[1])
                continue
            stored = packed.pop(sid, None) if packed else None
            if stored is None:
                missing.append(sid)
            else:
                found[sid] = (stored[0], unpack_state(sid, stored[1]))
        return found, missing

    def keep(self, batch: Batch) -> list[tuple[str, ImageState, int, None]]:
        """Hold the batch's states as they are at its end (after its rows are built:
        this trims them). A catch-up does not hold erased patients' states: erasure
        purges their rows, and memory must not bring them back. In a rebuild, states
        beyond the bound are returned untrimmed instead, for their rows to be written
        now (they continue from the table): the images held stay the same ones, so a
        log that sweeps every image phase after phase does not thrash the hold."""
        live, dropped = self.live, batch.erased if self.packed_max is None else ()
        room = None if self.packed_max is None else self.live_max + self.packed_max
        overflow: list[tuple[str, ImageState, int, None]] = []
        for sid, state in batch.states.items():
            if state.patient_id in dropped:
                continue
            if room is not None and len(live) + len(self.packed) >= room:
                overflow.append((sid, state, batch.last_seq[sid], None))
                continue
            erased = bool(state.captured.get("erased"))
            state.events, state.captured = [], {"patient_id": state.patient_id}
            live[sid] = (batch.last_seq[sid], state, erased)
        while len(live) > self.live_max:  # the oldest (dicts keep insertion order)
            sid = next(iter(live))
            seq, state, erased = live.pop(sid)
            if self.packed_max is not None:
                self.packed[sid] = (seq, pack_state(state), erased)
        self.spilled = self.spilled or bool(overflow)
        return overflow

    def clear(self) -> None:
        self.live, self.packed, self.erased = {}, {}, None

    def drain(self) -> Iterator[tuple[str, ImageState, int, str | None]]:
        """Every held state as (image id, the state its row reads, last seq, packed or
        None), emptying the hold one at a time (memory never grows while rows are made)."""
        for held in (self.live, self.packed):
            while held:
                sid, (seq, value, erased) = held.popitem()
                state = value if isinstance(value, ImageState) else unpack_state(sid, value)
                if erased:
                    state.captured["erased"] = True
                yield sid, state, seq, None if isinstance(value, ImageState) else value
