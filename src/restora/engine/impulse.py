r"""Impulse (salt-and-pepper) noise removal: an adaptive switching median.

A plain median filter replaces every pixel, so it blurs what the specks spared. A *switching* median only
replaces pixels judged to be impulses and leaves the rest untouched; an *adaptive* one grows its window until
it holds enough uncorrupted pixels (after Hwang & Haddad's adaptive median, 1995, and the noise-adaptive
switching medians of Ng & Ma, 2006).

1. **Candidates**, per channel: the pixels at an extreme of the range (within :data:`EXTREME` of 0 or 1, the two
   values salt-and-pepper takes).
2. **Filling**: each candidate gets the median of the non-candidate pixels of the smallest (2k+1)² window,
   k = 1 … :data:`MAX_RADIUS`, that holds at least :data:`MIN_GOOD` of them (the plain median of the window
   where none does).
3. **Switching**: a candidate is an impulse, and takes its fill, only when it differs from the fill by more
   than :data:`DEVIATION` and lies outside a *saturated region*: more than :data:`SATURATED` of its 5×5 window at
   the same extreme (the inside of a truly black or white area, which salt-and-pepper at up to 30 % does not make:
   it puts at most 15 % of the pixels at each extreme).

``impulse`` then hands the filled image to the default denoiser at a small σ (:data:`POLISH_SIGMA`), which
smooths the staircase the fills leave at high densities; ``switching-median`` is the filter alone.
Settings: chosen on held-out ``train/`` images (the degradation benchmark's protocol; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.engine.methods import Method

EXTREME = 2.0 / 255.0
DEVIATION = 40.0 / 255.0
MAX_RADIUS = 5
MIN_GOOD = 3
SATURATED = 0.5
POLISH_SIGMA = 6.0


def candidates(image: np.ndarray) -> np.ndarray:
    """Boolean (h, w, c) mask of the pixels at an extreme of the range (the module's step 1)."""
    x = np.asarray(image, np.float32)
    return (x <= EXTREME) | (x >= 1.0 - EXTREME)


def fill_from_neighbours(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with the pixels of ``mask`` replaced by the median of the nearest pixels outside it (the
    module's step 2); float32."""
    x = np.array(image, np.float32, copy=True)
    h, w, c = x.shape
    pad = MAX_RADIUS
    good = np.pad(np.where(mask, np.nan, x), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    plain = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    ys, xs, cs = np.nonzero(mask)
    todo = np.arange(len(ys))
    for radius in range(1, MAX_RADIUS + 1):
        if len(todo) == 0:
            break
        offsets = np.arange(-radius, radius + 1)
        dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
        rows = ys[todo, None] + pad + dy.ravel()[None, :]
        cols = xs[todo, None] + pad + dx.ravel()[None, :]
        window = good[rows, cols, cs[todo, None]]
        count = np.sum(~np.isnan(window), axis=1)
        last = radius == MAX_RADIUS
        done = (count > 0) if last else (count >= MIN_GOOD)
        values = np.nanmedian(window[done], axis=1) if done.any() else np.empty(0, np.float32)
        idx = todo[done]
        x[ys[idx], xs[idx], cs[idx]] = values
        if last and not done.all():  # no good pixel in the largest window: the plain median
            rest = ~done
            x[ys[todo[rest]], xs[todo[rest]], cs[todo[rest]]] = np.median(
                plain[rows[rest], cols[rest], cs[todo[rest], None]], axis=1
            )
        todo = todo[~done]
    return x


def impulse_mask(image: np.ndarray) -> np.ndarray:
    """Boolean (h, w, c) mask of the pixels judged impulses (the module's steps 1–3)."""
    x = np.asarray(image, np.float32)
    return _switch(x, candidates(x), fill_from_neighbours(x, candidates(x)))


def _switch(x: np.ndarray, cand: np.ndarray, filled: np.ndarray) -> np.ndarray:
    saturated = np.zeros_like(cand)
    for extreme in (x <= EXTREME, x >= 1.0 - EXTREME):
        share = cv2.boxFilter(extreme.astype(np.float32), -1, (5, 5), borderType=cv2.BORDER_REFLECT)
        saturated |= extreme & (share.reshape(x.shape) > SATURATED)
    return cand & (np.abs(x - filled) > DEVIATION) & ~saturated


def switching_median(image: np.ndarray) -> np.ndarray:
    """``image`` with its impulses replaced by the median of the nearest uncorrupted pixels; float32."""
    x = np.asarray(image, np.float32)
    cand = candidates(x)
    filled = fill_from_neighbours(x, cand)
    return np.where(_switch(x, cand, filled), filled, x).astype(np.float32)


class SwitchingMedianMethod(Method):
    """The adaptive switching median alone (whole module docstring)."""

    name = "switching-median"
    halo = MAX_RADIUS + 1
    default_tile = 1024

    def process(self, tile, sigma, context=None):
        return switching_median(tile)


class ImpulseMethod(Method):
    """Switching median, then the default denoiser at σ = :data:`POLISH_SIGMA`."""

    name = "impulse"
    default_tile = 512

    def __init__(self, device: str = "cpu"):
        from restora.engine.catalogue import default_method, load_method  # deferred: the catalogue lists this module

        self.denoiser = load_method(default_method("denoise"), device)
        self.halo = max(MAX_RADIUS + 1, self.denoiser.halo)
        self.size_multiple = self.denoiser.size_multiple
        self.runtime = self.denoiser.runtime

    def process(self, tile, sigma, context=None):
        filled = switching_median(tile)
        return self.denoiser.process(filled, np.full(3, POLISH_SIGMA, np.float32))
