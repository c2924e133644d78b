"""The one in-memory representation of a photo inside Restora."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Image:
    """Float32 RGB pixels in [0, 1] (H, W, 3) plus everything needed to write the photo back.

    ``alpha`` (H, W) float32 in [0, 1] is carried through restoration untouched.
    ``bit_depth`` is the source's bits per channel (8, 16, or 32 for float TIFF).
    ``grayscale`` is True when the source had one colour channel (written back as grey).
    ``exif`` is raw EXIF bytes with orientation already applied to the pixels (tag reset to 1).
    ``icc`` is the source ICC profile bytes, kept unchanged on write.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    grayscale: bool = False
    exif: bytes | None = None
    icc: bytes | None = None
    format: str | None = None  # e.g. "PNG", "JPEG", "TIFF", "WEBP", "HEIF", "RAW"
    source: Path | None = None
    info: dict = field(default_factory=dict)  # camera, ISO, ... for `restora info`

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6

    def with_pixels(self, pixels: np.ndarray) -> Image:
        """A copy with new pixels and the same metadata."""
        from dataclasses import replace

        return replace(self, pixels=np.ascontiguousarray(pixels, dtype=np.float32))

    @classmethod
    def from_array(cls, array: np.ndarray, **kwargs) -> Image:
        """Wrap an array: uint8/uint16 are scaled to [0, 1]; (H, W) grey becomes RGB."""
        a = np.asarray(array)
        bit_depth = 8
        if a.dtype == np.uint8:
            x = a.astype(np.float32) / 255.0
        elif a.dtype == np.uint16:
            x, bit_depth = a.astype(np.float32) / 65535.0, 16
        else:
            x, bit_depth = a.astype(np.float32), 32
        grey = x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (1, 2))
        if x.ndim == 2:
            x = x[:, :, None]
        alpha = None
        if x.shape[2] in (2, 4):
            alpha, x = x[:, :, -1].copy(), x[:, :, :-1]
        if x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)
        kwargs.setdefault("bit_depth", bit_depth)
        kwargs.setdefault("grayscale", grey)
        return cls(pixels=np.ascontiguousarray(x, dtype=np.float32), alpha=alpha, **kwargs)
