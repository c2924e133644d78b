"""PNG files whose chunks lie: pixel data shorter than the header says, text chunks too large to read."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from restora.errors import BadInputError
from restora.io import read_image
from restora.io.png import pixel_data_bytes


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(width: int, height: int, rows: bytes, interlace: int = 0) -> bytes:
    """An RGB PNG whose IDAT is a complete zlib stream of ``rows`` (filtered scanlines), then IEND."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_bytes(pixels: np.ndarray, **params) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, "PNG", **params)
    return buffer.getvalue()


@pytest.mark.parametrize("interlace", [0, 1])
def test_a_header_claiming_more_rows_than_the_data_holds_is_an_error_naming_the_file(tmp_path, interlace):
    rows = b"".join(b"\x00" + bytes(range(9)) for _ in range(10))  # ten rows of 3 RGB pixels
    path = tmp_path / "tall.png"
    path.write_bytes(crafted_png(3, 100_000, rows, interlace))
    with pytest.raises(BadInputError, match="truncated PNG") as raised:
        read_image(path)
    assert str(path) in str(raised.value) and "of its 100000 rows" in str(raised.value)
    (tmp_path / "exact.png").write_bytes(crafted_png(3, 10, rows))
    assert read_image(tmp_path / "exact.png").height == 10  # the same data for the size it claims: fine


def test_the_expected_pixel_data_size_matches_what_pillow_writes_and_adam7():
    pixels = np.random.default_rng(0).integers(0, 256, (13, 11, 3), dtype=np.uint8)
    data = png_bytes(pixels)
    idat, at = b"", 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    assert len(zlib.decompress(idat)) == pixel_data_bytes(11, 13, 8, 2, False)
    # Adam7's seven passes of an 11 × 13 RGB image, each row a filter byte and 3 bytes a pixel:
    # 2×2, 1×2, 3×2, 3×4, 6×3, 5×7, 11×6 pixels
    passes = [(2, 2), (1, 2), (3, 2), (3, 4), (6, 3), (5, 7), (11, 6)]
    assert pixel_data_bytes(11, 13, 8, 2, True) == sum(h * (1 + 3 * w) for w, h in passes)


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("bomb", ["large", "small"])
def test_an_oversize_text_chunk_is_left_out_and_said_the_pixels_are_restored(tmp_path, where, bomb):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    data = png_bytes(pixels)
    if bomb == "large":  # 5 MB in the file (the was 50 MB: the same path, read in 1 MB blocks)
        text = zlib.compress(os.urandom(5_000_000), 0)
    else:  # a few KB that unpack to 60 MB
        text = zlib.compress(b"a" * 60_000_000, 9)
    bad = chunk(b"zTXt", b"Comment\x00\x00" + text) + chunk(b"tEXt", b"Title\x00kept")
    at = 33 if where == "before" else len(data) - 12  # after IHDR, or before IEND
    path = tmp_path / "text.png"
    path.write_bytes(data[:at] + bad + data[at:])
    image = read_image(path)
    np.testing.assert_array_equal(np.rint(image.pixels * 255).astype(np.uint8), pixels)
    assert len(image.info["warnings"]) == 1
    assert "left out the PNG text chunk 'Comment'" in image.info["warnings"][0]
