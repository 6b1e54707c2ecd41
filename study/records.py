"""Current state of one patient or image, folded from its own stream.

Every service that decides about a patient or an image reads it here, so the read
joins the decision's read set (see `Kernel.append`).
"""

from __future__ import annotations

from dermledger.ledger.errors import NotFound
from dermledger.ledger.store import read_topic
from dermledger.study.kernel import Kernel
from dermledger.study.state import ImageState, PatientState, fold_image, fold_patient


def patient_stream(patient_id: str) -> str:
    return f"patient:{patient_id}"


class Records:
    """Reads of patients and images by stream."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def get_patient(self, patient_id: str) -> PatientState:
        stream = self.kernel.stream(patient_stream(patient_id))
        state = fold_patient(self.kernel.sealer.open_all(stream))
        if state is None:
            raise NotFound(f"there is no patient {patient_id}")
        return state

    def patient_ids(self) -> set[str]:
        return {
            e.payload["patient_id"] for e in read_topic(self.kernel.recorder, "PatientRegistered")
        }

    def get_image(self, image_id: str, erased: frozenset[str] = frozenset()) -> ImageState:
        """The image's state, opened; `erased`: patients whose plain events to hide."""
        state = fold_image(self.kernel.sealer.open_all(self.kernel.stream(image_id), erased))
        if state is None:
            raise NotFound(f"there is no image {image_id}")
        return state

    def image_ids(self) -> list[str]:
        return [e.payload["image_id"] for e in read_topic(self.kernel.recorder, "ImageCaptured")]
