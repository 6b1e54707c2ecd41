"""The ratios recorded before issue 19, printed beside each new one.

Issue 19 asks that `make bench` and the large runs show the new ratios beside the old
ones. The old ones are data, not code: `bench/before.json` holds them as they were
measured (a range where runs spread), matched to a row by the start of the measure's
name and by backend ("*" for any).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

BEFORE_FILE = Path(__file__).with_name("before.json")


@cache
def _recorded() -> tuple[tuple[str, str, str], ...]:
    entries = json.loads(BEFORE_FILE.read_text(encoding="utf-8"))["ratios"]
    return tuple((e["measure"], e["backend"], e["before"]) for e in entries)


def before(measure: str, backend: str) -> str:
    """The recorded ratio before issue 19 of this measure on this backend, or "" when none
    was recorded (a measure that is new, or has no counterpart)."""
    for prefix, on, ratio in _recorded():
        if measure.startswith(prefix) and on in ("*", backend):
            return ratio
    return ""
