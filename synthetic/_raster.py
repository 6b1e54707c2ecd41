"""Small raster primitives shared by the synthetic image painters.

Everything here is deterministic given the numpy Generator passed in, and
leans on Pillow's C resamplers and rasterisers so that a full 640x480 image
costs a few milliseconds instead of a Python loop per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Colour = tuple[float, float, float]
Point = tuple[float, float]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, roughly unit-variance value noise with features about `cell` pixels wide.

    A coarse lattice of normal deviates upsampled bicubically: cheap, smooth
    and, unlike sums of sines, free of visible periodicity.
    """
    h, w = shape
    gh = max(2, int(h / cell) + 2)
    gw = max(2, int(w / cell) + 2)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32) * np.float32(1.5)
    field = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(field, dtype=np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Hermite ramp on [0, 1]; gives soft but bounded transitions for masks."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def new_layer(shape: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """An empty 8-bit coverage mask (height, width) and a pen to draw on it."""
    layer = Image.new("L", (shape[1], shape[0]), 0)
    return layer, ImageDraw.Draw(layer)


def layer_to_mask(layer: Image.Image, soften: float = 0.0) -> np.ndarray:
    """Coverage in [0, 1]; a light Gaussian stands in for anti-aliasing."""
    if soften > 0:
        layer = layer.filter(ImageFilter.GaussianBlur(soften))
    return np.asarray(layer, dtype=np.float32) * np.float32(1.0 / 255.0)


def blend(canvas: np.ndarray, colour: Colour | np.ndarray, mask: np.ndarray) -> None:
    """In place: canvas <- canvas + (colour - canvas) * mask, per pixel."""
    c = np.asarray(colour, dtype=np.float32)
    canvas += (c - canvas) * mask[..., None]


def draw_disc(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: int) -> None:
    """A filled circle centred on (x, y)."""
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def draw_polyline(
    draw: ImageDraw.ImageDraw, points: Sequence[Point], width: int, fill: int
) -> None:
    """A round-jointed polyline (hair, vessels, fissures)."""
    if len(points) >= 2:
        draw.line(list(points), fill=fill, width=max(1, width), joint="curve")


def bezier(p0: Point, p1: Point, p2: Point, steps: int) -> list[Point]:
    """Points along a quadratic Bezier: a gently curved strand in a few samples."""
    t = np.linspace(0.0, 1.0, steps)
    x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t**2 * p2[0]
    y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t**2 * p2[1]
    return list(zip(x.tolist(), y.tolist(), strict=True))
