"""Real headless Chromium with the network off, for the page every release carries.

Debian's /usr/bin/chromium (never Playwright's own download). Without it the browser
tests skip, unless CI is set: then a missing browser fails them, so CI cannot pass by
skipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = bool(os.environ.get("CI"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() or IN_CI:
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent (and CI is not set)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for this folder's tests, stopped when they are done: Playwright's sync
    API allows one running instance a thread, and the reading station's tests start their
    own."""
    if not CHROMIUM.exists():
        pytest.fail(f"CI is set but {CHROMIUM} is missing: .ci/run installs it with apt-get")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


@dataclass
class Opened:
    """A page, and what it tried to fetch off the disk or complained of."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline_page(browser: Any) -> Iterator[Callable[[Path], Opened]]:
    """Open a file:// page in a fresh offline context; any non-file request is aborted and
    recorded, and so is every console error (a CSP violation shows up there)."""
    context = browser.new_context()
    context.set_offline(True)
    requests: list[str] = []
    errors: list[str] = []

    def refuse(route: Any) -> None:
        requests.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(("file:", "blob:", "data:")), refuse)

    def open_page(report: Path) -> Opened:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        return Opened(page, requests, errors)

    yield open_page
    context.close()
