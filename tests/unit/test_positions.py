"""`--as-of`, `--since` and `--until` are parsed at the edge into typed values."""

from __future__ import annotations

import pytest

from dermledger.commands.options import parse_moment, parse_position
from dermledger.ledger.errors import InvalidInput
from dermledger.study.position import Position


def test_digits_are_a_seq_and_anything_else_a_time() -> None:
    assert parse_position("42") == Position(seq=42)
    assert parse_position("0") == Position(seq=0)  # the service says why 0 is no position
    assert parse_position("2026-11-23") == Position(time="2026-11-23T23:59:59.999999Z")
    assert parse_position("2026-11-23T12:00:00+01:00") == Position(
        time="2026-11-23T11:00:00.000000Z"
    )


def test_bad_values_are_one_sentence() -> None:
    with pytest.raises(InvalidInput, match="neither a seq number nor an ISO time"):
        parse_position("yesterday")
    with pytest.raises(InvalidInput, match="--since 'soon' is not an ISO date or time"):
        parse_moment("soon", "--since")


def test_a_position_is_a_seq_or_a_time_never_both() -> None:
    with pytest.raises(ValueError):
        Position(seq=1, time="2026-11-23T00:00:00.000000Z")
    with pytest.raises(ValueError):
        Position()
