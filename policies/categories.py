"""The nine diagnostic categories of the study, derived from ISIC diagnosis labels.

Why a policy: the consensus rule compares specialists' votes by *category*, the release gate
asks whether a label is malignant, and the datasheet counts images per category. All three
must agree, so the mapping lives in one named, versioned place.

How a label is mapped: ISIC labels form a hierarchy ("Malignant:Malignant melanocytic
proliferations (Melanoma):Melanoma in situ"). `_RULES` lists ISIC nodes; a label takes the
category of the deepest rule node that is the label itself or one of its ancestors, and
OTHER when no rule node is. Whole ISIC branches are mapped where ISIC's branch matches our
category; single entities are named only where the clinical category cuts across ISIC's
branches.

Decisions worth knowing (each is a deliberate choice, not an accident of the walk):

- "Benign", "Indeterminate", "Malignant" alone, both collision labels, "Benign:Benign -
  Other" and "Benign:Benign epidermal proliferations" alone are OTHER: they do not say which
  lesion it is.
- MEL is the whole ISIC melanoma branch, including "Melanoma metastasis" and "Melanoma, NOS".
- BCC is ISIC's "Basal cell carcinoma" branch plus "Baso-squamous carcinoma", which the WHO
  classification treats as a BCC subtype. Other malignant follicular tumours are OTHER.
- SCC is ISIC's whole "Malignant epidermal proliferations" branch: SCC in situ (Bowen),
  invasive SCC, SCC NOS, keratoacanthoma, Bowenoid papulosis and verrucous carcinoma. Every
  member of that branch is an SCC-family lesion, so the branch label alone is SCC too.
- NV is ISIC's whole "Benign melanocytic proliferations" branch: nevi of every kind, and also
  lentigo simplex, dermal melanocytosis (Mongolian spot, nevus of Ota/Ito) and pigmented
  epithelioid melanocytoma, which ISIC files there as benign melanocytic lesions.
- Indeterminate melanocytic lesions (atypical Spitz tumour, MELTUMP, SAMPUS, ...) are OTHER:
  neither melanoma nor nevus.
- BKL is seborrheic keratosis (with the clonal variant), solar lentigo, lichen planus-like
  keratosis and pigmented benign keratosis, plus melanoacanthoma (a pigmented seborrheic
  keratosis), large cell acanthoma (a solar lentigo/seborrheic keratosis variant) and
  ink-spot lentigo (a solar lentigo variant, which ISIC files under flat melanotic
  pigmentations). Other benign epidermal proliferations (clear cell acanthoma,
  porokeratosis, epidermal nevus, ...) and "Lentigo NOS" are OTHER.
- DF is ISIC's "Dermatofibroma" branch; other fibro-histiocytic lesions are OTHER.
- VASC is ISIC's whole "Benign soft tissue proliferations - Vascular" branch (hemangiomas,
  angiokeratoma, pyogenic granuloma, venous lake, ...). Unlike HAM10000's "vasc" class,
  hemorrhage is OTHER (it is not a vascular proliferation), and so are malignant vascular
  tumours (angiosarcoma, Kaposi sarcoma) and angiolipoma (ISIC: adipocytic).
- AK is ISIC's whole "Indeterminate epidermal proliferations" branch: actinic keratosis of
  every subtype and actinic cheilitis (actinic keratosis of the lip).

OTHER therefore contains malignant lesions too (Merkel cell carcinoma, lymphomas, sarcomas,
malignant adnexal tumours): `is_malignant("OTHER")` is False because OTHER is not one of the
three malignant *categories*; use `is_malignant_label` to ask about the label itself.
"""

from __future__ import annotations

from typing import Final, Literal

from isic_metadata import DiagnosisEnum

from dermledger.ledger.errors import InvalidInput

POLICY: Final = ("diagnostic-categories", "1")
POLICY_NAME, POLICY_VERSION = POLICY

Category = Literal["MEL", "BCC", "SCC", "NV", "BKL", "DF", "VASC", "AK", "OTHER"]

CATEGORY_NAMES: Final[dict[str, str]] = {
    "MEL": "melanoma",
    "BCC": "basal cell carcinoma",
    "SCC": "squamous cell carcinoma",
    "NV": "melanocytic nevus",
    "BKL": "benign keratosis",
    "DF": "dermatofibroma",
    "VASC": "vascular lesion",
    "AK": "actinic keratosis",
    "OTHER": "other",
}
CATEGORIES: Final[tuple[str, ...]] = tuple(CATEGORY_NAMES)
MALIGNANT: Final[frozenset[str]] = frozenset({"MEL", "BCC", "SCC"})

_B_EPIDERMAL = "Benign:Benign epidermal proliferations"
_M_FOLLICULAR = "Malignant:Malignant adnexal epithelial proliferations - Follicular"

