"""The lesion's canvas: its bounding box, its own rotated frame, its border and colour.

Why a module of its own: the recipes in `lesions` say what a category looks like (a
network here, vessels there); this says how any of it is drawn. The lesion is painted
inside its bounding box only, in a frame that rotates with the lesion, so the cost scales
with lesion size rather than image size. Every random draw goes through the caller's
generator in a fixed order, so the same seed paints the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from dermledger.synthetic._raster import (
    Colour,
    Point,
    blend,
    draw_disc,
    draw_polyline,
    new_layer,
    smooth_noise,
    smoothstep,
    stamp,
)

_LUT = 720  # angular resolution of the contour look-up tables
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Framing:
    """Where the capture put the lesion: centre, rotation and scale in pixels."""

    cx: float
    cy: float
    rotation: float
    px_per_mm: float


@dataclass(frozen=True)
class Shape:
    """Border recipe: how irregular, elongated and how sharp the edge is."""

    irregularity: tuple[float, float]
    harmonics: int
    aspect: tuple[float, float]
    edge: tuple[float, float]
    edge_variation: float


def _circular_noise(rng: np.random.Generator, cutoff: int) -> np.ndarray:
    """Smooth periodic noise on the lesion's angle, so the border closes on itself."""
    spectrum = np.fft.rfft(rng.standard_normal(_LUT))
    spectrum[cutoff:] = 0
    out = np.fft.irfft(spectrum, _LUT)
    return out / (np.abs(out).max() + 1e-9)


