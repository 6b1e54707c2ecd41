"""The page's parts against the Python they port: every RFC 6962 inclusion probe, JCS
bytes, CSV rows; and the page itself: byte-identical builds under a strict CSP."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from dermledger.ledger.canonical import canonical_json
from dermledger.projections.release.page import build_report, write_report
from tests.browser.conftest import Opened

pytestmark = pytest.mark.browser

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "transparency-dev-merkle"


@pytest.fixture
def page(offline_page: Callable[[Path], Opened], tmp_path: Path) -> object:
    return offline_page(write_report(tmp_path)).page


def inclusion_probes() -> list[dict[str, object]]:
    folders = [VECTORS / "dermledger" / "inclusion", SHARED / "inclusion"]
    return [json.loads(p.read_text()) for f in folders if f.is_dir() for p in f.rglob("*.json")]


def test_every_inclusion_probe_is_judged_as_ledger_merkle_judges_it(page: object) -> None:
    probes = inclusion_probes()
    assert len(probes) > 500
    verdicts = page.evaluate(  # type: ignore[attr-defined]
        """async (probes) => {
            const raw = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const out = [];
            for (const p of probes) {
                try {
                    await verifyInclusion(p.leafIdx, p.treeSize, raw(p.leafHash),
                                          (p.proof || []).map(raw), raw(p.root));
                    out.push(false);
                } catch (e) {
                    if (!(e instanceof ProofFailure)) throw e;
                    out.push(true);
                }
            }
            return out;
        }""",
        probes,
    )
    assert verdicts == [p["wantErr"] for p in probes]


VALUES = [
    {"b": 1, "a": [True, None, "x"], "é": "ü\u2028\u0007", "A": -(2**53 - 1)},
    {"files": [{"path": "images/a.jpg", "bytes": 10, "sha256": "ab"}], "n": 0},
    ['"quoted" \\ back', "tab\tnewline\n", "emoji \U0001f600", {}, []],
    {"\U0001f600": 1, "\uffff": 2, "z": 3},  # key order by UTF-16 code units
]


def test_jcs_bytes_equal_the_ledgers(page: object) -> None:
    ours = page.evaluate("(values) => values.map(jcs)", VALUES)  # type: ignore[attr-defined]
    assert ours == [canonical_json(v).decode() for v in VALUES]


CSV = 'a,b,c\r\n1,"x, ""y""\nz",3\n\n4,5\n"",,\n6,7,8,9\nq"r,"s"t,u'


def test_csv_rows_equal_pythons_dictreader(page: object) -> None:
    ours = page.evaluate("(text) => csvRecords(text)", CSV)  # type: ignore[attr-defined]
    theirs = [
        {k: v for k, v in row.items() if k is not None}
        for row in csv.DictReader(io.StringIO(CSV, newline=""))
    ]
    assert ours == theirs


def test_the_page_is_byte_identical_and_allows_only_its_own_inline_code() -> None:
    page = build_report()
    assert page == build_report.__wrapped__()  # built again from the sources, not cached
    text = page.decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp is not None and "unsafe" not in csp.group(1)
    assert "default-src 'none'" in csp.group(1)
    script = re.search(r"<script>(.*)</script>", text, re.S)
    style = re.search(r"<style>(.*)</style>", text, re.S)
    assert script is not None and style is not None
    for kind, body in (("script-src", script.group(1)), ("style-src", style.group(1))):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{kind} 'sha256-{digest}'" in csp.group(1)
    assert not re.search(r"\b(src|href)=\"(https?:)?//", text)
    assert "innerHTML" not in text and "eval(" not in text
