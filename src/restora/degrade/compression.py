"""Compression and resampling operators."""

from __future__ import annotations

import cv2
import numpy as np

from restora.degrade.base import Degradation, uniform


def encode_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through an 8-bit JPEG at ``quality`` (OpenCV/libjpeg, 4:2:0 chroma subsampling)."""
    u8 = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise RuntimeError(f"OpenCV could not round-trip a {u8.shape[1]}×{u8.shape[0]} image through JPEG")
    return decoded[:, :, ::-1].astype(np.float32) / 255.0


class JPEG(Degradation):
    """JPEG compression at a quality drawn in ``quality`` ([30, 95]: web uploads to camera files).

    Blocking and ringing are the commonest artefacts of photos found online. Clips and quantises.

    >>> x = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    >>> y = JPEG(quality=(50, 50))(x, np.random.default_rng(0))
    >>> bool(np.abs(y - x).mean() > 0.01)
    True
    """

    def __init__(self, quality=(30, 95)):
        self.quality = tuple(quality)

    def __call__(self, image, rng):
        return encode_jpeg(image, int(round(uniform(rng, self.quality))))


class GaussianBlur(Degradation):
    """Isotropic Gaussian blur of std ``sigma`` ∈ [0.3, 1.5] px: soft lenses, focus and in-camera smoothing."""

    def __init__(self, sigma=(0.3, 1.5)):
        self.sigma = tuple(sigma)

    def __call__(self, image, rng):
        return cv2.GaussianBlur(image, (0, 0), uniform(rng, self.sigma), borderType=cv2.BORDER_REFLECT).astype(
            np.float32
        )


class Downscale(Degradation):
    """Down- then up-scale by ``factor`` ∈ [1, 2] with random interpolation: resized web images lose detail
    and carry resampling-correlated noise."""

    def __init__(self, factor=(1.0, 2.0)):
        self.factor = tuple(factor)

    def __call__(self, image, rng):
        h, w = image.shape[:2]
        f = uniform(rng, self.factor)
        small = (max(1, round(w / f)), max(1, round(h / f)))
        interp = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC][rng.integers(3)]
        down = cv2.resize(image, small, interpolation=interp)
        return cv2.resize(down, (w, h), interpolation=[cv2.INTER_LINEAR, cv2.INTER_CUBIC][rng.integers(2)]).astype(
            np.float32
        )
