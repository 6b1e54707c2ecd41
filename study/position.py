"""A point in the log that a past view is read at (`--as-of`), as a typed value.

The command line parses `--as-of SEQ|TIME` into a `Position` at the edge; services take
the value and never parse strings, so a typo is refused before any read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """Either a seq number (the log's 1-based position) or a canonical UTC time
    (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, compared with each event's `recorded_at`)."""

    seq: int | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        if (self.seq is None) == (self.time is None):
            raise ValueError("a position is either a seq or a time")

    @classmethod
    def at_seq(cls, seq: int) -> Position:
        return cls(seq=seq)

    @classmethod
    def at_time(cls, moment: str) -> Position:
        return cls(time=moment)

    def __str__(self) -> str:
        return f"seq {self.seq}" if self.seq is not None else str(self.time)
