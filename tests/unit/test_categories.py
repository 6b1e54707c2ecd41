"""The nine diagnostic categories: every ISIC label maps to exactly one, as documented."""

from __future__ import annotations

import pytest
from isic_metadata import DiagnosisEnum

from dermledger.ledger.errors import InvalidInput
from dermledger.policies import categories
from dermledger.policies.categories import (
    CATEGORIES,
    MALIGNANT,
    POLICY,
    category_of,
    is_malignant,
    is_malignant_label,
    melanocytic_of,
)

MEL = "Malignant:Malignant melanocytic proliferations (Melanoma)"
BCC = "Malignant:Malignant adnexal epithelial proliferations - Follicular:Basal cell carcinoma"
SCC = "Malignant:Malignant epidermal proliferations"
SCC_IN_SITU = "Squamous cell carcinoma in situ"
NEVUS = "Benign:Benign melanocytic proliferations:Nevus"
EPIDERMAL = "Benign:Benign epidermal proliferations"
VASCULAR = "Benign:Benign soft tissue proliferations - Vascular"
AK = "Indeterminate:Indeterminate epidermal proliferations:Solar or actinic keratosis"
ALL_LABELS = [member.value for member in DiagnosisEnum]


def test_policy_is_named_and_versioned() -> None:
    assert POLICY == ("diagnostic-categories", "1")
    assert CATEGORIES == ("MEL", "BCC", "SCC", "NV", "BKL", "DF", "VASC", "AK", "OTHER")


def test_every_isic_diagnosis_maps_to_one_of_the_nine_categories() -> None:
    assert len(ALL_LABELS) == 418  # isic-metadata 6.1.0; a new release needs a review
    assert {label: category_of(label) in CATEGORIES for label in ALL_LABELS} == dict.fromkeys(
        ALL_LABELS, True
    )
    assert {category_of(label) for label in ALL_LABELS} == set(CATEGORIES)


def test_every_rule_names_an_isic_node() -> None:
    # A renamed node in a future isic-metadata would otherwise send its lesions to OTHER.
    assert set(categories._RULES) <= set(ALL_LABELS)


def test_a_label_inherits_its_parents_category_unless_a_rule_names_it() -> None:
    for label in ALL_LABELS:
        if ":" in label and label not in categories._RULES:
            parent = label.rsplit(":", 1)[0]
            assert category_of(label) == category_of(parent), label


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (f"{MEL}:Melanoma in situ", "MEL"),
        (f"{MEL}:Melanoma in situ:Melanoma in situ, Lentigo maligna type", "MEL"),
        (f"{MEL}:Melanoma Invasive", "MEL"),
        (f"{MEL}:Melanoma Invasive:Melanoma Invasive, Superficial spreading", "MEL"),
        (f"{MEL}:Melanoma metastasis", "MEL"),
        (BCC, "BCC"),
        (f"{BCC}:Basal cell carcinoma, Nodular", "BCC"),
        (f"{SCC}:Squamous cell carcinoma in situ", "SCC"),
        (f"{SCC}:Squamous cell carcinoma in situ:{SCC_IN_SITU}, Bowens disease", "SCC"),
        (f"{SCC}:Squamous cell carcinoma, Invasive", "SCC"),
        (f"{SCC}:Keratoacanthoma", "SCC"),
        (NEVUS, "NV"),
        (f"{NEVUS}:Nevus, NOS, Compound", "NV"),
        (f"{NEVUS}:Blue nevus:Blue nevus, Common", "NV"),
        (f"{EPIDERMAL}:Seborrheic keratosis", "BKL"),
        (f"{EPIDERMAL}:Seborrheic keratosis:Seborrheic keratosis, Clonal", "BKL"),
        (f"{EPIDERMAL}:Solar lentigo", "BKL"),
        (f"{EPIDERMAL}:Lichen planus like keratosis", "BKL"),
        (f"{EPIDERMAL}:Pigmented benign keratosis", "BKL"),
        ("Benign:Benign soft tissue proliferations - Fibro-histiocytic:Dermatofibroma", "DF"),
        (f"{VASCULAR}:Hemangioma", "VASC"),
        (f"{VASCULAR}:Hemangioma:Hemangioma, Cherry", "VASC"),
        (f"{VASCULAR}:Angiokeratoma", "VASC"),
        (f"{VASCULAR}:Pyogenic granuloma", "VASC"),
        (AK, "AK"),
        (f"{AK}:Actinic keratosis, Bowenoid", "AK"),
    ],
)
def test_spot_checks(label: str, expected: str) -> None:
    assert category_of(label) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Benign", "OTHER"),
        ("Indeterminate", "OTHER"),
        ("Malignant", "OTHER"),
        ("Benign:Benign - Other", "OTHER"),
        ("Benign:Collision - Only benign proliferations", "OTHER"),
        ("Malignant:Collision - At least one malignant proliferation", "OTHER"),
        (EPIDERMAL, "OTHER"),
        (f"{EPIDERMAL}:Clear cell acanthoma", "OTHER"),
        (f"{EPIDERMAL}:Melanoacanthoma", "BKL"),
        (f"{EPIDERMAL}:Large cell acanthoma", "BKL"),
        ("Benign:Flat melanotic pigmentations - not melanocytic nevus:Ink-spot lentigo", "BKL"),
        ("Benign:Flat melanotic pigmentations - not melanocytic nevus:Lentigo NOS", "OTHER"),
        ("Benign:Benign melanocytic proliferations:Lentigo simplex", "NV"),
        ("Benign:Benign melanocytic proliferations:Dermal melanocytosis:Nevus of Ota", "NV"),
        ("Indeterminate:Indeterminate melanocytic proliferations:Atypical Spitz tumor", "OTHER"),
        ("Indeterminate:Indeterminate epidermal proliferations:Solar or actinic cheilitis", "AK"),
        ("Indeterminate:Indeterminate epidermal proliferations", "AK"),
        (SCC, "SCC"),
        (f"{SCC}:Bowenoid papulosis", "SCC"),
        (f"{SCC}:Verrucous carcinoma", "SCC"),
        (
            "Malignant:Malignant adnexal epithelial proliferations - Follicular:"
            "Baso-squamous carcinoma",
            "BCC",
        ),
        ("Malignant:Malignant adnexal epithelial proliferations - Follicular", "OTHER"),
        ("Malignant:Merkel cell proliferation:Merkel cell carcinoma", "OTHER"),
        ("Malignant:Malignant soft tissue proliferations - Vascular:Kaposi sarcoma", "OTHER"),
        ("Benign:Hemorrhagic lesions:Hemorrhage:Subungual hemorrhage", "OTHER"),
        ("Benign:Benign soft tissue proliferations - Adipocytic:Angiolipoma", "OTHER"),
    ],
)
def test_documented_edge_cases(label: str, expected: str) -> None:
    assert category_of(label) == expected


