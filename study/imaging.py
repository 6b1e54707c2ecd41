"""Safe decoding and measurement of one image file: what the SOP and dedup checks need.

Pillow decodes with its decompression-bomb limit turned into a hard error and
truncated files refused; the whole image is decoded (not just the header), so a
file that would fail later fails here, before anything is stored.

Besides the whole-image pHash and dHash, each image gets a *region hash*: 192 bits
describing the centre of the frame (the middle 60% in each direction, which stays
inside the dermatoscope's dark circular field in all but the smallest fields): a
pHash (64 bits, signs of the 8x8 lowest DCT coefficients against their median) and
a horizontal and a vertical dHash (64 bits each) of that region. The stored hash is
the region as framed; the capture also computes a *region probe*: the same 192 bits
for 625 reframings of its own region (scales 0.94-1.06 and shifts of up to 2.5% of
the frame, per axis), so a crop, a resize or a changed aspect ratio of an earlier
image finds, among the probe's reframings, one that lines up with the earlier
image's stored region hash. It costs about 3.4 ms of CPU per image (the rest of this
function about 14 ms), measured on 120 cohort images.
The probe is never stored: events carry the 48-hex-digit region hash only.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import stat
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from dermledger.ledger.errors import InvalidInput

MAX_PIXELS = 50_000_000  # 50 MP: larger than any dermatoscope camera; bombs stop here
# 256 MiB: more than a 50 MP 16-bit PNG; read up to this and no further, so /dev/zero, a
# FIFO or a runaway file never fills memory.
MAX_FILE_BYTES = 256 * 1024 * 1024


def read_capped(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; InvalidInput (one sentence)
    for a folder, a device or pipe, or a file too large, checked before reading it all."""
    try:
        with path.open("rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise InvalidInput(f"{path} is not a regular file")
            # Asked for its size plus one byte, not `limit + 1`: a read of 256 MiB
            # allocates that much first (0.1 ms a file against 0.03). A file that grew
            # since the fstat is read on, still up to the limit only.
            want = min(status.st_size, limit) + 1
            data = handle.read(want)
            if len(data) == want:
                data += handle.read(limit + 1 - want)
    except IsADirectoryError:
        raise InvalidInput(f"{path.name} is a folder, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read ({exc.strerror or 'error'})") from None
    if len(data) > limit:
        raise InvalidInput(f"{path} is larger than {limit // (1024 * 1024)} MiB")
    return data


FORMATS = {"JPEG": "jpg", "PNG": "png"}

# Region hash (see the module docstring). Measured on the synthetic cohort and survey;
# the figures and the confirmation threshold are in policies/duplicates.py.
REGION_MARGIN = 0.2  # the region spans [0.2, 0.8] of the width and of the height
REGION_SCALES = (0.94, 0.97, 1.0, 1.03, 1.06)  # per axis: covers crops/pads of up to ~6%
REGION_SHIFTS = (-0.025, -0.0125, 0.0, 0.0125, 0.025)  # of the frame, per axis
REGION_WORDS = 3  # 192 bits: pHash 64 + horizontal dHash 64 + vertical dHash 64
_THUMB = (128, 96)  # the grayscale thumbnail every region is resampled from


@dataclass(frozen=True)
class ImageFacts:
    """Measurements of one decoded image; no pixels kept."""

    sha256: str
    pixel_sha256: str
    phash: str
    dhash: str
    region_hash: str  # 48 hex digits: the frame's centre as captured
    width: int
    height: int
    format: str
    focus: float
    size_bytes: int
    # The region hash under every reframing in the grid, (625, REGION_WORDS) uint64: 15 kB
    # of derived hashes, not pixels, only ever held in memory. None: not measured (the
    # duplicate check then falls back to the version 1 rule for this capture).
    region_probe: npt.NDArray[np.uint64] | None = field(default=None, compare=False, repr=False)

    @property
    def extension(self) -> str:
        return FORMATS.get(self.format, self.format.lower())


def laplacian_variance(gray: np.ndarray) -> float:
    """Focus measure: variance of the 4-neighbour Laplacian of a grayscale image."""
    # In int16 (|value| <= 1020, exact), then float32: the same array, hence the same
    # variance, as computing in float32 throughout, in half the memory traffic.
    g = gray.astype(np.int16)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.astype(np.float32).var())


