"""The staged verification of a diagnosis, as named, versioned, pure rules.

- `clinical`: an initial annotation by an annotator.
- `consensus`: three distinct specialists (none of them the initial annotator); a
  category chosen by at least two of three is the consensus ("single image expert
  consensus"). Three different categories is `disputed`: a coordinator orders histology
  or a further reader, whose vote can break the tie.
- `histology`: a pathology result is the label ("histopathology"); when it disagrees
  with the consensus the discordance is kept, not hidden.
- A malignant label (MEL, BCC, SCC) is not releasable without histology.

Everything here is a pure function of the image's events folded into plain facts,
so a past state derives identically.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from dermledger.policies.base import Decision
from dermledger.policies.categories import is_malignant, melanocytic_of

POLICY_NAME = "staged-verification"
POLICY_VERSION = "1"
PANEL_SIZE = 3

CONFIRM_TYPE = {
    "clinical": "single contributor clinical assessment",
    "consensus": "single image expert consensus",
    "histology": "histopathology",
}


@dataclass(frozen=True)
class Label:
    actor: str
    diagnosis: str
    category: str


@dataclass(frozen=True)
class Vote(Label):
    superseded: bool = False


@dataclass(frozen=True)
class Facts:
    """One image's verification events, folded."""

    annotation: Label | None = None
    votes: tuple[Vote, ...] = ()
    histology: Label | None = None
    further_readers_ordered: int = 0
    histology_ordered: bool = False

    @property
    def active_votes(self) -> list[Vote]:
        return [v for v in self.votes if not v.superseded]


@dataclass(frozen=True)
class Verification:
    """The derived verification state of one image."""

    stage: str | None  # None (unannotated), clinical, consensus or histology
    diagnosis: str | None
    category: str | None
    diagnosis_confirm_type: str | None
    melanocytic: bool | None
    consensus: str  # none, pending, reached, disputed
    consensus_category: str | None = None
    consensus_support: str | None = None  # e.g. "3/3", "2/3"
    discordant: bool = False
    malignant: bool = False
    needs_histology: bool = False
    readers: tuple[str, ...] = field(default_factory=tuple)
    histology_ordered: bool = False  # a coordinator ordered it (`order --histology`)
    # no result yet, and either ordered or required by a malignant label
    histology_awaited: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "verification_stage": self.stage,
            "diagnosis": self.diagnosis,
            "category": self.category,
            "diagnosis_confirm_type": self.diagnosis_confirm_type,
            "melanocytic": self.melanocytic,
            "consensus": self.consensus,
            "consensus_category": self.consensus_category,
            "consensus_support": self.consensus_support,
            "discordant": self.discordant,
            "malignant": self.malignant,
            "needs_histology": self.needs_histology,
            "readers": list(self.readers),
            "histology_ordered": self.histology_ordered,
            "histology_awaited": self.histology_awaited,
        }


def consensus_of(votes: list[Vote]) -> tuple[str, str | None, str | None, str | None]:
    """(status, category, diagnosis, support) from the active votes.

    Reached when at least PANEL_SIZE votes are in and one category has at least two votes
    and more than any other; the diagnosis is that category's most frequent label (the
    earliest on a tie).
    """
    if len(votes) < PANEL_SIZE:
        return "pending", None, None, None
    counts = Counter(v.category for v in votes)
    ranked = counts.most_common()
    top, n = ranked[0]
    if n < 2 or (len(ranked) > 1 and ranked[1][1] == n):
        return "disputed", None, None, None
    labels = Counter(v.diagnosis for v in votes if v.category == top)
    best = max(labels.values())
    diagnosis = next(
        v.diagnosis for v in votes if v.category == top and labels[v.diagnosis] == best
    )
    return "reached", top, diagnosis, f"{n}/{len(votes)}"


def derive(facts: Facts) -> Verification:
    """The verification state the events imply, with whether histology is awaited."""
    found = _derive_stage(facts)
    ordered = facts.histology_ordered
    awaited = facts.histology is None and (ordered or found.needs_histology)
    return replace(found, histology_ordered=ordered, histology_awaited=awaited)


