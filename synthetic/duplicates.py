"""Planted near-duplicates and hard negatives for the de-duplication checks.

Real dermoscopy collections contain the same capture more than once: exported
twice, re-saved at another JPEG quality, downsized by a messaging app, cropped
a little or brightened by a phone's auto-adjust. The dedup policy must flag
those, and must not flag a different lesion photographed on the same patient
with the same device. Both kinds are generated here, deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PIL import Image

from dermledger.synthetic.images import ImageSpec, decode, encode_jpeg, encode_png

__all__ = [
    "DUPLICATE_KINDS",
    "duplicate_suffix",
    "hard_negatives",
    "make_duplicate",
    "plant_duplicates",
    "recapture",
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xD0D0])))


def _resize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Downscale to 0.6-0.9 of the size (0.8x typical of messaging apps)."""
    factor = float(rng.choice([0.6, 0.75, 0.8, 0.8, 0.9]))
    h, w = img.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))


def _crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trim 2-5% of each dimension, split unevenly between the two sides."""
    h, w = img.shape[:2]
    fx, fy = rng.uniform(0.02, 0.05, 2)
    dx, dy = round(w * fx), round(h * fy)
    left, top = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
    return img[top : h - (dy - top), left : w - (dx - left)].copy()


def _brightness(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale brightness by +/-4-8% (auto-exposure, a viewer's 'enhance')."""
    factor = 1.0 + float(rng.choice([-1.0, 1.0])) * rng.uniform(0.04, 0.08)
    return np.clip(img.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


_PIXEL_OPS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "resize": _resize,
    "crop": _crop,
    "brightness": _brightness,
}

# kind -> pixel operations applied in order; "exact" copies bytes, "png" is a
# lossless format change, everything else ends in a fresh JPEG at quality 70-88.
DUPLICATE_KINDS: dict[str, tuple[str, ...]] = {
    "exact": (),
    "reencode": (),
    "resize": ("resize",),
    "crop": ("crop",),
    "brightness": ("brightness",),
    "png": (),
    "crop+resize": ("crop", "resize"),
    "brightness+reencode": ("brightness",),
    "crop+brightness+resize": ("crop", "brightness", "resize"),
}


def duplicate_suffix(kind: str) -> str:
    """File extension a duplicate of this kind is written with."""
    return ".png" if kind == "png" else ".jpg"


def make_duplicate(data: bytes, kind: str, seed: int) -> bytes:
    """A near-duplicate of the encoded image `data`, of the given kind.

    Deterministic in (data, kind, seed). "exact" returns `data` unchanged.
    """
    if kind not in DUPLICATE_KINDS:
        raise ValueError(
            f"unknown duplicate kind {kind!r}; expected one of {list(DUPLICATE_KINDS)}"
        )
    if kind == "exact":
        return bytes(data)
    rng = _rng(seed)
    img = decode(data)
    for op in DUPLICATE_KINDS[kind]:
        img = _PIXEL_OPS[op](img, rng)
    if kind == "png":
        return encode_png(img)
    quality = int(rng.integers(70, 89))
    return encode_jpeg(img, quality=quality)


def plant_duplicates(data: bytes, seed: int) -> dict[str, bytes]:
    """One near-duplicate of every kind, keyed by kind."""
    return {kind: make_duplicate(data, kind, seed + i) for i, kind in enumerate(DUPLICATE_KINDS)}


def hard_negatives(
    spec: ImageSpec, count: int, seed: int, *, same_capture: bool = False
) -> list[ImageSpec]:
    """Different lesions that must NOT be flagged as duplicates of `spec`.

    Same category, skin type, size and hair/bubble artefacts, so nothing but
    the lesion and the shot differ: what another lesion of the same patient,
    photographed with the same device, looks like. With `same_capture` they
    also share the capture seed (identical framing, zoom, skin texture, light,
    field stop, hair): an adversarial extreme where only the lesion differs,
    useful to show what a global perceptual hash can and cannot tell apart.
    """
    rng = _rng(seed)
    out: list[ImageSpec] = []
    for _ in range(count):
        lesion, capture = (int(v) for v in rng.integers(0, 2**63 - 1, size=2, dtype=np.int64))
        out.append(
            replace(
                spec,
                lesion_seed=lesion,
                capture_seed=spec.capture_seed if same_capture else capture,
            )
        )
    return out


def recapture(spec: ImageSpec, seed: int) -> ImageSpec:
    """The same lesion photographed again: new placement, rotation, zoom, light."""
    capture = int(_rng(seed).integers(0, 2**63 - 1, dtype=np.int64))
    return replace(spec, capture_seed=capture)
