"""Tiled processing with overlap, so any image size runs in memory bounded by the tile size.

Each tile is processed with ``halo`` extra pixels of real image around it (reflect-padded at the
image border), then cropped back; neighbouring tiles overlap by ``overlap`` pixels and are blended with
raised-cosine ramps that sum to one, so no weight buffer is needed and seams are invisible. When the
method's receptive field is within ``halo`` the tiled result equals the untiled one.

Memory is bounded by the tile size, not the photo: tiles are blended into a buffer that holds one row of
tiles (plus the rows the next row's windows overlap), and rows are written out as soon as no later tile
touches them. The output may be the input array itself (``out=pixels``): a row is then written back once
no later window reads it, so a restoration needs one copy of the photo, not two.
"""

from __future__ import annotations

from typing import Literal

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
    """Yield (y, x, h, w, weight) for each tile, row by row; weight is (h, w, 1), made as it is needed."""
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
    mode: Literal["reflect", "edge"] = "reflect" if ph < h and pw < w else "edge"
    return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode), (h, w)


def as_unit_float(pixels: np.ndarray) -> np.ndarray:
    """A window as float32 in [0, 1]: uint8 and uint16 are scaled, float is kept (no copy when float32)."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255.0)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / np.float32(65535.0)
    return np.asarray(pixels, dtype=np.float32)


def process_tiled(
    pixels: np.ndarray,
    fn: Callable[[np.ndarray, tuple[slice, slice]], np.ndarray],
    tile: int,
    overlap: int,
    halo: int,
    multiple: int = 1,
    on_tile: Callable[[int, int], None] | None = None,
    out: np.ndarray | None = None,
    finish: Callable[[np.ndarray, slice], np.ndarray] | None = None,
) -> np.ndarray:
    """Apply ``fn(window, region)`` tile by tile; ``region`` is the window's (rows, cols) slice of the image.

    ``fn`` maps an (h, w, 3) float32 window (padded to ``multiple``) to an array of the same size.
    ``pixels``: (H, W, C) float, uint8 or uint16 (windows are converted to float as they are read).
    ``out``: where the result goes (default: a new float32 array); it may be ``pixels`` itself. ``finish``:
    ``finish(rows, row_slice)`` is applied to each block of finished rows before it is stored (e.g. clip,
    blend with the input, which is still intact in ``pixels[row_slice]`` then).
    """
    height, width, channels = pixels.shape[0], pixels.shape[1], pixels.shape[2]
    if out is None:
        out = np.empty((height, width, channels), dtype=np.float32)
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    wy, wx = axis_weights(height, tile, ys), axis_weights(width, tile, xs)
    total, n = len(ys) * len(xs), 0

    def window_top(y: int) -> int:
        # Windows start on the model's size grid: pixel-unshuffle and strided downsampling are not
        # shift-invariant, so a shifted phase would change the result.
        return max(0, y - halo) // multiple * multiple

    band_start = 0  # first row not yet stored in ``out``; ``band`` holds rows from here
    band = np.zeros((0, width, channels), dtype=np.float32)
    for i, (y, wyy) in enumerate(zip(ys, wy)):
        h = len(wyy)
        if y + h > band_start + len(band):  # grow the band to this row of tiles (new rows start at zero)
            grown = np.zeros((y + h - band_start, width, channels), dtype=np.float32)
            grown[: len(band)] = band
            band = grown
        y0, y1 = window_top(y), min(height, y + h + halo)
        for x, wxx in zip(xs, wx):
            w = len(wxx)
            x0, x1 = window_top(x), min(width, x + w + halo)
            window, (wh, ww) = pad_to_multiple(as_unit_float(pixels[y0:y1, x0:x1]), multiple)
            result = fn(window, (slice(y0, y1), slice(x0, x1)))[:wh, :ww]
            weight = (wyy[:, None] * wxx[None, :])[:, :, None]
            band[y - band_start : y - band_start + h, x : x + w] += (
                weight * result[y - y0 : y - y0 + h, x - x0 : x - x0 + w]
            )
            n += 1
            if on_tile is not None:
                on_tile(n, total)
        # Rows above the next row of tiles are final; with out=pixels they are stored only once the next
        # row's windows no longer read them.
        last = i + 1 == len(ys)
        done = height if last else ys[i + 1]
        if out is pixels and not last:
            done = min(done, window_top(ys[i + 1]))
        if done > band_start:
            rows = slice(band_start, done)
            block = band[: done - band_start]
            out[rows] = block if finish is None else finish(block, rows)
            band = band[done - band_start :]
            band_start = done
    return out
