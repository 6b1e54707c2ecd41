"""The demo study: a whole workflow on a fresh ledger, driven through the service.

`dermledger demo` calls `run_demo`; each step is a service call a coordinator could
make from the command line. It grows with each capability of the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dermledger.ledger.app import DermLedger
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.verify import Report

DEMO_PASSPHRASE = "demo passphrase, not a secret"
TEAM: dict[str, list[str]] = {
    "dr-annotator": ["annotator"],
    "dr-reader1": ["specialist"],
    "dr-reader2": ["specialist"],
    "dr-reader3": ["specialist"],
    "dr-pathologist": ["pathologist"],
    "auditor": ["auditor"],
    "temp-coordinator": ["coordinator"],
}


@dataclass
class DemoResult:
    """What the demo did, for the final summary."""

    home: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    report: Report | None = None
    export_path: Path | None = None

    def step(self, what: str, detail: str) -> None:
        self.steps.append((what, detail))


def run_demo(settings: Settings, *, say: Callable[[str], None] = lambda s: None) -> DemoResult:
    """Found a ledger, enrol a team, revoke a key, checkpoint, verify and export."""
    result = DemoResult(home=settings.home)
    ledger = DermLedger(settings)
    try:
        ledger_id, _ = ledger.found("coordinator", DEMO_PASSPHRASE)
        result.step("init", f"ledger {ledger_id}, founding coordinator 'coordinator'")
        lead = ledger.unlock("coordinator", DEMO_PASSPHRASE)
        for name, roles in TEAM.items():
            ledger.enrol(lead, name, roles, passphrase=DEMO_PASSPHRASE)
        result.step("actor add", f"{len(TEAM)} actors: " + ", ".join(TEAM))
        ledger.revoke(lead, "temp-coordinator", "temporary access ended")
        result.step("actor revoke", "temp-coordinator (its earlier events stay valid)")
        say("Signing a checkpoint")
        cp = ledger.sign_checkpoint(lead)
        result.step(
            "checkpoint", f"tree_size {cp.payload['tree_size']}, root {cp.payload['root'][:16]}…"
        )
        say("Verifying the whole log")
        result.report = ledger.verify()
        result.step("audit verify", "OK" if result.report.ok else result.report.failure.sentence())  # type: ignore[union-attr]
        result.export_path = settings.home / "export" / "log.jsonl"
        count = ledger.export(result.export_path)
        result.step("audit export", f"{count} events to {result.export_path}")
    finally:
        ledger.close()
    return result
