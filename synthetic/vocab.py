"""ISIC vocabulary the synthetic cohort draws from, with clinic-like weights.

Every label is spelled exactly as in the pinned `isic-metadata` package
(diagnosis_hierarchical.DiagnosisEnum, anatom_site_hierarchical.AnatomSiteEnum,
fields.DermoscopicTypeEnum); tests/unit/test_synthetic.py validates each one
against it, so a package upgrade that renames a label fails loudly there.
"""

from __future__ import annotations

_MEL = "Malignant:Malignant melanocytic proliferations (Melanoma)"
_BCC = "Malignant:Malignant adnexal epithelial proliferations - Follicular:Basal cell carcinoma"
_SCC = "Malignant:Malignant epidermal proliferations"
_NEVUS = "Benign:Benign melanocytic proliferations:Nevus"
_EPIDERMAL = "Benign:Benign epidermal proliferations"
_VASCULAR = "Benign:Benign soft tissue proliferations - Vascular"

# Full colon-joined ISIC diagnosis per category, with relative frequency.
DIAGNOSES: dict[str, tuple[tuple[str, float], ...]] = {
    "MEL": (
        (f"{_MEL}:Melanoma in situ", 0.35),
        (f"{_MEL}:Melanoma in situ:Melanoma in situ, Lentigo maligna type", 0.1),
        (f"{_MEL}:Melanoma Invasive", 0.2),
        (f"{_MEL}:Melanoma Invasive:Melanoma Invasive, Superficial spreading", 0.35),
    ),
    "BCC": (
        (_BCC, 0.5),
        (f"{_BCC}:Basal cell carcinoma, Nodular", 0.25),
        (f"{_BCC}:Basal cell carcinoma, Superficial", 0.25),
    ),
    "SCC": (
        (f"{_SCC}:Squamous cell carcinoma, Invasive", 0.4),
        (f"{_SCC}:Squamous cell carcinoma in situ", 0.4),
        (f"{_SCC}:Keratoacanthoma", 0.2),
    ),
    "NV": (
        (_NEVUS, 0.5),
        (f"{_NEVUS}:Nevus, NOS, Compound", 0.15),
        (f"{_NEVUS}:Nevus, NOS, Junctional", 0.13),
        (f"{_NEVUS}:Nevus, NOS, Dermal", 0.08),
        (f"{_NEVUS}:Nevus, Atypical, Dysplastic, or Clark", 0.08),
        (f"{_NEVUS}:Blue nevus", 0.03),
        (f"{_NEVUS}:Nevus, Spitz", 0.02),
        (f"{_NEVUS}:Nevus, Reed", 0.01),
    ),
    "BKL": (
        (f"{_EPIDERMAL}:Seborrheic keratosis", 0.45),
        (f"{_EPIDERMAL}:Solar lentigo", 0.25),
        (f"{_EPIDERMAL}:Pigmented benign keratosis", 0.2),
        (f"{_EPIDERMAL}:Lichen planus like keratosis", 0.1),
    ),
    "DF": (("Benign:Benign soft tissue proliferations - Fibro-histiocytic:Dermatofibroma", 1.0),),
    "VASC": (
        (f"{_VASCULAR}:Hemangioma", 0.35),
        (f"{_VASCULAR}:Hemangioma:Hemangioma, Cherry", 0.3),
        (f"{_VASCULAR}:Angiokeratoma", 0.15),
        (f"{_VASCULAR}:Pyogenic granuloma", 0.12),
        ("Benign:Hemorrhagic lesions:Hemorrhage", 0.08),
    ),
    "AK": (
        ("Indeterminate:Indeterminate epidermal proliferations:Solar or actinic keratosis", 1.0),
    ),
    "OTHER": (
        ("Benign:Benign adnexal epithelial proliferations - Sebaceous:Sebaceous hyperplasia", 0.35),
        (f"{_EPIDERMAL}:Clear cell acanthoma", 0.2),
        ("Benign:Cysts:Infundibular or epidermal cyst", 0.25),
        ("Benign:Benign soft tissue proliferations - Fibro-histiocytic:Scar", 0.2),
    ),
}

# Anatomic sites (full ISIC paths) grouped into body regions.
SITES: dict[str, tuple[str, ...]] = {
    "trunk": (
        "Trunk:Posterior trunk",
        "Trunk:Posterior trunk:Upper back",
        "Trunk:Posterior trunk:Mid back",
        "Trunk:Posterior trunk:Lower back",
        "Trunk:Anterior trunk:Anterior chest",
        "Trunk:Anterior trunk:Anterior abdomen",
        "Trunk:Lateral trunk:Lateral chest",
    ),
    "head": (
        "Head and neck:Head:Face:Cheek",
        "Head and neck:Head:Face:Nose",
        "Head and neck:Head:Face:Forehead",
        "Head and neck:Head:Face:Temple",
        "Head and neck:Head:Ear:Pinna",
        "Head and neck:Head:Scalp",
        "Head and neck:Neck:Side of neck",
    ),
    "arm": (
        "Upper extremity:Shoulder:Posterior shoulder",
        "Upper extremity:Upper arm:Posterior upper arm",
        "Upper extremity:Forearm:Dorsal forearm",
        "Upper extremity:Hand:Dorsum of hand",
    ),
    "leg": (
        "Lower extremity:Thigh:Anterior thigh",
        "Lower extremity:Lower leg:Shin",
        "Lower extremity:Lower leg:Calf",
        "Lower extremity:Foot:Sole of foot",
    ),
}

# Where each category tends to occur (region -> weight).
SITE_WEIGHTS: dict[str, dict[str, float]] = {
    "MEL": {"trunk": 0.45, "head": 0.2, "arm": 0.15, "leg": 0.2},
    "BCC": {"trunk": 0.25, "head": 0.7, "arm": 0.05, "leg": 0.0},
    "SCC": {"trunk": 0.05, "head": 0.5, "arm": 0.35, "leg": 0.1},
    "NV": {"trunk": 0.55, "head": 0.1, "arm": 0.15, "leg": 0.2},
    "BKL": {"trunk": 0.55, "head": 0.3, "arm": 0.1, "leg": 0.05},
    "DF": {"trunk": 0.1, "head": 0.0, "arm": 0.2, "leg": 0.7},
    "VASC": {"trunk": 0.7, "head": 0.1, "arm": 0.1, "leg": 0.1},
    "AK": {"trunk": 0.0, "head": 0.75, "arm": 0.25, "leg": 0.0},
    "OTHER": {"trunk": 0.3, "head": 0.5, "arm": 0.1, "leg": 0.1},
}

# Devices in the clinic, their share of captures, and the ISIC dermoscopic
# types each can produce (with weights).
DEVICES: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {
    "DermLite DL5 + iPhone 14": (
        0.45,
        (
            ("contact polarized", 0.6),
            ("contact non-polarized", 0.25),
            ("non-contact polarized", 0.15),
        ),
    ),
    "DermLite DL4 + iPhone 12": (
        0.25,
        (("contact polarized", 0.7), ("contact non-polarized", 0.3)),
    ),
    "HEINE DELTA 30 + Canon EOS 250D": (
        0.2,
        (("contact non-polarized", 0.6), ("contact polarized", 0.4)),
    ),
    "FotoFinder medicam 1000": (0.1, (("contact polarized", 1.0),)),
}

FITZPATRICK_SHARES: dict[str, float] = {
    "I": 0.08,
    "II": 0.36,
    "III": 0.32,
    "IV": 0.14,
    "V": 0.06,
    "VI": 0.04,
}
