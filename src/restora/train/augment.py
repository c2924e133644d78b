"""Augmentations that widen the training domain beyond the look of one photo collection.

Each is a small seeded function of a float32 (H, W, 3) patch in [0, 1] and a :class:`numpy.random.Generator`;
:class:`restora.train.config.AugmentConfig` says which are on. Clean-side ones change the picture before it is
degraded (so the clean target changes with it); the noise-side ones (clipping, quantisation) are the
degradation operators :class:`restora.degrade.base.Clip` and :class:`restora.degrade.base.Quantize`.
"""

from __future__ import annotations

import cv2
import numpy as np

# ITU-R BT.601 luma weights: saturation and contrast move colours towards this grey.
LUMA = np.float32([0.299, 0.587, 0.114])


def rescaled_crop(image: np.ndarray, size: int, factor: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``round(size × factor)``² crop of ``image`` shrunk to ``size``² with area averaging.

    Area averaging is an anti-aliased down-scaling: a texture of period T px becomes one of period T / factor
    without aliasing, as a sharper lens or a denser sensor would record it. ``factor`` is capped so the crop fits.

    >>> im = np.random.default_rng(0).random((100, 120, 3)).astype(np.float32)
    >>> rescaled_crop(im, 32, 2.0, np.random.default_rng(1)).shape
    (32, 32, 3)
    """
    h, w = image.shape[:2]
    crop = int(round(size * min(factor, h / size, w / size)))
    y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    window = np.asarray(image[y : y + crop, x : x + crop], dtype=np.float32)
    if crop == size:
        return np.ascontiguousarray(window)
    return cv2.resize(window, (size, size), interpolation=cv2.INTER_AREA)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A factor drawn log-uniformly in [lo, hi] (scales are multiplicative)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def jitter_colour(
    patch: np.ndarray, rng: np.random.Generator, saturation=(0.6, 1.4), contrast=(0.75, 1.25), hue_degrees: float = 20.0
) -> np.ndarray:
    """Random saturation, contrast and hue, clipped to [0, 1].

    With luma Y = 0.299 R + 0.587 G + 0.114 B per pixel and Ȳ its mean over the patch:
    saturation s: x ← Y + s (x − Y); hue θ: the chroma x − Y is rotated by θ about the grey axis (1, 1, 1)/√3
    (Rodrigues' formula); contrast c: x ← Ȳ + c (x − Ȳ). Factors are drawn uniformly in their ranges, θ in
    [−hue_degrees, hue_degrees].

    >>> x = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    >>> y = jitter_colour(x, np.random.default_rng(0))
    >>> y.shape, y.dtype, bool(y.min() >= 0 and y.max() <= 1)
    ((16, 16, 3), dtype('float32'), True)
    """
    s = rng.uniform(*saturation)
    c = rng.uniform(*contrast)
    theta = np.deg2rad(rng.uniform(-hue_degrees, hue_degrees))
    luma = (patch @ LUMA)[..., None]
    chroma = (patch - luma) * s
    k = np.full(3, 1 / np.sqrt(3), np.float32)
    cross = np.float32([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotation = np.eye(3, dtype=np.float32) + np.sin(theta) * cross + (1 - np.cos(theta)) * (cross @ cross)
    out = luma + chroma @ rotation.T
    mean = float(luma.mean())
    out = mean + c * (out - mean)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def shuffle_channels(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The patch with its three channels in a random order (a red texture is also seen as a blue one).

    >>> x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    >>> sorted(shuffle_channels(x, np.random.default_rng(3))[0, 0].tolist())
    [0.0, 1.0, 2.0]
    """
    return np.ascontiguousarray(patch[..., rng.permutation(3)])
