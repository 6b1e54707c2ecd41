"""Screenshots of report.html for the README: a verified release and a damaged one.

Builds the browser tests' small release, damages a copy (one byte of an image, one extra
file), opens each release's own page in Debian's Chromium with the network off, picks the
folder, and saves docs/screenshots/release-page-{verified,damaged}.png.

    PYTHONPATH=..:. .venv/bin/python scripts/release_page_screenshots.py   # tests.* importable
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from dermledger.tests.browser import releases
from dermledger.tests.browser.driver import pick_folder

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def shoot(browser: object, folder: Path, target: Path, full: bool) -> None:
    """Open the folder's own page, pick the folder, wait for the verdict, save a PNG."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    context.set_offline(True)
    page = context.new_page()
    page.goto((folder / "report.html").as_uri())
    print(target.name, pick_folder(page, folder).verdict)
    page.wait_for_selector("#gallery .card img", state="attached")
    if full:
        page.locator("#images").scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # the gallery's lazy images
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(target), full_page=full)
    context.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder, _ = releases.build_release(Path(tmp))
        damaged = releases.copy_release(folder, Path(tmp) / "damaged" / "v1")
        releases.flip_image_byte(damaged)
        releases.add_extra_file(damaged)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            shoot(browser, folder, OUT / "release-page-verified.png", full=False)
            shoot(browser, damaged, OUT / "release-page-damaged.png", full=False)
            browser.close()


if __name__ == "__main__":
    main()
