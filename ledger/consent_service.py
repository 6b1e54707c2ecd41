"""Consent, withdrawal, erasure by crypto-shredding, and recorded access to personal data.

A mixin of the DermLedger service. Withdrawal keeps a patient out of every later
release (a gate) and never touches earlier ones. Erasure appends an event with no
personal data and destroys the patient's key: the ciphertext stays in the log, every
hash, signature and proof still verifies, and nobody can read it again.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from dermledger.ledger.capture_service import patient_stream
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound
from dermledger.ledger.personal_data import open_personal
from dermledger.ledger.state import fold_patient

if TYPE_CHECKING:
    from dermledger.ledger.app import DermLedger, Proposal
    from dermledger.ledger.signing import Signer


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidInput("a reason is required")
    return reason


class ConsentService:
    def record_consent(
        self: DermLedger, signer: Signer, patient_id: str, scope: str, document: bytes
    ) -> Envelope:
        """Consent in force from now; the document's SHA-256 is recorded, not its content."""
        self.permit(signer, "ConsentRecorded")
        if not scope.strip():
            raise InvalidInput("a consent scope is required")
        if not document:
            raise InvalidInput("the consent document is empty")
        digest = hashlib.sha256(document).hexdigest()

        def decide() -> list[Proposal]:
            patient = self.get_patient(patient_id)
            if patient.erased:
                raise Conflict(f"patient {patient_id} was erased")
            if patient.consent:
                raise Conflict(f"patient {patient_id} already has consent in force")
            return [self.proposal(patient_stream(patient_id), "ConsentRecorded",
                                  {"patient_id": patient_id, "scope": scope,
                                   "document_sha256": digest})]  # fmt: skip

        return self.append(signer, decide)[0]

    def withdraw_consent(
        self: DermLedger, signer: Signer, patient_id: str, reason: str
    ) -> Envelope:
        self.permit(signer, "ConsentWithdrawn")
        _reason(reason)

        def decide() -> list[Proposal]:
            if not self.get_patient(patient_id).consent:
                raise Conflict(f"patient {patient_id} has no consent in force to withdraw")
            return [self.proposal(patient_stream(patient_id), "ConsentWithdrawn",
                                  {"patient_id": patient_id, "reason": reason})]  # fmt: skip

        return self.append(signer, decide)[0]

    def erase_patient(self: DermLedger, signer: Signer, patient_id: str, reason: str) -> Envelope:
        """Append PatientErased (no personal data in it), then destroy the patient's key."""
        self.permit(signer, "PatientErased")
        _reason(reason)

        def decide() -> list[Proposal]:
            if self.get_patient(patient_id).erased:
                raise Conflict(f"patient {patient_id} is already erased")
            return [self.proposal(patient_stream(patient_id), "PatientErased",
                                  {"patient_id": patient_id, "reason": reason})]  # fmt: skip

        envelope = self.append(signer, decide)[0]
        self.patient_keys.destroy(patient_id)
        return envelope

    def reveal_personal(
        self: DermLedger, signer: Signer, patient_id: str, reason: str
    ) -> dict[str, str]:
        """Decrypt a patient's personal data for a coordinator; the access is recorded first."""
        self.permit(signer, "PersonalDataAccessed")
        _reason(reason)
        patient = fold_patient(self.stream(patient_stream(patient_id)))
        if patient is None:
            raise NotFound(f"there is no patient {patient_id}")
        if patient.erased:
            raise NotFound(f"patient {patient_id} was erased; the personal data is gone")
        if patient.personal is None:
            raise NotFound(f"no personal data is held for patient {patient_id}")
        key = self.patient_keys.get(patient_id)
        self.append(signer, lambda: [self.proposal(
            patient_stream(patient_id), "PersonalDataAccessed",
            {"patient_id": patient_id, "reason": reason})])  # fmt: skip
        return open_personal(key, patient_id, patient.personal)
