"""The study application as commands and tests see it: one write kernel, one object
per service, each given only what it uses.

    ledger = DermLedger(settings)
    ledger.actors.enrol(...), ledger.patients.register_patient(...),
    ledger.capture.capture(...), ledger.imports.import_folder(...),
    ledger.curation.resolve_duplicate(...), ledger.confirmation.vote(...),
    ledger.queries.list_images(...), ledger.releases.create_release(...),
    ledger.reading.queue(...), ledger.reading.prepare_vote(...),
    ledger.audit.verify(...)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from eventsourcing.persistence import ApplicationRecorder

from dermledger.ledger.bootstrap import Settings
from dermledger.projections.live_images import LiveImages
from dermledger.study.actors import ActorService
from dermledger.study.audit import AuditService
from dermledger.study.capture import CaptureService
from dermledger.study.confirmation import ConfirmationService
from dermledger.study.curation import CurationService
from dermledger.study.evidence import EvidenceService
from dermledger.study.imports import ImportService
from dermledger.study.kernel import Kernel
from dermledger.study.partitions import PartitionService
from dermledger.study.patients import PatientService
from dermledger.study.queries import QueryService
from dermledger.study.reading import ReadingService
from dermledger.study.records import Records
from dermledger.study.references import ReferenceService
from dermledger.study.releases import ReleaseService
from dermledger.study.remote_signing import RemoteSigning
from dermledger.study.witnesses import WitnessService
from dermledger.study.worklists import WorklistService


class DermLedger:
    """One ledger and the study's services over it."""

    kernel_class: type[Kernel] = Kernel  # the benchmarks' in-memory store swaps it

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.kernel = self.kernel_class(settings, clock=clock)
        self.records = Records(self.kernel)
        self.actors = ActorService(self.kernel)
        self.audit = AuditService(self.kernel)
        self.witnesses = WitnessService(self.kernel)
        self.patients = PatientService(self.kernel, self.records)
        self.capture = CaptureService(self.kernel)
        self.imports = ImportService(self.kernel, self.records, self.capture)
        self.curation = CurationService(self.kernel, self.records)
        self.confirmation = ConfirmationService(self.kernel, self.records)
        self.queries = QueryService(self.kernel, self.records)
        self.partitions = PartitionService(self.kernel)
        self.evidence = EvidenceService(self.kernel)
        self.references = ReferenceService(self.kernel)
        self.releases = ReleaseService(
            self.kernel, self.queries, self.audit, self.witnesses, partitions=self.partitions
        )
        self.remote_signing = RemoteSigning(self.kernel)
        self.live_images = LiveImages(self.kernel.recorder)
        self.reading = ReadingService(
            self.kernel, self.records, self.queries, self.confirmation,
            self.remote_signing, self.live_images,
        )  # fmt: skip
        self.worklists = WorklistService(
            self.records, self.confirmation, self.remote_signing, self.live_images
        )

    @property
    def recorder(self) -> ApplicationRecorder:
        """The event store's recorder: what read models (projections) read the log from."""
        return self.kernel.recorder

    def close(self) -> None:
        self.witnesses.close()
        self.kernel.close()
