"""The pure rules added for issue 18: `key-ownership`, `coordinator-continuity`,
`free-text` (with its output side, `printable`), and the Ed25519 key check."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.signing import Signer, public_key_problem
from dermledger.policies import free_text, keys, roles
from dermledger.policies.base import Decision


def test_a_new_key_may_be_enrolled() -> None:
    assert keys.check_enrolment(keys.KeyEnrolment("bob", "ab" * 32, None)) == Decision(
        True, "key-ownership", "1"
    )


@pytest.mark.parametrize(
    ("revoked", "says"),
    [(False, "already enrolled for ann"), (True, "a revoked key is never enrolled again")],
)
def test_a_key_held_by_anyone_may_not_be_enrolled(revoked: bool, says: str) -> None:
    decision = keys.check_enrolment(keys.KeyEnrolment("bob", "ab" * 32, "ann", revoked))
    assert not decision.allowed and says in decision.reason


def test_the_last_active_coordinator_is_kept() -> None:
    check, request = roles.check_revocation, roles.Revocation
    coordinator = frozenset({"coordinator"})
    assert not check(request("ada", coordinator, frozenset({"ada"}))).allowed
    assert check(request("ada", coordinator, frozenset({"ada", "bea"}))).allowed
    assert check(request("ann", frozenset({"annotator"}), frozenset({"ada"}))).allowed
    refused = check(request("ada", coordinator | {"auditor"}, frozenset({"ada"})))
    assert refused.policy == "coordinator-continuity"


@pytest.mark.parametrize(
    ("field", "text", "allowed"),
    [
        ("reason", "blurred, retaken", True),
        ("reason", "a - b", True),
        ("reason", "-5 mm off", False),
        ("device", "x" * 100, True),
        ("device", "x" * 101, False),
        ("reason", "x" * 500, True),
        ("reason", "bell\x07", False),
        ("reason", "C1 \x9b control", False),
        ("reason", "line\nbreak", False),
        ("reason", "right-to-left \u202e", False),
        ("reason", "Zürich, naïve", True),
    ],
)
def test_free_text(field: str, text: str, allowed: bool) -> None:
    decision = free_text.check(field, text)
    assert decision.allowed is allowed
    assert text not in decision.reason or len(text) < 2  # the text is never echoed


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert free_text.printable("plain") == "plain"
    assert free_text.printable("a\x1b[2Jb\u202ec") == "a\\x1b[2Jb\\u202ec"
    assert free_text.printable("two\nlines", keep="\n") == "two\nlines"


def test_a_public_key_must_be_a_curve_point_of_large_order() -> None:
    assert public_key_problem(Signer("a", Ed25519PrivateKey.generate()).public_hex) is None
    assert "small-order" in str(public_key_problem("00" * 32))
    assert "not a point" in str(public_key_problem("02" + "00" * 31))
    assert "hexadecimal" in str(public_key_problem("AB" * 32))
