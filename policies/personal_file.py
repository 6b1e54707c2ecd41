"""Reading a patient's personal data from a small file instead of the command line.

Why: `patient register --name … --record-number … --birth-date …` puts the values in the
process list (readable by every user on the machine) and in shell history. A file, or
standard input, keeps them out of both. (No file I/O here: the caller reads the bytes.)

Two forms, told apart by the first non-blank character (`{` or `[` is JSON):

- a JSON object, `{"name": "…", "record_number": "…", "birth_date": "YYYY-MM-DD"}`;
- `KEY=VALUE` lines, one field a line; blank lines and lines starting with `#` are skipped,
  spaces around the key and the value are trimmed, the value is taken as written (no
  quotes are removed).

Keys are `name`, `record_number` and `birth_date` (a hyphen for the underscore is
accepted). Every refusal is one sentence that names a line or a key position, never a
value or a key that is not known, since either may be personal data.
"""

from __future__ import annotations

import json
from typing import Final

from dermledger.ledger.errors import InvalidInput

KEYS: Final[tuple[str, ...]] = ("name", "record_number", "birth_date")
MAX_BYTES: Final = 16 * 1024  # three short fields; anything larger is the wrong file

WHAT = "the personal-data file"


def parse_personal_file(data: bytes) -> dict[str, str]:
    """The fields of a personal-data file (see the module docstring); InvalidInput if it
    is not UTF-8, not one of the two forms, names an unknown or repeated key, or holds
    no field at all."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{WHAT} is larger than {MAX_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{WHAT} is not UTF-8 text") from None
    looks_json = text.lstrip()[:1] in ("{", "[")
    fields = _json_fields(text) if looks_json else _line_fields(text)
    if not fields:
        raise InvalidInput(f"{WHAT} holds no field (expected {', '.join(KEYS)})")
    return fields


def _key(raw: str, where: str) -> str:
    key = raw.strip().replace("-", "_")
    if key not in KEYS:
        raise InvalidInput(f"{WHAT} has an unknown key {where} (known: {', '.join(KEYS)})")
    return key


def _json_fields(text: str) -> dict[str, str]:
    try:
        loaded = json.loads(text)
    except ValueError:
        raise InvalidInput(f"{WHAT} starts like JSON but is not valid JSON") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"{WHAT} is not a JSON object")
    fields: dict[str, str] = {}
    for position, (raw, value) in enumerate(loaded.items(), start=1):
        where = f"(the object's key number {position})"
        key = _key(raw, where)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{WHAT} gives {key} as something other than a string")
        fields[key] = value
    return fields


def _line_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        raw, sep, value = line.partition("=")
        if not sep:
            raise InvalidInput(
                f"{WHAT} is neither a JSON object nor KEY=VALUE lines (line {number} has no =)"
            )
        key = _key(raw, f"on line {number}")
        if key in fields:
            raise InvalidInput(f"{WHAT} gives {key} twice (again on line {number})")
        fields[key] = value.strip()
    return fields
