"""Drive report.html as a reader does, and read back what it concluded; shared by the
browser tests and bench/bench_page.py."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Waiting uses selectors, not predicates: the page's CSP forbids the eval a predicate needs.
DONE = ", ".join(f"body[data-verdict={state}]" for state in ("ok", "fail", "error"))


@dataclass(frozen=True)
class PageVerdict:
    """What the page shows: its verdict line, each named failure, the witnesses' state."""

    state: str  # "ok", "fail" or "error"
    verdict: str
    failures: list[str]
    witnesses: str | None
    elapsed_ms: int


def read_verdict(page: Any, timeout_ms: int = 120_000) -> PageVerdict:
    page.wait_for_selector(DONE, state="attached", timeout=timeout_ms)
    witness = page.locator("#witness-state")
    return PageVerdict(
        state=page.evaluate("document.body.dataset.verdict"),
        verdict=page.inner_text("#verdict"),
        failures=page.locator("#failures li").all_inner_texts(),
        witnesses=witness.get_attribute("data-state") if witness.count() else None,
        elapsed_ms=int(page.evaluate("document.body.dataset.elapsedMs || '0'")),
    )


def set_keys(page: Any, keys: str) -> None:
    """Open the witnesses box and paste witness vkeys or a tlog-policy file into it."""
    if page.get_attribute("#witness-box", "open") is None:
        page.click("#witness-box summary")
    page.fill("#witness-keys", keys)


def pick_folder(page: Any, folder: Path) -> PageVerdict:
    page.evaluate("document.body.dataset.verdict = 'picking'")
    page.set_input_files("#pick-folder", folder)
    return read_verdict(page)


def pick_zip(page: Any, archive: Path) -> PageVerdict:
    page.evaluate("document.body.dataset.verdict = 'picking'")
    page.set_input_files("#pick-zip", archive)
    return read_verdict(page)


def drop_zip(page: Any, archive: Path) -> PageVerdict:
    """Drop a zip on the page as a drag from the desktop would (a DataTransfer with it)."""
    page.evaluate(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/zip" }));
            document.body.dataset.verdict = "picking";
            document.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer,
                                                           bubbles: true, cancelable: true }));
        }""",
        [archive.name, base64.b64encode(archive.read_bytes()).decode("ascii")],
    )
    return read_verdict(page)
