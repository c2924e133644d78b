"""Which file formats Restora reads and writes, named by extension (lower case, with the dot).

Reading sniffs the content, so the extension only decides two things: whether a file is tried as
camera RAW first, and (for folder runs) which files are picked up. Writing takes the format from
the output extension.
"""

from __future__ import annotations

# Camera RAW: decoded (demosaiced) by LibRaw through rawpy; never written back.
RAW_EXTENSIONS: frozenset[str] = frozenset({".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"})

# Output extension -> Pillow-style format name used by the writers.
WRITE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",  # one frame, an adaptive palette (restora.io.write)
    ".heic": "HEIF",
    ".heif": "HEIF",
}

SUPPORTED_WRITE_EXTENSIONS: frozenset[str] = frozenset(WRITE_FORMATS)
SUPPORTED_READ_EXTENSIONS: frozenset[str] = SUPPORTED_WRITE_EXTENSIONS | RAW_EXTENSIONS

# Formats that can store 16 bits per channel on write (everything else is written with 8).
SIXTEEN_BIT_FORMATS: frozenset[str] = frozenset({"PNG", "TIFF"})
# Formats whose writer keeps an alpha channel (JPEG and BMP drop it).
ALPHA_FORMATS: frozenset[str] = frozenset({"PNG", "TIFF", "WEBP", "HEIF", "GIF"})  # GIF: on or off
# Formats whose writer keeps a single grey channel (WebP stores grey as colour).
GREY_FORMATS: frozenset[str] = frozenset({"PNG", "JPEG", "TIFF", "BMP", "HEIF", "GIF"})
# Formats that can hold several frames (animation); Restora reads and restores the first.
ANIMATED_FORMATS: frozenset[str] = frozenset({"GIF", "PNG", "WEBP"})
# Formats that carry EXIF and ICC on write.
METADATA_FORMATS: frozenset[str] = frozenset({"PNG", "JPEG", "TIFF", "WEBP", "HEIF"})

TIFF_MAGIC: tuple[bytes, ...] = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff_header(head: bytes) -> bool:
    """True when the first bytes are a (classic or Big) TIFF header; most camera RAW formats are TIFF too."""
    return head[:4] in TIFF_MAGIC
