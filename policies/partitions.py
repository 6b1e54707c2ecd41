"""Policy `patient-partitions` v1: which partition each patient belongs to, and who may
read the sequestered test set.

Why patients and never images: images of one patient (and of one lesion) are strongly
correlated, so an image-level split leaks the test set into training, the classic leak of
skin-lesion benchmarks. Patients joined by a duplicate suspicion that was not resolved as
"distinct" form one unit and share a partition, so a near-duplicate never crosses a split.

Why this procedure: each unit gets a rank from SHA-256 of "<seed>:<first patient>", and
units are placed in rank order into the partition furthest below its target share within
the unit's stratum. The rank does not depend on which patients already exist, so a late
addition is placed by the very same rule (its stratum's counts decide), and a rerun with
the same seed over the same patients gives the same assignment. Earlier assignments never
move: only a recorded reassignment with a reason changes one.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import free_text, reasons
from dermledger.policies.base import Decision

POLICY_NAME = "patient-partitions"
POLICY_VERSION = "1"

PARTITIONS: tuple[str, ...] = ("train", "validation", "test")
SEQUESTERED = "test"
STRATIFY_BY: tuple[str, ...] = ("category",)
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class Scheme:
    """The recorded procedure: seed, percentage per partition, optional stratification."""

    seed: int
    ratios: tuple[int, int, int]  # train, validation, test; they sum to 100
    stratify: str | None = None

    def as_payload(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "ratios": dict(zip(PARTITIONS, self.ratios, strict=True)),
            "stratify": self.stratify,
            "policy": POLICY_NAME,
            "version": POLICY_VERSION,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> Scheme:
        ratios = payload["ratios"]
        assert isinstance(ratios, Mapping)
        seed, stratify = payload["seed"], payload.get("stratify")
        return cls(
            int(str(seed)),
            tuple(int(ratios[p]) for p in PARTITIONS),  # type: ignore[arg-type]
            str(stratify) if stratify else None,
        )


@dataclass(frozen=True)
class Candidate:
    """An included patient: its stratum and the patients a duplicate cluster joins it to."""

    patient_id: str
    stratum: str
    linked: tuple[str, ...] = ()


def parse_ratios(text: str) -> tuple[int, int, int]:
    """'70:15:15' as percentages of train, validation, test; InvalidInput otherwise."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise InvalidInput(f"ratios {text!r} must be three whole numbers like 70:15:15")
    ratios = (int(parts[0]), int(parts[1]), int(parts[2]))
    if sum(ratios) != 100:
        raise InvalidInput(f"ratios {text!r} must add up to 100")
    return ratios


def check_partition(name: str) -> Decision:
    """Allowed when `name` is a known partition."""
    reason = (
        None
        if name in PARTITIONS
        else (f"unknown partition {name!r}; partitions are {', '.join(PARTITIONS)}")
    )
    return Decision.of(POLICY_NAME, POLICY_VERSION, reason)


def check_scheme(requested: Scheme, recorded: Scheme | None) -> Decision:
    """Late additions follow the recorded rule: a second run must name the same scheme."""
    if requested.stratify is not None and requested.stratify not in STRATIFY_BY:
        return Decision.of(
            POLICY_NAME,
            POLICY_VERSION,
            f"cannot stratify by {requested.stratify!r}; only by category",
        )
    if recorded is None or recorded == requested:
        return Decision.of(POLICY_NAME, POLICY_VERSION, None)
    return Decision.of(
        POLICY_NAME,
        POLICY_VERSION,
        f"partitions were assigned with seed {recorded.seed}, ratios "
        f"{':'.join(map(str, recorded.ratios))} and stratify {recorded.stratify or 'none'}; "
        "late additions must follow the same rule",
    )


def check_reassignment(patient_id: str, current: str | None, to: str, reason: str) -> Decision:
    """A reassignment moves an assigned patient to another partition and says why."""
    refused = check_partition(to)
    if not refused.allowed:
        return refused
    if current is None:
        why: str | None = f"patient {patient_id} has no partition yet; run partition assign"
    elif current == to:
        why = f"patient {patient_id} is already in {to}"
    else:
        return reasons.check_reason(reason, "reassign a patient to another partition")
    return Decision.of(POLICY_NAME, POLICY_VERSION, why)


def check_access(partition: str, purpose: str | None) -> Decision:
    """Reading the sequestered test partition needs a stated purpose; others need none."""
    refused = check_partition(partition)
    if not refused.allowed:
        return refused
    missing = partition == SEQUESTERED and not (purpose or "").strip()
    if purpose and not missing:
        text = free_text.check("purpose", purpose)
        if not text.allowed:
            return text
    return Decision.of(
        POLICY_NAME,
        POLICY_VERSION,
        "reading the test partition needs a stated purpose (--purpose TEXT)" if missing else None,
    )


def rank(seed: int, key: str) -> str:
    """The unit's place in the order of assignment: independent of every other patient."""
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def units(candidates: Iterable[Candidate]) -> list[list[str]]:
    """Patients joined (transitively) by duplicate links, each unit sorted."""
    parent: dict[str, str] = {}

    def root(p: str) -> str:
        while parent.setdefault(p, p) != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for c in candidates:
        root(c.patient_id)
        for other in c.linked:
            a, b = root(c.patient_id), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = defaultdict(list)
    for p in list(parent):
        groups[root(p)].append(p)
    return [sorted(g) for g in groups.values()]


def assign(
    scheme: Scheme, candidates: Iterable[Candidate], existing: Mapping[str, str]
) -> dict[str, str]:
    """The partition of every candidate not yet in `existing` (which never changes).

    A unit with an assigned member follows it; otherwise, in rank order within its
    stratum (the stratum of its first patient), it goes to the partition furthest below
    its target share, ties broken in PARTITIONS order.
    """
    listed = list(candidates)
    stratum = {c.patient_id: (c.stratum if scheme.stratify else "all") for c in listed}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PARTITIONS, 0))
    for patient, partition in existing.items():
        if patient in stratum:
            counts[stratum[patient]][partition] += 1
    new: dict[str, str] = {}
    ordered = sorted(units(listed), key=lambda unit: rank(scheme.seed, unit[0]))
    for unit in ordered:
        fresh = [p for p in unit if p not in existing]
        if not fresh:
            continue
        held = sorted({existing[p] for p in unit if p in existing}, key=PARTITIONS.index)
        s = stratum.get(unit[0], UNLABELLED)
        if held:
            target = held[0]
        else:
            total = sum(counts[s].values()) + len(fresh)
            deficit = {
                p: r * total / 100 - counts[s][p]
                for p, r in zip(PARTITIONS, scheme.ratios, strict=True)
            }
            target = max(PARTITIONS, key=lambda p: (deficit[p], -PARTITIONS.index(p)))
        for p in fresh:
            new[p] = target
            counts[stratum.get(p, s)][target] += 1
    return new


def stratum_of(categories: Iterable[str | None], order: tuple[str, ...]) -> str:
    """A patient's stratum: the first of `order` (most severe first) among its labels."""
    present = {c for c in categories if c}
    return next((c for c in order if c in present), UNLABELLED)
