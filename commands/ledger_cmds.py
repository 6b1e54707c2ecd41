"""Ledger-wide commands: init and checkpoint."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dermledger.commands.context import get, out, passphrase_for, print_json, progress_bar, status
from dermledger.commands.options import Json
from dermledger.commands.witness import read_text_file
from dermledger.ledger.cosigning import cosigned_at, log_key
from dermledger.ledger.errors import InvalidInput, PolicyViolation, VerificationError
from dermledger.ledger.tlogproof import EXTENSION, parse_proof, verify_event_proof
from dermledger.ledger.witness_client import DEFAULT_TIMEOUT
from dermledger.policies.witness_quorum import parse_policy
from dermledger.projections.release.messages import say
from dermledger.projections.release.witnessing import check_release_witnesses
from dermledger.study.witnesses import CosignReport


def init(
    ctx: typer.Context,
    founder: Annotated[str, typer.Option("--founder", help="Name of the founding coordinator.")],
    json_: Json = False,
) -> None:
    """Create a ledger and its founding coordinator (a self-signed first event).

    The founder's new private key is encrypted with DERMLEDGER_PASSPHRASE (or a prompt).

    Example: DERMLEDGER_PASSPHRASE=... dermledger --home study init --founder ada
    """
    c = get(ctx)
    ledger = c.create_ledger()  # the one command that may create a ledger
    if ledger.kernel.is_initialised():
        # Refuse before asking for a passphrase or creating any key.
        ledger.actors.found(founder, "unused")
    ledger_id, envelope = ledger.actors.found(founder, passphrase_for(founder, confirm=True))
    result = {
        "ledger_id": ledger_id,
        "founder": founder,
        "key_id": envelope.key_id,
        "store": c.settings.describe(),
        "home": str(c.settings.home),
    }
    if json_:
        print_json(result)
        return
    status(f"Created ledger {ledger_id} in {c.settings.describe()}")
    status(f"Founding coordinator {founder}, key {envelope.key_id}")


LOG_PASSPHRASE_ENV = "DERMLEDGER_LOG_PASSPHRASE"
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0.1, max=120, help="Seconds to wait for each witness."),
]


def log_passphrase(actor: str) -> str:
    """The log key's passphrase: DERMLEDGER_LOG_PASSPHRASE, else the acting actor's."""
    return os.environ.get(LOG_PASSPHRASE_ENV) or passphrase_for(actor)


def checkpoint(
    ctx: typer.Context,
    timeout: Timeout = DEFAULT_TIMEOUT,
    init_log_key: Annotated[
        bool, typer.Option("--init-log-key", help="Only make and enrol the log's key.")
    ] = False,
    rotate_log_key: Annotated[
        bool, typer.Option("--rotate-log-key", help="Only replace the log's key (an event).")
    ] = False,
    json_: Json = False,
) -> None:
    """Sign the Merkle tree head of the whole log, append it, and have witnesses cosign it.

    The head is a C2SP checkpoint note signed by the log's own key (made and enrolled at
    the first checkpoint, sealed in <home>/keys/log/ with DERMLEDGER_LOG_PASSPHRASE or the
    acting actor's passphrase). Every witness (`witness add`) is asked to cosign; their
    cosignatures are recorded as an event. Exit 1 when the witness quorum is not met (the
    checkpoint is still appended). A copy is kept in <home>/checkpoints/ for `audit verify`.

    Example: dermledger --as ada checkpoint
    """
    c = get(ctx)
    signer = c.signer()
    if init_log_key or rotate_log_key:
        vkey = c.ledger.audit.enrol_log_key(
            signer, log_passphrase(signer.actor), rotate=rotate_log_key
        )
        if json_:
            print_json({"vkey": vkey, "origin": vkey.split("+", 1)[0]})
        else:
            status("Enrolled the log's checkpoint key; give witnesses its origin and key:")
            out.print(vkey)
        return
    total = c.ledger.kernel.recorder.max_notification_id() or 0
    with progress_bar("Hashing the log", total, quiet=c.quiet) as advance:
        envelope = c.ledger.audit.sign_checkpoint(
            signer, advance, log_passphrase=log_passphrase(signer.actor)
        )
    payload = envelope.payload
    report = c.ledger.witnesses.cosign(signer, envelope, timeout=timeout)
    if json_:
        keys = ("ledger_id", "tree_size", "root", "timestamp", "origin", "note")
        print_json({k: payload[k] for k in keys} | {"witnesses": report.as_dict()})
    else:
        out.print(f"checkpoint tree_size={payload['tree_size']} root={payload['root']}")
        print_cosign_report(report)
    if not report.quorum_met:
        raise PolicyViolation(report.reason + " (the checkpoint itself is appended)")


def print_cosign_report(report: CosignReport) -> None:
    """Who cosigned and who did not, one line each, then the quorum."""
    if not report.witnesses:
        return
    for name, line in sorted(report.cosigned.items()):
        moment = cosigned_at(line)
        when = datetime.fromtimestamp(moment, UTC).isoformat() if moment is not None else "?"
        out.print(f"  cosigned by {name} at {when}")
    for name, reason in sorted(report.missing.items()):
        out.print(f"  no cosignature from {name}: {reason}")
    verdict = "met" if report.quorum_met else "NOT met"
    out.print(f"quorum {verdict}: {len(report.cosigned)} of {report.witnesses} witnesses "
          f"cosigned, {report.needed} needed")  # fmt: skip


def proof(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="The image id (or any stream id).")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for one <seq>.tlog-proof file per event."),
    ] = None,
    json_: Json = False,
) -> None:
    """C2SP tlog-proofs of each of an image's events, verifiable offline.

    Each proof carries the event (as `audit export` writes it), its inclusion proof and the
    checkpoint note signed by the log key and cosigned by the witnesses: a verifier needs
    only the log's and the witnesses' keys. Events after the newest checkpoint are listed
    as not yet covered (run `dermledger checkpoint`).

    Example: dermledger proof 3f2a... --out proofs/
    """
    proofs, uncovered = get(ctx).ledger.witnesses.proofs(image)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for p in proofs:
            (out_dir / f"{p['seq']}{EXTENSION}").write_bytes(p["proof"])
    if json_:
        print_json({"proofs": [{k: v for k, v in p.items() if k != "proof"}
                               | {"file": f"{p['seq']}{EXTENSION}"} for p in proofs],
                    "uncovered": uncovered})  # fmt: skip
    elif out_dir is None:
        sys.stdout.write("\n".join(p["proof"].decode("utf-8") for p in proofs))
    for seq in uncovered:
        status(f"event seq {seq} is not covered by a checkpoint yet")
    if out_dir is not None:
        status(f"Wrote {len(proofs)} proof(s) to {out_dir}")


def verify_proof(
    proof_file: Annotated[Path, typer.Argument(help="A .tlog-proof file from `proof`.")],
    policy: Annotated[
        Path, typer.Option("--policy", help="tlog-policy with the log key and the witnesses.")
    ],
    json_: Json = False,
) -> None:
    """Check a tlog-proof offline, with nothing but a tlog-policy (no ledger needed): the
    event hashes to the proven leaf, the log key signed the checkpoint, the witnesses'
    cosignatures verify and meet the policy's quorum. Exit 1 naming what fails.

    Example: dermledger verify-proof proofs/12.tlog-proof --policy ethics.policy
    """
    trusted = parse_policy(read_text_file(policy, "policy"))
    if not trusted.logs:
        raise InvalidInput("the policy needs a 'log' line with the log's key")
    data = read_text_file(proof_file, "proof").encode("utf-8")
    event, head = verify_event_proof(data, [log_key(v) for v, _ in trusted.logs])
    note = parse_proof(data).note.decode("utf-8")
    checkpoint = {"tree_size": head.size, "root": head.root.hex(), "note": note}
    witnesses = check_release_witnesses({"checkpoint": checkpoint}, trusted)
    result = {"seq": event["seq"], "type": event["type"], "stream_id": event["stream_id"],
              "tree_size": head.size, "witnesses": witnesses.__dict__}  # fmt: skip
    if json_:
        print_json(result | {"ok": witnesses.state == "witnessed"})
    else:
        out.print(f"event seq {event['seq']} ({event['type']}) is in the log of {head.size} events")
    if witnesses.failures:
        raise VerificationError(witnesses.failures[0])
    status(say("state_witnessed" if witnesses.state == "witnessed" else "state_unwitnessed"))


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(checkpoint)
    app.command()(proof)
    app.command("verify-proof")(verify_proof)
