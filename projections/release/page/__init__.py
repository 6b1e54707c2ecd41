"""report.html: the page every release carries, to verify and explore it in a browser.

The page repeats `dermledger release verify` with WebCrypto, offline, for readers who do
not run Python, and then shows the dataset. Its sources stay readable here (page.html,
style.css and the JavaScript modules in SCRIPTS); `build_report` assembles them into one
self-contained file whose Content-Security-Policy allows exactly that inline script and
style, by hash, and nothing from anywhere else. The page is the same for every release
(it reads the release the reader picks), so a rebuild writes the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path

from dermledger.projections.release.messages import MESSAGES

REPORT = "report.html"
HERE = Path(__file__).parent
# Concatenated in this order into one inline script: helpers first, wiring last.
SCRIPTS = (
    "util.js",
    "jcs.js",
    "merkle.js",
    "csv.js",
    "zip.js",
    "sources.js",
    "verify.js",
    "cosign.js",
    "view.js",
    "app.js",
)


def _source(name: str) -> str:
    # Bytes, then decode: no newline translation, so every platform builds the same page.
    return (HERE / name).read_bytes().decode("utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _script() -> str:
    """The page's one script: the CLI's message table, then the modules in order."""
    table = json.dumps(MESSAGES, indent=1, sort_keys=True, ensure_ascii=False)
    parts = [f"// Shared with `dermledger release verify` (projections/release/messages.py).\n"
             f'"use strict";\nconst MESSAGES = {table};\n']  # fmt: skip
    parts += [f"\n// ---- {name}\n{_source(name)}" for name in SCRIPTS]
    return "".join(parts)


@cache
def build_report() -> bytes:
    """The bytes of report.html: the same on every call, every release and every rebuild."""
    script, style = _script(), _source("style.css")
    for text, closer in ((script, "</script"), (style, "</style")):
        if closer in text.lower():
            raise ValueError(f"an inline asset contains {closer}, which would end it early")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_csp_hash(script)}",
            f"style-src {_csp_hash(style)}",
            "img-src blob: data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    page = _source("page.html")
    for marker in ("{{CSP}}", "{{STYLE}}", "{{SCRIPT}}"):
        if page.count(marker) != 1:
            raise ValueError(f"page.html must hold {marker} exactly once")
    page = page.replace("{{CSP}}", csp).replace("{{STYLE}}", style).replace("{{SCRIPT}}", script)
    return page.encode("utf-8")


def write_report(folder: Path) -> Path:
    """Write report.html into a release folder, before its manifest lists the files."""
    path = Path(folder) / REPORT
    path.write_bytes(build_report())
    return path
