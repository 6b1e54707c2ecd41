"""Policy `patient-partitions` v1, pure: ratios, the seeded rule, units, refusals."""

from __future__ import annotations

from collections import Counter

import pytest

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import partitions as p
from dermledger.projections.release.evidence import differences, share

SCHEME = p.Scheme(seed=3, ratios=(70, 15, 15))


def patients(n: int, stratum: str = "NV") -> list[p.Candidate]:
    return [p.Candidate(f"P{i:03d}", stratum) for i in range(n)]


def test_named_and_versioned() -> None:
    assert (p.POLICY_NAME, p.POLICY_VERSION) == ("patient-partitions", "1")


@pytest.mark.parametrize("text", ["70:30", "70:15:16", "a:b:c", "70:15:15:0", ""])
def test_bad_ratios_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        p.parse_ratios(text)


def test_ratios_are_met_and_the_rule_is_reproducible() -> None:
    first = p.assign(SCHEME, patients(100), {})
    assert Counter(first.values()) == {"train": 70, "validation": 15, "test": 15}
    assert p.assign(SCHEME, list(reversed(patients(100))), {}) == first  # order-free
    assert p.assign(p.Scheme(4, (70, 15, 15)), patients(100), {}) != first


def test_late_additions_follow_the_rule_and_nobody_moves() -> None:
    first = p.assign(SCHEME, patients(60), {})
    later = p.assign(SCHEME, patients(80), first)
    assert set(later) == {f"P{i:03d}" for i in range(60, 80)}
    total = Counter({**first, **later}.values())
    assert total == {"train": 56, "validation": 12, "test": 12}


def test_strata_are_balanced_separately() -> None:
    found = [*patients(20, "MEL"), *[p.Candidate(f"Q{i}", "NV") for i in range(20)]]
    placed = p.assign(p.Scheme(1, (50, 25, 25), "category"), found, {})
    mel = Counter(v for k, v in placed.items() if k.startswith("P"))
    assert mel == {"train": 10, "validation": 5, "test": 5}


def test_duplicate_links_keep_patients_together_and_follow_an_assigned_one() -> None:
    linked = [
        p.Candidate("A", "NV", ("B",)),
        p.Candidate("B", "NV"),
        p.Candidate("C", "NV", ("B",)),
    ]
    assert p.units(linked) == [["A", "B", "C"]]
    placed = p.assign(SCHEME, linked, {})
    assert len(set(placed.values())) == 1
    assert p.assign(SCHEME, [*linked, p.Candidate("D", "NV", ("A",))], {"A": "test", "B": "test",
                    "C": "test"}) == {"D": "test"}  # fmt: skip


def test_refusals_say_why() -> None:
    assert "needs a stated purpose" in p.check_access("test", "  ").reason
    assert p.check_access("train", None).allowed
    assert "unknown partition 'dev'" in p.check_access("dev", "x").reason
    assert "a reason is required" in p.check_reassignment("P1", "train", "test", "").reason
    assert "no partition yet" in p.check_reassignment("P1", None, "test", "why").reason
    assert "already in test" in p.check_reassignment("P1", "test", "test", "why").reason
    assert p.check_reassignment("P1", "train", "test", "sibling").allowed
    assert "control or escape" in p.check_access("test", "eval \x1b[2J").reason
    assert "spreadsheet formula" in p.check_reassignment("P1", "train", "test", "=cmd").reason
    assert "late additions" in p.check_scheme(SCHEME, p.Scheme(4, (70, 15, 15))).reason
    assert "only by category" in p.check_scheme(p.Scheme(3, (70, 15, 15), "site"), None).reason
    assert p.Scheme.from_payload(SCHEME.as_payload()) == SCHEME


def test_stratum_is_the_most_severe_label() -> None:
    assert p.stratum_of(["NV", "MEL", None], ("MEL", "BCC", "NV")) == "MEL"
    assert p.stratum_of([None], ("MEL",)) == p.UNLABELLED


def test_wilson_interval_and_named_differences() -> None:
    # Wilson by hand: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), p=.25, n=20
    # = 0.2903 ± 0.1784
    assert share(5, 20) == {"n": 5, "of": 20, "share": 0.25, "ci95": [0.1119, 0.4687]}
    assert share(0, 0)["ci95"] is None
    assert differences({"a": {"b": 1}}, {"a": {"b": 2}}) == [
        "evidence.json: a.b is 1; the release's files give 2"
    ]
    assert differences({"x": 1}, {}) == [
        "evidence.json: x cannot be recomputed from the release's files"
    ]
