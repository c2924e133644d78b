"""Images made for looking at in the browser: per-pixel noise level, residual, 8-bit previews.

:func:`noise_map` is the one place the page's noise map comes from; it is a small local estimator
until ``restora.explain`` provides a per-pixel one, and can be swapped there without touching the API.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from restora.io.image import Image

NOISE_BLOCK = 16
# Immerkær (1996) Laplacian-difference kernel: zero response to constant and linear intensity, so
# smooth shading does not read as noise; for i.i.d. noise of std σ its response has std 6σ.
IMMERKAER_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
IMMERKAER_NOISE_GAIN = 6.0
MAD_TO_SIGMA = 1.0 / 0.6745  # median |N(0, σ²)| = 0.6745 σ
HEAT_MAP_MAX_SIGMA = 50.0  # fixed colour scale (0–255 σ units), so maps of different photos compare
RESIDUAL_GAIN = 4.0  # residual shown as 0.5 + gain · (input − result)
PNG_VIEW_COMPRESSION = 1  # views are transient: fast encoding matters more than size


def noise_map(image: Image | np.ndarray) -> np.ndarray:
    """Local noise level σ (0–255 scale) for every pixel: an (H, W) float32 map.

    Per 16×16 block: σ = median |K * x| / (0.6745 · 6), the median absolute response of the Immerkær
    kernel K pooled over the block's three channels (a robust MAD estimate: edges and texture touch
    a minority of a block's responses). A 3×3 median over the block grid drops blocks an edge
    dominates; bilinear interpolation between block centres makes the map smooth. Strong texture
    still reads as some noise: this is an estimate for viewing, not a measurement.
    """
    pixels = image.pixels if isinstance(image, Image) else np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width = pixels.shape[:2]
    if min(height, width) < 3:
        return np.zeros((height, width), np.float32)
    rows, cols = -(-height // NOISE_BLOCK), -(-width // NOISE_BLOCK)
    pad = ((0, rows * NOISE_BLOCK - height), (0, cols * NOISE_BLOCK - width))
    responses = []
    for c in range(pixels.shape[2]):  # one channel at a time keeps peak memory at one float plane
        channel = np.ascontiguousarray(pixels[:, :, c], dtype=np.float32) * 255.0
        r = np.abs(cv2.filter2D(channel, -1, IMMERKAER_KERNEL, borderType=cv2.BORDER_REFLECT))
        r = np.pad(r, pad, mode="symmetric")
        responses.append(r.reshape(rows, NOISE_BLOCK, cols, NOISE_BLOCK).transpose(0, 2, 1, 3).reshape(rows, cols, -1))
    blocks = np.median(np.concatenate(responses, axis=2), axis=2).astype(np.float32)
    blocks *= MAD_TO_SIGMA / IMMERKAER_NOISE_GAIN
    if min(rows, cols) >= 3:
        blocks = cv2.medianBlur(blocks, 3)
    # INTER_LINEAR maps block centres to block centres (half-pixel convention), so no shift.
    full = cv2.resize(blocks, (cols * NOISE_BLOCK, rows * NOISE_BLOCK), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(full[:height, :width])


def heat_map_rgb(sigma_map: np.ndarray) -> np.ndarray:
    """σ map → (H, W, 3) uint8 RGB, inferno colours from σ = 0 (black) to HEAT_MAP_MAX_SIGMA (yellow)."""
    level = np.clip(np.rint(sigma_map * (255.0 / HEAT_MAP_MAX_SIGMA)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def residual_rgb(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """What the restoration removed, amplified: 0.5 + RESIDUAL_GAIN · (before − after) as uint8 RGB."""
    view = np.subtract(before, after, dtype=np.float32)
    view *= RESIDUAL_GAIN
    view += 0.5
    return to_uint8(view)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] float pixels → uint8, rounded and clipped."""
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def save_png_view(path: Path, rgb: np.ndarray) -> None:
    """Write an 8-bit RGB view atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_VIEW_COMPRESSION])
    if not ok:  # pragma: no cover - OpenCV only fails here on an empty array
        raise ValueError(f"could not encode {path.name}")
    tmp.write_bytes(encoded.tobytes())
    os.replace(tmp, path)
