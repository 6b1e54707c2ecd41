"""Checking a release's evidence pack against the ledger it came from (issue 16).

Offline, `release verify` recomputes every number of evidence.json from the release's
files; with the ledger at hand this service also replays the log to the release's
position and checks the facts the files cannot show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dermledger.projections.release.evidence_ledger import check_ledger_block
from dermledger.projections.study_view import replay
from dermledger.study.kernel import Kernel


class EvidenceService:
    """The ledger side of `release verify --ledger` for the evidence pack."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def check_against_ledger(self, folder: Path, manifest: dict[str, Any]) -> list[str]:
        """Each fact of evidence.json's ledger block that the log at the release's position
        does not give, named; [] when the release is of another ledger (said elsewhere)."""
        if manifest.get("ledger_id") != self.kernel.ledger_id():
            return []
        try:
            seq = int(manifest["as_of"]["seq"])
        except (KeyError, TypeError, ValueError):
            return []  # a malformed manifest: the release checks name it
        return check_ledger_block(folder, manifest, replay(self.kernel.opened_log(), upto=seq))
