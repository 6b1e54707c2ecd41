"""The README's description of the duplicate policy is the policy in force: its version and
thresholds are the ones `DuplicateSuspected` events record (issue 18, item 11)."""

from __future__ import annotations

import re
from pathlib import Path

from dermledger.policies import duplicates

README = Path(__file__).resolve().parents[2] / "README.md"


def _duplicates_paragraph() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"- Duplicates \(policy `duplicate-detection` v\d+\).*?(?=\n\s*-|\n\d+\.)",
                      text, flags=re.S)  # fmt: skip
    assert match, "the README has no paragraph on the duplicate policy"
    return " ".join(match.group(0).split())


def test_readme_names_the_duplicate_policy_version_in_force() -> None:
    paragraph = _duplicates_paragraph()
    assert f"`{duplicates.POLICY_NAME}` v{duplicates.POLICY_VERSION})" in paragraph


def test_readme_gives_the_thresholds_in_force() -> None:
    paragraph = _duplicates_paragraph()
    assert f"pHash within {duplicates.DEFAULT_THRESHOLD} bits (the candidates)" in paragraph
    assert f"region distance within {duplicates.REGION_THRESHOLD} bits" in paragraph
    legacy = (
        f"pHash within {duplicates.LEGACY_THRESHOLD} bits, confirmed by dHash within "
        f"{duplicates.CONFIRM_THRESHOLD}"
    )
    assert f"v1 rule ({legacy})" in paragraph
