"""Validation of a bulk-import metadata CSV that has already been parsed (no file I/O here).

Why a policy: `import FOLDER --metadata CSV` is all or nothing, so the coordinator needs
every problem in the file at once, each with the row to fix, rather than the first one per
attempt. Values are judged by `metadata_schema` (ISIC plus the study's rules), so an import
accepts exactly what `metadata set` accepts.

Row numbers are spreadsheet rows: the header is row 1 and the first data row is row 2.
(A quoted cell that spans lines makes a text editor's line numbers drift; spreadsheet rows
do not.) Rows whose cells are all empty are skipped: spreadsheets often leave them behind.

Problems found: a missing required column, an unknown or duplicated column, a value that is
not valid for its field (with ISIC's suggestions), a cell that a spreadsheet would run as a
formula, an unsafe filename, a filename used twice, a patient that is not registered, a
lesion given to two patients, and rows with more or fewer cells than the header. Messages
never repeat a rejected identifier, filename or formula, which may hold personal data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Final, cast

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import free_text
from dermledger.policies.metadata_schema import (
    FIELDS,
    FieldValue,
    validate_field,
    validate_record,
)

POLICY: Final = ("import-csv", "1")
POLICY_NAME, POLICY_VERSION = POLICY

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("filename", "patient_id", "lesion_id")
OPTIONAL_COLUMNS: Final[tuple[str, ...]] = (
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "personal_hx_mm",
    "family_hx_mm",
    "anatom_site",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_day",
    "device",
)
COLUMNS: Final[tuple[str, ...]] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

MAX_FILENAME_CHARS: Final = 255
MAX_DEVICE_CHARS: Final = free_text.LIMITS["device"]
MAX_LISTED_PROBLEMS: Final = 10

# OWASP's list of characters that make a spreadsheet treat a cell as a formula.
_FORMULA_START: Final = frozenset("=+-@\t\r")
_NUMERIC: Final = frozenset({"age", "clin_size_long_diam_mm", "acquisition_day"})
# In a numeric column a negative number is a number (reported as out of range), not a formula.
_NUMBER: Final = re.compile(r"-?\d+(\.\d+)?(\s*(mm|cm|um))?")
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_NOT_IMPORTED_BECAUSE: Final[dict[str, str]] = {
    "diagnosis": "diagnoses are recorded with annotate, vote and histology",
    "diagnosis_confirm_type": "it follows from the verification stage",
    "melanocytic": "it follows from the diagnosis",
    "verification_stage": "it follows from annotations, consensus votes and histology",
}
_HEADER = "row 1 (header)"


@dataclass(frozen=True)
class RowsReport:
    """Everything wrong with a metadata CSV, and the parsed records of its valid rows.

    `records` hold, per valid data row, the non-empty columns as typed values (labels as
    full ISIC labels). `filename` and `device` describe the capture; every other key is an
    `ImageRecord` field. Import only when `ok`.
    """

    problems: list[str] = field(default_factory=list)
    records: list[dict[str, FieldValue]] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, source: str = "the metadata file") -> str:
        """One sentence for the CLI, listing the first problems, e.g.
        "3 problems in metadata.csv (row 1 is the header): row 4: ...; row 7: ...".
        """
        if self.ok:
            return f"No problems in {source}: {_count(self.rows, 'row')} ready to import"
        listed = "; ".join(self.problems[:MAX_LISTED_PROBLEMS])
        more = len(self.problems) - MAX_LISTED_PROBLEMS
        tail = f"; and {more} more" if more > 0 else ""
        counted = _count(len(self.problems), "problem")
        return f"{counted} in {source} (row 1 is the header): {listed}{tail}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _Problem(Exception):
    """One cell's problem as a finished phrase."""


