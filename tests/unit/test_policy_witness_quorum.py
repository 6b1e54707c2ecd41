"""The witness quorum policy: tlog-policy syntax both ways, k of n, nested groups."""

from __future__ import annotations

import pytest

from dermledger.ledger.errors import InvalidInput
from dermledger.ledger.notes import Cosigner, Ed25519Signer
from dermledger.policies.witness_quorum import (
    PolicyWitness,
    as_k_of_n,
    check_k,
    check_ledger_quorum,
    check_policy_quorum,
    format_policy,
    parse_policy,
)

KEYS = {n: Cosigner.generate(f"{n}.example/w").verifier.vkey for n in ("a", "b", "c", "d")}
LOG = Ed25519Signer.generate("dermledger.example/x").verifier.vkey


def test_the_spec_example_shape_with_nested_groups() -> None:
    policy = parse_policy(
        f"""# two organisations
        log {LOG} https://log.example
        witness X1 {KEYS["a"]}
        witness X2 {KEYS["b"]}\thttps://x2.example/w
        witness Y1 {KEYS["c"]}
        group X 2 X1 X2
        group Y any Y1
        group XY all X Y
        quorum XY
        """
    )
    assert policy.logs == ((LOG, "https://log.example"),)
    assert policy.witnesses["X2"].url == "https://x2.example/w"
    assert policy.met({"X1", "X2", "Y1"}) and not policy.met({"X1", "Y1"})
    assert check_policy_quorum(policy, {"X1", "X2"}).reason == (
        "the policy's quorum XY is not met: 2 of 3 trusted witnesses cosigned"
    )
    with pytest.raises(InvalidInput, match="another shape"):
        as_k_of_n(policy)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("witness a x\nquorum a", "line 1: 'x' is not a vkey"),
        (f"witness a {KEYS['a']}\nwitness b {KEYS['a']}\nquorum a", "listed twice"),
        (f"witness a {KEYS['a']}\ngroup g 2 a\nquorum g", "between 1 and 1"),
        (f"witness a {KEYS['a']}\ngroup g 1 a b\nquorum g", "defined once each before"),
        (f"witness a {KEYS['a']}\nquorum b", "defined nowhere before"),
        (f"witness a {KEYS['a']}", "no quorum line"),
        ("quorum none\nquorum none", "exactly one quorum line"),
        ("frobnicate", "cannot read"),
        ("quorum none\x01", "control characters"),
    ],
)
def test_bad_policies_are_one_sentence(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_policy(text)


def test_the_ledgers_k_of_n_round_trips_through_the_file() -> None:
    witnesses = [PolicyWitness(n, KEYS[n], f"http://{n}.example") for n in ("a", "b", "c")]
    text = format_policy((LOG, None), witnesses, 2)
    policy = parse_policy(text)
    assert as_k_of_n(policy) == 2 and policy.logs == ((LOG, None),)
    assert {w.url for w in policy.witnesses.values()} == {f"http://{n}.example" for n in "abc"}
    assert as_k_of_n(parse_policy(format_policy(None, witnesses, 0))) == 0
    assert "quorum none" in format_policy(None, [], 0)


def test_ledger_quorum_counts_only_its_witnesses_and_defaults_to_all() -> None:
    assert check_ledger_quorum(None, ["a", "b"], ["a", "b"]).allowed
    assert check_ledger_quorum(None, ["a", "b"], ["a", "z"]).reason == (
        "the witness quorum is not met: 1 of 2 witnesses cosigned, 2 needed"
    )
    assert check_ledger_quorum(1, ["a", "b"], ["b"]).allowed
    assert check_ledger_quorum(None, [], []).allowed
    assert not check_k(3, 2).allowed and check_k(0, 0).allowed
