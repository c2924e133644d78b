r"""Image filters shared by the classical methods: the guided filter, luma, and sampling a low-resolution map.

**Guided filter** (He, Sun & Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013): the output is locally
a linear function of a guide image, :math:`q = \bar a\,I + \bar b` with
:math:`a = \operatorname{cov}(I, p) / (\operatorname{var}(I) + \epsilon)`, :math:`b = \bar p - a\,\bar I`
over (2r+1)² boxes, so edges of the guide are kept while what the guide does not contain is smoothed
away. OpenCV's contrib module (``cv2.ximgproc.guidedFilter``) is used where it is installed; the
``opencv-python-headless`` wheel Restora depends on lacks it, so the box-filter form of the paper's
Algorithm 1 is used there (``cv2.boxFilter``). Its receptive radius is 2r.
"""

from __future__ import annotations

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (h, w, 3) image, float32 (h, w)."""
    return np.ascontiguousarray(np.asarray(image, np.float32) @ LUMA)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter of ``src`` ((h, w) or (h, w, c)), float32, window (2·radius+1)²."""
    guide = np.ascontiguousarray(guide, np.float32)
    src = np.ascontiguousarray(src, np.float32)
    if hasattr(cv2, "ximgproc"):
        return cv2.ximgproc.guidedFilter(guide, src, int(radius), float(eps))
    size = (2 * int(radius) + 1, 2 * int(radius) + 1)

    def mean(x):
        return cv2.boxFilter(x, cv2.CV_32F, size, normalize=True, borderType=cv2.BORDER_REFLECT)

    g = guide if src.ndim == 2 else guide[:, :, None]
    mean_i, mean_p = mean(guide), mean(src)
    mean_i_b = mean_i if src.ndim == 2 else mean_i[:, :, None]
    cov_ip = mean(np.ascontiguousarray(g * src)) - mean_i_b * mean_p
    var_i = mean(guide * guide) - mean_i * mean_i
    a = cov_ip / ((var_i if src.ndim == 2 else var_i[:, :, None]) + eps)
    b = mean_p - a * mean_i_b
    return mean(np.ascontiguousarray(a)) * g + mean(np.ascontiguousarray(b))


def sample_map(small: np.ndarray, region: tuple[slice, slice], shape: tuple[int, int]) -> np.ndarray:
    """Bilinear samples of a low-resolution map of the whole image at the pixels of ``region``.

    ``small`` covers the whole ``shape`` (H, W) image; pixel centres are aligned (a pixel's centre
    ``y + 0.5`` maps to ``(y + 0.5)·h/H`` in the map). The value at a pixel does not depend on the region
    asked for, so tiles read exactly what a whole-image run reads.
    """
    small = np.ascontiguousarray(small, np.float32)
    h, w = small.shape[:2]
    height, width = shape
    rows = np.arange(region[0].start or 0, region[0].stop if region[0].stop is not None else height)
    cols = np.arange(region[1].start or 0, region[1].stop if region[1].stop is not None else width)
    ys = ((rows + 0.5) * (h / height) - 0.5).astype(np.float32)
    xs = ((cols + 0.5) * (w / width) - 0.5).astype(np.float32)
    map_x, map_y = np.meshgrid(xs, ys)
    return cv2.remap(small, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
