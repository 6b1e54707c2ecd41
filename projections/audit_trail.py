"""The audit trail (21 CFR Part 11 style): who did what, when, why, old and new side by side.

One row per event, in log order, never hiding an earlier value: a metadata edit shows
the value it replaced, a superseding vote the vote it replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dermledger.ledger.envelope import Envelope
from dermledger.policies.roles import SIGNATURE_MEANING

SUMMARY_KEYS = ("diagnosis", "category", "kind", "outcome", "duplicate_of", "report_ref")


DIAGNOSES = ("AnnotationRecorded", "HistologyRecorded", "AnnotationCorrected", "HistologyCorrected")


def _diagnosis(p: dict[str, Any]) -> dict[str, Any]:
    """A diagnosis row's values; a correction (issue 18) keeps the one it replaced."""
    return {"field": "diagnosis", "old_value": p.get("old_diagnosis"), "new_value": p["diagnosis"]}


def trail_rows(
    events: Iterable[tuple[int, Envelope]],
    *,
    image: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Audit rows for the events, filtered by image, actor and a [since, until] time range."""
    roles: dict[str, list[str]] = {}
    votes: dict[str, tuple[str, str]] = {}  # event_id -> (actor, diagnosis)
    rows = []
    for seq, env in events:
        p = env.payload
        if env.type == "ActorEnrolled":
            roles[p["actor"]] = list(p["roles"])
        row = {
            "seq": seq,
            "recorded_at": env.recorded_at,
            "actor": env.actor,
            "role": p.get("signer_role") or ", ".join(roles.get(env.actor, [])),
            "meaning": p.get("signature_meaning") or SIGNATURE_MEANING.get(env.type, "record"),
            "type": env.type,
            "stream": env.stream_id,
            "image_id": p.get("image_id"),
            "field": None,
            "old_value": None,
            "new_value": None,
            "reason": p.get("reason"),
        }
        if env.type == "MetadataEdited":
            gone = "erased" if p.get("erased") else None  # its patient's key is destroyed
            row.update(field=p["field"], old_value=gone or p["old_value"],
                       new_value=gone or p["new_value"])  # fmt: skip
        elif env.type == "ConsensusVoteCast":
            votes[env.event_id] = (env.actor, p["diagnosis"])
            row.update(field="vote", new_value=p["diagnosis"])
            if p.get("supersedes") in votes:
                row["old_value"] = votes[p["supersedes"]][1]
        elif env.type in DIAGNOSES:
            row.update(_diagnosis(p))
        elif env.type == "ImageCaptured":
            erased = p.get("erased")  # its patient's key is destroyed (study/sealing.py)
            row.update(field="record", new_value="erased" if erased else
                       f"{p['format']} {p['width']}x{p['height']}")  # fmt: skip
        else:
            summary = {k: p[k] for k in SUMMARY_KEYS if k in p}
            if summary:
                row["new_value"] = ", ".join(f"{k}={v}" for k, v in summary.items())
        if image and row["image_id"] != image:
            continue
        if actor and env.actor != actor:
            continue
        if since and env.recorded_at < since:
            continue
        if until and env.recorded_at > until:
            continue
        rows.append(row)
    return rows