# ISIC node -> category. Checked against DiagnosisEnum by the tests, so an isic-metadata
# upgrade that renames a node fails loudly instead of silently mapping lesions to OTHER.
_RULES: Final[dict[str, str]] = {
    "Malignant:Malignant melanocytic proliferations (Melanoma)": "MEL",
    f"{_M_FOLLICULAR}:Basal cell carcinoma": "BCC",
    f"{_M_FOLLICULAR}:Baso-squamous carcinoma": "BCC",
    "Malignant:Malignant epidermal proliferations": "SCC",
    "Benign:Benign melanocytic proliferations": "NV",
    f"{_B_EPIDERMAL}:Seborrheic keratosis": "BKL",
    f"{_B_EPIDERMAL}:Solar lentigo": "BKL",
    f"{_B_EPIDERMAL}:Lichen planus like keratosis": "BKL",
    f"{_B_EPIDERMAL}:Pigmented benign keratosis": "BKL",
    f"{_B_EPIDERMAL}:Melanoacanthoma": "BKL",
    f"{_B_EPIDERMAL}:Large cell acanthoma": "BKL",
    "Benign:Flat melanotic pigmentations - not melanocytic nevus:Ink-spot lentigo": "BKL",
    "Benign:Benign soft tissue proliferations - Fibro-histiocytic:Dermatofibroma": "DF",
    "Benign:Benign soft tissue proliferations - Vascular": "VASC",
    "Indeterminate:Indeterminate epidermal proliferations": "AK",
}

# The three ISIC branches of melanocytic proliferations. Labels that do not say what the
# lesion is (top levels, collisions, "Benign - Other") have no determinable flag.
_MELANOCYTIC_BRANCHES: Final = (
    "Benign:Benign melanocytic proliferations",
    "Indeterminate:Indeterminate melanocytic proliferations",
    "Malignant:Malignant melanocytic proliferations (Melanoma)",
)
_MELANOCYTIC_UNKNOWN: Final = frozenset(
    {
        "Benign",
        "Indeterminate",
        "Malignant",
        "Benign:Benign - Other",
        "Benign:Collision - Only benign proliferations",
        "Malignant:Collision - At least one malignant proliferation",
    }
)


def _within(label: str, node: str) -> bool:
    """True if `label` is the ISIC node `node` or one of its descendants."""
    return label == node or label.startswith(node + ":")


def _require_label(label: str) -> DiagnosisEnum:
    """The ISIC member for a full diagnosis label; refuse anything else.

    Partial or terminal values are not accepted here on purpose: records store full labels
    (see `metadata_schema.parse_label`), and mapping a guess would hide a data error.
    """
    try:
        return DiagnosisEnum(label)
    except ValueError:
        raise InvalidInput(
            f"diagnosis {label!r} is not a full ISIC diagnosis label "
            "(parse it with metadata_schema.parse_label first)"
        ) from None


def category_of(label: str) -> str:
    """The diagnostic category code of a full ISIC diagnosis label.

    Raises InvalidInput if `label` is not a member of isic-metadata's DiagnosisEnum.
    """
    member = _require_label(label)
    best = ""
    for node in _RULES:
        if _within(member, node) and len(node) > len(best):
            best = node
    return _RULES[best] if best else "OTHER"


def is_malignant(category: str) -> bool:
    """True for the malignant categories MEL, BCC and SCC.

    Raises InvalidInput for a code that is not one of the nine categories, so a typo
    can never pass a release gate as "benign".
    """
    if category not in CATEGORY_NAMES:
        raise InvalidInput(
            f"unknown diagnostic category {category!r}; expected one of {', '.join(CATEGORIES)}"
        )
    return category in MALIGNANT


def is_malignant_label(label: str) -> bool:
    """True if ISIC files the label under "Malignant" (whatever its category)."""
    return _within(_require_label(label), "Malignant")


def melanocytic_of(label: str) -> bool | None:
    """The ISIC `melanocytic` flag implied by a full diagnosis label, or None if unknown.

    True inside ISIC's three melanocytic-proliferation branches; None for labels that do
    not say what the lesion is (top levels, collisions, "Benign - Other"); False otherwise.
    ISIC itself files flat melanotic pigmentations (ephelis, cafe-au-lait macule, lentigo
    NOS, ...) outside the melanocytic branches, and this follows ISIC.
    """
    member = _require_label(label)
    if member in _MELANOCYTIC_UNKNOWN:
        return None
    return any(_within(member, node) for node in _MELANOCYTIC_BRANCHES)


def diagnosis_labels() -> list[tuple[str, str]]:
    """Every full ISIC diagnosis label with its category, for a reader's label picker."""
    return [(member.value, category_of(member.value)) for member in DiagnosisEnum]
