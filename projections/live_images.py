"""Every image's confirmation facts, kept current by tailing the log.

Work lists (a reader's queue, the annotator's and pathologist's lists, the overview)
must not read every image's stream on every request: at 100,000 images that is
100,000 queries a page. This projection reads only the events committed since it
last looked and refolds only the images they touch. Lists come from here; every
decision still reads its image's stream inside the kernel's transaction.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder

from dermledger.ledger.store import PAGE_SIZE, LogEntry
from dermledger.policies import confirmation
from dermledger.study.state import ImageState, apply_image_event

CHANGES_KEPT = 4096  # catch-ups remembered for the readers' queues to follow


@dataclass(frozen=True)
class ImageFacts:
    """What a work list needs of one image."""

    image_id: str
    excluded: bool
    facts: confirmation.Facts
    open_to_new_reader: bool  # a vote by someone who neither annotated nor voted is allowed
    voters: frozenset[str]


class LiveImages:
    """Image facts up to the newest committed event, refreshed on each read."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self._states: dict[str, ImageState] = {}
        self._facts: dict[str, ImageFacts] = {}
        self._position: int | None = None
        self._lock = threading.Lock()
        self.generation = 0  # grows each time an image changes
        self._changes: deque[tuple[int, frozenset[str]]] = deque(maxlen=CHANGES_KEPT)

    def current(self) -> dict[str, ImageFacts]:
        """Every image's facts now, in capture order."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, dict[str, ImageFacts]]:
        """(generation, every image's facts) now."""
        with self._lock:
            touched = self._catch_up()
            for image_id in touched:
                self._facts[image_id] = _facts_of(self._states[image_id])
            if touched:
                self.generation += 1
                self._changes.append((self.generation, frozenset(touched)))
            return self.generation, self._facts

    def touched_since(self, generation: int) -> set[str] | None:
        """The images changed after `generation` (None: too long ago to say)."""
        with self._lock:
            if generation == self.generation:
                return set()
            if not self._changes or self._changes[0][0] > generation + 1:
                return None
            return {i for g, ids in self._changes if g > generation for i in ids}

    def _catch_up(self) -> set[str]:
        touched: set[str] = set()
        while True:
            page = self.recorder.select_notifications(
                start=self._position, limit=PAGE_SIZE, inclusive_of_start=self._position is None
            )
            for n in page:
                stream = str(n.originator_id)
                if stream in self._states or n.topic == "ImageCaptured":
                    entry = LogEntry(0, n.id, stream, n.originator_version, n.topic, n.state)
                    state = apply_image_event(self._states.get(stream), entry.envelope())
                    if state is not None:
                        # Lists need the confirmation facts only: no history, no capture
                        # record, so 100,000 images stay in tens of megabytes.
                        state.events.clear()
                        state.captured, state.metadata = {}, {}
                        self._states[stream] = state
                        touched.add(stream)
            if page:
                self._position = page[-1].id
            if len(page) < PAGE_SIZE:
                return touched


def _facts_of(image: ImageState) -> ImageFacts:
    facts = image.facts()
    anyone = confirmation.check_vote(facts, "", supersede=False).allowed
    return ImageFacts(
        image.image_id,
        image.excluded,
        facts,
        anyone and not image.excluded,
        frozenset(v.actor for v in facts.active_votes),
    )
