"""The recorded image facts stay the same values for every mode and format.

Expected values were computed by `inspect_image` as it was before the measuring pass was
reworked (grayscale once, pHash without scipy, chunked pixel SHA-256), at commit
1478450; any change to what is recorded for an image is a change of the ledger's
contract, so it must show here. Images are generated deterministically (gradients plus
seeded noise, and flat and two-tone images whose DCT has ties around the median).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dermledger.study.imaging import inspect_image

SIZE = (203, 157)  # odd sizes: no resize is an exact integer ratio


def _rgb(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    base = np.stack([x * 255 / SIZE[0], y * 255 / SIZE[1], (x + y) % 256], axis=-1)
    blob = 80 * np.exp(-((x - 90) ** 2 + (y - 70) ** 2) / 900.0)[..., None]
    return np.clip(base - blob + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _image(mode: str, seed: int) -> Image.Image:
    rgb = Image.fromarray(_rgb(seed))
    if mode == "I;16":
        return Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    if mode == "flat":
        return Image.new("RGB", SIZE, (90, 60, 40))
    if mode == "halves":
        img = Image.new("L", SIZE, 30)
        img.paste(200, (0, 0, SIZE[0] // 2, SIZE[1]))
        return img
    return rgb.convert(mode)


def _encode(mode: str, fmt: str, seed: int) -> bytes:
    out = io.BytesIO()
    _image(mode, seed).save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


CASES = [
    ("PNG", mode)
    for mode in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16", "flat", "halves")
] + [("JPEG", mode) for mode in ("RGB", "L", "CMYK", "flat", "halves")]

EXPECTED: dict[str, tuple[str, ...]] = {
    'PNG-RGB': (
        'dc92b6a9fe08ffcd298e346c791b0012ff39bf9c56f86ab18dc0edbcd857cfa5',
        '52bb1cdabc8728c5c1b4e0a76014053a019e5c6348541ea1a613d9588f08a766',
        'b333cc5a3439ea4c',
        'ffff9f9e9cf9fbf7',
        'b23bc6c5ca558a74bf1f1f1f1f1f1efec3c7effffffffffe',
        '203x157',
        'PNG',
        '1245.18',
        '73488',
        'cff32682fc790606210b8dc06da9638c397376eef32b8ca5796cc6daa05b07da',
    ),
    'PNG-RGBA': (
        '138d6ef31e508a5e27baefb55a95fa204d00b5846370b6c896efb788231a6547',
        '931c985d245f260a4abf6d276bc177f9ef9b0d202eac6ac9c9f6bcce49779fea',
        'b333cc5a3539ea0c',
        'ffff9f9e9cfdfbf7',
        'b02bce8dca55ea54bf1f1f1f1f1f1efec7c3effffffffffe',
        '203x157',
        'PNG',
        '1241.13',
        '84346',
        '5a413cb097a33a1a2e63945a853342ced8fffae3d7ba4bdfcca66087788a818a',
    ),
    'PNG-L': (
        'bf245d002726672309159c2dcddc4c470477997722b62d98e3f4b21da620c3c7',
        'e492c20a887aba9547be0e00356960fb7007a9849be96c43b8d339735c9c56ad',
        'b333cc5a3539aa4c',
        'ffff9f9e9cfdfbf7',
        'b02bce0dca55ea55bf1f1f1f1f1f1efec3c7effffffffffe',
        '203x157',
        'PNG',
        '1231.19',
        '22243',
        'a291c139681b9a6a700a15474ab2d75b48a1cfb66e2455a0c00e147be9f5df9f',
    ),
    'PNG-LA': (
        'df1dcf7d8dd5e05a87694b6619705c7ccc6e2b45a21ce8e53e1a8789bf4aa5b0',
        '38534f69c277424a89696023532763e5f1b80b4c3b2b51f5df3e9c56d8bafd55',
        'b333cc5a3539aa4c',
        'ffff9f9e9cfdfbf7',
        'b23bce0d4a55ca56bf1f1f1f1f1f1efec7c7effffffffffe',
        '203x157',
        'PNG',
        '1243.18',
        '29233',
        '1c76a82325b1a8fa2e7ae4074777575ae8d0eba92f86f1fec86142eea632f081',
    ),
    'PNG-P': (
        '7a6918a65b9b41401df5db286cda67172a3f8bb174f8efbd21bcc8d95ec6d926',
        'ced1d5d56073f87b8d32949cf811abd23bbcdfb61ac2f7345000229a7b1fe909',
        'b333cc5a3539ea0c',
        'ffff9f9e9cd9f3f7',
        'b02bce0dca55ea55bf1f1f1f1f1f1efec3c3fffffffffffe',
        '203x157',
        'PNG',
        '5396.25',
        '17843',
        'b688537b912190e164bf4b31886b0c721a8ee2fcd56cbb1360fdd3bbfb7e1bc9',
    ),
    'PNG-1': (
        '91109d6e94b0fe6ab67958d94127c0c0d4d20a159ff603f923d70ac75ef63ed9',
        '0f66b0d0e243ad00978a1acd3d6f841600156f7d5fd39acccf9a5de295f8b5d4',
        'b333cc5a3539aa0e',
        'ffff9f9e9cf9f3f7',
        'b131c105de34ae5fbf1f1f1f1f1f9ffee7c3dffffffffffe',
        '203x157',
        'PNG',
        '461204.59',
        '4018',
        'b446afc71169fe273943f6bb2d0498bfffedf989170836712d0820b1e0271f6f',
    ),
    'PNG-I;16': (
        '4b9f207cf9feee8ffe58074bc401e131b6ac9ce872d0663e3d20caee26408b85',
        '3cd3da8611339c9c7f4ac5322c43dc115fe5cd860f8cdd901e4768e694afea93',
        '8001010307ffffff',
        '8000000000000000',
        'a942e1dfe23390d99481941010948194fd00a50000fd00a5',
        '203x157',
        'PNG',
        '125.23',
        '38827',
        '23b318529bd3e8cafc3d6ae435077a5ae8410f2324eb6eab6d9bf8f8a99645ce',
    ),
    'PNG-flat': (
        'a1053111815525f07d9d4359d9c6e9fc479ad00cfbdf0e0eb2b2ea055093ac2c',
        '83d2f0dff66f04165e6acb0ef2ac9cf9ba059fb6133a02b95ab995e9be22054f',
        '8000000000000000',
        '0000000000000000',
        '82cfac88eacefc8805050505050505050000000000000000',
        '203x157',
        'PNG',
        '0.0',
        '484',
        '51f5ca753706ec57547d619636aba5b63484d005365fb60d1f6ed471acc310cf',
    ),
    'PNG-halves': (
        'a2ecf706a57a0d24bef78961ee1fec24389e6033fdca4d31a09dfff7b4e2f012',
        '5bac60237dfd89756cbea3c14d772eadd89c65a26f1165110247e022a9a4d3a9',
        'e600000000000000',
        '2424242424242424',
        'e619e6e6cc334c19028202028202820200b00000b200b000',
        '203x157',
        'PNG',
        '287.56',
        '261',
        '3b59a912979a17ddf66cd6042ceb093543b2270a669bb6bbef4866cd6194561a',
    ),
    'JPEG-RGB': (
        '89f16b5b8711c61d09447fa21f9bece5d4e85661f230dd025b5d98c989eb246a',
        '52c0aebce2d992c6d00ea19e7e2bf5fc2bf6fbe25041891ad41600f3ecf7b36f',
        'b333cc5a3539aa4c',
        'ffff9f9e9cfdfbf7',
        'b02bce8dca55ea54bf1f1f1f1f1f1efec7c3effffffffffe',
        '203x157',
        'JPEG',
        '1516.34',
        '13060',
        '3ccd925e199e86ef02a3c9a92b1cf1d8b2fa2242a1f3acee80514ce6653e4d31',
    ),
    'JPEG-L': (
        '29d61d4306735bf614eb33026c820cb9e8560b7712911cf9ecaecb9ca679ac25',
        '143b0629d7158de53e1a23e0a0c0db085750eca25e20071c72f8a8462361aaef',
        'b333cc5a3539aa4c',
        'ffff9f9e9cfdfbf7',
        'b23bce0d4a55ca56bf1f1f1f1f1f1efec7c7effffffffffe',
        '203x157',
        'JPEG',
        '1537.64',
        '11057',
        'b4e7a1fd71cbca738acf01f691908e5f0099d498e1d7865beadc4ee38ffbae28',
    ),
    'JPEG-CMYK': (
        'e4cffd496918bbfbbfa80ae62c80852838ec461007a882cdac14de7dbac3db0c',
        '15c2e8a2ec8b5fd8c51da2bb08970eb12ac9e55da3bbb272767c5c5ef390ba5f',
        'b333cc5a3539aa4c',
        'ffff9f9e9cfdfbf7',
        'b23bc6c54a55ca74bf1f1f1f1f1f1efec7c3fffffffffffe',
        '203x157',
        'JPEG',
        '1441.39',
        '40219',
        '5ef71a3b71974f1ab7f14be7e8d263a4559a0a957fe5ef07cf3d353bb71df5cd',
    ),
    'JPEG-flat': (
        '49bd6facbcf8557911006b7a6644ef6a470aaa2bebf9b4a83e44a934842e58b9',
        '1b3e2e9d9c48e9c46bba9a12a2be38cee1dab89404eb8259cf32cf8d20016820',
        '8000000000000000',
        '0000000000000000',
        '82cfac88eacefc8805050505050505050000000000000000',
        '203x157',
        'JPEG',
        '0.0',
        '1149',
        '51f5ca753706ec57547d619636aba5b63484d005365fb60d1f6ed471acc310cf',
    ),
    'JPEG-halves': (
        '7745b50a87a634e09fda056740e44ed9636abc803f94738ac910b459e73cedea',
        '955edd7c231b56b1fce56cd886fc66375190082b857cee70e7dbc5753ddbbd37',
        'e600000000000000',
        '2424242424242424',
        'e619e6e6e6194c19068606068606860600b00000b600b000',
        '203x157',
        'JPEG',
        '274.29',
        '1140',
        '721b8f243c022af4e020cf4be5a58019cf6e7cfa83952b40e7bc316e77bf03c8',
    ),
}


def facts_tuple(data: bytes) -> tuple[str, ...]:
    f = inspect_image(data)
    probe = f.region_probe
    assert probe is not None
    return (
        f.sha256, f.pixel_sha256, f.phash, f.dhash, f.region_hash, f"{f.width}x{f.height}",
        f.format, repr(f.focus), str(f.size_bytes), _probe_digest(probe),
    )


def _probe_digest(probe: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(probe, dtype="<u8").tobytes()).hexdigest()


@pytest.mark.parametrize(("fmt", "mode"), CASES)
def test_facts_unchanged(fmt: str, mode: str) -> None:
    key = f"{fmt}-{mode}"
    assert facts_tuple(_encode(mode, fmt, seed=len(key))) == EXPECTED[key]


def test_hashes_equal_imagehash_on_random_images() -> None:
    """pHash and dHash without scipy are imagehash's values, ties included (flat images)."""
    import imagehash

    from dermledger.study.imaging import dhash_hex, phash_hex

    rng = np.random.default_rng(19)
    for i in range(150):
        h, w = (int(v) for v in rng.integers(9, 160, 2))
        levels = (256, 4, 1)[i % 3]  # noise, four grey levels (many ties), flat
        pixels = rng.integers(0, levels, (h, w)) * (255 // max(levels - 1, 1))
        gray = Image.fromarray(pixels.astype(np.uint8))
        assert phash_hex(gray) == str(imagehash.phash(gray))
        assert dhash_hex(gray) == str(imagehash.dhash(gray))
