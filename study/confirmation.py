"""Annotations, consensus votes, histology and coordinators' orders.

Each judgement is signed by the actor in the role
that gives it meaning, and says so in its payload ("consensus reader 2 of 3"), so the
audit trail shows what each signature stands for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.signing import DigestSigner, Signer
from dermledger.policies import blinding, confirmation, free_text, metadata_schema, structures
from dermledger.policies.categories import category_of
from dermledger.policies.reasons import require_reason
from dermledger.policies.roles import SIGNATURE_MEANING, AppendRequest, check_append
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

    def annotate(
        self, signer: DigestSigner, image_id: str, diagnosis: str, items: list[str]
    ) -> Envelope:
        """The initial clinical annotation, with dermoscopic structures."""
        self.kernel.permit(signer, "AnnotationRecorded")
        return self.kernel.append(signer, self.annotation_decision(image_id, diagnosis, items))[0]

    def annotation_decision(
        self, image_id: str, diagnosis: str, items: list[str]
    ) -> Callable[[], list[Proposal]]:
        """The decision behind an annotation, for `append` here or a browser to sign."""
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

        return decide

    def vote(
        self,
        signer: DigestSigner,
        image_id: str,
        diagnosis: str,
        *,
        supersede_reason: str | None = None,
        via: str = "cli",
    ) -> Envelope:
        """One specialist's consensus vote (or a reasoned replacement of their own)."""
        self.kernel.permit(signer, "ConsensusVoteCast")
        decide = self.vote_decision(signer.actor, image_id, diagnosis, supersede_reason, via=via)
        return self.kernel.append(signer, decide)[0]

    def vote_decision(
        self,
        voter: str,
        image_id: str,
        diagnosis: str,
        supersede_reason: str | None = None,
        *,
        via: str,
    ) -> Callable[[], list[Proposal]]:
        """The decision behind a vote, for `append` here or for a reader's browser to
        sign (`via` says which: cli or web). It records what the reader was shown."""
        self.check_role(voter, "ConsensusVoteCast")
        label, category = _label(diagnosis)
        supersede = supersede_reason is not None
        if supersede:
            require_reason(supersede_reason, "supersede a vote")

        def decide() -> list[Proposal]:
            image = self._open_image(image_id)
            confirmation.check_vote(image.facts(), voter, supersede=supersede).enforce()
            readers = list(dict.fromkeys(v.actor for _, v in image.votes))
            slot = readers.index(voter) + 1 if voter in readers else len(readers) + 1
            earlier = next(
                (eid for eid, v in image.votes if v.actor == voter and not v.superseded), None
            )
            panel = confirmation.PANEL_SIZE + image.further_readers_ordered
            shown = blinding.visibility(blinding.ReaderFacts(
                self.kernel.get_actor(voter).roles, has_voted=earlier is not None,
                panel_complete=len(image.facts().active_votes) >= panel,
            ))  # fmt: skip
            return [
                self.kernel.proposal(image_id, "ConsensusVoteCast", {
                    "image_id": image_id, "diagnosis": label, "category": category,
                    "reader_slot": slot, "supersedes": earlier if supersede else None,
                    "reason": supersede_reason, "signer_role": "specialist",
                    "signature_meaning": f"consensus reader {slot} of {panel}",
                    "shown": shown.as_record() | {"via": via},
                })
            ]  # fmt: skip

        return decide

    def check_role(self, actor: str, event_type: str) -> None:
        """Refuse early if the actor's roles cannot append this (the kernel checks again,
        with the key, when it appends)."""
        acting = self.kernel.get_actor(actor)
        check_append(AppendRequest(actor, acting.roles, acting.revoked, event_type)).enforce()

    def record_histology(
        self,
        signer: DigestSigner,
        image_id: str,
        diagnosis: str,
        report_ref: str,
        report_date: str | None = None,
    ) -> Envelope:
        """A pathology result: it becomes the label."""
        self.kernel.permit(signer, "HistologyRecorded")
        decide = self.histology_decision(image_id, diagnosis, report_ref, report_date)
        return self.kernel.append(signer, decide)[0]

    def histology_decision(
        self, image_id: str, diagnosis: str, report_ref: str, report_date: str | None = None
    ) -> Callable[[], list[Proposal]]:
        """The decision behind a histology result, for `append` here or a browser to sign."""
        label, category = _label(diagnosis)
        if not report_ref.strip():
            raise InvalidInput("a histology result needs a report reference")
        free_text.require_free_text("report reference", report_ref)
        if report_date is not None:
            try:
                canonical = date.fromisoformat(report_date).isoformat() == report_date
            except ValueError:
                canonical = False
            if not canonical:
                raise InvalidInput(f"report date {report_date!r} is not YYYY-MM-DD")

        def decide() -> list[Proposal]:
            image = self._open_image(image_id, allow_excluded=True)
            confirmation.check_histology(image.facts()).enforce()
            today = self.kernel.clock().astimezone(UTC).date().isoformat()
            confirmation.check_report_date(report_date, today).enforce()
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

        return decide

    def correct(
        self, signer: DigestSigner, image_id: str, kind: str, diagnosis: str, reason: str
    ) -> Envelope:
        """Correct the annotation's or the histology's diagnosis (`kind`): the corrected
        value becomes the label, the old one stays in the event and the audit trail."""
        event_type = {"annotation": "AnnotationCorrected", "histology": "HistologyCorrected"}
        if kind not in event_type:
            raise InvalidInput("correct either an annotation or a histology result")
        self.kernel.permit(signer, event_type[kind])
        require_reason(reason, f"correct a {kind}")
        free_text.require_free_text("reason", reason)
        label, category = _label(diagnosis)

        def decide() -> list[Proposal]:
            image = self._open_image(image_id, allow_excluded=True)
            confirmation.check_correction(image.facts(), kind, label).enforce()
            old = image.annotation if kind == "annotation" else image.histology
            assert old is not None  # check_correction refuses otherwise
            return [
                self.kernel.proposal(image_id, event_type[kind], {
                    "image_id": image_id, "diagnosis": label, "category": category,
                    "old_diagnosis": old.diagnosis, "reason": reason,
                    "signer_role": "annotator" if kind == "annotation" else "pathologist",
                    "signature_meaning": SIGNATURE_MEANING[event_type[kind]],
                })
            ]  # fmt: skip

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

    def verification(self, image_id: str) -> confirmation.Verification:
        """The image's confirmation state now: what a judgement just changed."""
        return self.records.get_image(image_id).verification()

    def _open_image(self, image_id: str, *, allow_excluded: bool = False) -> ImageState:
        image = self.records.get_image(image_id)
        if image.excluded and not allow_excluded:
            raise InvalidInput(f"{image_id} is excluded ({image.exclusion_reason})")
        return image
