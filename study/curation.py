"""Curation of captured images: metadata edits, duplicate decisions, exclusions.

Each keeps what it changes visible: an edit records the old value, a duplicate
decision names the image it duplicates, an exclusion its reason.
"""

from __future__ import annotations

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, PolicyViolation
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import read_topic
from dermledger.policies import duplicates, metadata_schema
from dermledger.policies.reasons import require_reason
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.records import Records
from dermledger.study.state import Suspicion


class CurationService:
    """Metadata edits, duplicate resolution, exclusion and reinstatement."""

    def __init__(self, kernel: Kernel, records: Records) -> None:
        self.kernel = kernel
        self.records = records

    def edit_metadata(
        self, signer: Signer, image_id: str, field_name: str, value: str, reason: str
    ) -> Envelope:
        """Change one field; the reason is required and the old value is kept in the event."""
        require_reason(reason, "edit metadata")
        metadata_schema.check_editable(field_name)
        new = metadata_schema.validate_field(field_name, value)

        def decide() -> list[Proposal]:
            image = self.records.get_image(image_id)
            if image.captured.get("erased") or self.records.get_patient(image.patient_id).erased:
                raise Conflict(f"image {image_id} was erased with its patient")
            old = image.metadata.get(field_name)
            merged = {k: v for k, v in {**image.metadata, field_name: new}.items() if v is not None}
            checked = metadata_schema.validate_record(merged).model_dump(mode="json")
            if checked.get(field_name) == old:
                raise Conflict(f"{field_name} of {image_id} is already {old!r}")
            edit = {"image_id": image_id, "field": field_name, "old_value": old,
                    "new_value": checked.get(field_name), "reason": reason}  # fmt: skip
            key, _ = self.kernel.sealer.ensure_key(image.patient_id)  # erasure v2: sealed
            edit = self.kernel.sealer.seal_edit(key, image.patient_id, edit)
            return [self.kernel.proposal(image_id, "MetadataEdited", edit)]

        return self.kernel.append(signer, decide)[0]

    def list_duplicates(self, *, include_resolved: bool = False) -> list[dict]:
        rows = []
        for env in read_topic(self.kernel.recorder, "DuplicateSuspected"):
            image = self.records.get_image(env.payload["image_id"])
            for s in image.suspicions:
                if s.duplicate_of != env.payload["duplicate_of"]:
                    continue
                if s.outcome is None or include_resolved:
                    rows.append(
                        {
                            "image_id": image.image_id,
                            "duplicate_of": s.duplicate_of,
                            "kind": s.kind,
                            "distance": s.distance,
                            "status": s.outcome or "unresolved",
                            "reason": s.reason,
                        }
                    )
                break
        return rows

    def resolve_duplicate(
        self,
        signer: Signer,
        image_id: str,
        *,
        duplicate_of: str | None,
        distinct: bool,
        reason: str,
        override_exact: bool = False,
    ) -> list[Envelope]:
        """Exclude an image as a duplicate of X, or clear its suspicions as distinct; an
        exact copy is cleared only with `override_exact` (the duplicate-resolution policy),
        and its event records the override."""
        if distinct == (duplicate_of is not None):
            raise InvalidInput("give either --duplicate-of IMAGE or --distinct")
        if override_exact and not distinct:
            raise InvalidInput("--override-exact applies only with --distinct")
        require_reason(reason, "resolve a duplicate suspicion")

        def decide() -> list[Proposal]:
            image = self.records.get_image(image_id)
            open_ = image.unresolved
            if not open_:
                raise Conflict(f"{image_id} has no unresolved duplicate suspicion")
            if duplicate_of is not None:
                self.records.get_image(duplicate_of)
                if duplicate_of not in {s.duplicate_of for s in open_}:
                    raise PolicyViolation(
                        f"{image_id} is not suspected to duplicate {duplicate_of}; "
                        f"suspected: {', '.join(s.duplicate_of for s in open_)}",
                        policy=duplicates.POLICY_NAME,
                    )
            else:
                pairs = [(s.duplicate_of, s.kind) for s in open_]
                duplicates.check_distinct(image_id, pairs, override_exact=override_exact).enforce()
            proposals = [
                self.kernel.proposal(image_id, "DuplicateResolved", _resolution(
                    image_id, s, duplicate_of, reason, override_exact=override_exact
                ))
                for s in open_
            ]  # fmt: skip
            if duplicate_of is not None and not image.excluded:
                proposals.append(
                    self.kernel.proposal(
                        image_id,
                        "ImageExcluded",
                        {"image_id": image_id, "reason": f"duplicate of {duplicate_of}: {reason}"},
                    )
                )
            return proposals

        return self.kernel.append(signer, decide)

    def set_excluded(
        self, signer: Signer, image_id: str, *, excluded: bool, reason: str
    ) -> Envelope:
        require_reason(reason, "exclude or reinstate an image")

        def decide() -> list[Proposal]:
            image = self.records.get_image(image_id)
            if image.excluded == excluded:
                raise Conflict(f"{image_id} is already {'excluded' if excluded else 'included'}")
            kind = "ImageExcluded" if excluded else "ImageReinstated"
            return [self.kernel.proposal(image_id, kind, {"image_id": image_id, "reason": reason})]

        return self.kernel.append(signer, decide)[0]


def _resolution(
    image_id: str, s: Suspicion, duplicate_of: str | None, reason: str, *, override_exact: bool
) -> dict[str, object]:
    """One DuplicateResolved payload; `override_exact` is recorded only on the exact copies
    it cleared (absent otherwise, so resolutions without it keep their bytes)."""
    payload: dict[str, object] = {
        "image_id": image_id,
        "duplicate_of": s.duplicate_of,
        "outcome": "duplicate" if s.duplicate_of == duplicate_of else "distinct",
        "reason": reason,
    }
    if override_exact and s.kind in duplicates.EXACT_KINDS:
        payload["override_exact"] = True
    return payload
