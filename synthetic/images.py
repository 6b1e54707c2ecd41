"""Deterministic dermoscopy-like test images.

The project has no real images and cannot download any, so every test and the
demo draw their pixels here. An image is fully determined by an `ImageSpec`:
the same spec yields identical pixels and identical JPEG/PNG bytes (on the same
numpy/Pillow build; vectorised transcendental functions may differ in the last
bit across CPU instruction sets, which can flip a rounded pixel).

Two seeds split what belongs to the lesion (border, colours, structures) from
what belongs to the capture (placement, rotation, zoom, skin texture, light,
dermatoscope field, hair, bubbles). Re-using a lesion seed with a new capture
seed gives a genuine second photograph of the same lesion; re-using a capture
seed with a new lesion seed gives a "hard negative": same set-up, different lesion.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from dermledger.synthetic._raster import (
    bezier,
    draw_disc,
    draw_polyline,
    new_layer,
    smooth_noise,
    smoothstep,
    stamp,
)
from dermledger.synthetic.lesions import CATEGORIES, Framing, paint_lesion

__all__ = [
    "CATEGORIES",
    "DEFAULT_SIZE",
    "FITZPATRICK_TYPES",
    "JPEG_QUALITY",
    "ImageSpec",
    "blur",
    "decode",
    "draw_image",
    "encode_jpeg",
    "encode_png",
    "image_bytes",
    "laplacian_variance",
    "render",
]

DEFAULT_SIZE: tuple[int, int] = (640, 480)  # (width, height), like a phone dermatoscope export
JPEG_QUALITY = 92
FITZPATRICK_TYPES: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")

# Skin under a dermatoscope's white LEDs, by Fitzpatrick type (RGB).
_SKIN: dict[str, tuple[float, float, float]] = {
    "I": (238, 196, 178),
    "II": (228, 180, 152),
    "III": (212, 160, 124),
    "IV": (180, 128, 92),
    "V": (136, 92, 64),
    "VI": (92, 62, 46),
}


@dataclass(frozen=True)
class ImageSpec:
    """Everything that determines one synthetic image.

    `hair`/`bubbles` of None let the capture seed decide (about a third of
    captures have hair, a quarter bubbles).
    """

    lesion_seed: int
    capture_seed: int
    category: str = "NV"
    fitzpatrick: str = "III"
    size: tuple[int, int] = DEFAULT_SIZE
    diameter_mm: float | None = None
    hair: bool | None = None
    bubbles: bool | None = None

    @classmethod
    def from_seed(cls, seed: int, category: str = "NV", **kwargs: object) -> ImageSpec:
        """One seed for both lesion and capture (they use independent streams)."""
        return cls(lesion_seed=seed, capture_seed=seed, category=category, **kwargs)  # type: ignore[arg-type]


def _streams(seed: int, tag: int, n: int) -> list[np.random.Generator]:
    """Independent generators per concern, so e.g. toggling hair leaves the skin alone."""
    children = np.random.SeedSequence([seed, tag]).spawn(n)
    return [np.random.Generator(np.random.PCG64(c)) for c in children]


_LESION_TAG = 0x1E51
_CAPTURE_TAG = 0xCA97


def _furrow_profile(period: float, half_width: float, depth: float) -> np.ndarray:
    """Darkening across one furrow period, tabulated: a thin line with soft shoulders."""
    phase = (np.arange(256, dtype=np.float32) + 0.5) / 256
    dist = np.minimum(phase, 1 - phase) * np.float32(period)
    return (np.clip(1.0 - dist / np.float32(half_width), 0, 1) ** 1.5 * depth).astype(np.float32)


def _skin(rng: np.random.Generator, shape: tuple[int, int], base: np.ndarray) -> np.ndarray:
    """Skin colour with blotchy pigment and erythema plus pores (planar 3xHxW).

    The blotches are smooth, so they are built at half resolution and upsampled.
    """
    h, w = shape
    colour = base + rng.normal(0, 5, 3).astype(np.float32)
    half = smooth_noise(rng, ((h + 1) // 2, (w + 1) // 2), 45)
    half *= np.float32(rng.uniform(0.02, 0.05))
    half += 1.0
    shade = np.array(Image.fromarray(half).resize((w, h), Image.Resampling.BILINEAR))
    layer, draw = new_layer(shape)
    for _ in range(int(rng.integers(20, 70))):
        draw_disc(draw, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.8, 2.2), 110)
    box = layer.getbbox()
    if box is not None:
        x0, y0, x1, y1 = box
        shade[y0:y1, x0:x1] -= np.asarray(layer.crop(box), dtype=np.float32) * np.float32(1e-3)
    redness = smooth_noise(rng, shape, 70)  # erythema only adds red: clip the negative half
    np.maximum(redness, 0, out=redness)
    redness *= np.float32(rng.uniform(3, 8))
    img = np.empty((3, h, w), dtype=np.float32)
    for c in range(3):
        np.multiply(shade, colour[c], out=img[c])
    img[0] += redness
    redness *= np.float32(0.4)
    img[1] -= redness
    return img


def _furrow_profile(period: float, half_width: float, depth: float) -> np.ndarray:
    """Darkening across one furrow period, tabulated: a thin line with soft shoulders."""
    phase = (np.arange(256, dtype=np.float32) + 0.5) / 256
    dist = np.minimum(phase, 1 - phase) * np.float32(period)
    return (np.clip(1.0 - dist / np.float32(half_width), 0, 1) ** 1.5 * depth).astype(np.float32)


def _furrows(rng: np.random.Generator, img: np.ndarray, skin_mean: float) -> None:
    """Surface furrows over skin and lesion alike: two families of warped thin lines.

    They fade in and out along their length, as skin lines do. Their one- to
    two-pixel edges are most of what a focus measure sees on plain skin, so they
    stay at full resolution (and survive JPEG). The phase across each family
    indexes a tabulated line profile, cheaper than sin/clip per pixel.
    """
    h, w = img.shape[1:]
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    warp = smooth_noise(rng, (h, w), 60)
    fade = smooth_noise(rng, (h, w), 50)
    fade *= np.float32(0.7)
    # Relative depth grows on dark skin so absolute contrast (what focus sees) holds up.
    boost = float(np.clip(170.0 / skin_mean, 1.0, 2.5))
    relief = np.ones((h, w), dtype=np.float32)
    angle = rng.uniform(0, math.pi)
    for sign, a in ((1, angle), (-1, angle + rng.uniform(0.9, 1.4))):
        period = rng.uniform(16, 32) * w / 640
        depth = rng.uniform(0.05, 0.09) * boost
        profile = _furrow_profile(period, rng.uniform(0.9, 1.5) * w / 640, depth)
        k = np.float32(256 / period)
        phase = warp * (k * np.float32(rng.uniform(4, 10)))
        phase += x * (k * np.float32(math.cos(a)))
        phase += y * (k * np.float32(math.sin(a)))
        idx = phase.astype(np.int32)
        idx &= 255
        groove = profile.take(idx)
        groove *= np.clip(fade * sign + 1.0, 0.0, 2.0)
        relief -= groove
    # Fine epidermal grain (about two pixels), isotropic: texture without a pattern.
    grain = rng.random(((h + 1) // 2, (w + 1) // 2), dtype=np.float32)
    grain -= 0.5
    grain *= np.float32(rng.uniform(0.22, 0.28) * boost)
    relief += np.asarray(Image.fromarray(grain).resize((w, h), Image.Resampling.BILINEAR))
    np.maximum(relief, 0.3, out=relief)
    for c in range(3):
        img[c] *= relief


def _hair(rng: np.random.Generator, img: np.ndarray) -> None:
    """Dark strands crossing the field: the classic dermoscopy artefact."""
    h, w = img.shape[1:]
    layer, draw = new_layer((h, w))
    for _ in range(int(rng.integers(2, 14))):
        x0, y0 = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
        heading, length = rng.uniform(0, 2 * math.pi), rng.uniform(0.25, 1.0) * w
        x2, y2 = x0 + math.cos(heading) * length, y0 + math.sin(heading) * length
        bend = rng.normal(0, 0.2 * length)
        x1 = (x0 + x2) / 2 - math.sin(heading) * bend
        y1 = (y0 + y2) / 2 + math.cos(heading) * bend
        width = int(rng.integers(1, 4))
        strand = bezier((x0, y0), (x1, y1), (x2, y2), 24)
        draw_polyline(draw, strand, width + 2, 90)  # a soft fringe instead of anti-aliasing
        draw_polyline(draw, strand, width, 255)
    colour = (rng.uniform(20, 60), rng.uniform(15, 40), rng.uniform(10, 30))
    stamp(img, colour, layer, weight=rng.uniform(0.75, 0.95))


def _bubbles(rng: np.random.Generator, img: np.ndarray) -> None:
    """Air bubbles trapped in the immersion fluid: bright rims and a glint."""
    h, w = img.shape[1:]
    rims, rim_draw = new_layer((h, w))
    fills, fill_draw = new_layer((h, w))
    for _ in range(int(rng.integers(1, 9))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 28)
        fill_draw.ellipse((x - r, y - r, x + r, y + r), fill=90)
        rim_draw.ellipse((x - r, y - r, x + r, y + r), outline=200, width=max(1, int(r / 8)))
        draw_disc(rim_draw, x - r * 0.35, y - r * 0.35, max(1.0, r * 0.15), 255)
    stamp(img, (250, 250, 250), fills, weight=0.25)
    stamp(img, (255, 255, 255), rims, soften=0.6)


def _field_and_sensor(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Uneven LED light, the dermatoscope's dark circular field stop, sensor noise.

    The field stop varies as it does between devices and exports: the whole
    circle inside the frame, a circle clipped by the frame (dark corners), or
    no stop at all (cropped inside the field). A single fixed circle would
    dominate every image's low frequencies and make distinct images look alike
    to a perceptual hash. Returns the final HxWx3 uint8 image.
    """
    h, w = img.shape[1:]
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    half_diagonal = math.hypot(w, h) / 2
    style, small, large = rng.random(), rng.uniform(0.40, 0.50), rng.uniform(0.50, 0.72)
    radius = (small if style < 0.3 else large if style < 0.85 else 0.0) * w
    ux = (x - np.float32(w / 2 + rng.normal(0, 0.05 * w))) / np.float32(half_diagonal)
    uy = (y - np.float32(h / 2 + rng.normal(0, 0.05 * h))) / np.float32(half_diagonal)
    soft = rng.uniform(3, 16) * w / 640
    gx, gy = rng.normal(0, 0.12, 2)
    falloff = np.float32(rng.uniform(0.05, 0.35))
    dark = np.float32(rng.uniform(6, 22))
    sigma = rng.uniform(1.4, 2.6)
    r2 = ux * ux + uy * uy
    gain = 1.0 + np.float32(gx) * ux + np.float32(gy) * uy - falloff * r2
    # Uniform noise scaled to the wanted sigma: as good as Gaussian here, 4x cheaper.
    offset = rng.random((h, w), dtype=np.float32)
    offset -= 0.5
    offset *= np.float32(sigma * math.sqrt(12))
    offset += 0.5  # so the uint8 cast rounds
    if radius:
        inside = smoothstep((np.float32(radius) - np.sqrt(r2) * np.float32(half_diagonal)) / soft)
        gain *= inside
        offset += (1.0 - inside) * dark
    planes = []
    for c in range(3):
        plane = img[c]
        plane *= gain
        plane += offset
        np.clip(plane, 0, 255, out=plane)
        planes.append(Image.fromarray(plane.astype(np.uint8)))
    return np.asarray(Image.merge("RGB", planes))