def test_categories_respect_isics_benign_and_malignant_branches() -> None:
    top_levels = {
        "MEL": {"Malignant"},
        "BCC": {"Malignant"},
        "SCC": {"Malignant"},
        "NV": {"Benign"},
        "BKL": {"Benign"},
        "DF": {"Benign"},
        "VASC": {"Benign"},
        "AK": {"Indeterminate"},
    }
    for label in ALL_LABELS:
        category = category_of(label)
        if category != "OTHER":
            assert label.split(":")[0] in top_levels[category], label


def test_category_of_refuses_a_partial_label() -> None:
    with pytest.raises(InvalidInput, match="not a full ISIC diagnosis label"):
        category_of("Nevus")


def test_malignant_categories() -> None:
    assert {code for code in CATEGORIES if is_malignant(code)} == {"MEL", "BCC", "SCC"} == MALIGNANT


def test_is_malignant_refuses_an_unknown_code() -> None:
    with pytest.raises(InvalidInput, match="unknown diagnostic category 'mel'"):
        is_malignant("mel")


def test_is_malignant_label_asks_isic_not_the_category() -> None:
    assert is_malignant_label("Malignant:Merkel cell proliferation:Merkel cell carcinoma")
    assert not is_malignant("OTHER")
    assert not is_malignant_label(NEVUS)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (NEVUS, True),
        (f"{MEL}:Melanoma in situ", True),
        ("Indeterminate:Indeterminate melanocytic proliferations:Atypical Spitz tumor", True),
        ("Benign:Benign melanocytic proliferations:Lentigo simplex", True),
        (f"{EPIDERMAL}:Seborrheic keratosis", False),
        (f"{EPIDERMAL}:Solar lentigo", False),
        (BCC, False),
        (f"{VASCULAR}:Hemangioma", False),
        ("Benign:Flat melanotic pigmentations - not melanocytic nevus:Ephelis", False),
        ("Benign", None),
        ("Malignant", None),
        ("Indeterminate", None),
        ("Benign:Benign - Other", None),
        ("Malignant:Collision - At least one malignant proliferation", None),
    ],
)
def test_melanocytic_of(label: str, expected: bool | None) -> None:
    assert melanocytic_of(label) is expected


def test_melanoma_and_nevi_are_always_melanocytic() -> None:
    for label in ALL_LABELS:
        if category_of(label) in {"MEL", "NV"}:
            assert melanocytic_of(label) is True, label
        if category_of(label) in {"BCC", "SCC", "BKL", "DF", "VASC", "AK"}:
            assert melanocytic_of(label) is False, label
