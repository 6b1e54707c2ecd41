"""Options that many commands share, spelt once so their flags and help never drift apart."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="A past position: a seq number or an ISO date/time (UTC)."),
]
