"""Images made for looking at in the browser: per-pixel noise level, residual, 8-bit previews.

The noise map and the residual are :mod:`restora.explain`'s, the same that ``restora denoise --noise-map``,
``--residual`` and ``restora explain`` write: the noise level function of the upload read at each pixel's
brightness (RMS over channels), as an inferno heat map from σ 0 to the photo's own scale
(:func:`restora.explain.noise_map.noise_map_scale`, given with the job); the residual as
mid-grey + ``RESIDUAL_GAIN`` × (input − result).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from restora.explain.noise_map import noise_map_overall, noise_map_scale, overall_sigma
from restora.explain.outputs import heat_map
from restora.explain.residual import RESIDUAL_GAIN, residual, residual_view

__all__ = ["RESIDUAL_GAIN", "noise_map_rgb", "noise_map_view", "residual_rgb", "save_png_view", "to_uint8"]

PNG_VIEW_COMPRESSION = 1  # views are transient: fast encoding matters more than size


def noise_map_rgb(pixels: np.ndarray, sigma_map: np.ndarray | None = None) -> np.ndarray:
    """Heat map (H, W, 3) uint8 of the input's noise level; ``sigma_map``: its (H, W, 3) map when already made."""
    return noise_map_view(pixels, sigma_map)[0]


def noise_map_view(pixels: np.ndarray, sigma_map: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(heat map (H, W, 3) uint8, its scale): the view of :func:`noise_map_rgb` and the σ (0–255 scale) at the
    top of its colours, :func:`~restora.explain.noise_map.noise_map_scale` as the CLI prints it."""
    overall = noise_map_overall(pixels) if sigma_map is None else overall_sigma(sigma_map)
    scale = noise_map_scale(overall)
    return heat_map(overall, scale), scale


def residual_rgb(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """What the restoration removed, amplified: 0.5 + RESIDUAL_GAIN · (before − after) as uint8 RGB."""
    return residual_view(residual(before, after))


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] float pixels → uint8, rounded and clipped."""
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def save_png_view(path: Path, rgb: np.ndarray) -> None:
    """Write an 8-bit RGB view atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    ok, encoded = cv2.imencode(
        ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_VIEW_COMPRESSION]
    )
    if not ok:  # pragma: no cover - OpenCV only fails here on an empty array
        raise ValueError(f"could not encode {path.name}")
    tmp.write_bytes(encoded.tobytes())
    os.replace(tmp, path)
