"""The ledger's witnesses: who they are, the quorum, asking them to cosign, checking them.

Witnesses and the quorum are events (`WitnessAdded`, `WitnessRemoved`, `WitnessQuorumSet`),
so an auditor replays who the ledger trusted when. `cosign` sends a checkpoint note to
every witness at once, each with the consistency proof from the size that witness last
cosigned (as the ledger recorded it), follows a 409 by proving from the size the witness
reports, checks every reply against the witness's key and records what came back, gaps
included, as one `CheckpointCosigned` event. A witness that is down or slow costs at
most the timeout and is reported, never fatal: the quorum decides.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from dermledger.ledger.cosigning import (
    CHECKPOINT_COSIGNED,
    WITNESS_ADDED,
    WITNESS_QUORUM_SET,
    WITNESS_REMOVED,
    WitnessEntry,
    WitnessLedger,
    cosignature_problem,
    cosigned_at,
    cosigner_key,
)
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound
from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import MalformedNote
from dermledger.ledger.signing import Signer
from dermledger.ledger.tlogproof import event_proof
from dermledger.ledger.witness_client import (
    DEFAULT_TIMEOUT,
    Cosigned,
    Refused,
    SizeConflict,
    add_checkpoint,
)
from dermledger.policies import witness_quorum as quorum_policy
from dermledger.policies.witness_quorum import PolicyWitness, TlogPolicy
from dermledger.study.kernel import LEDGER_STREAM, Kernel, Proposal
from dermledger.study.witness_audit import witness_views

WITNESS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_CONFLICTS = 3  # 409s followed per witness and checkpoint before giving up


@dataclass
class CosignReport:
    """Who cosigned a checkpoint, who did not and why, and the quorum verdict."""

    tree_size: int
    cosigned: dict[str, str] = field(default_factory=dict)  # witness -> line
    missing: dict[str, str] = field(default_factory=dict)  # witness -> reason
    witnesses: int = 0
    needed: int = 0
    quorum_met: bool = True
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "cosigned": {n: cosigned_at(line) for n, line in sorted(self.cosigned.items())},
            "missing": dict(sorted(self.missing.items())),
            "witnesses": self.witnesses, "needed": self.needed,
            "quorum_met": self.quorum_met, "reason": self.reason,
        }  # fmt: skip


class WitnessService:
    """Enrol and remove witnesses, set the quorum, collect and check cosignatures."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._http: httpx.Client | None = None  # one pool: making a client loads TLS roots

    def http(self) -> httpx.Client:
        """The HTTP client every witness call shares (thread-safe, keep-alive)."""
        if self._http is None:
            self._http = httpx.Client(timeout=DEFAULT_TIMEOUT)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def state(self) -> WitnessLedger:
        return WitnessLedger.fold((0, e) for e in self.kernel.stream(LEDGER_STREAM))

    # ------------------------------------------------------------------ registry

    def add(self, signer: Signer, name: str, url: str, vkey: str) -> Envelope:
        """Enrol a witness by name, submission URL and cosignature/v1 verifier key."""
        if not WITNESS_NAME.fullmatch(name):
            raise InvalidInput(
                f"witness name {name[:80]!r} is not allowed: use 1-64 letters, digits, '.', "
                "'_' or '-', starting with a letter or digit"
            )
        try:
            key = cosigner_key(vkey)
        except MalformedNote as exc:
            raise InvalidInput(f"the witness key is not valid: {exc}") from None
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("the witness URL must start with http:// or https://")

        def decide() -> list[Proposal]:
            state = self.state()
            if name in state.witnesses:
                raise Conflict(f"{name} is already a witness of this ledger")
            if any(cosigner_key(w.vkey).public_key == key.public_key
                   for w in state.witnesses.values()):  # fmt: skip
                raise Conflict("another witness of this ledger has the same key")
            return [Proposal(LEDGER_STREAM, WITNESS_ADDED,
                             {"name": name, "url": url.rstrip("/"), "vkey": key.vkey})]  # fmt: skip

        return self.kernel.append(signer, decide)[0]

    def remove(self, signer: Signer, name: str, reason: str) -> Envelope:
        """Stop asking a witness; refused if the quorum could then never be met."""

        def decide() -> list[Proposal]:
            state = self.state()
            if name not in state.witnesses:
                raise NotFound(f"{name} is not a witness of this ledger")
            left = len(state.witnesses) - 1
            if state.quorum is not None and state.quorum > left:
                raise InvalidInput(
                    f"removing {name} leaves {left} witnesses for a quorum of {state.quorum}; "
                    "lower the quorum first"
                )
            return [Proposal(LEDGER_STREAM, WITNESS_REMOVED, {"name": name, "reason": reason})]

        return self.kernel.append(signer, decide)[0]

    def set_quorum(self, signer: Signer, k: int) -> Envelope:
        """Require k of the ledger's witnesses to cosign (0: none)."""

        def decide() -> list[Proposal]:
            quorum_policy.check_k(k, len(self.state().witnesses)).enforce()
            return [Proposal(LEDGER_STREAM, WITNESS_QUORUM_SET, {
                "k": k, "policy": quorum_policy.POLICY_NAME,
                "version": quorum_policy.POLICY_VERSION})]  # fmt: skip

        return self.kernel.append(signer, decide)[0]

    def listing(self) -> dict[str, Any]:
        """The log key, the witnesses with the size each last cosigned, and the quorum."""
        state = self.state()
        rows = [{"name": w.name, "url": w.url, "vkey": w.vkey,
                 "last_cosigned_size": state.last_cosigned.get(w.name)}
                for w in sorted(state.witnesses.values(), key=lambda w: w.name)]  # fmt: skip
        return {
            "origin": state.origin, "log_vkey": state.log_vkey, "witnesses": rows,
            "quorum": quorum_policy.effective_k(state.quorum, len(rows)),
        }  # fmt: skip

    def policy_text(self) -> str:
        """The ledger's log key, witnesses and quorum as a tlog-policy file."""
        state = self.state()
        witnesses = [PolicyWitness(w.name, w.vkey, w.url)
                     for w in sorted(state.witnesses.values(), key=lambda w: w.name)]  # fmt: skip
        k = quorum_policy.effective_k(state.quorum, len(witnesses))
        log = (state.log_vkey, None) if state.log_vkey else None
        return quorum_policy.format_policy(log, witnesses, k)

    def import_policy(self, signer: Signer, policy: TlogPolicy) -> list[Envelope]:
        """Enrol the policy's witnesses (each needs a URL) and set its quorum, atomically."""
        k = quorum_policy.as_k_of_n(policy)
        missing = [n for n, w in policy.witnesses.items() if not w.url]
        if missing:
            raise InvalidInput(f"the policy gives no URL for witness {missing[0]}")
        for w in policy.witnesses.values():
            cosigner_key(w.vkey)

        def decide() -> list[Proposal]:
            known = self.state().witnesses
            new = [w for n, w in policy.witnesses.items() if n not in known]
            clash = [n for n, w in policy.witnesses.items()
                     if n in known and known[n].vkey != w.vkey]  # fmt: skip
            if clash:
                raise Conflict(f"{clash[0]} is already a witness here with another key")
            quorum_policy.check_k(k, len(known) + len(new)).enforce()
            adds = [Proposal(LEDGER_STREAM, WITNESS_ADDED,
                             {"name": w.name, "url": (w.url or "").rstrip("/"), "vkey": w.vkey})
                    for w in new]  # fmt: skip
            return [*adds, Proposal(LEDGER_STREAM, WITNESS_QUORUM_SET, {
                "k": k, "policy": quorum_policy.POLICY_NAME,
                "version": quorum_policy.POLICY_VERSION})]  # fmt: skip

        return self.kernel.append(signer, decide)

    # -------------------------------------------------------------------- cosign

    def log_tree(self, size: int) -> MerkleTree:
        tree = MerkleTree()
        for entry in self.kernel.log():
            if entry.seq > size:
                break
            tree.append(hash_leaf(bytes.fromhex(entry.envelope().hash)))
        return tree

    def cosign(
        self, signer: Signer, checkpoint: Envelope, *, timeout: float = DEFAULT_TIMEOUT
    ) -> CosignReport:
        """Ask every witness to cosign the checkpoint note of `checkpoint` (a
        CheckpointSigned with a note) and record the answers; never raises for a witness."""
        payload = checkpoint.payload
        if not payload.get("note"):
            raise InvalidInput("the checkpoint has no note for witnesses to cosign")
        state = self.state()
        size = int(payload["tree_size"])
        report = CosignReport(size, witnesses=len(state.witnesses))
        report.needed = quorum_policy.effective_k(state.quorum, len(state.witnesses))
        if state.witnesses:
            tree = self.log_tree(size)
            note = payload["note"].encode("utf-8")
            entries = sorted(state.witnesses.values(), key=lambda w: w.name)
            http = self.http()
            with ThreadPoolExecutor(max_workers=len(entries)) as pool:
                answers = list(pool.map(
                    lambda w: self._ask(w, state.last_cosigned.get(w.name, 0), note, tree,
                                        timeout, http), entries))  # fmt: skip
            for entry, (line, reason) in zip(entries, answers, strict=True):
                if line is not None:
                    report.cosigned[entry.name] = line
                else:
                    report.missing[entry.name] = reason
            self._record(signer, payload, report)
        decision = quorum_policy.check_ledger_quorum(
            state.quorum, list(state.witnesses), report.cosigned
        )
        report.quorum_met, report.reason = decision.allowed, decision.reason
        return report

    def _record(self, signer: Signer, payload: dict[str, Any], report: CosignReport) -> None:
        cosigned, missing = sorted(report.cosigned.items()), sorted(report.missing.items())
        body = {
            "origin": payload["origin"], "tree_size": payload["tree_size"],
            "root": payload["root"],
            "cosignatures": [{"witness": n, "line": line} for n, line in cosigned],
            "missing": [{"witness": n, "reason": r[:500]} for n, r in missing],
        }  # fmt: skip
        self.kernel.append(signer, lambda: [Proposal(LEDGER_STREAM, CHECKPOINT_COSIGNED, body)])

    @staticmethod
    def _ask(
        entry: WitnessEntry,
        old: int,
        note: bytes,
        tree: MerkleTree,
        timeout: float,
        http: httpx.Client,
    ) -> tuple[str | None, str]:
        """(cosignature line, "") from one witness, or (None, why not)."""
        size, verifier = tree.size, entry.verifier
        text = note.decode("utf-8").split("\n\n")[0] + "\n"
        for _ in range(MAX_CONFLICTS):
            if old > size:
                return None, (
                    f"it has cosigned a checkpoint of {old} events, more than this log's {size}: "
                    "the log was rolled back or forked behind a witnessed checkpoint"
                )
            proof = tree.consistency_proof(old, size) if 0 < old < size else []
            result = add_checkpoint(entry.url, old, proof, note, timeout, client=http)
            if isinstance(result, SizeConflict):
                if result.size == old:  # its checkpoint of that size has another root
                    return None, (
                        f"it has cosigned another checkpoint of {old} events: the log was "
                        "forked or rolled back behind a witnessed checkpoint"
                    )
                old = result.size
                continue
            if isinstance(result, Cosigned):
                mine = [s.line() for s in result.signatures
                        if (s.name, s.key_id) == (verifier.name, verifier.key_id)]  # fmt: skip
                if not mine:
                    return None, "it answered without a cosignature by its enrolled key"
                problem = cosignature_problem(text, mine[0], verifier)
                return (None, f"its reply is rejected: {problem}") if problem else (mine[0], "")
            if isinstance(result, Refused):
                return None, f"it refused ({result.status}): {result.message}"
            return None, f"it is unreachable: {result.reason}"
        return None, "it kept reporting a different size (409)"

    # -------------------------------------------------------------------- proofs

    def proofs(self, stream_id: str) -> tuple[list[dict[str, Any]], list[int]]:
        """A C2SP tlog-proof for each event of a stream (an image), against the newest
        checkpoint note whose cosignatures meet the quorum (else the newest note); and
        the seqs of its events no checkpoint covers yet."""
        state = self.state()
        met = [c for c in state.checkpoints if quorum_policy.check_ledger_quorum(
            state.quorum, list(state.witnesses), c.cosignatures).allowed]  # fmt: skip
        record = (met or state.checkpoints or [None])[-1]
        if record is None:
            raise NotFound("the log has no checkpoint note yet; run dermledger checkpoint")
        wanted = {e.event_id for e in self.kernel.stream(stream_id)}
        if not wanted:
            raise NotFound(f"there is no image or stream {stream_id}")
        tree, found = MerkleTree(), []
        for entry in self.kernel.log():
            env = entry.envelope()
            if entry.seq <= record.size:
                tree.append(hash_leaf(bytes.fromhex(env.hash)))
            if env.event_id in wanted:
                found.append((entry.seq, env))
        note = record.cosigned_note()
        proofs = [{"seq": seq, "type": env.type, "hash": env.hash, "tree_size": record.size,
                   "proof": event_proof(env, seq, tree.inclusion_proof(seq - 1), note)}
                  for seq, env in found if seq <= record.size]  # fmt: skip
        return proofs, [seq for seq, _ in found if seq > record.size]

    # --------------------------------------------------------------------- check

    def check(self, url: str, vkey: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
              ) -> dict[str, Any]:  # fmt: skip
        """Ask the witness at `url` for its latest checkpoint of this log and prove the log
        still contains it; `vkey` defaults to the key of the enrolled witness at `url`."""
        state = self.state()
        if state.origin is None or state.log_vkey is None:
            raise NotFound("the log has no checkpoint key yet; run dermledger checkpoint")
        url = url.rstrip("/")
        by_url = {w.url: w for w in state.witnesses.values()}
        if vkey is None and url not in by_url:
            raise NotFound(f"no witness of this ledger has the URL {url}; give its key with --vkey")
        name = by_url[url].name if url in by_url else url
        try:
            key = cosigner_key(vkey or by_url[url].vkey)
        except MalformedNote as exc:
            raise InvalidInput(f"the witness key is not valid: {exc}") from None
        tree = self.log_tree(self.kernel.recorder.max_notification_id() or 0)
        rows, failures = witness_views(
            tree, state.origin, [state.log_vkey], [(name, url, key)], timeout=timeout
        )
        return rows[0] | {"ok": not failures, "log_size": tree.size}
