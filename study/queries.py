"""Read-side queries, now or at any past position (`--as-of SEQ|TIME`), and the audit views.

Current state folds each image's own stream; a past state replays the log up to the
position. Both use the same folds and policies, so a query at the log's newest position
equals the current one, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from dermledger.ledger.errors import InvalidInput, NotFound
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.store import read_topic
from dermledger.policies import compliance
from dermledger.projections.audit_trail import trail_rows
from dermledger.projections.statistics import study_statistics
from dermledger.projections.study_view import (
    StudyView,
    iter_envelopes,
    position_at_time,
    replay,
)
from dermledger.study.kernel import Kernel
from dermledger.study.records import Records
from dermledger.study.sealing import OpenedEntry, erased_patients
from dermledger.study.state import ImageState

SEQ = re.compile(r"^\d+$")


def parse_moment(value: str) -> str:
    """An ISO date or date-time as the log's canonical UTC timestamp string."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--as-of {value!r} is neither a seq number nor an ISO time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if len(value) == 10:  # a bare date means the end of that day
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class QueryService:
    """The dataset, one image, statistics, the audit trail and compliance, now or then."""

    def __init__(self, kernel: Kernel, records: Records) -> None:
        self.kernel = kernel
        self.records = records

    def position(self, as_of: str | None) -> int | None:
        """The seq an --as-of value names (None: now). Refuses positions beyond the log."""
        if as_of is None:
            return None
        if SEQ.match(as_of):
            seq = int(as_of)
            size = sum(1 for _ in self.kernel.log()) if seq > 0 else 0
            if seq < 1 or seq > size:
                raise InvalidInput(f"--as-of {seq} is outside the log (1..{size})")
            return seq
        return position_at_time(self.kernel.log(), parse_moment(as_of))

    def view(self, as_of: str | None) -> StudyView:
        return replay(self._opened_log(), upto=self.position(as_of))

    def _opened_log(self) -> Iterator[OpenedEntry]:
        """The log with sealed values opened in memory (erased ones marked): what views fold."""
        erased = erased_patients(self.kernel.recorder)
        return self.kernel.sealer.opened_log(self.kernel.log(), erased)

    def images_at(self, as_of: str | None) -> list[ImageState]:
        if as_of is None:
            ids = [e.payload["image_id"] for e in read_topic(self.kernel.recorder, "ImageCaptured")]
            erased = erased_patients(self.kernel.recorder)
            return [self.records.get_image(i, erased) for i in ids]
        return list(self.view(as_of).images.values())

    def list_images(self, as_of: str | None = None) -> list[dict[str, Any]]:
        return [image_summary(i) for i in self.images_at(as_of)]

    def statistics(self, as_of: str | None = None) -> dict[str, Any]:
        return study_statistics(self.images_at(as_of))

    def show_image(self, image_id: str, as_of: str | None = None) -> dict[str, Any]:
        """One image's record and provenance: every event with its seq, signer, meaning and
        an inclusion proof in the newest checkpoint that covers it."""
        upto = self.position(as_of)
        tree = MerkleTree()
        seqs: dict[str, int] = {}
        checkpoint: dict[str, Any] | None = None
        view = StudyView()
        for seq, env in iter_envelopes(self._opened_log(), upto):
            view.apply(seq, env)
            if env.stream_id == image_id:
                seqs[env.event_id] = seq
            if env.type == "CheckpointSigned":
                checkpoint = dict(env.payload)
            tree.append(hash_leaf(bytes.fromhex(env.hash)))
        image = view.images.get(image_id)
        if image is None:
            raise NotFound(f"there is no image {image_id}" + (f" at {as_of}" if as_of else ""))
        size = checkpoint["tree_size"] if checkpoint else 0
        history = []
        for e in image.events:
            seq = seqs[e.event_id]
            proof = tree.inclusion_proof(seq - 1, size) if seq <= size else None
            history.append({
                "seq": seq, "stream_version": e.stream_version, "type": e.type,
                "recorded_at": e.recorded_at, "actor": e.actor,
                "role": e.payload.get("signer_role") or ", ".join(view.roles_of(e.actor)),
                "meaning": e.payload.get("signature_meaning"), "hash": e.hash,
                "payload": {k: v for k, v in e.payload.items() if k not in ("sop", "metadata")},
                "inclusion_proof": None if proof is None else [h.hex() for h in proof],
            })  # fmt: skip
        return image_summary(image) | {
            "as_of_seq": view.seq,
            "checkpoint": None
            if checkpoint is None
            else {"tree_size": size, "root": checkpoint["root"]},
            "history": history,
        }

    def audit_trail(
        self,
        *,
        image: str | None = None,
        actor: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        return trail_rows(
            iter_envelopes(self._opened_log(), None),
            image=image,
            actor=actor,
            since=parse_moment(since) if since else None,
            until=parse_moment(until) if until else None,
        )

    def compliance(self, as_of: str | None = None) -> dict[str, Any]:
        """Every rule breach at the position, with the rule's name and what breaches it."""
        view = self.view(as_of)
        facts = compliance.StudyFacts(
            images=[
                compliance.ImageFacts(
                    image_id=i.image_id,
                    patient_id=i.patient_id,
                    excluded=i.excluded,
                    verification=i.verification(),
                    unresolved_suspicions=len(i.unresolved),
                    sop_deviations=[d["rule"] for d in i.captured["sop"]["deviations"]],
                    consent_in_force_at_capture=i.image_id not in view.captured_without_consent,
                )
                for i in view.images.values()
            ],
            edits_without_reason=[
                (0, i.image_id)
                for i in view.images.values()
                for e in i.events
                if e.type == "MetadataEdited" and not str(e.payload.get("reason", "")).strip()
            ],
            revoked_key_events=view.revoked_key_events,
        )
        found = compliance.breaches(facts)
        return {
            "as_of_seq": view.seq,
            "rules_checked": [name for name, _, _ in compliance.RULES],
            "breaches": [
                {
                    "rule": b.rule,
                    "version": b.version,
                    "description": b.description,
                    "count": len(b.subjects),
                    "subjects": b.subjects,
                }
                for b in found
            ],
        }


def image_summary(image: ImageState) -> dict[str, Any]:
    """The query shape of one image: its current fields and status, as plain data."""
    return {
        "image_id": image.image_id,
        "verification": image.verification().as_dict(),
        "structures": image.structures,
        "status": "erased"
        if image.captured.get("erased")
        else "excluded"
        if image.excluded
        else ("duplicate-suspected" if image.unresolved else "included"),
        "exclusion_reason": image.exclusion_reason,
        "metadata": dict(sorted(image.metadata.items())),
        "capture": {
            k: image.captured.get(k)
            for k in ("blob_sha256", "phash", "width", "height", "format", "device", "focus")
        },
        "sop_deviations": image.captured["sop"]["deviations"],
        "captured_at": image.captured_at,
        "captured_by": image.captured_by,
    }
