"""Tiled processing with overlap, so any image size runs in memory bounded by the tile size.

Each tile is processed with ``halo`` extra pixels of real image around it (reflect-padded at the
image border), then cropped back; neighbouring tiles overlap by ``overlap`` pixels and are blended with
raised-cosine ramps that sum to one, so no weight buffer is needed and seams are invisible. When the
method's receptive field is within ``halo`` the tiled result equals the untiled one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced start offsets of tiles of size ``tile`` covering ``[0, length)``, each pair of
    neighbours overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    n = int(np.ceil((length - overlap) / max(1, tile - overlap)))
    n = max(n, 2)
    return sorted({int(round(v)) for v in np.linspace(0, length - tile, n)})


def axis_weights(length: int, tile: int, starts: list[int]) -> list[np.ndarray]:
    """1-D blending weights per tile: 1 inside, cosine ramps over each overlap, normalised so the
    weights of all tiles sum to exactly 1 at every position (also where three tiles meet)."""
    raw = []
    for i, s in enumerate(starts):
        size = min(tile, length - s)
        w = np.ones(size, dtype=np.float64)
        if i > 0:  # ramp up over the overlap with the previous tile
            ov = starts[i - 1] + min(tile, length - starts[i - 1]) - s
            if ov > 0:
                w[:ov] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ov) + 0.5) / ov)
        if i + 1 < len(starts):  # ramp down over the overlap with the next tile
            ov = s + size - starts[i + 1]
            if ov > 0:
                w[size - ov :] = np.minimum(w[size - ov :], 0.5 + 0.5 * np.cos(np.pi * (np.arange(ov) + 0.5) / ov))
        raw.append(w)
    total = np.zeros(length)
    for s, w in zip(starts, raw):
        total[s : s + len(w)] += w
    return [(w / total[s : s + len(w)]).astype(np.float32) for s, w in zip(starts, raw)]


def iter_tiles(height: int, width: int, tile: int, overlap: int) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
    """Yield (y, x, h, w, weight) for each tile; weight is (h, w, 1)."""
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    wy, wx = axis_weights(height, tile, ys), axis_weights(width, tile, xs)
    for y, wyy in zip(ys, wy):
        for x, wxx in zip(xs, wx):
            yield y, x, len(wyy), len(wxx), (wyy[:, None] * wxx[None, :])[:, :, None]


def pad_to_multiple(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad (H, W, C) at bottom/right to a multiple of ``multiple``; returns the original size."""
    h, w = x.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode), (h, w)


def process_tiled(
    pixels: np.ndarray,
    fn: Callable[[np.ndarray, tuple[slice, slice]], np.ndarray],
    tile: int,
    overlap: int,
    halo: int,
    multiple: int = 1,
    on_tile: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Apply ``fn(window, region)`` tile by tile; ``region`` is the window's (rows, cols) slice of the image.

    ``fn`` maps an (h, w, 3) window (padded to ``multiple``) to an array of the same size.
    """
    height, width = pixels.shape[:2]
    out = np.zeros((height, width, pixels.shape[2]), dtype=np.float32)
    tiles = list(iter_tiles(height, width, tile, overlap))
    for n, (y, x, h, w, weight) in enumerate(tiles):
        # Windows start on the model's size grid: pixel-unshuffle and strided downsampling are not
        # shift-invariant, so a shifted phase would change the result.
        y0, x0 = max(0, y - halo) // multiple * multiple, max(0, x - halo) // multiple * multiple
        y1, x1 = min(height, y + h + halo), min(width, x + w + halo)
        window, (wh, ww) = pad_to_multiple(pixels[y0:y1, x0:x1], multiple)
        result = fn(window, (slice(y0, y1), slice(x0, x1)))[:wh, :ww]
        out[y : y + h, x : x + w] += weight * result[y - y0 : y - y0 + h, x - x0 : x - x0 + w]
        if on_tile is not None:
            on_tile(n + 1, len(tiles))
    return out
