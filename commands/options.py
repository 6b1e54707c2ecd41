"""Options that many commands share, spelt once so their flags and help never drift apart.

`--as-of`, `--since` and `--until` are parsed here, at the edge, into typed values:
services receive a `Position` or a canonical UTC time and never parse strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import typer

from dermledger.ledger.errors import InvalidInput
from dermledger.study.position import Position

SEQ = re.compile(r"^\d+$")


def parse_moment(value: str, flag: str = "--as-of") -> str:
    """An ISO date or date-time as the log's canonical UTC timestamp string; a bare date
    means the end of that day."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{flag} {value!r} is not an ISO date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if len(value) == 10:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_position(value: str) -> Position:
    """`--as-of SEQ|TIME` as a Position: digits are a seq number, anything else a time."""
    value = value.strip()
    if SEQ.match(value):
        return Position.at_seq(int(value))
    try:
        return Position.at_time(parse_moment(value))
    except InvalidInput:
        raise InvalidInput(f"--as-of {value!r} is neither a seq number nor an ISO time") from None


def _since(value: str) -> str:
    """`--since` as a canonical UTC time (its own flag named in the error)."""
    return parse_moment(value, "--since")


def _until(value: str) -> str:
    """`--until` as a canonical UTC time (its own flag named in the error)."""
    return parse_moment(value, "--until")


Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOf = Annotated[
    Position | None,
    typer.Option(
        "--as-of",
        parser=parse_position,
        metavar="SEQ|TIME",
        help="A past position: a seq number or an ISO date/time (UTC).",
    ),
]
Since = Annotated[
    str | None,
    typer.Option("--since", parser=_since, metavar="TIME", help="ISO date/time, UTC."),
]
Until = Annotated[
    str | None,
    typer.Option("--until", parser=_until, metavar="TIME", help="ISO date/time, UTC."),
]
