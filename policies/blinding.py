"""Blinded consensus reading (DESIGN section 10): what a reader may see of an image.

Three specialists' votes are a consensus only if each reader judged the image alone.
So before a specialist's own vote is recorded, nothing shown to them names the
annotator's label or structures, another reader's vote, the consensus or histology;
after it, they see their own vote and the annotation, and the rest once the panel
is complete. Coordinators and auditors oversee the study and see everything; a
pathologist sees what they need to report. The policy's name and version are
recorded with every vote, so an auditor can tell what its reader was shown.

The order of a reader's queue comes from a seed recorded in the ledger: the same
seed and images give the same order, so it can be reproduced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

POLICY_NAME = "reader-blinding"
POLICY_VERSION = "1"

OVERSIGHT = frozenset({"coordinator", "auditor", "pathologist"})


@dataclass(frozen=True)
class ReaderFacts:
    """Who is looking at one image, and where their own reading stands."""

    roles: frozenset[str]
    has_voted: bool
    panel_complete: bool


@dataclass(frozen=True)
class Visibility:
    """What of an image's judgements a reader may be shown (the rest is withheld)."""

    level: str  # blinded, own-vote, full
    annotation: bool
    own_vote: bool
    other_votes: bool
    consensus: bool
    histology: bool
    policy: str = POLICY_NAME
    version: str = POLICY_VERSION

    @property
    def blinded(self) -> bool:
        return self.level == "blinded"

    def as_record(self) -> dict[str, str]:
        """What is recorded with a vote: which rule decided what its reader saw."""
        return {"policy": self.policy, "version": self.version, "level": self.level}


FULL = Visibility("full", True, True, True, True, True)
BLINDED = Visibility("blinded", False, False, False, False, False)
OWN_VOTE = Visibility("own-vote", True, True, False, False, False)


def is_reader_only(roles: Iterable[str]) -> bool:
    """A specialist without an oversight role: the rule applies to them."""
    held = frozenset(roles)
    return "specialist" in held and not held & OVERSIGHT


def visibility(facts: ReaderFacts) -> Visibility:
    """What this reader may see of this image now."""
    if not is_reader_only(facts.roles):
        return FULL
    if not facts.has_voted:
        return BLINDED
    return FULL if facts.panel_complete else OWN_VOTE


def order_key(seed: str, image_id: str) -> str:
    """An image's place in a reader's order: SHA-256 of the seed and the image id."""
    return hashlib.sha256(f"{seed}\n{image_id}".encode()).hexdigest()


def queue_order(seed: str, image_ids: Iterable[str]) -> list[str]:
    """The reader's order: images sorted by `order_key` (stable as images are added,
    reproducible from the recorded seed)."""
    return sorted(image_ids, key=lambda i: order_key(seed, i))
