"""What the witnesses vouch for, as `audit verify` reports it.

The log's own pass (`WitnessLedger` as a verification observer) already rejects a note
the log key did not sign and a recorded cosignature that does not verify. This adds the
quorum, checkpoint by checkpoint, either the ledger's own k of n or a tlog-policy an
auditor brings (their keys, not the ledger's list), and, when the policy gives witness
URLs, the witnesses' own view: the latest checkpoint each cosigned must still be in the
log (a log cut back or forked behind it is named).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dermledger.ledger.cosigning import (
    CheckpointRecord,
    WitnessLedger,
    cosignature_problem,
    cosigner_key,
    log_key,
    view_problem,
)
from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.merkle import MerkleTree
from dermledger.ledger.notes import CosignatureVerifier, MalformedNote, parse_signature_line
from dermledger.ledger.witness_client import (
    DEFAULT_TIMEOUT,
    Refused,
    Unreachable,
    latest_checkpoint,
)
from dermledger.policies import witness_quorum as quorum_policy
from dermledger.policies.witness_quorum import TlogPolicy


@dataclass
class WitnessSummary:
    """Checkpoints with their quorum verdicts, witnesses' views, and what failed."""

    source: str
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "checkpoints": self.checkpoints, "views": self.views,
                "failures": self.failures, "ok": self.ok}  # fmt: skip


def _row(record: CheckpointRecord, cosigned: list[str], met: bool, reason: str) -> dict[str, Any]:
    return {"seq": record.seq, "tree_size": record.size, "root": record.root,
            "cosigned": sorted(cosigned), "quorum_met": met, "reason": reason}  # fmt: skip


def ledger_summary(state: WitnessLedger) -> WitnessSummary:
    """The ledger's own k of n, per cosigned checkpoint (a shortfall is reported, not a
    failure: the log itself is intact, it is only less witnessed)."""
    summary = WitnessSummary("the ledger's witnesses")
    for record in state.checkpoints:
        if not record.witnesses and not record.cosignatures:
            continue
        decision = quorum_policy.check_ledger_quorum(
            record.quorum, record.witnesses, record.cosignatures
        )
        summary.checkpoints.append(
            _row(record, list(record.cosignatures), decision.allowed, decision.reason)
        )
    return summary


def policy_verifiers(policy: TlogPolicy) -> dict[str, CosignatureVerifier]:
    """The policy's witness keys, parsed; one sentence if one is not a witness key."""
    try:
        return {name: cosigner_key(w.vkey) for name, w in policy.witnesses.items()}
    except MalformedNote as exc:
        raise InvalidInput(f"the policy's witness keys: {exc}") from None


def policy_summary(state: WitnessLedger, policy: TlogPolicy) -> WitnessSummary:
    """Every recorded cosignature by a key the policy trusts must verify; the newest
    checkpoint must meet the policy's quorum; the log key must be the policy's log."""
    summary = WitnessSummary("the auditor's policy")
    keys = policy_verifiers(policy)
    if policy.logs and state.log_vkey is not None:
        trusted = {log_key(v).public_key for v, _ in policy.logs}
        if log_key(state.log_vkey).public_key not in trusted:
            summary.failures.append("the log's checkpoint key is not a log key of the policy")
    for record in state.checkpoints:
        cosigned = []
        lines = list(record.cosignatures.values())
        for name, verifier in keys.items():
            mine = [line for line in lines if _by(line, verifier)]
            found = (cosignature_problem(record.text, line, verifier) for line in mine)
            problems = [p for p in found if p]
            if problems:
                summary.failures.append(
                    f"the cosignature of {name} on the checkpoint of size {record.size} is "
                    f"rejected: {problems[0]}"
                )
            elif mine:
                cosigned.append(name)
        decision = quorum_policy.check_policy_quorum(policy, cosigned)
        summary.checkpoints.append(_row(record, cosigned, decision.allowed, decision.reason))
    newest = summary.checkpoints[-1] if summary.checkpoints else None
    if policy.quorum != quorum_policy.NONE and (newest is None or not newest["quorum_met"]):
        size = newest["tree_size"] if newest else 0
        summary.failures.append(
            f"the newest checkpoint (tree_size {size}) is not witnessed by the policy's quorum"
            if newest
            else "the log has no checkpoint note for the policy's witnesses to vouch for"
        )
    return summary


def _by(line: str, verifier: CosignatureVerifier) -> bool:
    """Whether a recorded line claims to be by `verifier` (same key name and key ID)."""
    try:
        sig = parse_signature_line(line.rstrip("\n"))
    except MalformedNote:
        return False
    return (sig.name, sig.key_id) == (verifier.name, verifier.key_id)


def witness_views(
    tree: MerkleTree,
    origin: str,
    log_vkeys: list[str],
    witnesses: list[tuple[str, str, CosignatureVerifier]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Ask each (name, url, key) witness for its latest checkpoint of `origin` signed by
    one of `log_vkeys` and prove the log in `tree` still contains it. Returns rows and
    the failures (cut back, forked); a witness that is down is a row, not a failure."""
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    log_keys = [log_key(v) for v in log_vkeys]
    for name, url, verifier in witnesses:
        got = latest_checkpoint(url, origin, log_keys, [verifier], timeout)
        if isinstance(got, Unreachable):
            rows.append({"witness": name, "status": "unreachable", "detail": got.reason})
        elif isinstance(got, Refused):
            status = "no checkpoint" if got.status == 404 else "refused"
            rows.append({"witness": name, "status": status, "detail": got.message})
        else:
            problem = view_problem(tree, got.checkpoint, f"witness {name}")
            rows.append({"witness": name, "status": "contradicts the log" if problem else
                         "consistent", "tree_size": got.checkpoint.size,
                         "detail": problem or f"proved consistent up to {tree.size}"})  # fmt: skip
            if problem:
                failures.append(problem)
    return rows, failures
