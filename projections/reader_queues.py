"""Each reader's queue, kept in their own order and updated by the images that change.

A queue is the images a specialist may vote on now, sorted by `blinding.order_key`
of their recorded seed. Built once per reader (every image asked once of the vote
rule), it then follows `LiveImages`: only images touched since the reader last looked
are asked again, so a page costs what changed, not the size of the study.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from dermledger.policies import blinding, confirmation
from dermledger.projections.live_images import ImageFacts, LiveImages

READERS_KEPT = 512


@dataclass
class _Queue:
    seed: str
    generation: int
    order: list[tuple[str, str]] = field(default_factory=list)  # (order key, image id)
    waiting: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)


class ReaderQueues:
    """Readers' queues over the live image facts."""

    def __init__(self, live: LiveImages) -> None:
        self.live = live
        self._queues: dict[str, _Queue] = {}
        self._lock = threading.Lock()

    def queue(self, actor: str, seed: str, limit: int | None = None) -> tuple[list[str], int, int]:
        """(the first `limit` images waiting for `actor`'s vote in their order, how many
        wait, how many they read)."""
        with self._lock:
            generation, facts = self.live.snapshot()
            queue = self._queues.get(actor)
            touched = None if queue is None else self.live.touched_since(queue.generation)
            if queue is None or queue.seed != seed or touched is None:
                queue = _Queue(seed, generation)
                for image_id, item in facts.items():
                    _place(queue, actor, image_id, item, insert=queue.order.append)
                queue.order.sort()
                self._keep(actor, queue)
            else:
                for image_id in touched:
                    _place(queue, actor, image_id, facts.get(image_id))
            queue.generation = generation
            head = queue.order if limit is None else queue.order[:limit]
            return [image_id for _, image_id in head], len(queue.order), len(queue.read)

    def _keep(self, actor: str, queue: _Queue) -> None:
        self._queues.pop(actor, None)
        self._queues[actor] = queue
        while len(self._queues) > READERS_KEPT:
            del self._queues[next(iter(self._queues))]


def _place(
    queue: _Queue,
    actor: str,
    image_id: str,
    item: ImageFacts | None,
    *,
    insert: Callable[[tuple[str, str]], None] | None = None,
) -> None:
    """Put one image where the vote rule says it belongs for this reader now (`insert`:
    how to add it to the order; in sorted place by default)."""
    key = (blinding.order_key(queue.seed, image_id), image_id)
    if image_id in queue.waiting:
        queue.waiting.discard(image_id)
        del queue.order[bisect.bisect_left(queue.order, key)]
    queue.read.discard(image_id)
    if item is None or item.excluded:
        return
    if actor in item.voters:
        queue.read.add(image_id)
    elif (
        item.open_to_new_reader
        and confirmation.check_vote(item.facts, actor, supersede=False).allowed
    ):
        queue.waiting.add(image_id)
        if insert is None:
            bisect.insort(queue.order, key)
        else:
            insert(key)
