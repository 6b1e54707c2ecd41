"""Dermoscopic structures an annotator would see, drawn per diagnostic category.

The demo's initial annotations carry structures in the study's vocabulary
(policies/structures.py: the 7-point checklist and the ISIC 2018 attributes), so a
release's annotations.csv has what its croissant.json says is annotated. Each category
has a profile after the dermoscopy literature (Argenziano 1998, the ISIC 2018 task 2
attributes): melanomas mostly show an atypical network, a blue-whitish veil, irregular
pigmentation, streaks or globules (7-point score 3 or more for most); nevi a typical
network and regular globules; keratoses milia-like cysts and hairpin vessels; basal
cell carcinomas arborizing vessels. Drawn from the caller's `random.Random`, so the
same seed gives the same structures.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Final

from dermledger.policies.structures import ISIC_PREFIX

Choices = Sequence[tuple[str, float]]

# Per category, per 7-point item: (value, weight). Items left out are "absent".
SEVEN_POINT_PROFILES: Final[dict[str, dict[str, Choices]]] = {
    "MEL": {
        "pigment_network": (("atypical", 0.75), ("typical", 0.1), ("absent", 0.15)),
        "blue_whitish_veil": (("present", 0.55), ("absent", 0.45)),
        "vascular_structures": (("atypical", 0.3), ("absent", 0.7)),
        "pigmentation": (("irregular", 0.8), ("regular", 0.15), ("absent", 0.05)),
        "streaks": (("irregular", 0.5), ("regular", 0.05), ("absent", 0.45)),
        "dots_globules": (("irregular", 0.65), ("regular", 0.1), ("absent", 0.25)),
        "regression_structures": (("present", 0.45), ("absent", 0.55)),
    },
    "NV": {
        "pigment_network": (("typical", 0.7), ("atypical", 0.08), ("absent", 0.22)),
        "blue_whitish_veil": (("present", 0.02), ("absent", 0.98)),
        "vascular_structures": (("typical", 0.1), ("absent", 0.9)),
        "pigmentation": (("regular", 0.8), ("irregular", 0.08), ("absent", 0.12)),
        "streaks": (("regular", 0.05), ("irregular", 0.02), ("absent", 0.93)),
        "dots_globules": (("regular", 0.45), ("irregular", 0.06), ("absent", 0.49)),
        "regression_structures": (("present", 0.05), ("absent", 0.95)),
    },
    "BKL": {
        "pigment_network": (("typical", 0.2), ("atypical", 0.05), ("absent", 0.75)),
        "blue_whitish_veil": (("present", 0.03), ("absent", 0.97)),
        "vascular_structures": (("typical", 0.35), ("atypical", 0.03), ("absent", 0.62)),
        "pigmentation": (("regular", 0.4), ("irregular", 0.15), ("absent", 0.45)),
        "dots_globules": (("regular", 0.1), ("absent", 0.9)),
        "regression_structures": (("present", 0.12), ("absent", 0.88)),
    },
    "BCC": {
        "pigment_network": (("absent", 1.0),),
        "blue_whitish_veil": (("present", 0.05), ("absent", 0.95)),
        "vascular_structures": (("typical", 0.7), ("atypical", 0.15), ("absent", 0.15)),
        "pigmentation": (("irregular", 0.3), ("absent", 0.7)),
        "dots_globules": (("irregular", 0.3), ("absent", 0.7)),
        "regression_structures": (("present", 0.2), ("absent", 0.8)),
    },
    "SCC": {
        "pigment_network": (("absent", 1.0),),
        "vascular_structures": (("atypical", 0.5), ("typical", 0.35), ("absent", 0.15)),
        "pigmentation": (("irregular", 0.1), ("absent", 0.9)),
        "dots_globules": (("irregular", 0.1), ("absent", 0.9)),
    },
    "AK": {
        "pigment_network": (("typical", 0.1), ("absent", 0.9)),
        "vascular_structures": (("typical", 0.5), ("atypical", 0.05), ("absent", 0.45)),
        "pigmentation": (("regular", 0.2), ("irregular", 0.1), ("absent", 0.7)),
    },
    "DF": {
        "pigment_network": (("typical", 0.8), ("absent", 0.2)),
        "vascular_structures": (("typical", 0.3), ("absent", 0.7)),
        "pigmentation": (("regular", 0.5), ("absent", 0.5)),
        "dots_globules": (("regular", 0.2), ("absent", 0.8)),
    },
    "VASC": {
        "blue_whitish_veil": (("present", 0.1), ("absent", 0.9)),
        "vascular_structures": (("typical", 0.4), ("absent", 0.6)),
    },
    "OTHER": {
        "pigment_network": (("typical", 0.1), ("absent", 0.9)),
        "vascular_structures": (("typical", 0.3), ("atypical", 0.05), ("absent", 0.65)),
        "pigmentation": (("regular", 0.2), ("irregular", 0.1), ("absent", 0.7)),
        "dots_globules": (("regular", 0.1), ("absent", 0.9)),
    },
}
# The vessel pattern that goes with typical or atypical vascular structures.
VASCULAR_PATTERNS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "typical": {
        "NV": ("comma", "dotted"),
        "BKL": ("hairpin",),
        "BCC": ("arborizing",),
        "SCC": ("glomerular",),
        "AK": ("dotted",),
        "DF": ("dotted",),
        "VASC": ("dotted",),
        "OTHER": ("dotted", "comma"),
    },
    "atypical": {
        "MEL": ("polymorphous", "linear-irregular", "dotted"),
        "SCC": ("glomerular", "polymorphous"),
        "BCC": ("arborizing", "polymorphous"),
    },
}
# Chance of the ISIC 2018 attributes that have no 7-point counterpart.
NEGATIVE_NETWORK: Final[dict[str, float]] = {"MEL": 0.25, "DF": 0.15, "NV": 0.04}
MILIA_LIKE_CYST: Final[dict[str, float]] = {"BKL": 0.55, "NV": 0.1}


def _pick(rng: random.Random, choices: Choices) -> str:
    values = [value for value, _ in choices]
    return rng.choices(values, weights=[weight for _, weight in choices])[0]


def _isic_2018(rng: random.Random, category: str, seven: Mapping[str, str]) -> dict[str, str]:
    """The ISIC 2018 attributes: three follow the 7-point items they name, two are drawn."""
    present = {
        "pigment_network": seven["pigment_network"] != "absent",
        "streaks": seven["streaks"] != "absent",
        "globules": seven["dots_globules"] != "absent",
        "negative_network": rng.random() < NEGATIVE_NETWORK.get(category, 0.01),
        "milia_like_cyst": rng.random() < MILIA_LIKE_CYST.get(category, 0.03),
    }
    return {f"{ISIC_PREFIX}{name}": "present" if on else "absent" for name, on in present.items()}


def draw_structures(category: str, rng: random.Random) -> list[str]:
    """Every structure of the vocabulary as NAME=VALUE, plausible for `category` (one of
    the nine codes): a complete checklist, as an annotator fills in the form."""
    profile = SEVEN_POINT_PROFILES[category]
    seven = {
        item: _pick(rng, profile[item]) if item in profile else "absent"
        for item in (
            "pigment_network", "blue_whitish_veil", "vascular_structures", "pigmentation",
            "streaks", "dots_globules", "regression_structures",
        )
    }  # fmt: skip
    vessels = seven["vascular_structures"]
    patterns = VASCULAR_PATTERNS.get(vessels, {})
    default = ("linear-irregular",) if vessels == "atypical" else ("dotted",)
    seven["vascular_pattern"] = (
        "none" if vessels == "absent" else rng.choice(patterns.get(category, default))
    )
    found = seven | _isic_2018(rng, category, seven)
    return [f"{name}={value}" for name, value in sorted(found.items())]