def render(spec: ImageSpec) -> np.ndarray:
    """Draw the image described by `spec` as an HxWx3 uint8 RGB array."""
    if spec.fitzpatrick not in _SKIN:
        raise ValueError(f"unknown Fitzpatrick type {spec.fitzpatrick!r}")
    w, h = spec.size
    (lesion_rng,) = _streams(spec.lesion_seed, _LESION_TAG, 1)
    frame_rng, skin_rng, hair_rng, bubble_rng, field_rng = _streams(
        spec.capture_seed, _CAPTURE_TAG, 5
    )
    framing = Framing(
        cx=w / 2 + frame_rng.uniform(-0.15, 0.15) * w,
        cy=h / 2 + frame_rng.uniform(-0.15, 0.15) * h,
        rotation=frame_rng.uniform(0, 2 * math.pi),
        px_per_mm=frame_rng.uniform(30, 44) * w / 640,
    )
    hair = spec.hair if spec.hair is not None else frame_rng.random() < 0.35
    bubbles = spec.bubbles if spec.bubbles is not None else frame_rng.random() < 0.25

    base = np.asarray(_SKIN[spec.fitzpatrick], dtype=np.float32)
    img = _skin(skin_rng, (h, w), base)
    # Pigment reads darker on darker skin; without this, lesions on type V-VI vanish.
    skin_scale = float(np.clip(0.25 + 0.75 * base.mean() / 190, 0.45, 1.0))
    paint_lesion(
        img,
        lesion_rng,
        spec.category,
        framing,
        diameter_mm=spec.diameter_mm,
        skin_scale=skin_scale,
    )
    _furrows(skin_rng, img, float(base.mean()))
    if hair:
        _hair(hair_rng, img)
    if bubbles:
        _bubbles(bubble_rng, img)
    return _field_and_sensor(field_rng, img)


