"""The witnessed checkpoint a release carries (DESIGN sections 6 and 9).

A release is built at a position P; its manifest's checkpoint is the tree of the first P
events. Witnesses can only cosign a log's newest checkpoint (never an older size than
they saw), so the choice is: a release uses the newest cosigned checkpoint note of exactly
P events if the ledger recorded one, and otherwise, when P is the end of the log,
`release create` checkpoints there itself and collects the cosignatures. A past position
without a cosigned checkpoint cannot be witnessed any more. The quorum is the ledger's
current k of n; without it publishing is refused unless --allow-unwitnessed, and the
datasheet then says so in the words of projections/release/messages.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dermledger.ledger.cosigning import WitnessLedger
from dermledger.ledger.errors import PolicyViolation
from dermledger.ledger.signing import Signer
from dermledger.ledger.witness_client import DEFAULT_TIMEOUT
from dermledger.policies import witness_quorum as quorum_policy
from dermledger.projections.release.messages import say
from dermledger.study.audit import AuditService
from dermledger.study.witnesses import WitnessService


@dataclass(frozen=True)
class Witnessing:
    """How `release create` may checkpoint: the log key's passphrase, the witnesses'
    timeout, and whether to publish without the quorum."""

    log_passphrase: Callable[[], str] | None = None  # asked only if a checkpoint is due
    allow_unwitnessed: bool = False
    timeout: float = DEFAULT_TIMEOUT


def _note_at(state: WitnessLedger, position: int) -> tuple[str | None, list[str]]:
    record = state.at_size(position)
    if record is None:
        return None, []
    current = [n for n in record.cosignatures if n in state.witnesses]
    return record.cosigned_note().decode("utf-8"), current


def release_witnessing(
    audit: AuditService,
    witnesses: WitnessService,
    signer: Signer,
    position: int,
    witnessing: Witnessing | None,
) -> tuple[str | None, str | None]:
    """(the cosigned checkpoint note for the manifest, the datasheet's statement).

    With `witnessing` None (a dry run or a rebuild) nothing is appended: the note recorded
    at `position`, if any, is used as it is.
    """
    state = witnesses.state()
    note, cosigned = _note_at(state, position)
    if not state.witnesses:
        return note, None
    decision = quorum_policy.check_ledger_quorum(state.quorum, list(state.witnesses), cosigned)
    at_end = position == (audit.kernel.recorder.max_notification_id() or 0)
    if not decision.allowed and witnessing is not None and at_end:
        passphrase = witnessing.log_passphrase() if witnessing.log_passphrase else None
        envelope = audit.sign_checkpoint(signer, log_passphrase=passphrase)
        if int(envelope.payload["tree_size"]) == position:
            witnesses.cosign(signer, envelope, timeout=witnessing.timeout)
            state = witnesses.state()
            note, cosigned = _note_at(state, position)
            decision = quorum_policy.check_ledger_quorum(
                state.quorum, list(state.witnesses), cosigned
            )
    if decision.allowed:
        return note, None
    reason = (
        decision.reason if note else f"no checkpoint of the first {position} events was cosigned"
    )
    if witnessing is not None and not witnessing.allow_unwitnessed:
        raise PolicyViolation(
            f"{reason}; the release is not published (use --allow-unwitnessed to publish "
            "it anyway, which its datasheet will state)",
            policy=quorum_policy.POLICY_NAME, version=quorum_policy.POLICY_VERSION,
        )  # fmt: skip
    return note, say("datasheet_unwitnessed", reason=reason)
