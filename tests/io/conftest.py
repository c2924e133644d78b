"""Fixtures for the I/O tests: small test photos, a hand-built CMYK ICC profile, a synthetic DNG.

Everything is made here, in a few milliseconds; no image or profile files ship with the tests.
"""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest
from PIL import ImageCms

from restora.io import Image

# Linear sRGB -> XYZ (D50, Bradford-adapted): the ICC connection space.
_SRGB_TO_XYZ_D50 = np.array(
    [[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169], [0.0139322, 0.0971045, 0.7141733]]
)


def _s15f16(values) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _tag_desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\x00"
    # textDescriptionType (ICC v2): ASCII, then empty Unicode and ScriptCode parts.
    return (
        b"desc"
        + b"\x00" * 4
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + b"\x00" * 8
        + b"\x00" * 3
        + b"\x00" * 67
    )


def naive_cmyk_profile(description: str = "Restora test CMYK") -> bytes:
    """A CMYK printer profile whose inks act as ideal filters in *linear* light.

    A2B0 is a lut16 with a 2-point grid: the corner (c, m, y, k) in {0, 1}^4 maps to the XYZ of
    linear RGB ((1-c)(1-k), (1-m)(1-k), (1-y)(1-k)); in between LittleCMS interpolates
    multilinearly, which is exact for this product form. So CMYK (0, 0, 0, k) becomes linear grey
    1 - k, i.e. sRGB-encoded grey — unlike Pillow's plain conversion, which gives 1 - k directly.
    """
    clut = []
    for c, m, y, k in itertools.product((0, 1), repeat=4):  # first channel varies slowest
        rgb = np.array([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], dtype=float)
        xyz = _SRGB_TO_XYZ_D50 @ rgb
        clut += [min(65535, round(v * 32768)) for v in xyz]  # lut16 XYZ encoding: 1.0 = 0x8000
    lut = (
        b"mft2"
        + b"\x00" * 4
        + bytes([4, 3, 2, 0])
        + _s15f16([1, 0, 0, 0, 1, 0, 0, 0, 1])
        + struct.pack(">HH", 2, 2)
        + struct.pack(">8H", *([0, 65535] * 4))
        + struct.pack(f">{len(clut)}H", *clut)
        + struct.pack(">6H", *([0, 65535] * 3))
    )
    white = b"XYZ " + b"\x00" * 4 + _s15f16([0.9642, 1.0, 0.8249])
    tags = [(b"desc", _tag_desc(description)), (b"wtpt", white), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        data += b"\x00" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\x00" * 4
        + struct.pack(">I", 0x02100000)
        + b"prtr"
        + b"CMYK"
        + b"XYZ "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 24
        + struct.pack(">I", 0)
        + _s15f16([0.9642, 1.0, 0.8249])
    )
    header += b"\x00" * (128 - len(header))
    return header + table + body


def _photo_array(height: int = 24, width: int = 32, seed: int = 0, texture: float = 20.0) -> np.ndarray:
    """uint8 (H, W, 3): gradients plus random texture, asymmetric so any rotation or flip shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / (width - 1), y * 255 / (height - 1), (x + 2 * y) * 2.5], axis=2)
    return np.clip(base + rng.normal(0, texture, base.shape), 0, 255).astype(np.uint8)


# XYZ (D65) -> linear sRGB; as a DNG ColorMatrix it makes the camera's RGB linear sRGB.
_XYZ_TO_SRGB = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
DNG_SCENE = np.array([2000, 1000, 500]) / 4095  # linear R, G, B of the synthetic DNG


def _make_dng(path, *, orientation: int = 1, width: int = 32, height: int = 24) -> np.ndarray:
    """A minimal valid DNG that LibRaw demosaics: RGGB mosaic of one flat colour, 12-bit white level.

    The colour matrix makes the camera's RGB linear sRGB and the as-shot white balance is neutral,
    so LibRaw's linear output equals the returned DNG_SCENE.
    """
    import tifffile

    cfa = np.empty((height, width), np.uint16)
    cfa[0::2, 0::2], cfa[1::2, 1::2] = 2000, 500
    cfa[0::2, 1::2] = cfa[1::2, 0::2] = 1000
    rationals = [v for value in _XYZ_TO_SRGB for v in (round(value * 10000), 10000)]
    extratags = [
        (254, "I", 1, 0, True),  # NewSubfileType: the main image
        (274, "H", 1, orientation, True),
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "Restora TestCam", True),  # UniqueCameraModel
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, 4095, True),  # WhiteLevel
        (50721, 10, 9, rationals, True),  # ColorMatrix1 (XYZ -> camera), SRATIONAL
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, 5, 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (271, "s", 0, "Restora", True),
        (272, "s", 0, "TestCam", True),
    ]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=extratags, metadata=None)
    return DNG_SCENE


@pytest.fixture
def photo_u8() -> np.ndarray:
    return _photo_array()


@pytest.fixture
def photo(photo_u8) -> Image:
    """An 8-bit RGB test photo as an Image."""
    return Image.from_array(photo_u8)


@pytest.fixture
def smooth_photo() -> Image:
    """A photo with little texture, for lossy codecs (their error depends on the content)."""
    return Image.from_array(_photo_array(texture=2.0))


@pytest.fixture
def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def cmyk_profile() -> bytes:
    return naive_cmyk_profile()


@pytest.fixture
def make_dng():
    """make_dng(path, orientation=1) writes the synthetic DNG and returns its linear scene RGB."""
    return _make_dng