def _resample(n_in: int, lo: float, hi: float, n_out: int) -> npt.NDArray[np.float64]:
    """(n_out, n_in) weights sampling [lo, hi) of an axis (as fractions) with a tent filter."""
    step = (hi - lo) * n_in / n_out
    centres = lo * n_in + (np.arange(n_out) + 0.5) * step
    pixels = np.arange(n_in) + 0.5
    w = np.clip(1 - np.abs(pixels[None, :] - centres[:, None]) / max(step, 1.0), 0, None)
    return w / w.sum(axis=1, keepdims=True)


def _region_operators() -> tuple[npt.NDArray[np.float32], ...]:
    """Per-axis operators for every (scale, shift): DCT rows for pHash, samples for dHash.

    Returned as (x-pHash, x-samples) transposed for a right product and (y-pHash,
    y-samples) stacked per span, so that both products run as many small matrix
    products (one large product is multi-threaded by OpenBLAS, which on a busy
    two-core machine made it several times slower: 12 ms against 1 ms).
    """
    half = 0.5 - REGION_MARGIN
    spans = [(0.5 + o - half * s, 0.5 + o + half * s) for s in REGION_SCALES for o in REGION_SHIFTS]
    dct = np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)
    width, height = _THUMB
    x_dct = np.concatenate([dct @ _resample(width, lo, hi, 32) for lo, hi in spans])
    x_samples = np.concatenate([_resample(width, lo, hi, 9) for lo, hi in spans])
    y_dct = np.stack([dct @ _resample(height, lo, hi, 32) for lo, hi in spans])
    y_samples = np.stack([_resample(height, lo, hi, 9) for lo, hi in spans])
    return tuple(
        np.ascontiguousarray(a, dtype=np.float32) for a in (x_dct.T, x_samples.T, y_dct, y_samples)
    )


_X_DCT, _X_SAMPLES, _Y_DCT, _Y_SAMPLES = _region_operators()
_SPANS = len(REGION_SCALES) * len(REGION_SHIFTS)
_IDENTITY = REGION_SCALES.index(1.0) * len(REGION_SHIFTS) + REGION_SHIFTS.index(0.0)


def region_probe(gray: Image.Image) -> npt.NDArray[np.uint64]:
    """The region hash of `gray` under every reframing: (spans**2, REGION_WORDS) uint64.

    Row ``y * spans + x`` frames the region with the y-th vertical and the x-th
    horizontal (scale, shift) of the grid; the identity framing is the stored hash.
    """
    thumb = np.asarray(gray.resize(_THUMB, Image.Resampling.BOX), dtype=np.float32)
    n = _SPANS
    # Separable: (y-operator @ thumb) @ x-operator for every pair of spans at once.
    low = np.matmul(np.matmul(_Y_DCT, thumb), _X_DCT)  # (n, 8, n * 8)
    low = low.reshape(n, 8, n, 8).transpose(0, 2, 1, 3).reshape(n * n, 64)
    # The two middle values of each row, exactly: sorted (numpy's vectorised sort of short
    # rows) rather than partitioned at both ranks, 0.14 ms instead of 0.5 ms an image.
    middle = np.sort(low, axis=1)
    phash = low > (middle[:, 31:32] + middle[:, 32:33]) / 2  # above the median, as pHash
    grid = np.matmul(np.matmul(_Y_SAMPLES, thumb), _X_SAMPLES)  # (n, 9, n * 9)
    grid = grid.reshape(n, 9, n, 9).transpose(0, 2, 1, 3)
    horizontal = (grid[:, :, :8, 1:] > grid[:, :, :8, :-1]).reshape(n * n, 64)
    vertical = (grid[:, :, 1:, :8] > grid[:, :, :-1, :8]).reshape(n * n, 64)
    packed = np.packbits(np.concatenate([phash, horizontal, vertical], axis=1), axis=1)
    return packed.view(">u8").astype(np.uint64)


def region_hex(probe: npt.NDArray[np.uint64]) -> str:
    """The stored region hash: the probe's identity framing as 48 hex digits."""
    return "".join(f"{int(w):016x}" for w in probe[_IDENTITY * _SPANS + _IDENTITY])