def draw_image(
    seed: int,
    category: str = "NV",
    *,
    fitzpatrick: str = "III",
    size: tuple[int, int] = DEFAULT_SIZE,
    hair: bool | None = None,
    bubbles: bool | None = None,
) -> np.ndarray:
    """Convenience: pixels for a single seed (lesion and capture from the same seed)."""
    return render(ImageSpec(seed, seed, category, fitzpatrick, size, hair=hair, bubbles=bubbles))


def encode_jpeg(img: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG, 4:2:0, no EXIF or other metadata: same pixels -> same bytes."""
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(
        buf, format="JPEG", quality=quality, subsampling=2, optimize=False, progressive=False
    )
    return buf.getvalue()


def encode_png(img: np.ndarray) -> bytes:
    """Lossless PNG without time or text chunks: same pixels -> same bytes."""
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Encoded image bytes to an HxWx3 uint8 RGB array."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def image_bytes(spec: ImageSpec, fmt: str = "jpeg") -> bytes:
    """Render and encode in one step ("jpeg" at quality 92, or "png")."""
    img = render(spec)
    if fmt == "jpeg":
        return encode_jpeg(img)
    if fmt == "png":
        return encode_png(img)
    raise ValueError(f"unknown format {fmt!r}; expected 'jpeg' or 'png'")


def laplacian_variance(img: np.ndarray) -> float:
    """Focus measure: variance of the 4-neighbour Laplacian of the grey image.

    Matches OpenCV's `cv2.Laplacian(gray, cv2.CV_64F).var()` (ksize=1) on the
    interior, with ITU-R 601 luma weights, without needing OpenCV. Accepts
    HxWx3 RGB or HxW grey arrays of any numeric dtype.
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    if a.ndim != 2 or min(a.shape) < 3:
        raise ValueError("expected an HxW or HxWx3 image at least 3x3")
    lap = a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4.0 * a[1:-1, 1:-1]
    return float(lap.var())


def blur(img: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian-blurred copy (Pillow, deterministic), for deliberately unfocused images."""
    if radius <= 0:
        return np.array(img, copy=True)
    out = Image.fromarray(np.asarray(img, dtype=np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(out)
