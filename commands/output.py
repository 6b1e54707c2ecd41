"""One way to print what a command found: JSON with `--json`, else a table for people.

Every listing goes through `emit`, so each gets `--json`, values written as a person
writes them (never a Python repr), and identifiers that are never cut: a table that
cannot fit the terminal without truncating an identifier becomes a vertical list of
"field: value" blocks instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dermledger.commands.context import SafeConsole, print_json
from dermledger.policies.free_text import printable

Getter = Callable[[Any], object]


@dataclass(frozen=True)
class Col:
    """One column: its header, how to read its value from a row (a key or a function),
    and whether it holds an identifier or a time (kept whole on one line, never cut)."""

    header: str
    get: str | Getter
    ident: bool = False

    def value(self, row: Any) -> str:
        raw = row.get(self.get) if isinstance(self.get, str) else self.get(row)
        return cell(raw)


def cell(value: object) -> str:
    """A value as a person writes it: no None, True, brackets, braces or quotes."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell(v) for v in value) or "-"
    return printable(str(value), keep="\n")  # old events' control characters, escaped


def when(moment: str | None) -> str:
    """An RFC 3339 UTC time to the second, as people read it: 2026-12-02 08:26:57 UTC."""
    if not moment:
        return "-"
    return moment[:19].replace("T", " ") + " UTC"


def console() -> Console:
    """Standard output as a console sized now (so COLUMNS set after import counts), showing
    control characters as escapes like every console of the CLI."""
    return SafeConsole(highlight=False, markup=False)


def emit(
    data: Any,
    columns: Sequence[Col],
    *,
    json_: bool,
    rows: Iterable[Any] | None = None,
    title: str | None = None,
    footer: str | None = None,
) -> None:
    """Print `data` as JSON with --json; else `rows` (default: `data`) as a table."""
    if json_:
        print_json(data)
        return
    render(list(data if rows is None else rows), columns, title=title)
    if footer:
        console().print(footer, markup=False)


def minimum_width(spec: Col, values: list[str]) -> int:
    """The narrowest a column may be: an identifier's full length; free text may wrap at
    spaces, and fold a word longer than 12 characters."""
    if spec.ident:
        return max([len(spec.header), *map(len, values)])
    words = [len(w) for v in values for w in v.split()]
    return min(max([len(spec.header), *words]), 12)


def render(rows: list[Any], columns: Sequence[Col], *, title: str | None = None) -> None:
    """A table when it fits the terminal with every identifier whole, else one block of
    "header: value" lines per row."""
    out = console()
    values = [[c.value(r) for c in columns] for r in rows]
    table = Table(*(c.header for c in columns), title=title, title_justify="left")
    widths = [minimum_width(spec, [row[i] for row in values]) for i, spec in enumerate(columns)]
    for column, spec, width in zip(table.columns, columns, widths, strict=True):
        column.no_wrap, column.overflow = spec.ident, "fold"
        column.min_width = width if spec.ident else None
    for row in values:
        table.add_row(*(Text(v) for v in row))
    if sum(widths) + 3 * len(columns) + 1 <= out.width:
        out.print(table, markup=False)
        return
    if title:
        out.print(title, markup=False)
    for row in values:  # empty values are left out of a block; the first is its name
        for i, (spec, value) in enumerate(zip(columns, row, strict=True)):
            if i == 0 or value != "-":
                out.print(f"{spec.header}: {value}", markup=False)
        out.print("")
