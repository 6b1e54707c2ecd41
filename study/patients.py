"""Patients: registration by pseudonym, consent, withdrawal, erasure, recorded access.

Personal data is encrypted under a key of the patient's own before it is signed.
Withdrawal keeps a patient out of every later release (a gate) and never touches
earlier ones. Erasure appends an event with no personal data and destroys the
patient's key: the ciphertext stays in the log, every hash, signature and proof
still verifies, and nobody can read it again.
"""

from __future__ import annotations

from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound
from dermledger.ledger.signing import Signer
from dermledger.policies import consent, free_text, metadata_schema
from dermledger.policies.reasons import require_reason
from dermledger.study.erasure import ErasureDone, check_readmodel, complete_erasure, leftovers
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.personal_data import open_personal, seal_personal
from dermledger.study.records import Records, patient_stream
from dermledger.study.state import fold_patient

PATIENT_FIELDS = ("age", "sex", "fitzpatrick_skin_type", "personal_hx_mm", "family_hx_mm")


def check_personal(data: dict[str, str | None]) -> dict[str, str]:
    """Personal fields, validated without ever echoing their values."""
    from datetime import date

    from dermledger.study.personal_data import PERSONAL_FIELDS

    clean = {k: str(v).strip() for k, v in data.items() if v not in (None, "")}
    unknown = sorted(set(clean) - set(PERSONAL_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown personal field {', '.join(unknown)}")
    if any(len(v) > 200 for v in clean.values()):
        raise InvalidInput("a personal field is longer than 200 characters")
    for value in data.values():
        if value not in (None, ""):
            free_text.require_free_text("personal field", str(value))
    if "birth_date" in clean:
        try:
            date.fromisoformat(clean["birth_date"])
        except ValueError:
            raise InvalidInput("the birth date is not a YYYY-MM-DD date") from None
    return clean


class PatientService:
    """Registration, consent and personal data of the study's patients."""

    def __init__(self, kernel: Kernel, records: Records) -> None:
        self.kernel = kernel
        self.records = records
        self.last_erasure: ErasureDone | None = None  # what the last erase_patient removed

    def register_patient(
        self,
        signer: Signer,
        patient_id: str,
        fields: dict[str, str | None],
        *,
        personal: dict[str, str] | None = None,
    ) -> Envelope:
        """Register a patient by pseudonym with the patient-level fields.

        Personal data (name, record number, birth date) is encrypted with a new key of the
        patient's own before the event is signed; the key is removed again if the
        registration is refused.
        """
        self.kernel.permit(signer, "PatientRegistered")
        metadata_schema.validate_field("patient_id", patient_id)
        payload: dict[str, Any] = {"patient_id": patient_id}
        for name in PATIENT_FIELDS:
            value = fields.get(name)
            if value not in (None, ""):
                payload[name] = metadata_schema.validate_field(name, str(value))
        personal = check_personal(personal or {})

        def decide() -> list[Proposal]:
            if self.kernel.stream(patient_stream(patient_id)):
                raise Conflict(f"patient {patient_id} is already registered")
            return [self.kernel.proposal(patient_stream(patient_id), "PatientRegistered", payload)]

        decide()
        key, created = self.kernel.sealer.ensure_key(patient_id)
        if personal:
            payload["personal"] = seal_personal(key, patient_id, personal)
        sealed = self.kernel.sealer.seal_registration(key, payload)  # erasure v2
        payload.clear()
        payload.update(sealed)
        try:
            return self.kernel.append(signer, decide)[0]
        except BaseException:
            if created and not self.kernel.stream(patient_stream(patient_id)):
                self.kernel.patient_keys.destroy(patient_id)  # unless a concurrent run registered
            raise

    def record_consent(
        self, signer: Signer, patient_id: str, scope: str, document: bytes
    ) -> Envelope:
        """Consent in force from now; the document's SHA-256 is recorded, not its content."""
        self.kernel.permit(signer, "ConsentRecorded")
        if not scope.strip():
            raise InvalidInput("a consent scope is required")
        free_text.require_free_text("consent scope", scope)
        if not document:
            raise InvalidInput("the consent document is empty")

        def decide() -> list[Proposal]:
            consent.check_record(self._consent_facts(patient_id)).enforce()
            key, _ = self.kernel.sealer.ensure_key(patient_id)  # erasure v2: keyed commitment
            digest = self.kernel.sealer.document_commitment(key, document)
            return [self.kernel.proposal(patient_stream(patient_id), "ConsentRecorded",
                                  {"patient_id": patient_id, "scope": scope,
                                   "document_hmac": digest})]  # fmt: skip

        return self.kernel.append(signer, decide)[0]

    def withdraw_consent(self, signer: Signer, patient_id: str, reason: str) -> Envelope:
        self.kernel.permit(signer, "ConsentWithdrawn")
        require_reason(reason, "withdraw consent")

        def decide() -> list[Proposal]:
            consent.check_withdraw(self._consent_facts(patient_id)).enforce()
            return [self.kernel.proposal(patient_stream(patient_id), "ConsentWithdrawn",
                                  {"patient_id": patient_id, "reason": reason})]  # fmt: skip

        return self.kernel.append(signer, decide)[0]

    def erasure_pending(self, patient_id: str) -> bool:
        """True when PatientErased is in the log but something erasure removes is still
        there (the key, a blob, a read-model row: the run stopped half-way): running
        `erase_patient` again completes it."""
        patient = fold_patient(self.kernel.stream(patient_stream(patient_id)))
        return patient is not None and patient.erased and leftovers(self.kernel, patient_id)

    def erase_patient(self, signer: Signer, patient_id: str, reason: str) -> Envelope:
        """Append PatientErased (no personal data in it), then destroy the patient's key and
        delete the blobs and read-model rows (study/erasure.py). Run again after an
        interruption, it finishes the erasure and returns the event already recorded."""
        self.kernel.permit(signer, "PatientErased")
        require_reason(reason, "erase a patient")
        if self.erasure_pending(patient_id):
            self.last_erasure = complete_erasure(self.kernel, patient_id)
            return next(
                e
                for e in self.kernel.stream(patient_stream(patient_id))
                if e.type == "PatientErased"
            )

        consent.check_erase(self._consent_facts(patient_id)).enforce()
        check_readmodel(self.kernel, patient_id)  # a damaged read model: refused up front

        def decide() -> list[Proposal]:
            consent.check_erase(self._consent_facts(patient_id)).enforce()
            return [self.kernel.proposal(patient_stream(patient_id), "PatientErased",
                                  {"patient_id": patient_id, "reason": reason})]  # fmt: skip

        envelope = self.kernel.append(signer, decide)[0]
        self.last_erasure = complete_erasure(self.kernel, patient_id)
        return envelope

    def _consent_facts(self, patient_id: str) -> consent.ConsentFacts:
        patient = self.records.get_patient(patient_id)
        return consent.ConsentFacts(patient_id, True, patient.consent, patient.erased)

    def reveal_personal(self, signer: Signer, patient_id: str, reason: str) -> dict[str, str]:
        """Decrypt a patient's personal data for a coordinator; the access is recorded first."""
        self.kernel.permit(signer, "PersonalDataAccessed")
        require_reason(reason, "reveal personal data")
        patient = fold_patient(self.kernel.stream(patient_stream(patient_id)))
        if patient is None:
            raise NotFound(f"there is no patient {patient_id}")
        if patient.erased:
            raise NotFound(f"patient {patient_id} was erased; the personal data is gone")
        if patient.personal is None:
            raise NotFound(f"no personal data is held for patient {patient_id}")
        key = self.kernel.patient_keys.get(patient_id)
        self.kernel.append(signer, lambda: [self.kernel.proposal(
            patient_stream(patient_id), "PersonalDataAccessed",
            {"patient_id": patient_id, "reason": reason})])  # fmt: skip
        return open_personal(key, patient_id, patient.personal)