# pHash as imagehash computes it (LANCZOS to 32x32, 2-D DCT-II, the 8x8 lowest coefficients
# against their median), with the DCT as two small products instead of scipy.fftpack,
# whose import costs each worker about 0.8 s of CPU (300 images: 1.6 s of the 6.3 s).
_PHASH_DCT = 2 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)
# Products and FFTs round differently (by ~1e-9 here): a coefficient this close to the
# median could get the other bit, so such an image (flat, or with tied coefficients) is
# hashed by imagehash itself, which keeps every stored pHash the value it always was.
_PHASH_TIE = 1e-3


def phash_hex(gray: Image.Image) -> str:
    """imagehash.phash(gray) as 16 hex digits, for an "L" image; the same value always."""
    pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = _PHASH_DCT @ pixels @ _PHASH_DCT.T
    median = np.median(low)
    if np.abs(low - median).min() < _PHASH_TIE:
        import imagehash  # only here: it imports scipy.fftpack for the DCT

        return str(imagehash.phash(gray))
    return np.packbits(low > median).tobytes().hex()


def dhash_hex(gray: Image.Image) -> str:
    """imagehash.dhash(gray) as 16 hex digits, for an "L" image (without its copy of it)."""
    pixels = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS))
    return np.packbits(pixels[:, 1:] > pixels[:, :-1]).tobytes().hex()


def pixel_sha256(rgb: Image.Image) -> str:
    """SHA-256 of "WxH" then the RGB array's bytes, exactly `rgb.tobytes()`, hashed as
    Pillow's raw encoder hands out its blocks (as `tobytes` itself loops) instead of
    joining them into one more copy of the pixels first."""
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}".encode())
    encoder = Image._getencoder(rgb.mode, "raw", rgb.mode)
    try:
        encoder.setimage(rgb.im, (0, 0, *rgb.size))
        while True:
            _, status, block = encoder.encode(max(1 << 20, rgb.width * 4))
            digest.update(block)
            if status:
                break
    finally:
        encoder.cleanup()
    if status < 0:
        raise InvalidInput(f"the pixels could not be read (encoder error {status})")
    return digest.hexdigest()


def inspect_image(data: bytes, *, name: str = "the image") -> ImageFacts:
    """Decode fully and measure; InvalidInput with one sentence if it is not a safe image.

    The image is decoded once and converted to grayscale once: pHash, dHash, the region
    probe and the focus measure all read that one grayscale image (pHash and dHash are
    imagehash's values of the colour image, which it converts to grayscale first; no
    module here imports scipy, see `phash_hex`).
    """
    if not data:
        raise InvalidInput(f"{name} is empty")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "unknown"
                img.load()
                # A colour JPEG decodes to RGB: used as it is, not copied (closing the
                # file destroys its pixels, so what is needed is taken before).
                rgb = img if img.mode == "RGB" else img.convert("RGB")
                size, pixel_digest, gray_image = rgb.size, pixel_sha256(rgb), rgb.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(
            f"{name} has more than {MAX_PIXELS:,} pixels (decompression-bomb limit)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInput(f"{name} is not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{name} is truncated or corrupt ({type(exc).__name__})") from exc
    probe = region_probe(gray_image)
    return ImageFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        pixel_sha256=pixel_digest,
        phash=phash_hex(gray_image),
        dhash=dhash_hex(gray_image),
        region_hash=region_hex(probe),
        width=size[0],
        height=size[1],
        format=fmt,
        focus=round(laplacian_variance(np.asarray(gray_image)), 2),
        size_bytes=len(data),
        region_probe=probe,
    )


def measure_file(job: tuple[str, str]) -> ImageFacts | str:
    """Read and measure one file (path, name for messages): its facts, or the one sentence
    saying why it is refused. Top-level, so a worker process can run it."""
    path, name = job
    try:
        return inspect_image(read_capped(Path(path)), name=name)
    except InvalidInput as exc:
        return str(exc)
    except OSError as exc:
        return f"{name} cannot be read ({exc.strerror or type(exc).__name__})"


def measure_files(
    jobs: Sequence[tuple[str, str]], *, workers: int = 1
) -> Iterator[ImageFacts | str]:
    """`measure_file` of every job, in order; on `workers` spawned processes when > 1.

    Spawned, not forked: the caller holds database connections and may hold threads. The
    pool is started here, so its start-up is part of whatever the caller measures.
    """
    if workers <= 1 or len(jobs) < 2:
        yield from map(measure_file, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context) as pool:
        yield from pool.map(measure_file, jobs, chunksize=8)
