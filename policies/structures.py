"""Dermoscopic structures: the 7-point checklist and the ISIC 2018 attributes.

An annotation names structures as NAME=VALUE from these vocabularies only, so every
annotation in the ledger can be scored and compared. The 7-point score is derived
(Argenziano 1998: major criteria 2 points, minor criteria 1), never typed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dermledger.ledger.errors import InvalidInput

POLICY_NAME = "dermoscopic-structures"
POLICY_VERSION = "1"

SEVEN_POINT: dict[str, tuple[str, ...]] = {
    "pigment_network": ("absent", "typical", "atypical"),
    "blue_whitish_veil": ("absent", "present"),
    "vascular_structures": ("absent", "typical", "atypical"),
    "vascular_pattern": (
        "none", "arborizing", "comma", "dotted", "glomerular", "hairpin",
        "linear-irregular", "polymorphous",
    ),
    "pigmentation": ("absent", "regular", "irregular"),
    "streaks": ("absent", "regular", "irregular"),
    "dots_globules": ("absent", "regular", "irregular"),
    "regression_structures": ("absent", "present"),
}  # fmt: skip
ISIC_2018 = ("pigment_network", "negative_network", "streaks", "milia_like_cyst", "globules")
ISIC_PREFIX = "isic2018:"
VOCABULARY: dict[str, tuple[str, ...]] = SEVEN_POINT | {
    f"{ISIC_PREFIX}{name}": ("absent", "present") for name in ISIC_2018
}

MAJOR = {
    ("pigment_network", "atypical"),
    ("blue_whitish_veil", "present"),
    ("vascular_structures", "atypical"),
}
MINOR = {
    ("streaks", "irregular"),
    ("pigmentation", "irregular"),
    ("dots_globules", "irregular"),
    ("regression_structures", "present"),
}


def parse_structures(items: Iterable[str]) -> dict[str, str]:
    """NAME=VALUE pairs to a dict; InvalidInput naming the first one outside the vocabulary."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in VOCABULARY:
            known = ", ".join(VOCABULARY)
            raise InvalidInput(f"structure {name or item!r} is not in the vocabulary ({known})")
        if value not in VOCABULARY[name]:
            raise InvalidInput(
                f"structure {name}={value!r} is not allowed; "
                f"use one of {', '.join(VOCABULARY[name])}"
            )
        if name in found:
            raise InvalidInput(f"structure {name} is given twice")
        found[name] = value
    return dict(sorted(found.items()))


def seven_point_score(structures: Mapping[str, str]) -> int:
    """The 7-point checklist score; 3 or more suggests melanoma."""
    items = set(structures.items())
    return 2 * len(items & MAJOR) + len(items & MINOR)
