"""The reading station's service: blinded queues, the reader's view of an image, and
judgements signed in the reader's browser.

Blinding is enforced here, once, for the web pages and for the CLI's `show` and
`dataset`: every record of an image a reader is given passes `shown_to`, which
applies the `reader-blinding` policy to the reader's roles and vote.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.errors import Conflict, DermLedgerError, NotFound
from dermledger.policies import blinding, confirmation
from dermledger.policies.blinding import Visibility
from dermledger.projections.live_images import LiveImages
from dermledger.projections.reader_queues import ReaderQueues
from dermledger.study.confirmation import ConfirmationService
from dermledger.study.erasure import blob_opener
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.position import Position
from dermledger.study.queries import QueryService
from dermledger.study.records import Records
from dermledger.study.remote_signing import Completed, Prepared, RemoteSigning
from dermledger.study.state import ImageState

# The fields a reader needs to read an image; never the patient's personal data.
CLINICAL_FIELDS = (
    "age",
    "sex",
    "anatom_site",
    "clin_size_long_diam_mm",
    "fitzpatrick_skin_type",
    "image_type",
    "dermoscopic_type",
)
JUDGEMENTS = ("AnnotationRecorded", "ConsensusVoteCast", "HistologyRecorded", "FurtherReadOrdered",
              "AnnotationCorrected", "HistologyCorrected")  # fmt: skip
WITHHELD_METADATA = ("diagnosis", "diagnosis_confirm_type", "melanocytic", "verification_stage")
# The record's confirmation fields (flat, as in metadata.csv) and the release gate the image
# would fail, which tells a malignant label or a reached consensus just as plainly.
WITHHELD_FIELDS = frozenset(
    (*confirmation.Verification(None, None, None, None, None, "none").as_dict(),
     "release_gate_failed")
)  # fmt: skip


def reading_stream(actor: str) -> str:
    return f"reading:{actor}"


@dataclass(frozen=True)
class Queue:
    """A specialist's images awaiting their vote, in their own order, and progress."""

    seed: str | None
    waiting: list[str]  # the first of them when a limit was asked
    waiting_count: int
    read: int

    @property
    def total(self) -> int:
        return self.read + self.waiting_count


