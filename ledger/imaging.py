"""Safe decoding and measurement of one image file: what the SOP and dedup checks need.

Pillow decodes with its decompression-bomb limit turned into a hard error and
truncated files refused; the whole image is decoded (not just the header), so a
file that would fail later fails here, before anything is stored.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

from dermledger.ledger.errors import InvalidInput

MAX_PIXELS = 50_000_000  # 50 MP: larger than any dermatoscope camera; bombs stop here
FORMATS = {"JPEG": "jpg", "PNG": "png"}


@dataclass(frozen=True)
class ImageFacts:
    """Measurements of one decoded image; no pixels kept."""

    sha256: str
    pixel_sha256: str
    phash: str
    dhash: str
    width: int
    height: int
    format: str
    focus: float
    size_bytes: int

    @property
    def extension(self) -> str:
        return FORMATS.get(self.format, self.format.lower())


def laplacian_variance(gray: np.ndarray) -> float:
    """Focus measure: variance of the 4-neighbour Laplacian of a grayscale image."""
    g = gray.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def inspect_image(data: bytes, *, name: str = "the image") -> ImageFacts:
    """Decode fully and measure; InvalidInput with one sentence if it is not a safe image."""
    if not data:
        raise InvalidInput(f"{name} is empty")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "unknown"
                img.load()
                rgb = img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(
            f"{name} has more than {MAX_PIXELS:,} pixels (decompression-bomb limit)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInput(f"{name} is not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{name} is truncated or corrupt ({type(exc).__name__})") from exc
    pixels = np.asarray(rgb)
    gray = np.asarray(rgb.convert("L"))
    return ImageFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        pixel_sha256=hashlib.sha256(
            f"{rgb.width}x{rgb.height}".encode() + pixels.tobytes()
        ).hexdigest(),
        phash=str(imagehash.phash(rgb)),
        dhash=str(imagehash.dhash(rgb)),
        width=rgb.width,
        height=rgb.height,
        format=fmt,
        focus=round(laplacian_variance(gray), 2),
        size_bytes=len(data),
    )
