"""The interface every restoration method implements for the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Whole-image context (``Method.prepare``) is computed on a copy of the image whose long side is at most this.
CONTEXT_SIDE = 256


@dataclass(frozen=True)
class TileContext:
    """What a tile's ``process`` gets besides its pixels when its method has whole-image context.

    ``value``: what :meth:`Method.prepare` returned for the whole image (computed once per image);
    ``region``: the window's rows and columns in the whole image (before any padding to the size multiple);
    ``shape``: the whole image's (height, width). Position-dependent context (a low-resolution map of the
    whole image) is sampled at ``region`` so every tile reads the same values a whole-image run would.
    """

    value: object
    region: tuple[slice, slice]
    shape: tuple[int, int]


def context_image(pixels: np.ndarray, side: int = CONTEXT_SIDE) -> np.ndarray:
    """The whole image downscaled (area averaging) so its long side is at most ``side``; float32 (h, w, 3)."""
    h, w = pixels.shape[:2]
    scale = side / max(h, w)
    x = np.asarray(pixels, np.float32)
    if scale >= 1.0:
        return np.ascontiguousarray(x)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA)


class Method:
    """Restores (h, w, 3) float32 tiles in [0, 1].

    ``uses_sigma``: takes a noise level (σ per channel on the 0–255 scale, or a (h, w, 3) map); the
    engine's ``strength`` then scales σ. Methods without it are blended with the input instead.
    ``halo``: pixels of surrounding image a tile needs (≥ receptive radius) for seamless tiling.
    ``whole_image``: the method must see the whole image in one piece (its result depends on where the
    image ends, e.g. CLAHE's grid of tiles); the engine then ignores the tile size.
    ``supports_self_ensemble``: a tile's result may be averaged over its flips and quarter turns
    (:mod:`restora.engine.ensemble`): the method reads no position-dependent context.

    Whole-image context: haze, low light and the degradation type depend on statistics of the whole image,
    which a tile alone cannot see. A method that needs them overrides :meth:`prepare`; the engine calls it
    once per image on :meth:`context_input` (by default :func:`context_image`, long side ≤
    :data:`CONTEXT_SIDE`) and passes its result to
    every tile as ``process(tile, sigma, context)`` with a :class:`TileContext`. Methods whose ``prepare``
    returns None (the default) are called as ``process(tile, sigma)``.
    """

    name: str = "method"
    uses_sigma: bool = False
    size_multiple: int = 1
    halo: int = 16
    default_tile: int = 512
    runtime: str = "numpy"
    whole_image: bool = False
    supports_self_ensemble: bool = False

    def prepare(self, small: np.ndarray) -> object | None:
        """Whole-image context from the downscaled image ``small`` (float32 (h, w, 3)); None: not needed."""
        return None

    @property
    def wants_context(self) -> bool:
        """Whether :meth:`prepare` is worth calling (the engine then downscales the image for it)."""
        return type(self).prepare is not Method.prepare

    def context_input(self, pixels: np.ndarray) -> np.ndarray:
        """The downscaled whole image :meth:`prepare` gets: :func:`context_image` (area averaging), unless the
        method downscales its own way (a network that was trained on another downscaling)."""
        return context_image(pixels)

    def process(
        self, tile: np.ndarray, sigma: np.ndarray | None, context: TileContext | None = None
    ) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class IdentityMethod(Method):
    """Returns its input: the 'noisy' baseline in benchmarks and a zero-cost method in tests."""

    name = "identity"
    halo = 0

    def process(self, tile, sigma, context=None):
        return tile.copy()


@dataclass(frozen=True)
class MethodSpec:
    """A catalogue entry: what a method restores and how to load it (``load(device) -> Method``).

    ``kind``: ``"ours"`` (a network file, ``path``), ``"classical"``, ``"baseline"`` or ``"peer"``.
    """

    name: str
    tasks: tuple[str, ...]
    description: str
    kind: str
    load: Callable[[str], Method]
    path: Path | None = None

    @property
    def size_bytes(self) -> int | None:
        return self.path.stat().st_size if self.path is not None else None