def _header_columns(header: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map each column name to its raw header cell, and list the header's problems.

    Names are compared without surrounding spaces and without the byte-order mark that
    spreadsheet programs put before the first name of a UTF-8 file.
    """
    columns: dict[str, str] = {}
    problems: list[str] = []
    if not header:
        return columns, [f"{_HEADER}: the file has no header row"]
    for index, raw in enumerate(header, start=1):
        name = raw.lstrip("\ufeff").strip()
        if not name:
            problems.append(f"{_HEADER}: column {index} has no name")
        elif name in columns:
            problems.append(f"{_HEADER}: column {name!r} appears more than once")
        else:
            columns[name] = raw
            if name in _NOT_IMPORTED_BECAUSE:
                reason = _NOT_IMPORTED_BECAUSE[name]
                problems.append(f"{_HEADER}: column {name!r} cannot be imported: {reason}")
            elif name not in COLUMNS:
                problems.append(f"{_HEADER}: {_unknown_column(name)}")
    problems.extend(
        f"{_HEADER}: required column {name!r} is missing"
        for name in REQUIRED_COLUMNS
        if name not in columns
    )
    return columns, problems


def _unknown_column(name: str) -> str:
    shown = name if len(name) <= 40 else name[:37] + "..."
    phrase = f"unknown column {shown!r}"
    close = difflib.get_close_matches(name.lower(), COLUMNS, n=1)
    return f"{phrase} (did you mean {close[0]!r}?)" if close else phrase


def _looks_like_formula(column: str, cell: str) -> bool:
    text = cell.strip()
    if column in _NUMERIC and _NUMBER.fullmatch(text):
        return False
    return bool(cell) and (cell[0] in _FORMULA_START or (bool(text) and text[0] in "=+-@"))


def _check_filename(name: str) -> str:
    """A relative path inside the import folder: plain names and '/'-separated subfolders."""
    if "\0" in name:
        raise _Problem("filename contains a NUL character")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise _Problem("filename contains a control character")
    if name != name.strip():
        raise _Problem("filename has leading or trailing spaces")
    if len(name) > MAX_FILENAME_CHARS:
        raise _Problem(f"filename is longer than {MAX_FILENAME_CHARS} characters")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _Problem("filename is an absolute path; give it relative to the import folder")
    if "\\" in name:
        raise _Problem("filename contains '\\'; separate subfolders with '/'")
    if ":" in name:
        raise _Problem("filename contains ':'")
    parts = name.split("/")
    if ".." in parts:
        raise _Problem("filename contains '..'; it must stay inside the import folder")
    if any(part in {"", "."} for part in parts):
        raise _Problem("filename has an empty or '.' path segment")
    return name


def _check_device(text: str) -> str:
    """The one `free-text` rule, as for a device given to `capture`."""
    if not text.isprintable():
        raise _Problem("device contains characters that are not printable")
    decision = free_text.check("device", text)
    if not decision.allowed:
        raise _Problem(decision.reason.removeprefix("the "))
    return text


def _cell_value(column: str, cell: str) -> FieldValue | None:
    """The typed value of one cell, None when empty; raises _Problem."""
    if _looks_like_formula(column, cell):
        # Not echoed: the cell's text is exactly what must not reach a spreadsheet or a log.
        first = cell[:1] if cell[:1] in _FORMULA_START else cell.strip()[:1]
        raise _Problem(f"{column} looks like a spreadsheet formula (it starts with {first!r})")
    if column == "filename":
        if not cell:
            raise _Problem("filename is empty")
        return _check_filename(cell)
    text = cell.strip()
    if column == "device":
        return _check_device(text) if text else None
    try:
        return validate_field(column, cell)
    except InvalidInput as error:
        raise _Problem(str(error)) from None


@dataclass
class _Seen:
    """What earlier rows established, for the checks that span rows."""

    filenames: dict[str, tuple[int, str]] = field(default_factory=dict)
    lesions: dict[str, tuple[int, str]] = field(default_factory=dict)


def _row_problems(
    number: int,
    row: Mapping[str | None, object],
    columns: Mapping[str, str],
    known_patients: AbstractSet[str],
    seen: _Seen,
) -> tuple[dict[str, FieldValue], list[str]]:
    """The typed values of one data row and its problems (without the "row N: " prefix)."""
    problems: list[str] = []
    values: dict[str, FieldValue] = {}
    if row.get(None):
        problems.append("it has more cells than the header has columns")
    short = False
    for column in COLUMNS:
        if column not in columns:
            continue
        cell = row.get(columns[column])
        if not isinstance(cell, str):
            short = True
            continue
        try:
            value = _cell_value(column, cell)
        except _Problem as problem:
            problems.append(str(problem))
            continue
        if value is not None:
            values[column] = value
    if short:
        problems.append("it has fewer cells than the header has columns")

    patient = values.get("patient_id")
    if isinstance(patient, str) and patient not in known_patients:
        problems.append(f"patient_id {patient!r} is not a registered patient")
    lesion = values.get("lesion_id")
    if isinstance(lesion, str) and isinstance(patient, str):
        first_row, owner = seen.lesions.setdefault(lesion, (number, patient))
        if owner != patient:
            problems.append(
                f"lesion_id {lesion!r} belongs to patient {owner!r} on row {first_row}, "
                f"not {patient!r}"
            )
    filename = values.get("filename")
    if isinstance(filename, str):
        first_row, first_name = seen.filenames.setdefault(filename.casefold(), (number, filename))
        if first_row != number:
            case = "" if first_name == filename else " (differing only in letter case)"
            problems.append(f"filename repeats row {first_row}{case}")

    if not problems and all(column in columns for column in REQUIRED_COLUMNS):
        try:
            validate_record({k: v for k, v in values.items() if k in FIELDS})
        except InvalidInput as error:
            problems.append(str(error))
    return values, problems


def _is_blank(row: Mapping[str | None, object]) -> bool:
    """True if every cell, surplus cells included, is missing or only whitespace."""

    def blank(cell: object) -> bool:
        if isinstance(cell, list):
            return all(blank(item) for item in cell)
        return cell is None or (isinstance(cell, str) and not cell.strip())

    return all(blank(cell) for cell in row.values())


def validate_rows(
    header: list[str],
    rows: list[dict[str, str]],
    *,
    known_patients: AbstractSet[str],
) -> RowsReport:
    """Check a parsed metadata CSV and return every problem with its spreadsheet row.

    `header` is the header row as read; `rows` are the data rows keyed by those header
    cells, as `csv.DictReader` gives them (extra cells under the key None, missing cells as
    None). `known_patients` are the registered patient pseudonyms. Never raises for bad
    content: the report says what is wrong.
    """
    columns, problems = _header_columns(header)
    records: list[dict[str, FieldValue]] = []
    seen = _Seen()
    checked = 0
    for number, raw_row in enumerate(rows, start=2):
        # csv.DictReader puts surplus cells under the key None, whatever the annotation says.
        row = cast("Mapping[str | None, object]", raw_row)
        if _is_blank(row):
            continue
        checked += 1
        values, row_problems = _row_problems(number, row, columns, known_patients, seen)
        problems.extend(f"row {number}: {problem}" for problem in row_problems)
        if not row_problems and not any(name not in columns for name in REQUIRED_COLUMNS):
            records.append(values)
    return RowsReport(problems=problems, records=records, rows=checked)


PATIENT_LEVEL: Final[tuple[str, ...]] = (
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "personal_hx_mm",
    "family_hx_mm",
)


def patient_contradictions(
    record: Mapping[str, object], registered: Mapping[str, object]
) -> list[str]:
    """The patient-level fields a row gives differently from the registered patient: one
    patient has one sex and one registered age, so a row never overrides them silently
    (a row may supply a field the registration left empty)."""
    return [
        name
        for name in PATIENT_LEVEL
        if record.get(name) is not None
        and registered.get(name) is not None
        and record[name] != registered[name]
    ]
