"""What is waiting for whom: the annotator's and pathologist's lists, the coordinator's
overview, and annotations and histology results signed in the browser.

Annotators and pathologists are not blinded (an annotator reads first; a pathologist
reports on tissue); a specialist's view of the same images goes through the reading
service's blinding instead.
"""

from __future__ import annotations

from typing import Any

from dermledger.ledger.errors import NotFound
from dermledger.policies import confirmation
from dermledger.projections.live_images import ImageFacts, LiveImages
from dermledger.study.confirmation import ConfirmationService
from dermledger.study.records import Records
from dermledger.study.remote_signing import Prepared, RemoteSigning
from dermledger.study.state import ImageState


class WorklistService:
    """Work queues by role, and browser-signed annotations and histology."""

    def __init__(
        self,
        records: Records,
        confirmation_service: ConfirmationService,
        remote: RemoteSigning,
        live: LiveImages,
    ) -> None:
        self.records = records
        self.confirmation = confirmation_service
        self.remote = remote
        self.live = live

    def _included(self) -> list[ImageFacts]:
        return [item for item in self.live.current().values() if not item.excluded]

    def awaiting_annotation(self) -> list[str]:
        return [i.image_id for i in self._included() if i.facts.annotation is None]

    def awaiting_histology(self) -> list[str]:
        """Ordered by a coordinator, or malignant without it: not yet recorded."""
        return [
            i.image_id
            for i in self._included()
            if i.facts.histology is None
            and (i.facts.histology_ordered or confirmation.derive(i.facts).needs_histology)
        ]

    def overview(self) -> dict[str, list[dict[str, Any]]]:
        """The coordinator's view of what is waiting, with the orders' reasons."""
        lists: dict[str, list[dict[str, Any]]] = {
            "unannotated": [], "fewer_votes": [], "disputed": [], "histology_waiting": [],
        }  # fmt: skip
        for item in self._included():
            facts = item.facts
            votes = len(facts.active_votes)
            status = confirmation.consensus_of(facts.active_votes)[0]
            row: dict[str, Any] = {"image_id": item.image_id, "votes": votes, "reasons": []}
            if facts.further_readers_ordered or facts.histology_ordered:
                row["reasons"] = _order_reasons(self.records.get_image(item.image_id))
            if facts.annotation is None:
                lists["unannotated"].append(row)
            elif votes < confirmation.PANEL_SIZE + facts.further_readers_ordered:
                lists["fewer_votes"].append(row)
            if status == "disputed" and facts.histology is None:
                lists["disputed"].append(row)
            if facts.histology_ordered and facts.histology is None:
                lists["histology_waiting"].append(row)
        return lists

    def image_for(self, role: str, image_id: str) -> ImageState:
        """An image on this role's list (NotFound, without detail, otherwise)."""
        waiting = self.awaiting_annotation() if role == "annotator" else self.awaiting_histology()
        if image_id not in waiting:
            raise NotFound("not found")
        return self.records.get_image(image_id)

    def prepare_annotation(
        self, actor: str, image_id: str, diagnosis: str, items: list[str]
    ) -> Prepared:
        self.confirmation.check_role(actor, "AnnotationRecorded")
        self.image_for("annotator", image_id)
        decide = self.confirmation.annotation_decision(image_id, diagnosis, items)
        return self.remote.prepare(actor, decide)

    def prepare_histology(
        self, actor: str, image_id: str, diagnosis: str, report_ref: str, report_date: str | None
    ) -> Prepared:
        self.confirmation.check_role(actor, "HistologyRecorded")
        self.image_for("pathologist", image_id)
        decide = self.confirmation.histology_decision(image_id, diagnosis, report_ref, report_date)
        return self.remote.prepare(actor, decide)


def _order_reasons(image: ImageState) -> list[str]:
    """The coordinators' free-text reasons for orders on this image."""
    return [str(e.payload["reason"]) for e in image.events if e.type == "FurtherReadOrdered"]