class ReadingService:
    """Queues, blinded views and browser-signed judgements."""

    def __init__(
        self,
        kernel: Kernel,
        records: Records,
        queries: QueryService,
        confirmation_service: ConfirmationService,
        remote: RemoteSigning,
        live: LiveImages,
    ) -> None:
        self.kernel = kernel
        self.queues = ReaderQueues(live)
        self.records = records
        self.queries = queries
        self.confirmation = confirmation_service
        self.remote = remote

    # ------------------------------------------------------------------ blinding

    def visibility(self, actor: str | None, image: ImageState) -> Visibility:
        """What `actor` may see of `image` now (everything when no actor is named)."""
        if actor is None:
            return blinding.FULL
        record = self.kernel.get_actor(actor)
        return _visibility(record.roles, actor, image)

    def shown_to(self, actor: str | None, record: dict[str, Any]) -> dict[str, Any]:
        """An image record (`image_summary` or `show_image`) as `actor` may see it."""
        if actor is None:
            return record
        roles = self.kernel.get_actor(actor).roles
        if not blinding.is_reader_only(roles):
            return record
        return redact(
            record, _visibility(roles, actor, self.records.get_image(record["image_id"])), actor
        )

    def list_images(
        self, actor: str | None, as_of: Position | None = None, *, awaiting_histology: bool = False
    ) -> list[dict[str, Any]]:
        """The dataset listing, blinded for a reader."""
        rows = self.queries.list_images(as_of, awaiting_histology=awaiting_histology)
        return [self.shown_to(actor, row) for row in rows]

    def show_image(
        self, actor: str | None, image_id: str, as_of: Position | None = None
    ) -> dict[str, Any]:
        """One image's record and history, blinded for a reader."""
        return self.shown_to(actor, self.queries.show_image(image_id, as_of))

    # ------------------------------------------------------------------- queues

    def seed(self, actor: str) -> str | None:
        """The reader's recorded queue seed, if drawn."""
        for env in self.kernel.stream(reading_stream(actor)):
            if env.type == "ReadingSeedDrawn":
                return str(env.payload["seed"])
        return None

    def prepare_seed(self, actor: str) -> Prepared:
        """A ReadingSeedDrawn event for the reader to sign (once per reader)."""
        seed = secrets.token_hex(16)

        def decide() -> list[Proposal]:
            if self.seed(actor) is not None:
                raise Conflict(f"{actor}'s reading order is already drawn")
            return [
                self.kernel.proposal(reading_stream(actor), "ReadingSeedDrawn", {
                    "actor": actor, "seed": seed,
                    "policy": blinding.POLICY_NAME, "version": blinding.POLICY_VERSION,
                })
            ]  # fmt: skip

        return self.remote.prepare(actor, decide)

    def queue(self, actor: str, limit: int | None = None) -> Queue:
        """Images this specialist may vote on now, in the order drawn from their seed
        (the first `limit` of them, with the count of all)."""
        seed = self.seed(actor)
        if seed is None:
            return Queue(None, [], 0, 0)
        return Queue(seed, *self.queues.queue(actor, seed, limit))

    def reader_view(self, actor: str, image_id: str) -> dict[str, Any]:
        """What a reader is shown of one image: the clinical fields and, as the policy
        allows, the judgements. NotFound unless the image is theirs to read."""
        image = self._readable(actor, image_id)
        seen = self.visibility(actor, image)
        fields = self.clinical_fields(image)
        view: dict[str, Any] = {
            "image_id": image_id,
            "clinical": fields,
            "width": image.captured["width"],
            "height": image.captured["height"],
            "blinding": seen.as_record(),
        }
        facts = image.facts()
        if seen.annotation and facts.annotation is not None:
            view["annotation"] = {
                "diagnosis": facts.annotation.diagnosis,
                "structures": image.structures,
            }
        if seen.own_vote:
            view["own_vote"] = next(
                (v.diagnosis for v in facts.active_votes if v.actor == actor), None
            )
        if seen.consensus:
            view["verification"] = image.verification().as_dict()
        return view

    def image_file(self, actor: str, image_id: str) -> tuple[bytes, str]:
        """The image's bytes from the blob store, checked against their SHA-256."""
        image = self._readable(actor, image_id)
        if image.captured.get("blob_ref"):  # erasure v2: encrypted under the patient's key
            data = blob_opener(self.kernel)(image.captured)
        else:
            data = BlobStore(self.kernel.settings.blobs_dir).read(image.captured["blob_sha256"])
        return data, str(image.captured["format"])

    # -------------------------------------------------------------- signed votes

    def prepare_vote(self, actor: str, image_id: str, diagnosis: str) -> Prepared:
        """A vote sealed for the reader's browser to sign."""
        self._readable(actor, image_id)
        decide = self.confirmation.vote_decision(actor, image_id, diagnosis, via="web")
        return self.remote.prepare(actor, decide)

    def complete(self, actor: str, token: str, signature: str) -> Completed:
        """Append a prepared event with the reader's signature (or ask for a new one)."""
        return self.remote.complete(token, actor, signature)

    # ----------------------------------------------------------------- helpers

    def _readable(self, actor: str, image_id: str) -> ImageState:
        """The image if `actor` may open it: a reader only their queue and their votes."""
        try:
            image = self.records.get_image(image_id)
        except DermLedgerError:
            raise NotFound("not found") from None
        if image.excluded or image.captured.get("erased"):
            raise NotFound("not found")
        roles = self.kernel.get_actor(actor).roles
        if blinding.is_reader_only(roles):
            facts = image.facts()
            mine = any(v.actor == actor for v in facts.active_votes)
            if not mine and not confirmation.check_vote(facts, actor, supersede=False).allowed:
                raise NotFound("not found")
        return image

    def clinical_fields(self, image: ImageState) -> dict[str, Any]:
        """Age, sex, site, size and skin type: from the image, else the patient record."""
        try:
            patient = self.records.get_patient(image.patient_id).fields
        except NotFound:
            patient = {}
        merged = {**patient, **image.metadata}
        return {name: merged[name] for name in CLINICAL_FIELDS if merged.get(name) is not None}


def _visibility(roles: frozenset[str], actor: str, image: ImageState) -> Visibility:
    facts = image.facts()
    active = facts.active_votes
    panel = confirmation.PANEL_SIZE + facts.further_readers_ordered
    return blinding.visibility(
        blinding.ReaderFacts(
            roles=roles,
            has_voted=any(v.actor == actor for v in active),
            panel_complete=len(active) >= panel or facts.histology is not None,
        )
    )


def redact(record: dict[str, Any], seen: Visibility, actor: str) -> dict[str, Any]:
    """An image record with what `seen` withholds taken out (and the policy named)."""
    if seen.level == "full":
        return record
    out = {k: v for k, v in record.items() if k not in WITHHELD_FIELDS}
    out["withheld"] = f"{seen.policy} v{seen.version} ({seen.level})"
    if not seen.annotation:
        out["structures"] = {}
    out["metadata"] = {k: v for k, v in record["metadata"].items() if k not in WITHHELD_METADATA}
    out["blinding"] = seen.as_record()
    if "history" in record:
        out["history"] = [e for e in record["history"] if _may_see(e, seen, actor)]
    return out


def _may_see(event: dict[str, Any], seen: Visibility, actor: str) -> bool:
    kind = event["type"]
    if kind not in JUDGEMENTS:
        return True
    if kind in ("AnnotationRecorded", "AnnotationCorrected"):
        return seen.annotation
    if kind == "ConsensusVoteCast":
        return seen.own_vote if event["actor"] == actor else seen.other_votes
    if kind in ("HistologyRecorded", "HistologyCorrected"):
        return seen.histology
    return seen.consensus
