"""PNG checks below what the decoder reports: pixel data that ends early, and text chunks too large to read.

* **Short pixel data.** When a PNG's compressed pixel data (its IDAT chunks) is a complete zlib stream that
  inflates to fewer bytes than the header's size needs, Pillow fills the missing rows with black and says
  nothing. :func:`scan_png` inflates the IDAT data once more, counting bytes without keeping them, and
  reports how many of the image's rows are there.
* **Oversize text.** Pillow refuses a whole file when one text chunk (tEXt, zTXt, iTXt) or the colour profile
  (iCCP) inflates beyond ``PngImagePlugin.MAX_TEXT_CHUNK``, or all text beyond ``MAX_TEXT_MEMORY`` (guards
  against decompression bombs). Such chunks carry no pixels: :func:`scan_png` names them, and
  :attr:`PngScan.cleaned` is the file without them, for the decoder to read instead.

The scan reads the header first and stops there when the image is over the size guard's limit (the reader
then refuses it); it never holds more than one block of inflated data.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import PngImagePlugin

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
PROFILE_CHUNK = b"iCCP"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
BLOCK = 1 << 20  # bytes read or inflated at a time


@dataclass
class PngScan:
    """What :func:`scan_png` found. ``rows_present`` < ``height`` means the pixel data ends early (for an
    interlaced file it is the rows' worth of data present); ``dropped``: one line per chunk left out of
    ``cleaned`` (the file's bytes without them; None when nothing is dropped)."""

    width: int
    height: int
    interlaced: bool = False
    rows_present: int | None = None  # None: not checked (over the size limit, or data the decoder will refuse)
    dropped: list[str] = field(default_factory=list)
    cleaned: bytes | None = None

    @property
    def truncated(self) -> bool:
        return self.rows_present is not None and self.rows_present < self.height


def _scanline_bytes(width: int, height: int, bits_per_pixel: int) -> int:
    return height * (1 + (width * bits_per_pixel + 7) // 8) if width and height else 0


def pixel_data_bytes(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes of filtered scanlines (a filter byte per row, then the packed samples) the header calls for."""
    bits = depth * CHANNELS.get(colour, 4)
    if not interlaced:
        return _scanline_bytes(width, height, bits)
    return sum(
        _scanline_bytes(
            (width - x0 + dx - 1) // dx if width > x0 else 0, (height - y0 + dy - 1) // dy if height > y0 else 0, bits
        )
        for x0, y0, dx, dy in ADAM7
    )


def _inflate(inflater, data: bytes, budget: int) -> int:
    """Feed ``data``; the number of bytes it inflates to, counted in blocks and stopped past ``budget``."""
    count = len(inflater.decompress(data, BLOCK))
    while inflater.unconsumed_tail and count <= budget:
        count += len(inflater.decompress(inflater.unconsumed_tail, BLOCK))
    return count


def _chunk_text_size(kind: bytes, data: bytes) -> int | None:
    """Size of a text or profile chunk once inflated, counted up to just past MAX_TEXT_CHUNK; None: damaged."""
    limit = PngImagePlugin.MAX_TEXT_CHUNK
    keyword, _, rest = data.partition(b"\x00")
    if kind == b"tEXt":
        return len(rest)
    if kind == b"iTXt":
        if len(rest) < 2:
            return None
        compressed, rest = rest[0], rest[2:]
        for _ in range(2):  # language tag, translated keyword
            _, _, rest = rest.partition(b"\x00")
        if not compressed:
            return len(rest)
    else:  # zTXt, iCCP: compression method byte, then the zlib stream
        rest = rest[1:]
    try:
        return _inflate(zlib.decompressobj(), rest, limit)
    except zlib.error:
        return None


def _keyword(data: bytes) -> str:
    return data[:80].partition(b"\x00")[0].decode("latin-1", "replace")


def scan_png(path: Path, max_pixels: int) -> PngScan | None:
    """Walk a PNG's chunks (module docstring). None when the file does not start like a PNG."""
    with open(path, "rb") as fp:
        if fp.read(8) != SIGNATURE:
            return None
        head = fp.read(8 + 13)
        if len(head) < 21 or head[4:8] != b"IHDR":
            return None  # the decoder says what is wrong
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[8:21])
        scan = PngScan(width, height, interlaced=interlace == 1)
        if width * height > max_pixels:
            return scan  # refused by the size guard before any pixel is read
        expected = pixel_data_bytes(width, height, depth, colour, scan.interlaced)
        fp.seek(8)
        inflater, inflated, idat_ok = zlib.decompressobj(), 0, True
        text_total, drop_ranges = 0, []
        while True:
            start = fp.tell()
            header = fp.read(8)
            if len(header) < 8:
                break  # the file ends early: the decoder reports it
            length, kind = struct.unpack(">I4s", header)
            if kind == b"IDAT" and idat_ok:
                remaining = length
                while remaining and inflated <= expected:
                    block = fp.read(min(remaining, BLOCK))
                    if not block:
                        break
                    remaining -= len(block)
                    try:
                        inflated += _inflate(inflater, block, expected - inflated)
                    except zlib.error:
                        idat_ok = False  # damaged data: the decoder reports it
                        break
            elif kind in TEXT_CHUNKS or kind == PROFILE_CHUNK:
                data = fp.read(min(length, 2 * PngImagePlugin.MAX_TEXT_CHUNK))  # enough to tell it is too big
                size = _chunk_text_size(kind, data)
                oversize = size is None or size > PngImagePlugin.MAX_TEXT_CHUNK
                too_much = False
                if kind != PROFILE_CHUNK and size is not None and not oversize:
                    text_total += size
                    too_much = text_total > PngImagePlugin.MAX_TEXT_MEMORY
                if oversize or too_much:
                    drop_ranges.append((start, start + 12 + length))
                    scan.dropped.append(_dropped_line(kind, _keyword(data), length, size, too_much))
            elif kind == b"IEND":
                break
            fp.seek(start + 12 + length)
        if idat_ok:
            scan.rows_present = height if inflated >= expected else _rows(inflated, expected, height)
        if drop_ranges:
            fp.seek(0)
            whole = fp.read()
            kept, at = [], 0
            for begin, end in drop_ranges:
                kept.append(whole[at:begin])
                at = end
            kept.append(whole[at:])
            scan.cleaned = b"".join(kept)
    return scan


def _rows(inflated: int, expected: int, height: int) -> int:
    return min(height - 1, inflated * height // expected) if expected else height


def _human(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} KB"


def _dropped_line(kind: bytes, keyword: str, length: int, size: int | None, too_much: bool) -> str:
    if too_much:
        why = f"the file's text passes {_human(PngImagePlugin.MAX_TEXT_MEMORY)} with it"
    elif size is None:
        why = "damaged"
    else:
        why = f"{_human(length)} in the file, over {_human(PngImagePlugin.MAX_TEXT_CHUNK)} unpacked"
    if kind == PROFILE_CHUNK:
        return f"left out the PNG's colour profile '{keyword}' ({why}); sRGB assumed"
    return f"left out the PNG text chunk '{keyword}' ({why}); the pixels are all there"
