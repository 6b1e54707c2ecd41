"""Small raster primitives shared by the synthetic image painters.

Canvases are channel-planar float32 arrays (3, H, W): per-channel updates on
contiguous planes are several times faster in numpy than broadcasting over a
trailing colour axis, which is what keeps a 640x480 image in the tens of
milliseconds. Shapes are rasterised by Pillow (C code) into 8-bit coverage
layers and blended only where they landed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Colour = tuple[float, float, float]
Point = tuple[float, float]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean value noise, standard deviation about 1, with features ~`cell` px wide.

    A coarse lattice of normal deviates upsampled by Pillow: cheap, smooth and,
    unlike sums of sines, free of visible periodicity. Large fields go bicubic
    to quarter size and bilinear from there, which looks the same and costs a
    third of a full-size bicubic pass.
    """
    h, w = shape
    gh = max(2, int(h / cell) + 2)
    gw = max(2, int(w / cell) + 2)
    coarse = Image.fromarray(rng.standard_normal((gh, gw), dtype=np.float32) * np.float32(1.2))
    if h * w > 60_000 and cell >= 16:
        quarter = coarse.resize((max(2, w // 4), max(2, h // 4)), Image.Resampling.BICUBIC)
        field = quarter.resize((w, h), Image.Resampling.BILINEAR)
    else:
        field = coarse.resize((w, h), Image.Resampling.BICUBIC)
    return np.array(field, dtype=np.float32)  # writable copy


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Hermite ramp on [0, 1]; gives soft but bounded transitions for masks."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def new_layer(shape: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """An empty 8-bit coverage layer (height, width) and a pen to draw on it."""
    layer = Image.new("L", (shape[1], shape[0]), 0)
    return layer, ImageDraw.Draw(layer)


def blend(canvas: np.ndarray, colour: Colour | np.ndarray, mask: np.ndarray) -> None:
    """In place, per pixel: canvas <- canvas + (colour - canvas) * mask.

    `canvas` is (3, H, W); `colour` a triple or a (3, H, W) array. Sparse masks
    (dots, hair) only touch their non-zero pixels.
    """
    c = np.asarray(colour, dtype=np.float32)
    per_pixel = c.ndim == 3
    if not per_pixel and np.count_nonzero(mask) < mask.size // 4:
        ys, xs = np.nonzero(mask)
        m = mask[ys, xs]
        for k in range(3):
            plane = canvas[k]
            vals = plane[ys, xs]
            plane[ys, xs] = vals + (c[k] - vals) * m
        return
    for k in range(3):
        plane = canvas[k]
        plane += ((c[k] if per_pixel else float(c[k])) - plane) * mask


def stamp(
    canvas: np.ndarray,
    colour: Colour,
    layer: Image.Image,
    *,
    soften: float = 0.0,
    weight: float | np.ndarray = 1.0,
) -> None:
    """Blend a drawn coverage layer into `canvas`, blurring only around what was drawn.

    The light Gaussian stands in for anti-aliasing; cropping to the layer's
    bounding box first keeps it cheap when the strokes are few.
    """
    box = layer.getbbox()
    if box is None:
        return
    h, w = canvas.shape[1:]
    pad = math.ceil(3 * soften) + 1
    x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
    x1, y1 = min(w, box[2] + pad), min(h, box[3] + pad)
    sub = layer.crop((x0, y0, x1, y1))
    if soften > 0:
        sub = sub.filter(ImageFilter.GaussianBlur(soften))
    mask = np.asarray(sub, dtype=np.float32) * np.float32(1.0 / 255.0)
    if isinstance(weight, np.ndarray):
        mask *= weight[y0:y1, x0:x1]
    elif weight != 1.0:
        mask *= np.float32(weight)
    blend(canvas[:, y0:y1, x0:x1], colour, mask)


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
