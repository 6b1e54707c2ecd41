"""The release page (report.html) beside `release verify`: the time to verify the demo's
release in headless Chromium, and with the CLI's own check, in the same run.

The release is the one `dermledger demo` publishes (v1 of a synthetic study shaped like the
reference cohort; $DERMLEDGER_BENCH_PAGE_RECORDS capture records, 1,044 by default), built
once and cached in the work folder. Ours: the page opened from the folder in Debian's
Chromium with the network off, the folder picked as a reader picks it, until the verdict
shows (the fastest of K runs, each in a fresh page; the dataset view renders afterwards
and is not timed). Baselines: `verify_release_dir` (what `release verify` runs, in this
process) and the `dermledger release verify DIR` command as a user starts it (a new
process, imports included). Rates are files of the manifest verified per second; the peak
column for the page is the page's JS heap after the check, not this process.

    .venv/bin/python bench/run.py --only bench_page
    .venv/bin/python bench/bench_page.py [--records N] [--repeats K] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dermledger.bench.common import FAST_KDF, BenchArgs, PeakMemory, Row, rate, say
from dermledger.ledger.bootstrap import Settings
from dermledger.projections.release.verify import verify_release_dir

CHROMIUM = "/usr/bin/chromium"
BACKEND = "chromium"


def demo_release(workdir: Path, records: int) -> Path:
    """The demo's v1 release, built once per size and version in `workdir`."""
    from dermledger.synthetic.demo_study import run_demo

    home = workdir / f"page-demo-{records}"
    folder = home / "releases" / "v1"
    if (home / "done").exists():
        return folder
    if home.exists():
        import shutil

        shutil.rmtree(home)
    say(f"building the demo's release ({records} capture records) …")
    patients = max(2, records * 443 // 1044)
    duplicates = records * 18 // 1044
    settings = Settings(home=home, kdf_log2_n=FAST_KDF)
    result = run_demo(settings, records=records, duplicates=duplicates, patients=patients)
    if result.release_failures:
        raise RuntimeError(f"the demo release does not verify: {result.release_failures}")
    (home / "done").write_text("ok\n")
    return folder


def time_cli_function(folder: Path, repeats: int) -> tuple[float, float]:
    """Fastest `verify_release_dir` of K runs, and its peak RSS."""
    memory, best = PeakMemory(), float("inf")
    memory.reset()
    for _ in range(repeats):
        started = time.perf_counter()
        _, failures = verify_release_dir(folder)
        best = min(best, time.perf_counter() - started)
        assert failures == [], failures
    return best, memory.mib()


def time_cli_process(folder: Path, repeats: int) -> float:
    """Fastest `dermledger release verify DIR` of K runs, as a new process each time."""
    command = [sys.executable, "-m", "dermledger.commands", "release", "verify", str(folder)]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def time_page(folder: Path, repeats: int) -> tuple[float, float]:
    """Fastest pick-to-verdict of K fresh offline pages, and the page's JS heap (MiB)."""
    from playwright.sync_api import sync_playwright

    from dermledger.projections.release.page import write_report
    from dermledger.tests.browser.driver import pick_folder

    # This build's page (the cached release may carry an older one); same checks either way.
    outside = folder.parent.parent / "page"  # beside the release, so its file set holds
    outside.mkdir(exist_ok=True)
    report = write_report(outside)
    best, heap = float("inf"), 0.0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(repeats):
            context = browser.new_context()
            context.set_offline(True)
            page = context.new_page()
            page.goto(report.as_uri())
            started = time.perf_counter()
            shown = pick_folder(page, folder)
            best = min(best, time.perf_counter() - started)
            assert shown.state == "ok", shown
            say(f"  page: {shown.elapsed_ms} ms, {page.evaluate('document.body.dataset.timings')}")
            heap = page.evaluate("performance.memory.usedJSHeapSize") / 2**20
            context.close()
        browser.close()
    return best, heap


def run(args: BenchArgs, *, records: int | None = None, repeats: int = 3) -> list[Row]:
    if not Path(CHROMIUM).exists():
        say(f"skipped bench_page: {CHROMIUM} is missing")
        return []
    records = records or int(os.environ.get("DERMLEDGER_BENCH_PAGE_RECORDS", "1044"))
    folder = demo_release(args.workdir, records)
    files = len(json.loads((folder / "manifest.json").read_text())["files"])
    say(f"verifying {folder} ({files} files): release verify, then the page …")
    function_s, peak = time_cli_function(folder, repeats)
    process_s = time_cli_process(folder, repeats)
    page_s, heap = time_page(folder, repeats)
    say(f"page {page_s:.2f} s, verify_release_dir {function_s:.2f} s (peak {peak:.0f} MiB), "
        f"release verify command {process_s:.2f} s")  # fmt: skip
    return [
        Row("release page verify (files)", BACKEND, files, rate(files, page_s),
            rate(files, function_s), heap, "verify_release_dir in this process"),
        Row("release page verify vs CLI (files)", BACKEND, files, rate(files, page_s),
            rate(files, process_s), heap, "`dermledger release verify DIR`, a new process"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1044)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dermledger-bench-page-") as tmp:
        workdir = options.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        args = BenchArgs(events=0, backends=(), workdir=workdir)
        for row in run(args, records=options.records, repeats=options.repeats):
            print(
                f"{row.measure}: n={row.n} ours {row.ours_per_s:,.0f}/s, baseline "
                f"{row.baseline_per_s:,.0f}/s ({row.baseline}), ratio {row.ratio:.2f}"
            )


if __name__ == "__main__":
    main()