def _contour(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """Radius (max 1) and edge softness per angle: radial noise on a polar contour."""
    phi = np.linspace(0.0, 2 * math.pi, _LUT, endpoint=False)
    amp = rng.uniform(*shape.irregularity)
    rho = np.ones(_LUT)
    for k in range(2, shape.harmonics + 1):
        rho += amp * rng.uniform(0.2, 1.0) / (k**0.6) * np.cos(k * phi + rng.uniform(0, 6.3))
    rho += 0.35 * amp * _circular_noise(rng, 40)
    rho = np.clip(rho, 0.45, None)
    rho /= rho.max()
    edge = rng.uniform(*shape.edge) * (1 + shape.edge_variation * _circular_noise(rng, 6))
    return rho.astype(np.float32), np.clip(edge, 0.012, 0.5).astype(np.float32)


class LesionCanvas:
    """The lesion's bounding box with lesion-frame coordinates and a colour buffer.

    `s`, `t` are pixel offsets along and across the lesion's own axes (so
    textures rotate with it); `d` is the radial position normalised to the
    border (1 on the edge) and `alpha` the lesion's coverage.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        image_shape: tuple[int, int],
        framing: Framing,
        radius: float,
        shape: Shape,
        skin_scale: float,
    ) -> None:
        self.rng = rng
        self.radius = radius
        self.skin_scale = skin_scale
        self.framing = framing
        self.aspect = float(rng.uniform(*shape.aspect))
        self.rho, self.edge = _contour(rng, shape)
        h, w = image_shape
        ext = radius * (1 + float(self.edge.max())) + 4
        self.x0 = max(0, int(framing.cx - ext))
        self.x1 = min(w, int(framing.cx + ext) + 1)
        self.y0 = max(0, int(framing.cy - ext))
        self.y1 = min(h, int(framing.cy + ext) + 1)
        self.shape = (self.y1 - self.y0, self.x1 - self.x0)
        dx = (np.arange(self.x0, self.x1, dtype=np.float32) - framing.cx)[None, :]
        dy = (np.arange(self.y0, self.y1, dtype=np.float32) - framing.cy)[:, None]
        cos_r = np.float32(math.cos(framing.rotation))
        sin_r = np.float32(math.sin(framing.rotation))
        self.s = dx * cos_r + dy * sin_r
        self.t = dy * cos_r - dx * sin_r
        v = self.t / np.float32(self.aspect)
        phi = np.arctan2(v, self.s)
        idx = ((phi + np.float32(math.pi)) * np.float32(_LUT / (2 * math.pi))).astype(np.int32)
        idx %= _LUT
        self.d = np.hypot(self.s, v) / (self.rho[idx] * np.float32(radius))
        edge = self.edge[idx]
        self.alpha = smoothstep((1.0 - self.d) / edge + 0.5)
        self.core = smoothstep((1.0 - self.d) * 6.0)
        self.opacity = np.ones(self.shape, dtype=np.float32)
        self.col = np.zeros((3, *self.shape), dtype=np.float32)

    # -- colour ---------------------------------------------------------------

    def c(self, colour: Colour) -> Colour:
        """Adapt a palette colour to the skin: lesions on dark skin read darker."""
        k = self.skin_scale
        return (colour[0] * k, colour[1] * k, colour[2] * k)

    def tint(
        self,
        inner: Colour,
        outer: Colour,
        *,
        noise: float = 0.2,
        asymmetry: float = 0.0,
    ) -> None:
        """Base colour: a centre-to-edge ramp disturbed by blotchy noise."""
        ramp = np.clip(self.d, 0.0, 1.0)
        ramp = ramp + noise * smooth_noise(self.rng, self.shape, max(8.0, self.radius * 0.35))
        if asymmetry:
            angle = self.rng.uniform(0, 2 * math.pi)
            lin = (self.s * math.cos(angle) + self.t * math.sin(angle)) / self.radius
            ramp = ramp + asymmetry * lin
        ramp = np.clip(ramp, 0.0, 1.0)
        for k, (a, b) in enumerate(zip(self.c(inner), self.c(outer), strict=True)):
            self.col[k] = a + (b - a) * ramp

    def translucent(self, low: float, high: float) -> None:
        """Let skin show through (pink, flat lesions), unevenly."""
        n = smooth_noise(self.rng, self.shape, max(8.0, self.radius * 0.4))
        self.opacity = np.clip(low + (high - low) * (0.5 + 0.35 * n), low, high).astype(np.float32)

    def patches(
        self,
        colour: Colour,
        coverage: float,
        *,
        strength: float = 0.8,
        cell: float | None = None,
        dmax: float = 1.2,
    ) -> None:
        """Blotches of another colour covering roughly `coverage` of the lesion."""
        n = smooth_noise(self.rng, self.shape, cell or max(8.0, self.radius * 0.3))
        # The noise is close to standard normal, so its quantile is the normal one.
        n -= np.float32(_NORMAL.inv_cdf(1.0 - coverage))
        n *= np.float32(2.5)
        mask = smoothstep(n)
        mask *= np.float32(strength)
        if dmax < 1.2:
            mask *= smoothstep((dmax - self.d) * 5.0)
        blend(self.col, self.c(colour), mask)

    def centre_patch(self, colour: Colour, size: float, strength: float) -> None:
        """A ragged central area (keratin plug, scar-like white patch)."""
        n = smooth_noise(self.rng, self.shape, max(6.0, self.radius * 0.2))
        mask = smoothstep((size + 0.12 * n - self.d) / 0.12) * strength
        blend(self.col, self.c(colour), mask)

    # -- structures -----------------------------------------------------------

    def network(
        self,
        colour: Colour,
        *,
        cell: float,
        width: float,
        strength: float,
        warp: float,
        region: np.ndarray | None = None,
    ) -> None:
        """Pigment-network-like honeycomb: low values of three crossed cosines.

        cos(k1.x)+cos(k2.x)+cos(k3.x) with k1+k2+k3=0 peaks on a triangular
        lattice; its low valleys form a connected hexagonal mesh. Warping the
        coordinates with noise makes the mesh irregular (atypical network).
        """
        wu = smooth_noise(self.rng, self.shape, cell * 2.5) * np.float32(warp)
        wv = smooth_noise(self.rng, self.shape, cell * 2.5) * np.float32(warp)
        u = self.s + wu
        v = self.t + wv
        k = np.float32(4 * math.pi / (math.sqrt(3) * cell))
        h = np.cos(k * u)
        h += np.cos(k * (np.float32(-0.5) * u + np.float32(math.sqrt(3) / 2) * v))
        h += np.cos(k * (np.float32(-0.5) * u - np.float32(math.sqrt(3) / 2) * v))
        line = np.clip((np.float32(-1.5 + 2.2 * width) - h) / np.float32(2.2 * width), 0, 1)
        mask = line * (strength * self.core)
        if region is not None:
            mask *= region
        blend(self.col, self.c(colour), mask)

    def to_pixel(self, d: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounding-box pixel coordinates of points given in (radial, angle) form."""
        idx = ((phi % (2 * math.pi)) * (_LUT / (2 * math.pi))).astype(int) % _LUT
        # the LUT is indexed from -pi; shift by half a turn to match
        idx = (idx + _LUT // 2) % _LUT
        r = d * self.rho[idx] * self.radius
        s = r * np.cos(phi)
        t = r * np.sin(phi) * self.aspect
        cos_r, sin_r = math.cos(self.framing.rotation), math.sin(self.framing.rotation)
        x = self.framing.cx + s * cos_r - t * sin_r - self.x0
        y = self.framing.cy + s * sin_r + t * cos_r - self.y0
        return x, y

    def points(self, n: int, dmin: float, dmax: float) -> list[Point]:
        """`n` points spread evenly by area between two normalised radii."""
        d = np.sqrt(self.rng.uniform(dmin**2, dmax**2, n))
        phi = self.rng.uniform(0, 2 * math.pi, n)
        x, y = self.to_pixel(d, phi)
        return list(zip(x.tolist(), y.tolist(), strict=True))

    def dots(
        self,
        colour: Colour,
        n: int,
        radius: tuple[float, float],
        *,
        dmin: float = 0.0,
        dmax: float = 0.9,
        strength: float = 0.8,
        soften: float = 0.7,
    ) -> None:
        """Dots, globules, cysts or lagoons: discs of varied size and density."""
        layer, draw = new_layer(self.shape)
        for x, y in self.points(n, dmin, dmax):
            fill = int(255 * self.rng.uniform(0.6, 1.0))
            draw_disc(draw, x, y, self.rng.uniform(*radius), fill)
        stamp(self.col, self.c(colour), layer, soften=soften, weight=strength * self.alpha)

    def clusters(
        self, colour: Colour, n: int, *, dmin: float, dmax: float, strength: float
    ) -> None:
        """Glomerular/dotted vessels: tight clusters of tiny red dots."""
        layer, draw = new_layer(self.shape)
        for x, y in self.points(n, dmin, dmax):
            for _ in range(int(self.rng.integers(3, 7))):
                ox, oy = self.rng.normal(0, 2.5, 2)
                draw_disc(draw, x + ox, y + oy, self.rng.uniform(0.8, 1.8), 255)
        stamp(self.col, self.c(colour), layer, soften=0.5, weight=strength * self.alpha)

    def strokes(
        self,
        colour: Colour,
        n: int,
        *,
        length: tuple[float, float],
        width: int,
        curl: float,
        dmin: float = 0.0,
        dmax: float = 0.85,
        strength: float = 0.8,
        inward: bool = False,
    ) -> None:
        """Short curved lines: fissures, white shiny streaks, crown vessels."""
        layer, draw = new_layer(self.shape)
        cx, cy = self.framing.cx - self.x0, self.framing.cy - self.y0
        for x, y in self.points(n, dmin, dmax):
            heading = math.atan2(cy - y, cx - x) if inward else self.rng.uniform(0, 2 * math.pi)
            length_px = self.rng.uniform(*length) * self.radius
            pts: list[Point] = [(x, y)]
            for _ in range(6):
                heading += self.rng.normal(0, curl)
                x += math.cos(heading) * length_px / 6
                y += math.sin(heading) * length_px / 6
                pts.append((x, y))
            draw_polyline(draw, pts, width, int(255 * self.rng.uniform(0.6, 1.0)))
        stamp(self.col, self.c(colour), layer, soften=0.6, weight=strength * self.alpha)

    def vessels(self, colour: Colour, trees: int, *, width: int, strength: float) -> None:
        """Arborising vessels: thick trunks that branch and taper."""
        layer, draw = new_layer(self.shape)
        step = max(3.0, self.radius * 0.07)
        stack: list[tuple[float, float, float, int, int]] = []
        for x, y in self.points(trees, 0.0, 0.6):
            stack.append((x, y, self.rng.uniform(0, 2 * math.pi), width, 0))
        budget = 60
        while stack and budget:
            x, y, heading, w, depth = stack.pop()
            budget -= 1
            pts: list[Point] = [(x, y)]
            for _ in range(int(self.rng.integers(3, 7))):
                heading += self.rng.normal(0, 0.35)
                x += math.cos(heading) * step
                y += math.sin(heading) * step
                pts.append((x, y))
            draw_polyline(draw, pts, w, 255)
            if depth < 3:
                for turn in (-1, 1):
                    if self.rng.random() < 0.75:
                        branch_heading = heading + turn * self.rng.uniform(0.3, 0.9)
                        stack.append((x, y, branch_heading, max(1, w - 1), depth + 1))
        stamp(self.col, self.c(colour), layer, soften=0.6, weight=strength * self.alpha)

    # -- output ---------------------------------------------------------------

    def composite(self, image: np.ndarray) -> None:
        """Lay the lesion over the skin, in place."""
        region = image[:, self.y0 : self.y1, self.x0 : self.x1]
        blend(region, self.col, self.alpha * self.opacity)