def _derive_stage(facts: Facts) -> Verification:
    votes = facts.active_votes
    status, c_category, c_diagnosis, support = consensus_of(votes)
    if facts.annotation is None and not votes and facts.histology is None:
        return Verification(None, None, None, None, None, "none")
    if facts.histology is not None:
        stage, diagnosis, category = (
            "histology",
            facts.histology.diagnosis,
            facts.histology.category,
        )
    elif status == "reached":
        stage, diagnosis, category = "consensus", c_diagnosis, c_category
    elif facts.annotation is not None:
        stage, diagnosis = "clinical", facts.annotation.diagnosis
        category = facts.annotation.category
    else:
        return Verification(None, None, None, None, None, status if votes else "none")
    malignant = category is not None and is_malignant(category)
    return Verification(
        stage=stage,
        diagnosis=diagnosis,
        category=category,
        diagnosis_confirm_type=CONFIRM_TYPE[stage],
        melanocytic=melanocytic_of(diagnosis) if diagnosis else None,
        consensus=status if votes else "none",
        consensus_category=c_category,
        consensus_support=support,
        discordant=(
            facts.histology is not None and c_category is not None
            and facts.histology.category != c_category
        ),
        malignant=malignant,
        needs_histology=malignant and stage != "histology",
        readers=tuple(v.actor for v in votes),
    )  # fmt: skip


# ------------------------------------------------------------------ append rules


def check_annotation(facts: Facts) -> Decision:
    if facts.annotation is not None:
        return _refuse(f"the image already has an initial annotation by {facts.annotation.actor}")
    return _allow()


def check_vote(facts: Facts, voter: str, *, supersede: bool) -> Decision:
    """One vote per specialist, never by the initial annotator, at most the panel size
    plus any further readers a coordinator ordered."""
    if facts.annotation is None:
        return _refuse("the image has no initial annotation yet; consensus comes after it")
    if facts.annotation.actor == voter:
        return _refuse(f"{voter} made the initial annotation and may not vote on this image")
    active = facts.active_votes
    mine = [v for v in active if v.actor == voter]
    if mine and not supersede:
        return _refuse(
            f"{voter} has already voted on this image; a new vote must supersede it with a reason"
        )
    if supersede and not mine:
        return _refuse(f"{voter} has no vote on this image to supersede")
    if facts.histology is not None and not supersede:
        return _refuse("the image already has histology; consensus votes are closed")
    allowed = PANEL_SIZE + facts.further_readers_ordered
    if not mine and len(active) >= allowed:
        status = consensus_of(active)[0]
        extra = " (a coordinator may order a further reader)" if status == "disputed" else ""
        return _refuse(f"the panel already has {len(active)} of {allowed} votes{extra}")
    return _allow()


def check_histology(facts: Facts) -> Decision:
    if facts.histology is not None:
        return _refuse(f"the image already has a histology result by {facts.histology.actor}")
    return _allow()


# A histology report's date is its own rule, so the staged-verification version that
# releases record does not move.
REPORT_DATE_POLICY = "histology-report-date"
REPORT_DATE_VERSION = "1"


def check_report_date(report_date: str | None, recorded_on: str) -> Decision:
    """A report cannot be dated after the day its result is recorded (both YYYY-MM-DD,
    `recorded_on` the ledger clock's UTC day; ISO dates order as strings)."""
    reason = None
    if report_date is not None and report_date > recorded_on:
        reason = (
            f"the report date {report_date} is after today, {recorded_on} (UTC), "
            "the day the result is recorded"
        )
    return Decision.of(REPORT_DATE_POLICY, REPORT_DATE_VERSION, reason)


# Correcting a recorded judgement, a rule of its own for the same reason.
CORRECTION_POLICY = "judgement-correction"
CORRECTION_VERSION = "1"


def check_correction(facts: Facts, kind: str, diagnosis: str) -> Decision:
    """A correction of the annotation or of the histology (`kind`) needs one recorded, and
    a different diagnosis than the one it replaces."""
    current = facts.annotation if kind == "annotation" else facts.histology
    reason = None
    if current is None:
        reason = f"the image has no {kind} to correct"
    elif current.diagnosis == diagnosis:
        reason = f"the {kind} already says {diagnosis}"
    return Decision.of(CORRECTION_POLICY, CORRECTION_VERSION, reason)


def check_order(facts: Facts, kind: str) -> Decision:
    """A coordinator orders histology or a further reader for a disputed image."""
    status = consensus_of(facts.active_votes)[0]
    if kind == "further-reader" and status != "disputed":
        return _refuse(f"a further reader is ordered only for a disputed panel (it is {status})")
    if kind == "histology" and facts.histology is not None:
        return _refuse("the image already has histology")
    return _allow()


def _allow() -> Decision:
    return Decision(True, POLICY_NAME, POLICY_VERSION)


def _refuse(reason: str) -> Decision:
    return Decision(False, POLICY_NAME, POLICY_VERSION, reason)
