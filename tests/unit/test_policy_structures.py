"""policies/structures.py: the dermoscopic vocabularies and the derived 7-point score
(Argenziano 1998: each major criterion 2 points, each minor criterion 1)."""

from __future__ import annotations

import pytest

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import structures
from dermledger.policies.structures import (
    ISIC_2018,
    MAJOR,
    MINOR,
    SEVEN_POINT,
    VOCABULARY,
    parse_structures,
    seven_point_score,
)

ALL_MAJOR = {
    "pigment_network": "atypical",
    "blue_whitish_veil": "present",
    "vascular_structures": "atypical",
}
ALL_MINOR = {
    "streaks": "irregular",
    "pigmentation": "irregular",
    "dots_globules": "irregular",
    "regression_structures": "present",
}


def test_policy_is_named_and_versioned() -> None:
    assert (structures.POLICY_NAME, structures.POLICY_VERSION) == ("dermoscopic-structures", "1")


def test_the_vocabulary_is_the_seven_point_checklist_plus_isic_2018() -> None:
    assert ISIC_2018 == (
        "pigment_network",
        "negative_network",
        "streaks",
        "milia_like_cyst",
        "globules",
    )
    assert set(VOCABULARY) == set(SEVEN_POINT) | {f"isic2018:{n}" for n in ISIC_2018}
    assert len(VOCABULARY) == 8 + 5
    assert VOCABULARY["isic2018:globules"] == ("absent", "present")
    assert VOCABULARY["pigment_network"] == ("absent", "typical", "atypical")


def test_major_and_minor_criteria_are_in_the_vocabulary() -> None:
    assert dict(MAJOR) == ALL_MAJOR and len(MAJOR) == 3
    assert dict(MINOR) == ALL_MINOR and len(MINOR) == 4
    for name, value in MAJOR | MINOR:
        assert value in SEVEN_POINT[name]


# ------------------------------------------------------------------ parse


def test_pairs_are_parsed_stripped_and_sorted_by_name() -> None:
    assert parse_structures(
        [" streaks = irregular ", "isic2018:milia_like_cyst=present", "blue_whitish_veil=absent"]
    ) == {
        "blue_whitish_veil": "absent",
        "isic2018:milia_like_cyst": "present",
        "streaks": "irregular",
    }
    assert list(parse_structures(["streaks=absent", "dots_globules=absent"])) == [
        "dots_globules",
        "streaks",
    ]


def test_nothing_parses_to_nothing() -> None:
    assert parse_structures([]) == {}


def test_the_checklist_and_the_isic_attribute_of_one_name_are_distinct() -> None:
    parsed = parse_structures(["pigment_network=atypical", "isic2018:pigment_network=present"])
    assert parsed == {"isic2018:pigment_network": "present", "pigment_network": "atypical"}


@pytest.mark.parametrize("item", ["pigment_net=atypical", "globules=present", "=present"])
def test_a_name_outside_the_vocabulary_is_refused(item: str) -> None:
    with pytest.raises(InvalidInput, match="is not in the vocabulary") as caught:
        parse_structures([item])
    assert "pigment_network, blue_whitish_veil" in str(caught.value)


def test_an_item_without_equals_sign_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match=r"^structure 'streaks' is not in the vocabulary"):
        parse_structures(["streaks"])


@pytest.mark.parametrize(
    "item",
    [
        "pigment_network=present",
        "streaks=",
        "blue_whitish_veil=Present",
        "isic2018:streaks=regular",
    ],
)
def test_a_value_outside_the_names_vocabulary_is_refused(item: str) -> None:
    name = item.partition("=")[0]
    with pytest.raises(InvalidInput, match=rf"^structure {name}=.* is not allowed; use one of "):
        parse_structures([item])


def test_the_allowed_values_are_listed() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_structures(["pigmentation=patchy"])
    assert str(caught.value) == (
        "structure pigmentation='patchy' is not allowed; use one of absent, regular, irregular"
    )


def test_a_name_given_twice_is_refused_even_with_the_same_value() -> None:
    for second in ["streaks=irregular", "streaks=absent", " streaks =irregular"]:
        with pytest.raises(InvalidInput, match=r"^structure streaks is given twice$"):
            parse_structures(["streaks=irregular", second])


def test_the_first_bad_item_is_named() -> None:
    with pytest.raises(InvalidInput, match="'bogus'"):
        parse_structures(["streaks=absent", "bogus=1", "pigmentation=patchy"])


# ------------------------------------------------------------------ score


@pytest.mark.parametrize(("name", "value"), sorted(ALL_MAJOR.items()))
def test_each_major_criterion_scores_two(name: str, value: str) -> None:
    assert seven_point_score({name: value}) == 2


@pytest.mark.parametrize(("name", "value"), sorted(ALL_MINOR.items()))
def test_each_minor_criterion_scores_one(name: str, value: str) -> None:
    assert seven_point_score({name: value}) == 1


def test_scores_add_up_to_ten_at_most() -> None:
    assert seven_point_score(ALL_MAJOR) == 6
    assert seven_point_score(ALL_MINOR) == 4
    assert seven_point_score(ALL_MAJOR | ALL_MINOR) == 10


def test_the_melanoma_threshold_of_three() -> None:
    # One major plus one minor criterion reaches 3; three minor criteria do too.
    assert seven_point_score({"blue_whitish_veil": "present", "streaks": "irregular"}) == 3
    minors = {"streaks": "irregular", "pigmentation": "irregular", "dots_globules": "irregular"}
    assert seven_point_score(minors) == 3
    assert seven_point_score({"pigment_network": "atypical"}) == 2


@pytest.mark.parametrize(
    "benign",
    [
        {},
        {"pigment_network": "typical", "vascular_structures": "typical"},
        {"streaks": "regular", "pigmentation": "regular", "dots_globules": "regular"},
        {"blue_whitish_veil": "absent", "regression_structures": "absent"},
        {"vascular_pattern": "polymorphous"},  # recorded, not scored
        {f"isic2018:{n}": "present" for n in ISIC_2018},  # ISIC attributes are never scored
    ],
)
def test_non_criteria_score_nothing(benign: dict[str, str]) -> None:
    assert seven_point_score(benign) == 0


def test_a_parsed_annotation_scores() -> None:
    parsed = parse_structures(
        ["pigment_network=atypical", "regression_structures=present", "isic2018:streaks=present"]
    )
    assert seven_point_score(parsed) == 3
