"""Category-flavoured lesion painters for the synthetic dermoscopy images.

Nothing here is a medical model. Each diagnostic category gets a recipe loosely
borrowed from dermoscopy teaching (reticular brown nevi, multicolour irregular
melanoma, pink BCC with arborising vessels, red-purple vascular lagoons, ...)
so that test images differ visibly per seed and per category, and carry real
edges and texture for focus and perceptual-hash code to work on.

How anything is drawn (the lesion's frame, border, textures and structures) is
`lesion_canvas.LesionCanvas`; this module holds the palette, the per-category
shapes and sizes, and the recipes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dermledger.synthetic._raster import Colour, smooth_noise, smoothstep
from dermledger.synthetic.lesion_canvas import Framing, LesionCanvas, Shape

CATEGORIES: tuple[str, ...] = ("MEL", "BCC", "SCC", "NV", "BKL", "DF", "VASC", "AK", "OTHER")

# Palette before adapting to the skin's darkness (RGB, 0-255).
TAN: Colour = (200, 150, 105)
LIGHT_BROWN: Colour = (168, 108, 68)
MID_BROWN: Colour = (122, 72, 44)
DARK_BROWN: Colour = (78, 44, 30)
BLACK: Colour = (34, 24, 24)
BLUE_GREY: Colour = (98, 108, 128)
VEIL: Colour = (150, 165, 190)
PINK: Colour = (226, 140, 146)
RED: Colour = (186, 44, 56)
DARK_RED: Colour = (118, 24, 40)
PURPLE: Colour = (108, 44, 86)
WHITE: Colour = (240, 232, 226)
YELLOW: Colour = (232, 206, 150)

# Typical long diameter (mm) per category, used when the caller gives none.
DIAMETER_MM: dict[str, tuple[float, float]] = {
    "MEL": (5.0, 18.0),
    "BCC": (4.0, 14.0),
    "SCC": (6.0, 18.0),
    "NV": (2.5, 8.0),
    "BKL": (4.0, 16.0),
    "DF": (4.0, 9.0),
    "VASC": (2.0, 7.0),
    "AK": (3.0, 10.0),
    "OTHER": (2.0, 9.0),
}

SHAPES: dict[str, Shape] = {
    "MEL": Shape((0.10, 0.22), 9, (0.55, 0.9), (0.03, 0.12), 0.9),
    "BCC": Shape((0.06, 0.14), 7, (0.6, 0.95), (0.08, 0.18), 0.5),
    "SCC": Shape((0.04, 0.10), 5, (0.7, 1.0), (0.06, 0.14), 0.4),
    "NV": Shape((0.01, 0.05), 4, (0.7, 1.0), (0.06, 0.14), 0.2),
    "BKL": Shape((0.05, 0.12), 6, (0.55, 0.95), (0.02, 0.05), 0.3),
    "DF": Shape((0.02, 0.05), 4, (0.75, 1.0), (0.15, 0.3), 0.2),
    "VASC": Shape((0.04, 0.10), 5, (0.7, 1.0), (0.03, 0.07), 0.3),
    "AK": Shape((0.06, 0.14), 6, (0.6, 0.95), (0.22, 0.4), 0.4),
    "OTHER": Shape((0.02, 0.07), 5, (0.7, 1.0), (0.08, 0.18), 0.3),
}


# -- recipes ------------------------------------------------------------------


def _nevus(cv: LesionCanvas, rng: np.random.Generator) -> None:
    pattern = rng.choice(
        ["reticular", "globular", "homogeneous", "mixed"], p=[0.45, 0.2, 0.15, 0.2]
    )
    if pattern == "homogeneous" and rng.random() < 0.3:  # blue nevus
        cv.tint(BLUE_GREY, VEIL, noise=0.15)
        cv.dots(BLUE_GREY, 12, (2, 4), strength=0.4)
        return
    cv.tint(DARK_BROWN if rng.random() < 0.4 else MID_BROWN, LIGHT_BROWN, noise=0.15)
    fade = smoothstep((1.0 - cv.d) / 0.35)
    if pattern in ("reticular", "mixed"):
        cell = rng.uniform(9, 14)
        cv.network(DARK_BROWN, cell=cell, width=0.22, strength=0.6, warp=1.5, region=fade)
    if pattern in ("globular", "mixed"):
        n = int(cv.radius**2 / rng.uniform(90, 160))
        dmax = 0.5 if pattern == "mixed" else 0.9
        cv.dots(MID_BROWN, n, (2.0, 4.5), dmax=dmax, strength=0.75)
    if pattern == "homogeneous":
        cv.patches(MID_BROWN, 0.4, strength=0.5)
        cv.dots(DARK_BROWN, int(cv.radius / 3), (1.0, 2.0), strength=0.5)


def _melanoma(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(DARK_BROWN, LIGHT_BROWN, noise=0.45, asymmetry=0.5)
    cv.patches(BLACK, rng.uniform(0.1, 0.25))
    cv.patches(BLUE_GREY if rng.random() < 0.5 else VEIL, rng.uniform(0.1, 0.3), strength=0.7)
    if rng.random() < 0.4:
        cv.patches(WHITE, rng.uniform(0.05, 0.15), strength=0.6)  # regression
    if rng.random() < 0.3:
        cv.patches(PINK, rng.uniform(0.05, 0.15), strength=0.6)
    region = smoothstep(smooth_noise(rng, cv.shape, cv.radius * 0.4) + 0.3)
    cv.network(BLACK, cell=rng.uniform(10, 20), width=0.32, strength=0.6, warp=4.0, region=region)
    cv.dots(BLACK, int(rng.integers(10, 40)), (1.2, 4.5), dmin=0.45, dmax=1.0, strength=0.85)
    cv.dots(DARK_BROWN, int(rng.integers(4, 14)), (3.0, 7.0), dmin=0.3, dmax=0.95)
    if rng.random() < 0.4:  # streaks at the edge
        cv.strokes(
            DARK_BROWN, 12, length=(0.15, 0.3), width=2, curl=0.1, dmin=0.85, dmax=1.0, inward=True
        )


def _bcc(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(PINK, (236, 176, 170), noise=0.3)
    cv.translucent(0.55, 0.85)
    if rng.random() < 0.55:
        n = int(rng.integers(2, 8))
        cv.dots(BLUE_GREY, n, (cv.radius * 0.05, cv.radius * 0.14), dmax=0.8, soften=1.5)
    cv.vessels(RED, int(rng.integers(2, 5)), width=int(rng.integers(2, 4)), strength=0.9)
    if rng.random() < 0.4:
        cv.strokes(WHITE, int(rng.integers(4, 10)), length=(0.1, 0.25), width=2, curl=0.05)
    if rng.random() < 0.3:
        cv.centre_patch(DARK_RED, 0.2, 0.8)  # ulceration


def _scc(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(RED, PINK, noise=0.3)
    cv.translucent(0.7, 0.95)
    cv.centre_patch(YELLOW if rng.random() < 0.6 else WHITE, rng.uniform(0.25, 0.5), 0.85)
    cv.clusters(RED, int(rng.integers(8, 22)), dmin=0.45, dmax=0.95, strength=0.9)
    if rng.random() < 0.4:
        cv.dots(DARK_RED, int(rng.integers(2, 6)), (2.0, 5.0), dmax=0.7)


def _vascular(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint((226, 170, 180), PINK, noise=0.2)  # pale septa between lagoons
    for colour in (RED, DARK_RED, PURPLE):
        n = int(rng.integers(3, 9))
        cv.dots(colour, n, (cv.radius * 0.12, cv.radius * 0.28), dmax=0.8, strength=0.9, soften=1.2)
    if rng.random() < 0.3:
        cv.patches(DARK_RED, 0.2, strength=0.7)  # thrombosed area


def _bkl(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(MID_BROWN, LIGHT_BROWN if rng.random() < 0.5 else TAN, noise=0.3)
    cv.patches(DARK_BROWN, rng.uniform(0.1, 0.3), strength=0.5)
    cv.strokes(
        DARK_BROWN, int(rng.integers(6, 20)), length=(0.2, 0.5), width=2, curl=0.5, strength=0.7
    )
    cv.dots(WHITE, int(rng.integers(3, 15)), (1.5, 4.0), strength=0.85)  # milia-like cysts
    cv.dots(BLACK, int(rng.integers(3, 12)), (1.5, 3.5), strength=0.8)  # comedo-like openings


def _df(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(TAN, LIGHT_BROWN, noise=0.2)
    periphery = smoothstep((cv.d - 0.35) / 0.2)
    cv.network(
        MID_BROWN, cell=rng.uniform(8, 12), width=0.2, strength=0.55, warp=1.0, region=periphery
    )
    cv.centre_patch(WHITE, rng.uniform(0.25, 0.45), 0.8)


def _ak(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(RED, PINK, noise=0.35)
    cv.translucent(0.45, 0.75)
    n = int(cv.radius**2 / rng.uniform(100, 180))
    cv.dots(WHITE, n, (1.5, 3.5), dmax=0.95, strength=0.8)  # follicular openings
    cv.patches(WHITE, rng.uniform(0.1, 0.3), strength=0.55)  # scale
    cv.strokes(RED, int(rng.integers(3, 8)), length=(0.15, 0.35), width=1, curl=0.6)


def _other(cv: LesionCanvas, rng: np.random.Generator) -> None:
    cv.tint(YELLOW, PINK, noise=0.25)
    cv.translucent(0.6, 0.9)
    n = int(rng.integers(5, 12))
    cv.dots(WHITE, n, (cv.radius * 0.1, cv.radius * 0.22), dmax=0.7, strength=0.6, soften=1.5)
    cv.strokes(
        RED,
        int(rng.integers(6, 14)),
        length=(0.1, 0.25),
        width=1,
        curl=0.3,
        dmin=0.7,
        dmax=1.0,
        inward=True,
    )  # crown vessels


PAINTERS: dict[str, Callable[[LesionCanvas, np.random.Generator], None]] = {
    "MEL": _melanoma,
    "BCC": _bcc,
    "SCC": _scc,
    "NV": _nevus,
    "BKL": _bkl,
    "DF": _df,
    "VASC": _vascular,
    "AK": _ak,
    "OTHER": _other,
}


def paint_lesion(
    image: np.ndarray,
    rng: np.random.Generator,
    category: str,
    framing: Framing,
    *,
    diameter_mm: float | None,
    skin_scale: float,
) -> None:
    """Paint one lesion of `category` into `image` (float32, planar 3xHxW), in place."""
    if category not in PAINTERS:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    if diameter_mm is None:
        diameter_mm = float(rng.uniform(*DIAMETER_MM[category]))
    h, w = image.shape[1:]
    radius = float(np.clip(diameter_mm / 2 * framing.px_per_mm, 0.09 * w, 0.38 * min(h, w)))
    canvas = LesionCanvas(rng, (h, w), framing, radius, SHAPES[category], skin_scale)
    PAINTERS[category](canvas, rng)
    np.clip(canvas.col, 0, 255, out=canvas.col)
    canvas.composite(image)
