"""Annotations, consensus votes, histology and coordinators' orders.

Each judgement is signed by the actor in the role
that gives it meaning, and says so in its payload ("consensus reader 2 of 3"), so the
audit trail shows what each signature stands for.
"""

from __future__ import annotations

from datetime import date

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.signing import Signer
from dermledger.policies import confirmation, free_text, metadata_schema, structures
from dermledger.policies.categories import category_of
from dermledger.policies.reasons import require_reason
from dermledger.policies.roles import SIGNATURE_MEANING
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.records import Records
from dermledger.study.state import ImageState


def _label(value: str) -> tuple[str, str]:
    """A full ISIC diagnosis label and its category, or InvalidInput with suggestions."""
    diagnosis = metadata_schema.parse_label("diagnosis", value)
    return diagnosis, category_of(diagnosis)


class ConfirmationService:
    """Annotations, votes, histology and orders: the staged clinical confirmation."""

    def __init__(self, kernel: Kernel, records: Records) -> None:
        self.kernel = kernel
        self.records = records

    def annotate(self, signer: Signer, image_id: str, diagnosis: str, items: list[str]) -> Envelope:
        """The initial clinical annotation, with dermoscopic structures."""
        self.kernel.permit(signer, "AnnotationRecorded")
        label, category = _label(diagnosis)
        found = structures.parse_structures(items)

        def decide() -> list[Proposal]:
            image = self._open_image(image_id)
            confirmation.check_annotation(image.facts()).enforce()
            return [
                self.kernel.proposal(image_id, "AnnotationRecorded", {
                    "image_id": image_id, "diagnosis": label, "category": category,
                    "structures": found, "signer_role": "annotator",
                    "signature_meaning": SIGNATURE_MEANING["AnnotationRecorded"],
                })
            ]  # fmt: skip

        return self.kernel.append(signer, decide)[0]

    def vote(
        self,
        signer: Signer,
        image_id: str,
        diagnosis: str,
        *,
        supersede_reason: str | None = None,
    ) -> Envelope:
        """One specialist's consensus vote (or a reasoned replacement of their own)."""
        self.kernel.permit(signer, "ConsensusVoteCast")
        label, category = _label(diagnosis)
        supersede = supersede_reason is not None
        if supersede:
            require_reason(supersede_reason, "supersede a vote")

        def decide() -> list[Proposal]:
            image = self._open_image(image_id)
            confirmation.check_vote(image.facts(), signer.actor, supersede=supersede).enforce()
            readers = list(dict.fromkeys(v.actor for _, v in image.votes))
            slot = readers.index(signer.actor) + 1 if signer.actor in readers else len(readers) + 1
            earlier = next(
                (eid for eid, v in image.votes if v.actor == signer.actor and not v.superseded),
                None,
            )
            panel = confirmation.PANEL_SIZE + image.further_readers_ordered
            return [
                self.kernel.proposal(image_id, "ConsensusVoteCast", {
                    "image_id": image_id, "diagnosis": label, "category": category,
                    "reader_slot": slot, "supersedes": earlier if supersede else None,
                    "reason": supersede_reason, "signer_role": "specialist",
                    "signature_meaning": f"consensus reader {slot} of {panel}",
                })
            ]  # fmt: skip

        return self.kernel.append(signer, decide)[0]

    def record_histology(
        self,
        signer: Signer,
        image_id: str,
        diagnosis: str,
        report_ref: str,
        report_date: str | None = None,
    ) -> Envelope:
        """A pathology result: it becomes the label."""
        self.kernel.permit(signer, "HistologyRecorded")
        label, category = _label(diagnosis)
        if not report_ref.strip():
            raise InvalidInput("a histology result needs a report reference")
        free_text.require_free_text("report reference", report_ref)
        if report_date is not None:
            try:
                date.fromisoformat(report_date)
            except ValueError:
                raise InvalidInput(f"report date {report_date!r} is not YYYY-MM-DD") from None

        def decide() -> list[Proposal]:
            image = self._open_image(image_id, allow_excluded=True)
            confirmation.check_histology(image.facts()).enforce()
            result = {"image_id": image_id, "diagnosis": label, "category": category,
                      "report_ref": report_ref, "report_date": report_date,
                      "signer_role": "pathologist",
                      "signature_meaning": SIGNATURE_MEANING["HistologyRecorded"]}  # fmt: skip
            # erasure v2: the lab's report reference names the lesion's owner to the lab
            key, _ = self.kernel.sealer.ensure_key(image.patient_id)
            sealed = ("report_ref", "report_date")
            result = self.kernel.sealer.seal_values(
                key, "HistologyRecorded", image.patient_id, result, sealed
            )
            return [self.kernel.proposal(image_id, "HistologyRecorded", result)]

        return self.kernel.append(signer, decide)[0]

    def order_read(self, signer: Signer, image_id: str, kind: str, reason: str) -> Envelope:
        """A coordinator's decision for a disputed image: histology or a further reader."""
        self.kernel.permit(signer, "FurtherReadOrdered")
        if kind not in ("histology", "further-reader"):
            raise InvalidInput("order either histology or a further-reader")
        require_reason(reason, "order histology or a further reader")

        def decide() -> list[Proposal]:
            image = self._open_image(image_id)
            confirmation.check_order(image.facts(), kind).enforce()
            return [
                self.kernel.proposal(
                    image_id,
                    "FurtherReadOrdered",
                    {"image_id": image_id, "kind": kind, "reason": reason},
                )
            ]

        return self.kernel.append(signer, decide)[0]

    def _open_image(self, image_id: str, *, allow_excluded: bool = False) -> ImageState:
        image = self.records.get_image(image_id)
        if image.excluded and not allow_excluded:
            raise InvalidInput(f"{image_id} is excluded ({image.exclusion_reason})")
        return image
