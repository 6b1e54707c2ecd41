"""Policy `free-text` v1: one rule for every free-text field on every path.

Reasons, devices, report references, consent scopes, personal fields: text a person
typed that ends up in the log, in `annotations.csv` and on terminals. It must not start
like a spreadsheet formula (= + - @, tab, carriage return: CSV injection when a release is
opened in a spreadsheet), must hold no control or bidirectional-override characters
(terminal escape sequences, text that reads differently than it is stored), and stays
within `MAX_CHARS` (or the field's own lower limit in `LIMITS`).

`printable` is the output side of the same rule: events recorded before it, or by other
tools, may hold such characters, and no view ever prints them raw.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from dermledger.ledger.errors import InvalidInput
from dermledger.policies.base import Decision

POLICY_NAME = "free-text"
POLICY_VERSION = "1"

MAX_CHARS: Final = 500  # a reason or note of a few sentences; anything longer is a document
LIMITS: Final[dict[str, int]] = {"device": 100, "report reference": 128, "consent scope": 200}
FORMULA_START: Final = frozenset("=+-@\t\r")
# Unicode bidirectional embeddings, overrides and isolates (the "Trojan Source" characters).
BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in BIDI


def check(field: str, text: str) -> Decision:
    """Allowed when `text` is safe to store, export and print; the refusal names the field
    and never repeats the text (it may be exactly what must not reach a terminal)."""
    limit = LIMITS.get(field, MAX_CHARS)
    reason = None
    if text[:1] in FORMULA_START:
        reason = f"the {field} starts like a spreadsheet formula ({text[:1]!r}); reword it"
    elif any(_unsafe(c) for c in text):
        reason = f"the {field} contains control or escape characters; type it as plain text"
    elif len(text) > limit:
        reason = f"the {field} is longer than {limit} characters"
    return Decision.of(POLICY_NAME, POLICY_VERSION, reason)


def printable(text: str, *, keep: str = "") -> str:
    """`text` with every control and bidi character but those in `keep` shown as an escape
    (\\x1b, \\u202e): a view prints what was recorded without the terminal obeying it."""
    if not any(_unsafe(c) and c not in keep for c in text):
        return text
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        if _unsafe(c) and c not in keep
        else c
        for c in text
    )


def require_free_text(field: str, text: str | None) -> str | None:
    """`text` (None passes), or InvalidInput (a usage problem, exit 1) naming the rule."""
    if text is None:
        return None
    decision = check(field, text)
    if not decision.allowed:
        raise InvalidInput(decision.reason)
    return text
