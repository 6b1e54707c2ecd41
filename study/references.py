"""Public reference collections (issue 16): import a list of image identifiers with their
perceptual hashes, and flag every capture that near-duplicates one of them.

Adding a collection scans every capture already in the ledger in the same append; `scan`
flags captures made since (idempotent: a flag already recorded is not repeated). Flags are
events on the image's own stream, so a release's provenance.jsonl carries them and its
evidence pack counts them per partition.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import read_topic
from dermledger.policies import references as policy
from dermledger.projections.study_view import StudyView, replay
from dermledger.study.kernel import Kernel, Proposal


def reference_stream(name: str) -> str:
    return f"reference:{name}"


def _flags(view: StudyView, collections: dict[str, list[dict[str, str]]]) -> list[Proposal]:
    """One ReferenceOverlapFound per (capture, reference image) not yet recorded."""
    proposals = []
    for image_id in sorted(view.images):
        image = view.images[image_id]
        if image.captured.get("phash") is None:
            continue  # erased: nothing left to match, by design
        done = {(e.payload["reference"], e.payload["reference_id"]) for e in image.events
                if e.type == "ReferenceOverlapFound"}  # fmt: skip
        for name, entries in sorted(collections.items()):
            for hit in policy.overlaps(image.captured["phash"], image.captured["dhash"], entries):
                if (name, hit.reference_id) in done:
                    continue
                payload = {"image_id": image_id, "reference": name,
                           "reference_id": hit.reference_id, "kind": hit.kind,
                           "distance": hit.distance, "policy": policy.POLICY_NAME,
                           "version": policy.POLICY_VERSION}  # fmt: skip
                proposals.append(Proposal(image_id, "ReferenceOverlapFound", payload))
    return proposals


class ReferenceService:
    """Add, list and scan public reference collections."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def collections(self) -> dict[str, list[dict[str, str]]]:
        return {e.payload["name"]: e.payload["entries"]
                for e in read_topic(self.kernel.recorder, "ReferenceCollectionAdded")}  # fmt: skip

    def add(self, signer: Signer, name: str, data: bytes) -> dict[str, Any]:
        """Record the collection from CSV bytes (id,phash,dhash) and flag the captures
        that near-duplicate it; returns counts."""
        self.kernel.permit(signer, "ReferenceCollectionAdded")
        policy.check_name(name)
        try:
            entries = policy.parse_entries(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        except UnicodeDecodeError:
            raise InvalidInput("the reference list is not UTF-8 CSV") from None
        payload = {"name": name, "file_sha256": hashlib.sha256(data).hexdigest(),
                   "entries": entries}  # fmt: skip

        def decide() -> list[Proposal]:
            if self.kernel.stream(reference_stream(name)):
                raise Conflict(f"a reference collection named {name} is already recorded")
            added = Proposal(reference_stream(name), "ReferenceCollectionAdded", payload)
            return [added, *_flags(replay(self.kernel.opened_log()), {name: entries})]

        envelopes = self.kernel.append(signer, decide)
        return {"name": name, "entries": len(entries), "flagged": len(envelopes) - 1}

    def scan(self, signer: Signer) -> int:
        """Flag captures made since their collections were added; returns new flags."""
        self.kernel.permit(signer, "ReferenceOverlapFound")
        collections = self.collections()
        envelopes = self.kernel.append(signer, lambda: _flags(replay(self.kernel.opened_log()),
                                                               collections))  # fmt: skip
        return len(envelopes)

    def list_collections(self) -> list[dict[str, Any]]:
        """Each collection with its size and how many captures it flags."""
        flagged: dict[str, set[str]] = {}
        for env in read_topic(self.kernel.recorder, "ReferenceOverlapFound"):
            flagged.setdefault(env.payload["reference"], set()).add(env.payload["image_id"])
        return [{"name": e.payload["name"], "entries": len(e.payload["entries"]),
                 "file_sha256": e.payload["file_sha256"], "recorded_at": e.recorded_at,
                 "images_flagged": len(flagged.get(e.payload["name"], ()))}
                for e in read_topic(self.kernel.recorder, "ReferenceCollectionAdded")]  # fmt: skip
